import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Hashes high-entropy secrets (API keys, generated Basic secrets) with HMAC-SHA-256 under the
 * server pepper. Such secrets need no slow hash: 128+ random bits cannot be guessed offline, and
 * the pepper keeps a leaked table useless without the server's configuration.
 */
export class SecretHasher {
  readonly #pepper: Buffer;

  constructor(pepper: string) {
    if (pepper.length < 32) throw new RangeError('pepper must be at least 32 characters');
    this.#pepper = Buffer.from(pepper, 'utf8');
  }

  /** HMAC-SHA-256(pepper, secret): 32 bytes. */
  digest(secret: string): Buffer {
    return createHmac('sha256', this.#pepper).update(secret, 'utf8').digest();
  }

  /** The hex digest, as stored in the database. */
  hash(secret: string): string {
    return this.digest(secret).toString('hex');
  }

  /** Constant-time check of `secret` against a stored hex digest. */
  verify(secret: string, storedHex: string): boolean {
    const expected = Buffer.from(storedHex, 'hex');
    const actual = this.digest(secret);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}

/** A fresh pepper for a new embedded store (256 random bits, base64url). */
export function generatePepper(): string {
  return randomBytes(32).toString('base64url');
}

/** `bytes` random bytes as base64url (no padding): 24 bytes → 32 characters, 192 bits. */
export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}
