/**
 * One shard of the L1 credential cache: an open-addressing hash index over a record arena.
 *
 * - Index: linear probing over `offs` (Uint32Array, record offset + 1, 0 = empty) and `tags`
 *   (Uint8Array, key byte 8). The slot comes from key bytes 0..3 (keys are uniform digests), the
 *   shard from bytes 4..7, so the three never overlap. Deletion is backward-shift (no
 *   tombstones). The index doubles when the load would exceed 0.75 and shrinks on compaction.
 * - Arena: one Buffer; records are appended (insertion order = arena order) and deleted by
 *   setting a DEAD bit. Growth copies the bytes (offsets stay valid): doubling while the arena is
 *   under 256 KiB, then steps of 1/8 so the slack stays small at the sizes that matter.
 * - Compaction ("rebuild"): copies the live, unexpired records to a fresh arena sized to fit (plus
 *   1/8, at least 1 KiB) and rebuilds the index. It runs when an append does not fit and at least 1/8 of the arena is
 *   garbage, or when a delete leaves more than half of it garbage.
 * - Eviction: CLOCK over arena order with a per-record reference bit (set on insert and on every
 *   hit). Expired records the hand passes are evicted whatever their bit. A second hand does the
 *   same over negative entries only, for the negative-entry cap.
 *
 * All work (growth, compaction, eviction) touches this shard only.
 */
import {
  F_DEAD,
  F_NEGATIVE,
  F_REF,
  KEY_BYTES,
  NEGATIVE_RECORD_BYTES,
  OFF_FLAGS,
  OFF_FLAGS2,
  OFF_KEY,
  OFF_LEN,
  OFF_STAMP,
  OFF_TAG,
} from './credential-record.js';

/** Counters shared by all shards of one cache. */
export interface ShardTotals {
  entries: number;
  negatives: number;
  evictions: number;
  rebuilds: number;
}

export interface ShardConfig {
  /** 0 = positive entries never expire. */
  readonly positiveTtlMs: number;
  /** Must be > 0 for negative entries to be stored at all. */
  readonly negativeTtlMs: number;
  readonly totals: ShardTotals;
}

/** {@link CacheShard.lookup} results other than a record offset. */
export const LOOKUP_MISS = -1;
export const LOOKUP_NEGATIVE = -2;

const MIN_INDEX_SLOTS = 16;
const MAX_LOAD = 0.75;
/** Shrink the index on compaction when the load would be under this. */
const SHRINK_LOAD = 0.1875;
const MIN_ARENA_BYTES = 1024;
const DOUBLING_LIMIT = 256 * 1024;
/** Compact instead of growing when at least this share of the arena is garbage. */
const COMPACT_ON_APPEND = 1 / 8;
/** Compact after a delete when more than this share of the arena is garbage... */
const COMPACT_ON_DELETE = 1 / 2;
/** ...and the garbage is at least this many bytes. */
const COMPACT_ON_DELETE_MIN = 4096;

const EMPTY = Buffer.alloc(0);

export class CacheShard {
  private offs = new Uint32Array(MIN_INDEX_SLOTS);
  private tags = new Uint8Array(MIN_INDEX_SLOTS);
  private mask = MIN_INDEX_SLOTS - 1;
  private arena: Buffer = EMPTY;
  /** Append position = bytes of records (live and dead) in the arena. */
  private used = 0;
  /** Bytes of DEAD records in [0, used). */
  private garbage = 0;
  /** Offset before which every record is dead (oldest live record at or after it). */
  private head = 0;
  /** CLOCK hands (record boundaries in [0, used]). */
  private hand = 0;
  private negHand = 0;
  /** Live entries (positive + negative, expired ones included until dropped). */
  count = 0;
  negatives = 0;

  constructor(private readonly cfg: ShardConfig) {}

  /** The arena; a record offset returned by {@link lookup} is valid until the next mutation. */
  get buffer(): Buffer {
    return this.arena;
  }

