import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, deniedHeader, envoyRequest, PG_SERVER_URL, setHeaders, startKeygate } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

async function onServer(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_SERVER_URL });
  await c.connect();
  try { await c.query(query); } finally { await c.end(); }
}

describe('store and Redis outages', () => {
  let h: Harness;
  let dbName: string;
  let drop: () => Promise<void>;
  let cachedKey: string;
  let uncachedKey: string;
  let dir: string;

  before(async () => {
    const db = await createTestDatabase();
    drop = db.drop;
    dbName = new URL(db.url).pathname.slice(1);
    // Redis points at a port where nothing listens: L2 errors must fall through to PostgreSQL.
    dir = mkdtempSync(join(tmpdir(), 'keygate-outage-'));
    writeFileSync(join(dir, 'keygate.yaml'), [
      'version: 1',
      'default: { auth: required, credentials: [key-auth] }',
      'routes:',
      '  - name: catalog',
      '    match: { path: { prefix: /catalog/ } }',
      '    credentials: [key-auth]',
      '    failure_mode: open',
      '',
    ].join('\n'));
    h = await startKeygate({ store: 'postgres', databaseUrl: db.url, env: { REDIS_URL: 'redis://127.0.0.1:1/0', KEYGATE_CONFIG: join(dir, 'keygate.yaml') } });
    await h.admin('POST', '/consumers', { username: 'bob' });
    cachedKey = (await h.admin('POST', '/consumers/bob/credentials', { type: 'key-auth' })).body.key;
    uncachedKey = (await h.admin('POST', '/consumers/bob/credentials', { type: 'key-auth' })).body.key;
  });
  after(async () => {
    await onServer(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await h.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('Redis down: keys still verify through PostgreSQL', async () => {
    const res = await h.client.check(envoyRequest({ headers: { 'x-api-key': cachedKey } }));
    assert.equal(res.status?.code ?? 0, 0);
    assert.ok(h.app.resolver.stats.l2Errors > 0);
  });

  test('PostgreSQL down: cached keys still pass, uncached ones fail closed with 503, health goes NOT_SERVING', async () => {
    await onServer(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
    await onServer(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${dbName}'`);

    const cached = await h.client.check(envoyRequest({ headers: { 'x-api-key': cachedKey } }));
    assert.equal(cached.status?.code ?? 0, 0, 'an L1 hit needs no store');

    const res = await h.client.check(envoyRequest({ headers: { 'x-api-key': uncachedKey } }));
    assert.equal(res.status?.code, 14);
    assert.equal(res.denied_response?.status?.code, 'ServiceUnavailable');
    assert.equal(deniedHeader(res, 'x-keygate-reason'), 'store_unavailable');
    assert.equal(JSON.parse(res.denied_response?.body ?? '{}').error, 'store_unavailable');

    // A route with failure_mode: open lets it through, unidentified and marked degraded.
    const open = await h.client.check(envoyRequest({ path: '/catalog/items', headers: { 'x-api-key': uncachedKey, 'x-consumer-id': 'spoofed' } }));
    assert.equal(open.status?.code ?? 0, 0);
    assert.equal(setHeaders(open).size, 0, 'no identity on a degraded allow');
    assert.ok(open.ok_response?.headers_to_remove?.includes('x-consumer-id'), 'spoofed identity still stripped');
    assert.ok(open.ok_response?.headers_to_remove?.includes('x-api-key'));
    assert.equal(open.ok_response?.response_headers_to_add?.find((x) => x.header?.key === 'x-keygate-reason')?.header?.value, 'store_unavailable');
    assert.equal(open.dynamic_metadata?.fields?.degraded?.stringValue, 'store_unavailable');

    const deadline = Date.now() + 6_000;
    let health = await h.client.health();
    while (health !== 'NOT_SERVING' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      health = await h.client.health();
    }
    assert.equal(health, 'NOT_SERVING');
    assert.equal((await fetch(`http://127.0.0.1:${h.app.httpPort}/readyz`)).status, 503);

    const admin = await h.admin('POST', '/consumers', { username: 'carol' });
    assert.equal(admin.status, 503);
    assert.equal(admin.body.code, 'store_unavailable');

    await onServer(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
    const back = Date.now() + 10_000;
    let again = await h.client.check(envoyRequest({ headers: { 'x-api-key': uncachedKey } }));
    while ((again.status?.code ?? 0) !== 0 && Date.now() < back) {
      await new Promise((r) => setTimeout(r, 200));
      again = await h.client.check(envoyRequest({ headers: { 'x-api-key': uncachedKey } }));
    }
    assert.equal(again.status?.code ?? 0, 0, 'recovers when the store is back');
  });
});
