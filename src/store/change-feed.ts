import { sql } from 'kysely';
import type { CredentialResolver } from '../cache/credential-resolver.js';
import { storedCacheKey } from '../credentials/credential-type.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from './database.js';

export interface ChangeFeedOptions {
  readonly store: Store;
  readonly resolver: CredentialResolver;
  readonly logger: Logger;
  /** Safety-net poll of the outbox, for a NOTIFY that was lost (connection drop, pooler). */
  readonly pollMs: number;
  readonly batchSize?: number;
  /**
   * At start, re-apply the changes of this last stretch of time: the shared L2 may still hold
   * entries written before them while no replica was running (set it to the L2 TTL; 0 without L2).
   */
  readonly replayWindowMs?: number;
  /** Outbox rows older than this are deleted (default one day). */
  readonly retentionMs?: number;
}

/**
 * Applies the `changes` outbox to this replica's caches. PostgreSQL NOTIFY says "something
 * changed"; the outbox says what, by id, so a missed signal or a restart loses nothing: the
 * next drain reads every change after the last id applied.
 */
export class ChangeFeed {
  readonly #store: Store;
  readonly #resolver: CredentialResolver;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #batchSize: number;
  #lastId = 0;
  #draining: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #pruneTimer: NodeJS.Timeout | null = null;
  readonly #replayWindowMs: number;
  readonly #retentionMs: number;
  #unlisten: (() => Promise<void>) | null = null;
  #stopped = false;
  /** Changes applied since start (for tests and metrics). */
  applied = 0;

  constructor(options: ChangeFeedOptions) {
    this.#store = options.store;
    this.#resolver = options.resolver;
    this.#log = options.logger.child({ module: 'change-feed' });
    this.#pollMs = options.pollMs;
    this.#batchSize = options.batchSize ?? 5_000;
    this.#replayWindowMs = options.replayWindowMs ?? 0;
    this.#retentionMs = options.retentionMs ?? 86_400_000;
  }

  get lastId(): number {
    return this.#lastId;
  }

  /**
   * Starts after the newest change — L1 is empty at start — except for the replay window, whose
   * changes are applied again so that L2 forgets what changed while no replica was running.
   */
  async start(): Promise<void> {
    const since = new Date(Date.now() - this.#replayWindowMs);
    const { rows } = await sql<{ max: string | number | null; replay_from: string | number | null }>`
      SELECT max(id) AS max, (SELECT min(id) FROM changes WHERE at >= ${since}) AS replay_from FROM changes`.execute(this.#store.db);
    const max = Number(rows[0]?.max ?? 0);
    const replayFrom = rows[0]?.replay_from;
    this.#lastId = this.#replayWindowMs > 0 && replayFrom !== null && replayFrom !== undefined ? Number(replayFrom) - 1 : max;
    if (this.#lastId < max) await this.drain();
    await this.#listen();
    this.#timer = setInterval(() => { void this.drain(); }, this.#pollMs);
    this.#timer.unref();
    this.#pruneTimer = setInterval(() => { void this.prune(); }, Math.min(this.#retentionMs, 600_000));
    this.#pruneTimer.unref();
  }

  /** Deletes outbox rows past the retention (every replica may run it; it is idempotent). */
  async prune(): Promise<number> {
    try {
      const result = await this.#store.db.deleteFrom('changes').where('at', '<', new Date(Date.now() - this.#retentionMs)).executeTakeFirst();
      return Number(result.numDeletedRows);
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'change feed: cannot prune the outbox');
      return 0;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#pruneTimer !== null) clearInterval(this.#pruneTimer);
    this.#timer = null;
    this.#pruneTimer = null;
    if (this.#unlisten !== null) await this.#unlisten();
    this.#unlisten = null;
    await this.#draining;
  }

  /** Applies every change after the last one applied; concurrent calls coalesce. */
  drain(): Promise<void> {
    if (this.#draining !== null) {
      this.#again = true;
      return this.#draining;
    }
    this.#draining = this.#drainLoop().finally(() => { this.#draining = null; });
    return this.#draining;
  }

  async #drainLoop(): Promise<void> {
    do {
      this.#again = false;
      for (;;) {
        let rows: Array<{ id: string | number; type: string; lookup: string }>;
        try {
          rows = await this.#store.db.selectFrom('changes').select(['id', 'type', 'lookup'])
            .where('id', '>', String(this.#lastId)).orderBy('id').limit(this.#batchSize).execute();
        } catch (err) {
          this.#log.warn({ err: errorText(err) }, 'change feed: cannot read the outbox; will retry');
          return;
        }
        if (rows.length === 0) break;
        const keys: Buffer[] = [];
        for (const row of rows) {
          const key = storedCacheKey(row.type, row.lookup);
          if (key !== null) keys.push(key);
        }
        await this.#resolver.invalidate(keys);
        this.#lastId = Number(rows[rows.length - 1]?.id ?? this.#lastId);
        this.applied += rows.length;
        if (rows.length < this.#batchSize) break;
      }
    } while (this.#again && !this.#stopped);
  }

  async #listen(): Promise<void> {
    try {
      this.#unlisten = await this.#store.listen('keygate_changes', () => { void this.drain(); }, (err) => {
        if (this.#stopped) return;
        this.#log.warn({ err: errorText(err) }, 'change feed: LISTEN connection lost; polling until it is back');
        this.#unlisten = null;
        setTimeout(() => { if (!this.#stopped) void this.#listen(); }, 1_000).unref();
      });
      // Anything committed while we were not listening.
      void this.drain();
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'change feed: cannot LISTEN; polling only, retrying');
      setTimeout(() => { if (!this.#stopped) void this.#listen(); }, 1_000).unref();
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
