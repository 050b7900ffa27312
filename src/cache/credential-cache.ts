/**
 * L1 in-process credential cache: compact, sharded, GC-friendly.
 *
 * Entries live in N shards (power of two), each one open-addressing index plus one record arena
 * Buffer (see cache-shard.ts), so a million credentials cost a few dozen Buffers for the garbage
 * collector instead of millions of objects, and growth, compaction and eviction touch one shard
 * at a time.
 *
 * Keys are 32-byte uniform digests (HMAC-SHA-256 of an API key, SHA-256 of "type:lookup"): key
 * bytes 4..7 pick the shard, bytes 0..3 the slot, byte 8 is the slot tag; all 32 are stored and
 * compared. Keys are copied, never retained.
 *
 * Bounds: `maxEntries` caps positive + negative entries over the whole cache (when it is
 * reached, the shard being written to evicts — by CLOCK — or, when that shard is empty, the next
 * non-empty one). Negative entries are also capped per shard at
 * `maxNegativeFraction * maxEntries / shards` (at least 1), and evict only each other.
 */
import { CacheShard, LOOKUP_MISS, LOOKUP_NEGATIVE, type ShardTotals } from './cache-shard.js';
import {
  InternTables,
  KEY_BYTES,
  MAX_LIST_BYTES,
  MAX_RECORD_BYTES,
  decodeRecord,
  encodeRecord,
  type CredentialRecord,
} from './credential-record.js';

export type { CredentialRecord } from './credential-record.js';

export interface CredentialCacheOptions {
  /** Power of two, default 64. Lowered to the largest power of two <= maxEntries. */
  readonly shards?: number;
  /** Bound for positive + negative entries over all shards. */
  readonly maxEntries: number;
  /** How long a positive entry may be served before reload (staleness bound); 0 = no limit. */
  readonly positiveTtlMs: number;
  /** How long an unknown-key entry lives; 0 = negative entries are not stored. */
  readonly negativeTtlMs: number;
  /**
   * Negatives may use at most this share of a shard (default 0.25) so a flood of random keys
   * cannot push out good entries. 0 = negative entries are not stored.
   */
  readonly maxNegativeFraction?: number;
  /** Epoch ms clock, for tests; default Date.now. */
  readonly now?: () => number;
}

export type CacheLookup =
  | { readonly kind: 'hit'; readonly record: CredentialRecord }
  | { readonly kind: 'negative' }
  | { readonly kind: 'miss' };

export interface CacheStats {
  /** Live entries, positive + negative (expired ones count until dropped). */
  entries: number;
  /** Live negative entries (included in `entries`). */
  negatives: number;
  /** Total bytes of the Buffers/typed arrays held (arenas, indexes, scratch). */
  bytes: number;
  hits: number;
  /** `get` calls answered 'miss' (unknown key, or an entry whose TTL had passed). */
  misses: number;
  negativeHits: number;
  /** Entries the cache dropped itself: capacity evictions and TTL expiry. */
  evictions: number;
  /** Shard compactions (arena rewritten, index rebuilt). */
  rebuilds: number;
}

const MISS: CacheLookup = Object.freeze({ kind: 'miss' });
const NEGATIVE: CacheLookup = Object.freeze({ kind: 'negative' });

/** Expired records examined at a shard's head before CLOCK eviction, per needed slot. */
const HEAD_EXPIRY_PROBE = 16;

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new TypeError(`credential cache key must be a ${KEY_BYTES}-byte Buffer`);
  }
}

function checkMs(v: number, name: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`${name} must be a finite number >= 0`);
  }
}

export class CredentialCache {
  private readonly shards: CacheShard[];
  private readonly shardMask: number;
  private readonly maxEntries: number;
  private readonly negativesPerShard: number;
  private readonly clock: () => number;
  private readonly totals: ShardTotals = { entries: 0, negatives: 0, evictions: 0, rebuilds: 0 };
  private readonly tables = new InternTables();
  private readonly encoded = Buffer.alloc(MAX_RECORD_BYTES);
  private readonly listScratch = Buffer.alloc(MAX_LIST_BYTES);
  private victimCursor = 0;
  private hits = 0;
  private misses = 0;
  private negativeHits = 0;

