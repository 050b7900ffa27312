import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { ApiKeyCredential } from '../credentials/key-auth/api-key-credential.js';
import type { Database } from '../store/schema.js';

export interface SeedOptions {
  readonly db: Kysely<Database>;
  readonly keyAuth: ApiKeyCredential;
  readonly consumers: number;
  /** Username prefix: `<prefix>-0000001`. */
  readonly prefix?: string;
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** Receives every generated key (e.g. to write a file for a load generator). */
  readonly onKeys?: (keys: readonly string[]) => void;
}

const ROLE_SETS = ['{payments:read}', '{payments:read,payments:write}', '{refunds:write}', '{payments:admin}'];

/**
 * Synthetic consumers for benchmarks: each with one API key, roles from a few shared sets.
 * Batches of `unnest` inserts, one transaction each; works on PostgreSQL and the embedded store.
 */
export async function seedConsumers(options: SeedOptions): Promise<{ consumers: number; seconds: number }> {
  const started = Date.now();
  const batch = options.batchSize ?? 5_000;
  const prefix = options.prefix ?? 'seed';
  for (let start = 0; start < options.consumers; start += batch) {
    const ids: string[] = []; const names: string[] = []; const roles: string[] = [];
    const credIds: string[] = []; const lookups: string[] = []; const prefixes: string[] = []; const keys: string[] = [];
    for (let i = start; i < Math.min(options.consumers, start + batch); i++) {
      const issued = options.keyAuth.issue();
      keys.push(issued.key);
      ids.push(randomUUID());
      names.push(`${prefix}-${String(i).padStart(7, '0')}`);
      roles.push(ROLE_SETS[i % ROLE_SETS.length] ?? '{}');
      credIds.push(randomUUID());
      lookups.push(issued.lookup);
      prefixes.push(issued.displayPrefix);
    }
    await options.db.transaction().execute(async (tx) => {
      await sql`INSERT INTO consumers (id, username, roles)
        SELECT id, username, roles_text::text[] FROM unnest(${ids}::uuid[], ${names}::text[], ${roles}::text[]) AS t(id, username, roles_text)`.execute(tx);
      await sql`INSERT INTO credentials (id, consumer_id, type, lookup, display_prefix, hash_algorithm)
        SELECT id, consumer_id, 'key-auth', lookup, prefix, 'hmac-sha256'
        FROM unnest(${credIds}::uuid[], ${ids}::uuid[], ${lookups}::text[], ${prefixes}::text[]) AS t(id, consumer_id, lookup, prefix)`.execute(tx);
      await tx.insertInto('audit_log').values({ actor: 'seed', action: 'consumer.seed', entity_type: 'consumer', entity_id: null, before: null, after: JSON.stringify({ consumers: ids.length, first: names[0] }) }).execute();
    });
    options.onKeys?.(keys);
    options.onProgress?.(Math.min(options.consumers, start + batch), options.consumers);
  }
  return { consumers: options.consumers, seconds: (Date.now() - started) / 1000 };
}
