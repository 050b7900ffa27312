import { randomFillSync } from 'node:crypto';

/** The two ASCII hex digits of every byte value. */
const HEX_ASCII = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, '0');
  HEX_ASCII[2 * b] = h.charCodeAt(0);
  HEX_ASCII[2 * b + 1] = h.charCodeAt(1);
}
/** Where each of the 16 bytes' digits go in the 36-character form. */
const DIGIT_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/**
 * A generator of UUIDv7 (RFC 9562): 48-bit Unix milliseconds, a 12-bit counter (method 1:
 * monotonic within one generator), then 62 random bits. Imported rows get such ids so that the
 * primary keys and `credentials.consumer_id` grow at their right edge instead of touching a random
 * index page per row: a bulk import then keeps its index pages in cache.
 */
export function uuid7Generator(): () => string {
  const bytes = new Uint8Array(16);
  const text = Buffer.alloc(36, 0x2d /* '-' */);
  const pool = Buffer.alloc(8 * 1024);
  let at = pool.length;
  let lastMs = -1;
  let counter = 0;
  return () => {
    let ms = Date.now();
    if (ms > lastMs) {
      lastMs = ms;
      counter = 0;
    } else {
      ms = lastMs;
      if (++counter > 0xfff) {
        // 4096 ids in one millisecond: borrow the next one (stays monotonic).
        lastMs = ++ms;
        counter = 0;
      }
    }
    if (at + 8 > pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    const high = Math.floor(ms / 0x10000);
    bytes[0] = high >>> 24;
    bytes[1] = high >>> 16;
    bytes[2] = high >>> 8;
    bytes[3] = high;
    bytes[4] = ms >>> 8;
    bytes[5] = ms;
    bytes[6] = 0x70 | (counter >>> 8);
    bytes[7] = counter;
    bytes.set(pool.subarray(at, at + 8), 8);
    at += 8;
    bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
    for (let i = 0; i < 16; i++) {
      const b = (bytes[i] ?? 0) * 2;
      const p = DIGIT_AT[i] ?? 0;
      text[p] = HEX_ASCII[b] ?? 0;
      text[p + 1] = HEX_ASCII[b + 1] ?? 0;
    }
    return text.toString('latin1');
  };
}