  constructor(options: CredentialCacheOptions) {
    const { maxEntries, positiveTtlMs, negativeTtlMs } = options;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer');
    }
    checkMs(positiveTtlMs, 'positiveTtlMs');
    checkMs(negativeTtlMs, 'negativeTtlMs');
    const fraction = options.maxNegativeFraction ?? 0.25;
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
      throw new RangeError('maxNegativeFraction must be between 0 and 1');
    }
    let shards = options.shards ?? 64;
    if (!Number.isInteger(shards) || shards < 1 || shards > 65536 || (shards & (shards - 1)) !== 0) {
      throw new RangeError('shards must be a power of two between 1 and 65536');
    }
    while (shards > maxEntries) shards >>>= 1;

    this.maxEntries = maxEntries;
    this.clock = options.now ?? Date.now;
    this.shardMask = shards - 1;
    this.negativesPerShard =
      negativeTtlMs > 0 && fraction > 0 ? Math.max(1, Math.floor((fraction * maxEntries) / shards)) : 0;
    const cfg = { positiveTtlMs, negativeTtlMs, totals: this.totals };
    this.shards = [];
    for (let i = 0; i < shards; i++) this.shards.push(new CacheShard(cfg));
  }

  /**
   * Looks `key` up. Applies only the cache TTLs (an expired entry is a miss and is dropped); the
   * credential's own notBefore/expiresAt/revoked are the caller's to check. The returned record is
   * decoded afresh on every hit.
   */
  get(key: Buffer): CacheLookup {
    checkKey(key);
    const shard = this.shardOf(key);
    const r = shard.lookup(key, this.clock());
    if (r === LOOKUP_MISS) {
      this.misses++;
      return MISS;
    }
    if (r === LOOKUP_NEGATIVE) {
      this.negativeHits++;
      return NEGATIVE;
    }
    this.hits++;
    return { kind: 'hit', record: decodeRecord(shard.buffer, r, this.tables) };
  }

  /** Stores `record` for `key`, replacing any entry (positive or negative) with the same key. */
  setPositive(key: Buffer, record: CredentialRecord): void {
    checkKey(key);
    // Encode first: a bad record throws before the cache is touched.
    encodeRecord(record, this.encoded, this.listScratch, this.tables);
    const now = this.clock();
    const shard = this.shardOf(key);
    shard.remove(key, now);
    this.makeRoom(shard, now);
    shard.append(key, false, this.encoded, now);
  }

  /** Records that `key` is unknown, replacing any entry with the same key. */
  setNegative(key: Buffer): void {
    checkKey(key);
    const now = this.clock();
    const shard = this.shardOf(key);
    shard.remove(key, now);
    if (this.negativesPerShard === 0) return;
    while (shard.negatives >= this.negativesPerShard) shard.evictOne(now, true);
    this.makeRoom(shard, now);
    shard.append(key, true, this.encoded, now);
  }

  /** Removes the entry for `key`; true when there was one (whose TTL had not passed). */
  delete(key: Buffer): boolean {
    checkKey(key);
    return this.shardOf(key).remove(key, this.clock());
  }

  /** Drops every entry and the intern tables; the hit/miss/eviction counters keep counting. */
  clear(): void {
    for (const s of this.shards) s.clear();
    this.tables.clear();
  }

  /** Live entries, positive + negative (expired ones count until dropped). */
  get size(): number {
    return this.totals.entries;
  }

  stats(): CacheStats {
    let bytes = this.encoded.length + this.listScratch.length;
    for (const s of this.shards) bytes += s.bytes;
    return {
      entries: this.totals.entries,
      negatives: this.totals.negatives,
      bytes,
      hits: this.hits,
      misses: this.misses,
      negativeHits: this.negativeHits,
      evictions: this.totals.evictions,
      rebuilds: this.totals.rebuilds,
    };
  }

  /** @internal Walks every shard and throws when an internal invariant does not hold. */
  checkInvariants(): void {
    let entries = 0;
    let negatives = 0;
    for (const s of this.shards) {
      s.checkInvariants();
      entries += s.count;
      negatives += s.negatives;
    }
    if (entries !== this.totals.entries) throw new Error('credential cache: entry total drifted');
    if (negatives !== this.totals.negatives) throw new Error('credential cache: negative total drifted');
    if (entries > this.maxEntries) throw new Error('credential cache: above maxEntries');
  }

  private shardOf(key: Buffer): CacheShard {
    const s = this.shards[key.readUInt32LE(4) & this.shardMask];
    if (s === undefined) throw new Error('credential cache: shard out of range');
    return s;
  }

  /** Frees one entry's worth of room under maxEntries, preferring `shard`. */
  private makeRoom(shard: CacheShard, now: number): void {
    while (this.totals.entries >= this.maxEntries) {
      let victim = shard;
      if (victim.count === 0) {
        // Only with tiny per-shard shares: take from the next non-empty shard, round robin.
        for (let i = 0; i < this.shards.length; i++) {
          const s = this.shards[(this.victimCursor + i) & this.shardMask];
          if (s !== undefined && s.count > 0) {
            victim = s;
            this.victimCursor = (this.victimCursor + i + 1) & this.shardMask;
            break;
          }
        }
      }
      if (victim.dropExpiredHead(now, HEAD_EXPIRY_PROBE) > 0) continue;
      if (!victim.evictOne(now, false)) throw new Error('credential cache: nothing to evict');
    }
  }
}
