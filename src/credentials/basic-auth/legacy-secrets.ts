import { createHash, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import type { CredentialRecord } from '../../cache/credential-record.js';
import { rememberBounded } from '../request-parts.js';
import type { SecretHasher } from '../secret-hasher.js';
import bcrypt from 'bcryptjs';
import { KONG_SHA1_ALGORITHM, verifyKongSha1Hash } from './kong-sha1.js';

/** A stored secret hash of a scheme other than keygate's own HMAC (imported user passwords). */
export interface StoredSecret {
  readonly algorithm: string;
  readonly hash: string;
}

/** Reads one credential's stored hash (L3), for the rare slow verification. */
export interface StoredSecretSource {
  loadSecret(credentialId: string): Promise<StoredSecret | null>;
}

/** Hash schemes keygate verifies besides HMAC-SHA-256, as `credentials.hash_algorithm`. */
export const LEGACY_ALGORITHMS = ['scrypt', 'bcrypt', KONG_SHA1_ALGORITHM] as const;

/**
 * Verifies imported secrets whose hash keygate did not make: `bcrypt` (`$2b$…`), `scrypt`
 * (`scrypt$N$r$p$salt$hash`, base64) and Kong's basic-auth `kong-sha1`
 * (`<kong consumer id>:<hex sha1(password + id)>`).
 * A slow verification runs once; its success is remembered in memory only, as HMAC(pepper,
 * secret) against a fingerprint of the stored hash, so later requests cost one HMAC and a
 * constant-time compare, and a changed hash forgets the success. Failures are remembered too
 * (briefly), so repeated wrong passwords cannot make keygate run slow hashes on demand.
 */
export class LegacySecretVerifier {
  readonly #source: StoredSecretSource;
  readonly #hasher: SecretHasher;
  readonly #max: number;
  readonly #ok = new Map<string, Buffer>();
  readonly #failed = new Map<string, number>();
  readonly #failTtlMs: number;

  constructor(options: { source: StoredSecretSource; hasher: SecretHasher; maxEntries?: number; failTtlMs?: number }) {
    this.#source = options.source;
    this.#hasher = options.hasher;
    this.#max = options.maxEntries ?? 100_000;
    this.#failTtlMs = options.failTtlMs ?? 60_000;
  }

  /** Synchronous answer when the outcome is remembered; undefined when a slow check is needed. */
  remembered(record: CredentialRecord, secret: string): boolean | undefined {
    const id = this.#id(record);
    const digest = this.#hasher.digest(secret);
    const ok = this.#ok.get(id);
    if (ok !== undefined && timingSafeEqual(ok, digest)) return true;
    const failKey = `${id}:${digest.toString('base64')}`;
    const until = this.#failed.get(failKey);
    if (until !== undefined) {
      if (until > Date.now()) return false;
      this.#failed.delete(failKey);
    }
    return undefined;
  }

  async verify(record: CredentialRecord, secret: string): Promise<boolean> {
    const known = this.remembered(record, secret);
    if (known !== undefined) return known;
    const stored = await this.#source.loadSecret(record.credentialId);
    const ok = stored !== null && (await verifyLegacy(stored, secret));
    const id = this.#id(record);
    const digest = this.#hasher.digest(secret);
    if (ok) {
      rememberBounded(this.#ok, id, digest, this.#max);
    } else {
      rememberBounded(this.#failed, `${id}:${digest.toString('base64')}`, Date.now() + this.#failTtlMs, this.#max);
    }
    return ok;
  }

  #id(record: CredentialRecord): string {
    return `${record.credentialId}:${record.secretHash === null ? '' : record.secretHash.toString('base64')}`;
  }
}


/** The fingerprint kept in the cache record for a legacy hash (never the hash itself). */
export function legacyFingerprint(storedHash: string): Buffer {
  return createHash('sha256').update('keygate-legacy\0').update(storedHash).digest();
}

/** Checks `secret` against a stored legacy hash, in constant time where it compares. */
export async function verifyLegacy(stored: StoredSecret, secret: string): Promise<boolean> {
  switch (stored.algorithm) {
    case 'scrypt': {
      const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=_-]+)\$([A-Za-z0-9+/=_-]+)$/.exec(stored.hash);
      if (m === null) return false;
      const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
      const salt = Buffer.from(m[4] ?? '', 'base64');
      const expected = Buffer.from(m[5] ?? '', 'base64');
      if (expected.length < 16 || N > 1 << 20 || r > 32 || p > 16) return false;
      const actual = await new Promise<Buffer>((resolve, reject) => {
        scryptCallback(secret, salt, expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err === null ? resolve(key) : reject(err)));
      }).catch(() => null);
      return actual !== null && timingSafeEqual(actual, expected);
    }
    case 'bcrypt':
      // bcryptjs compares in constant time; cost is bounded by what an import accepts.
      return /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(stored.hash) && Number(stored.hash.slice(4, 6)) <= 14
        && bcrypt.compare(secret, stored.hash).catch(() => false);
    case KONG_SHA1_ALGORITHM:
      return verifyKongSha1Hash(secret, stored.hash);
    default:
      return false;
  }
}
