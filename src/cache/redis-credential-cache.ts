import type { Redis, Cluster } from 'ioredis';
import type { CredentialRecord } from './credential-record.js';

/** What L2 answered: a record, a cached "no such credential", or nothing cached. */
export type SharedLookup =
  | { readonly kind: 'hit'; readonly record: CredentialRecord }
  | { readonly kind: 'negative' }
  | { readonly kind: 'miss' };

/** The wire form of a record in Redis (JSON): short names, secret hash as hex. */
interface StoredRecord {
  c: string; u: string; n: string; x: string | null; r: readonly string[]; s: readonly string[];
  t: string; p: 0 | 1; v: 0 | 1; nb: number; ex: number; h: string | null;
}

const NEGATIVE = '-';

/**
 * L2: the cache shared by all replicas, in Redis (or Redis Cluster). Keys are
 * `<prefix><hex cache key>`; values JSON records, or `-` for a known-unknown credential.
 */
export class RedisCredentialCache {
  readonly #redis: Redis | Cluster;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;

  constructor(options: { redis: Redis | Cluster; prefix?: string; ttlMs: number; negativeTtlMs: number }) {
    this.#redis = options.redis;
    this.#prefix = options.prefix ?? 'kg:cred:';
    this.#ttlMs = options.ttlMs;
    this.#negativeTtlMs = options.negativeTtlMs;
  }

  async get(key: Buffer): Promise<SharedLookup> {
    const raw = await this.#redis.get(this.#key(key));
    if (raw === null) return { kind: 'miss' };
    if (raw === NEGATIVE) return { kind: 'negative' };
    const decoded = decodeRecord(raw);
    return decoded === null ? { kind: 'miss' } : { kind: 'hit', record: decoded };
  }

  async set(key: Buffer, record: CredentialRecord | null): Promise<void> {
    if (record === null) {
      if (this.#negativeTtlMs > 0) await this.#redis.set(this.#key(key), NEGATIVE, 'PX', this.#negativeTtlMs);
      return;
    }
    await this.#redis.set(this.#key(key), encodeRecord(record), 'PX', this.#ttlMs);
  }

  async delete(keys: readonly Buffer[]): Promise<void> {
    if (keys.length === 0) return;
    // One DEL per key: in a cluster, keys of one multi-key DEL must share a slot.
    const pipeline = this.#redis.pipeline();
    for (const key of keys) pipeline.del(this.#key(key));
    await pipeline.exec();
  }

  #key(key: Buffer): string {
    return this.#prefix + key.toString('hex');
  }
}

export function encodeRecord(r: CredentialRecord): string {
  const stored: StoredRecord = {
    c: r.credentialId, u: r.consumerId, n: r.username, x: r.customId, r: r.roles, s: r.scopes, t: r.type,
    p: r.consumerSuspended ? 1 : 0, v: r.revoked ? 1 : 0, nb: r.notBefore, ex: r.expiresAt,
    h: r.secretHash === null ? null : r.secretHash.toString('hex'),
  };
  return JSON.stringify(stored);
}

/** Parses a stored record; null when it is not one (an old format, or junk): treated as a miss. */
export function decodeRecord(raw: string): CredentialRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const s = v as Partial<StoredRecord>;
  if (typeof s.c !== 'string' || typeof s.u !== 'string' || typeof s.n !== 'string' || typeof s.t !== 'string'
    || !Array.isArray(s.r) || !Array.isArray(s.s) || typeof s.nb !== 'number' || typeof s.ex !== 'number') return null;
  return {
    credentialId: s.c, consumerId: s.u, username: s.n, customId: typeof s.x === 'string' ? s.x : null,
    roles: s.r.map(String), scopes: s.s.map(String), type: s.t,
    consumerSuspended: s.p === 1, revoked: s.v === 1, notBefore: s.nb, expiresAt: s.ex,
    secretHash: typeof s.h === 'string' ? Buffer.from(s.h, 'hex') : null,
  };
}