  /** Bytes held by this shard's Buffer and typed arrays. */
  get bytes(): number {
    return this.arena.length + this.offs.byteLength + this.tags.byteLength;
  }

  /**
   * The record offset of a live positive entry for `key`, {@link LOOKUP_NEGATIVE}, or
   * {@link LOOKUP_MISS}. Sets the entry's reference bit; drops it when its cache TTL has passed.
   */
  lookup(key: Buffer, now: number): number {
    const slot = this.find(key);
    if (slot < 0) return LOOKUP_MISS;
    const a = this.arena;
    const off = (this.offs[slot] ?? 1) - 1;
    const flags = a[off + OFF_FLAGS] ?? 0;
    if (this.expired(off, flags, now)) {
      this.removeSlot(slot, off, flags);
      this.cfg.totals.evictions++;
      this.compactIfMostlyGarbage(now);
      return LOOKUP_MISS;
    }
    if ((flags & F_REF) === 0) a[off + OFF_FLAGS] = flags | F_REF;
    return (flags & F_NEGATIVE) !== 0 ? LOOKUP_NEGATIVE : off;
  }

  /** Removes the entry for `key`; true when there was one whose TTL had not passed. */
  remove(key: Buffer, now: number): boolean {
    const slot = this.find(key);
    if (slot < 0) return false;
    const off = (this.offs[slot] ?? 1) - 1;
    const flags = this.arena[off + OFF_FLAGS] ?? 0;
    const live = !this.expired(off, flags, now);
    this.removeSlot(slot, off, flags);
    if (!live) this.cfg.totals.evictions++;
    this.compactIfMostlyGarbage(now);
    return live;
  }

  /**
   * Appends an entry for `key`, which must not be present (call {@link remove} first). For a
   * positive entry `src[0, len)` is the encoded record (see `encodeRecord`); for a negative one
   * `src` is ignored. Room under the entry bounds is the caller's business.
   */
  append(key: Buffer, negative: boolean, src: Buffer, now: number): void {
    const len = negative ? NEGATIVE_RECORD_BYTES : src.readUInt16LE(OFF_LEN);
    this.ensureArena(len, now);
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) this.resizeIndex((this.mask + 1) * 2);
    const a = this.arena;
    const off = this.used;
    if (negative) {
      a.writeUInt16LE(len, off + OFF_LEN);
      a[off + OFF_FLAGS] = F_NEGATIVE | F_REF;
      a[off + OFF_FLAGS2] = 0;
    } else {
      // Small copies: a plain loop beats Buffer#copy's call overhead.
      if (len <= 256) for (let i = 0; i < len; i++) a[off + i] = src[i] ?? 0;
      else src.copy(a, off, 0, len);
      a[off + OFF_FLAGS] = ((src[OFF_FLAGS] ?? 0) & ~(F_DEAD | F_NEGATIVE)) | F_REF;
    }
    for (let i = 0; i < KEY_BYTES; i++) a[off + OFF_KEY + i] = key[i] ?? 0;
    a.writeDoubleLE(now, off + OFF_STAMP);
    this.used = off + len;

    const offs = this.offs;
    const mask = this.mask;
    let i = key.readUInt32LE(0) & mask;
    while ((offs[i] ?? 0) !== 0) i = (i + 1) & mask;
    offs[i] = off + 1;
    this.tags[i] = key[8] ?? 0;

