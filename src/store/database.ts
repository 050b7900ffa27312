import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { lockDataDir } from './data-dir-lock.js';
import type { Database } from './schema.js';

/** A notification callback; `payload` is whatever the NOTIFY carried. */
export type NotificationHandler = (payload: string) => void;

/**
 * keygate's handle on PostgreSQL: the kysely instance for queries, plus LISTEN for the change
 * feed. Two implementations: a `pg` pool for `DATABASE_URL`, PGlite for the embedded default.
 */
export interface Store {
  readonly db: Kysely<Database>;
  /** `embedded` (PGlite, one process only) or `postgres`. */
  readonly kind: 'embedded' | 'postgres';
  /** The `pg` pool behind `db` (for COPY); null on the embedded store. */
  readonly pool: pg.Pool | null;
  /** Subscribes to a NOTIFY channel; resolves once listening; returns the unsubscribe function. */
  listen(channel: string, onNotify: NotificationHandler, onError: (err: Error) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface PostgresStoreOptions {
  readonly url: string;
  readonly poolSize?: number;
  /** Name reported in pg_stat_activity. */
  readonly applicationName?: string;
}

/** PostgreSQL through a `pg` pool (DATABASE_URL). */
export function openPostgresStore(options: PostgresStoreOptions): Store {
  const poolConfig = {
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? 'keygate',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  };
  const pool = new pg.Pool(poolConfig);
  // A pool client that dies while idle (database restart) must not crash the process.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const listeners = new Set<pg.Client>();
  return {
    db,
    kind: 'postgres',
    pool,
    async listen(channel, onNotify, onError) {
      const client = new pg.Client({ connectionString: options.url, application_name: `${poolConfig.application_name}-listen` });
      client.on('error', (err) => onError(err));
      client.on('end', () => { if (listeners.has(client)) onError(new Error('LISTEN connection ended')); });
      client.on('notification', (msg) => { if (msg.channel === channel) onNotify(msg.payload ?? ''); });
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      listeners.add(client);
      return async () => {
        listeners.delete(client);
        await client.end().catch(() => undefined);
      };
    },
    async close() {
      for (const client of listeners) await client.end().catch(() => undefined);
      listeners.clear();
      await db.destroy();
    },
  };
}

/** The embedded store: PGlite (PostgreSQL in WebAssembly) with its data under `dataDir/pgdata`. */
export async function openEmbeddedStore(dataDir: string | null): Promise<Store> {
  let pglite: PGlite;
  let unlock = (): void => undefined;
  if (dataDir === null) {
    pglite = new PGlite();
  } else {
    mkdirSync(dataDir, { recursive: true });
    unlock = lockDataDir(dataDir);
    pglite = new PGlite(join(dataDir, 'pgdata'));
  }
  try {
    await pglite.waitReady;
  } catch (err) {
    unlock();
    throw err;
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'embedded',
    pool: null,
    async listen(channel, onNotify) {
      const unsubscribe = await pglite.listen(channel, (payload) => onNotify(payload));
      return async () => { await unsubscribe(); };
    },
    async close() {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
      unlock();
    },
  };
}
