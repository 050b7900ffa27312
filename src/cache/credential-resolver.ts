import type { Logger } from '../observability/logger.js';
import type { CacheLookup, CredentialCache } from './credential-cache.js';
import type { CredentialRecord } from './credential-record.js';
import type { RedisCredentialCache } from './redis-credential-cache.js';

/** L3: the source of truth, asked on an L1 and L2 miss. */
export interface CredentialSource {
  /** The credential of `type` identified by `lookup`, joined with its consumer; null when none. */
  load(type: string, lookup: string): Promise<CredentialRecord | null>;
}

/** L2 and L3 both failed to answer for a key that was not in L1. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`credential store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

export interface CredentialResolverOptions {
  readonly l1: CredentialCache;
  readonly l2: RedisCredentialCache | null;
  readonly source: CredentialSource;
  readonly logger: Logger;
}

export interface ResolverStats {
  l2Hits: number;
  l2Errors: number;
  l3Loads: number;
  l3Errors: number;
  coalesced: number;
}

/**
 * Finds credentials: L1 (in-process, synchronous) → L2 (Redis) → L3 (PostgreSQL), with one
 * in-flight load per key and negative entries for unknown keys at both cache levels.
 *
 * A load that races with an invalidation must not put the old value back: every invalidation
 * bumps an epoch, and a load that finishes in a later epoch than it started answers its waiters
 * but does not fill the caches.
 */
export class CredentialResolver {
  readonly #l1: CredentialCache;
  readonly #l2: RedisCredentialCache | null;
  readonly #source: CredentialSource;
  readonly #log: Logger;
  readonly #inflight = new Map<string, Promise<CredentialRecord | null>>();
  #epoch = 0;
  #lastL2ErrorLog = 0;
  readonly stats: ResolverStats = { l2Hits: 0, l2Errors: 0, l3Loads: 0, l3Errors: 0, coalesced: 0 };

  constructor(options: CredentialResolverOptions) {
    this.#l1 = options.l1;
    this.#l2 = options.l2;
    this.#source = options.source;
    this.#log = options.logger.child({ module: 'resolver' });
  }

  /** L1 only: the hot path's synchronous answer. */
  cached(key: Buffer): CacheLookup {
    return this.#l1.get(key);
  }

  /**
   * The stored credential under `key`: answered synchronously from L1 (a hit, or a remembered
   * "no such credential"), else loaded through L2 and L3.
   */
  find(key: Buffer, type: string, lookup: string): CredentialRecord | null | Promise<CredentialRecord | null> {
    const cached = this.#l1.get(key);
    if (cached.kind === 'hit') return cached.record;
    if (cached.kind === 'negative') return null;
    return this.load(key, type, lookup);
  }

  /** L2 then L3, one load per key at a time. Rejects with StoreUnavailableError on an outage. */
  load(key: Buffer, type: string, lookup: string): Promise<CredentialRecord | null> {
    const id = key.toString('latin1');
    const pending = this.#inflight.get(id);
    if (pending !== undefined) {
      this.stats.coalesced++;
      return pending;
    }
    const loading: Promise<CredentialRecord | null> = this.#loadThrough(Buffer.from(key), type, lookup).finally(() => {
      if (this.#inflight.get(id) === loading) this.#inflight.delete(id);
    });
    this.#inflight.set(id, loading);
    return loading;
  }

  /** Forgets these keys in L1 now and in L2 (awaited); later loads read the store afresh. */
  async invalidate(keys: readonly Buffer[]): Promise<void> {
    if (keys.length === 0) return;
    this.#epoch++;
    for (const key of keys) {
      this.#l1.delete(key);
      // A load already under way may have read the old row: later callers start a new one.
      this.#inflight.delete(key.toString('latin1'));
    }
    if (this.#l2 !== null) {
      try {
        await this.#l2.delete(keys);
      } catch (err) {
        this.#noteL2Error(err);
      }
    }
  }

  /** Empties L1 (after a change-feed gap that cannot be replayed). */
  clearLocal(): void {
    this.#epoch++;
    this.#l1.clear();
  }

  async #loadThrough(key: Buffer, type: string, lookup: string): Promise<CredentialRecord | null> {
    const epoch = this.#epoch;
    if (this.#l2 !== null) {
      try {
        const shared = await this.#l2.get(key);
        if (shared.kind !== 'miss') {
          this.stats.l2Hits++;
          const record = shared.kind === 'hit' ? shared.record : null;
          if (epoch === this.#epoch) this.#fillL1(key, record);
          return record;
        }
      } catch (err) {
        this.#noteL2Error(err);
      }
    }
    let record: CredentialRecord | null;
    try {
      this.stats.l3Loads++;
      record = await this.#source.load(type, lookup);
    } catch (err) {
      this.stats.l3Errors++;
      throw new StoreUnavailableError(err);
    }
    if (epoch === this.#epoch) {
      this.#fillL1(key, record);
      if (this.#l2 !== null) this.#l2.set(key, record).catch((err: unknown) => this.#noteL2Error(err));
    }
    return record;
  }

  #fillL1(key: Buffer, record: CredentialRecord | null): void {
    if (record === null) this.#l1.setNegative(key);
    else this.#l1.setPositive(key, record);
  }

  #noteL2Error(err: unknown): void {
    this.stats.l2Errors++;
    const now = Date.now();
    if (now - this.#lastL2ErrorLog > 10_000) {
      this.#lastL2ErrorLog = now;
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'redis (L2) unavailable; reading through to PostgreSQL');
    }
  }
}