    this.count++;
    this.cfg.totals.entries++;
    if (negative) {
      this.negatives++;
      this.cfg.totals.negatives++;
    }
  }

  /**
   * Evicts expired entries from the arena head (the oldest records), looking at no more than
   * `max` records and stopping at the first live unexpired one. Returns how many were evicted.
   */
  dropExpiredHead(now: number, max: number): number {
    const a = this.arena;
    let p = this.head;
    let dropped = 0;
    for (let steps = 0; steps < max && p < this.used; steps++) {
      const len = a.readUInt16LE(p + OFF_LEN);
      const flags = a[p + OFF_FLAGS] ?? 0;
      if ((flags & F_DEAD) === 0) {
        if (!this.expired(p, flags, now)) break;
        this.evictAt(p, flags);
        dropped++;
      }
      p += len;
      this.head = p;
    }
    return dropped;
  }

  /**
   * CLOCK step: evicts one entry (a negative one when `negativesOnly`) that is expired or whose
   * reference bit is clear, clearing the bits it passes. Returns false when there is nothing to
   * evict.
   */
  evictOne(now: number, negativesOnly: boolean): boolean {
    if (negativesOnly ? this.negatives === 0 : this.count === 0) return false;
    const a = this.arena;
    let p = negativesOnly ? this.negHand : this.hand;
    let wraps = 0;
    for (;;) {
      if (p >= this.used) {
        p = 0;
        // Pass 1 may start mid-arena, pass 2 clears every bit, pass 3 must find a victim.
        if (++wraps > 3) throw new Error('credential cache: CLOCK found no victim (corrupt shard)');
      }
      const len = a.readUInt16LE(p + OFF_LEN);
      const flags = a[p + OFF_FLAGS] ?? 0;
      if ((flags & F_DEAD) !== 0 || (negativesOnly && (flags & F_NEGATIVE) === 0)) {
        p += len;
        continue;
      }
      if ((flags & F_REF) === 0 || this.expired(p, flags, now)) {
        this.evictAt(p, flags);
        p += len;
        break;
      }
      a[p + OFF_FLAGS] = flags & ~F_REF;
      p += len;
    }
    if (negativesOnly) this.negHand = p;
    else this.hand = p;
    return true;
  }

  clear(): void {
    this.cfg.totals.entries -= this.count;
    this.cfg.totals.negatives -= this.negatives;
    this.offs = new Uint32Array(MIN_INDEX_SLOTS);
    this.tags = new Uint8Array(MIN_INDEX_SLOTS);
    this.mask = MIN_INDEX_SLOTS - 1;
    this.arena = EMPTY;
    this.used = this.garbage = this.head = this.hand = this.negHand = 0;
    this.count = this.negatives = 0;
  }

  /** Walks the whole shard and throws when an internal invariant does not hold (tests). */
  checkInvariants(): void {
    const fail = (what: string): never => {
      throw new Error(`credential cache shard invariant: ${what}`);
    };
    const a = this.arena;
    const boundaries = new Set<number>();
    let live = 0;
    let negatives = 0;
    let garbage = 0;
    let p = 0;
    while (p < this.used) {
      boundaries.add(p);
      const len = a.readUInt16LE(p + OFF_LEN);
      if (len < NEGATIVE_RECORD_BYTES) fail(`record at ${p} has length ${len}`);
      const flags = a[p + OFF_FLAGS] ?? 0;
      if ((flags & F_DEAD) !== 0) {
        garbage += len;
      } else {
        if (p < this.head) fail(`live record at ${p} before head ${this.head}`);
        live++;
        if ((flags & F_NEGATIVE) !== 0) negatives++;
        const slot = this.slotOf(p);
        if (slot < 0) fail(`live record at ${p} is not indexed`);
        const key = Buffer.from(a.subarray(p + OFF_KEY, p + OFF_KEY + KEY_BYTES));
        if (this.find(key) !== slot) fail(`record at ${p} not found by key`);
      }
      p += len;
    }
    boundaries.add(p);
    if (p !== this.used) fail(`records end at ${p}, used is ${this.used}`);
    if (this.used > a.length) fail('used beyond the arena');
    if (live !== this.count) fail(`count ${this.count}, live records ${live}`);
    if (negatives !== this.negatives) fail(`negatives ${this.negatives}, found ${negatives}`);
    if (garbage !== this.garbage) fail(`garbage ${this.garbage}, found ${garbage}`);
    let indexed = 0;
    for (let i = 0; i <= this.mask; i++) {
      const o = this.offs[i] ?? 0;
      if (o === 0) continue;
      indexed++;
      if (!boundaries.has(o - 1) || o - 1 >= this.used) fail(`slot ${i} points inside a record`);
      if (((a[o - 1 + OFF_FLAGS] ?? 0) & F_DEAD) !== 0) fail(`slot ${i} points at a dead record`);
      if (this.tags[i] !== a[o - 1 + OFF_TAG]) fail(`slot ${i} has a wrong tag`);
    }
    if (indexed !== this.count) fail(`index holds ${indexed}, count ${this.count}`);
    if (this.count > (this.mask + 1) * MAX_LOAD) fail('index load above 0.75');
    for (const [name, h] of [
      ['hand', this.hand],
      ['negHand', this.negHand],
      ['head', this.head],
    ] as const) {
      if (!boundaries.has(h)) fail(`${name} ${h} is not a record boundary`);
    }
  }

  // ---- internals ----------------------------------------------------------------------

  /** Slot holding `key`, or -1. The final key compare takes the same time whatever differs. */
  private find(key: Buffer): number {
    const offs = this.offs;
    const tags = this.tags;
    const mask = this.mask;
    const a = this.arena;
    const tag = key[8] ?? 0;
    let i = key.readUInt32LE(0) & mask;
    for (;;) {
      const o = offs[i] ?? 0;
      if (o === 0) return -1;
      if (tags[i] === tag) {
        const k = o - 1 + OFF_KEY;
        let d = 0;
        for (let b = 0; b < KEY_BYTES; b++) d |= (key[b] ?? 0) ^ (a[k + b] ?? 0);
        if (d === 0) return i;
      }
      i = (i + 1) & mask;
    }
  }

  /** Slot pointing at the record at `off`, or -1. */
  private slotOf(off: number): number {
    const offs = this.offs;
    const mask = this.mask;
    let i = this.arena.readUInt32LE(off + OFF_KEY) & mask;
    for (;;) {
      const o = offs[i] ?? 0;
      if (o === 0) return -1;
      if (o === off + 1) return i;
      i = (i + 1) & mask;
    }
  }

  private expired(off: number, flags: number, now: number): boolean {
    const ttl = (flags & F_NEGATIVE) !== 0 ? this.cfg.negativeTtlMs : this.cfg.positiveTtlMs;
    return ttl > 0 && now - this.arena.readDoubleLE(off + OFF_STAMP) >= ttl;
  }

  private evictAt(off: number, flags: number): void {
    const slot = this.slotOf(off);
    if (slot < 0) throw new Error('credential cache: live record missing from its index');
    this.removeSlot(slot, off, flags);
    this.cfg.totals.evictions++;
  }

  /** Marks the record dead and deletes its slot (backward shift, no tombstone). */
  private removeSlot(slot: number, off: number, flags: number): void {
    const a = this.arena;
    a[off + OFF_FLAGS] = flags | F_DEAD;
    this.garbage += a.readUInt16LE(off + OFF_LEN);
    this.count--;
    this.cfg.totals.entries--;
    if ((flags & F_NEGATIVE) !== 0) {
      this.negatives--;
      this.cfg.totals.negatives--;
    }

    const offs = this.offs;
    const tags = this.tags;
    const mask = this.mask;
    let hole = slot;
    let j = slot;
    for (;;) {
      j = (j + 1) & mask;
      const o = offs[j] ?? 0;
      if (o === 0) break;
      const home = a.readUInt32LE(o - 1 + OFF_KEY) & mask;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        offs[hole] = o;
        tags[hole] = tags[j] ?? 0;
        hole = j;
      }
    }
    offs[hole] = 0;
  }

  private compactIfMostlyGarbage(now: number): void {
    if (this.garbage >= COMPACT_ON_DELETE_MIN && this.garbage > this.used * COMPACT_ON_DELETE) {
      this.compact(0, now);
    }
  }

  /** Makes room for `len` more bytes at the end of the arena. */
  private ensureArena(len: number, now: number): void {
    if (this.used + len <= this.arena.length) return;
    if (this.garbage > 0 && this.garbage >= this.used * COMPACT_ON_APPEND) {
      this.compact(len, now);
      if (this.used + len <= this.arena.length) return;
    }
    const need = this.used + len;
    let cap = this.arena.length;
    while (cap < need) cap = cap < DOUBLING_LIMIT ? Math.max(cap * 2, MIN_ARENA_BYTES) : cap + (cap >>> 3);
    const next = Buffer.allocUnsafeSlow(cap);
    this.arena.copy(next, 0, 0, this.used);
    this.arena = next;
  }

  private resizeIndex(cap: number): void {
    const a = this.arena;
    const oldOffs = this.offs;
    const oldTags = this.tags;
    const offs = new Uint32Array(cap);
    const tags = new Uint8Array(cap);
    const mask = cap - 1;
    for (let s = 0; s < oldOffs.length; s++) {
      const o = oldOffs[s] ?? 0;
      if (o === 0) continue;
      let i = a.readUInt32LE(o - 1 + OFF_KEY) & mask;
      while ((offs[i] ?? 0) !== 0) i = (i + 1) & mask;
      offs[i] = o;
      tags[i] = oldTags[s] ?? 0;
    }
    this.offs = offs;
    this.tags = tags;
    this.mask = mask;
  }

  /**
   * Copies the live, unexpired records (in order) into a new arena with room for `extra` more
   * bytes plus 1/8 slack (at least 1 KiB), and rebuilds the index (resized to the live count). Maps the CLOCK
   * hands onto the next surviving record.
   */
  private compact(extra: number, now: number): void {
    const old = this.arena;
    const oldUsed = this.used;
    const oldHand = this.hand;
    const oldNegHand = this.negHand;
    const want = oldUsed - this.garbage + extra;
    const arenaCap = want === 0 ? 0 : want + Math.max(MIN_ARENA_BYTES, want >>> 3);
    const next = arenaCap === 0 ? EMPTY : Buffer.allocUnsafeSlow(arenaCap);

    let cap = this.mask + 1;
    while (this.count + 1 > cap * MAX_LOAD) cap *= 2;
    while (cap > MIN_INDEX_SLOTS && this.count + 1 <= cap * SHRINK_LOAD) cap /= 2;
    const offs = new Uint32Array(cap);
    const tags = new Uint8Array(cap);
    const mask = cap - 1;

    const totals = this.cfg.totals;
    let hand = -1;
    let negHand = -1;
    let w = 0;
    let runFrom = -1;
    let runTo = 0;
    let p = 0;
    while (p < oldUsed) {
      if (p === oldHand) hand = w;
      if (p === oldNegHand) negHand = w;
      const len = old.readUInt16LE(p + OFF_LEN);
      const flags = old[p + OFF_FLAGS] ?? 0;
      let keep = (flags & F_DEAD) === 0;
      if (keep && this.expired(p, flags, now)) {
        keep = false;
        this.count--;
        totals.entries--;
        totals.evictions++;
        if ((flags & F_NEGATIVE) !== 0) {
          this.negatives--;
          totals.negatives--;
        }
      }
      if (keep) {
        if (runFrom < 0) {
          runFrom = p;
          runTo = w;
        }
        let i = old.readUInt32LE(p + OFF_KEY) & mask;
        while ((offs[i] ?? 0) !== 0) i = (i + 1) & mask;
        offs[i] = w + 1;
        tags[i] = old[p + OFF_TAG] ?? 0;
        w += len;
      } else if (runFrom >= 0) {
        old.copy(next, runTo, runFrom, p);
        runFrom = -1;
      }
      p += len;
    }
    if (runFrom >= 0) old.copy(next, runTo, runFrom, p);

    this.arena = next;
    this.used = w;
    this.garbage = 0;
    this.head = 0;
    this.hand = hand < 0 ? w : hand;
    this.negHand = negHand < 0 ? w : negHand;
    this.offs = offs;
    this.tags = tags;
    this.mask = mask;
    totals.rebuilds++;
  }
}
