import type { Kysely } from 'kysely';
import type { CredentialRow, Database } from '../store/schema.js';

export interface ExportSummary {
  consumers: number;
  credentials: number;
  /** Revoked credentials and imported passwords of another hash scheme: not in the file. */
  skipped: number;
}

/**
 * Writes every consumer with its live credentials as NDJSON in the import format (hashes, never
 * secrets: `key_hash`, `secret_hash`), so `keygate import` of the file restores them into a store
 * with the same pepper. Pages by consumer id; memory stays bounded.
 */
export async function exportNdjson(db: Kysely<Database>, write: (line: string) => Promise<void> | void, pageSize = 1000): Promise<ExportSummary> {
  const summary: ExportSummary = { consumers: 0, credentials: 0, skipped: 0 };
  let after: string | null = null;
  for (;;) {
    let q = db.selectFrom('consumers').selectAll().orderBy('id').limit(pageSize);
    if (after !== null) q = q.where('id', '>', after);
    const consumers = await q.execute();
    if (consumers.length === 0) break;
    const ids = consumers.map((c) => c.id);
    const creds = await db.selectFrom('credentials').selectAll().where('consumer_id', 'in', ids).orderBy('created_at').execute();
    const byConsumer = new Map<string, Array<Record<string, unknown>>>();
    for (const c of creds) {
      const line = credentialLine(c);
      if (line === null) { summary.skipped++; continue; }
      summary.credentials++;
      const list = byConsumer.get(c.consumer_id) ?? [];
      list.push(line);
      byConsumer.set(c.consumer_id, list);
    }
    for (const c of consumers) {
      summary.consumers++;
      await write(`${JSON.stringify({
        username: c.username, custom_id: c.custom_id, roles: c.roles, metadata: c.metadata, credentials: byConsumer.get(c.id) ?? [],
      })}\n`);
    }
    after = consumers[consumers.length - 1]?.id ?? null;
  }
  return summary;
}

function credentialLine(c: CredentialRow): Record<string, unknown> | null {
  if (c.revoked_at !== null) return null;
  const common: Record<string, unknown> = { scopes: c.scopes };
  if (c.set_name !== null) common.set_name = c.set_name;
  if (c.expires_at !== null) common.expires_at = new Date(c.expires_at).toISOString();
  if (c.not_before !== null) common.not_before = new Date(c.not_before).toISOString();
  switch (c.type) {
    case 'key-auth':
      return { type: c.type, key_hash: c.lookup, ...common };
    case 'basic-auth':
      if (c.hash_algorithm !== 'hmac-sha256' || c.secret_hash === null) return null;
      return { type: c.type, key_id: c.lookup, secret_hash: c.secret_hash, ...common };
    default:
      return { type: c.type, lookup: c.lookup, ...common };
  }
}
