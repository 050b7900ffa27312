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
  }

  get lastId(): number {
    return this.#lastId;
  }

  /** Starts after the newest change: the caches are empty at start, nothing older matters. */
  async start(): Promise<void> {
    const { rows } = await sql<{ max: string | number | null }>`SELECT max(id) AS max FROM changes`.execute(this.#store.db);
    this.#lastId = Number(rows[0]?.max ?? 0);
    await this.#listen();
    this.#timer = setInterval(() => { void this.drain(); }, this.#pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
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
