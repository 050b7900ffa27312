import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';

/** Inserts `n` consumers with one API key each, straight into PostgreSQL; returns the keys. */
export async function seedConsumers(databaseUrl: string, pepper: string, n: number, log: (s: string) => void = () => undefined): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const keys: string[] = [];
  const roleSets = [['payments:read'], ['payments:read', 'payments:write'], ['refunds:write'], ['admin']];
  const batch = 5_000;
  try {
    for (let start = 0; start < n; start += batch) {
      const ids: string[] = []; const names: string[] = []; const roles: string[] = [];
      const credIds: string[] = []; const lookups: string[] = []; const prefixes: string[] = [];
      for (let i = start; i < Math.min(n, start + batch); i++) {
        const key = `kg_${randomBytes(24).toString('base64url')}`;
        keys.push(key);
        ids.push(randomUUID());
        names.push(`bench-${String(i).padStart(7, '0')}`);
        roles.push(`{${(roleSets[i % roleSets.length] ?? []).join(',')}}`);
        credIds.push(randomUUID());
        lookups.push(createHmac('sha256', pepper).update(key).digest('hex'));
        prefixes.push(key.slice(0, 9));
      }
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO consumers (id, username, roles)
         SELECT id, username, roles_text::text[] FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, username, roles_text)`,
        [ids, names, roles],
      );
      await client.query(
        `INSERT INTO credentials (id, consumer_id, type, lookup, display_prefix, hash_algorithm)
         SELECT id, consumer_id, 'key-auth', lookup, prefix, 'hmac-sha256' FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS t(id, consumer_id, lookup, prefix)`,
        [credIds, ids, lookups, prefixes],
      );
      await client.query('COMMIT');
      if ((start / batch) % 10 === 0) log(`seeded ${Math.min(n, start + batch)}/${n}`);
    }
  } finally {
    await client.end();
  }
  return keys;
}
