import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, envoyRequest, startKeygate } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('change feed across two replicas (PostgreSQL + Redis)', () => {
  let a: Harness;
  let b: Harness;
  let url: string;
  let drop: () => Promise<void>;
  const code = async (h: Harness, key: string): Promise<number> => (await h.client.check(envoyRequest({ headers: { 'x-api-key': key } }))).status?.code ?? 0;
  const until = async (h: Harness, key: string, want: number, ms: number): Promise<number> => {
    const deadline = Date.now() + ms;
    let got = await code(h, key);
    while (got !== want && Date.now() < deadline) { await sleep(5); got = await code(h, key); }
    return got;
  };

  before(async () => {
    const db = await createTestDatabase();
    url = db.url;
    drop = db.drop;
    a = await startKeygate({ store: 'postgres', databaseUrl: url, redis: true, env: { KEYGATE_CHANGE_POLL_MS: '60000' } });
    b = await startKeygate({ store: 'postgres', databaseUrl: url, redis: true, env: { KEYGATE_CHANGE_POLL_MS: '300' } });
    await a.admin('POST', '/consumers', { username: 'merchant' });
  });
  after(async () => {
    await a.close();
    await b.close();
    await drop();
  });

  test('a key revoked on one replica is denied by the other within a fraction of a second', async () => {
    const cred = await a.admin('POST', '/consumers/merchant/credentials', { type: 'key-auth' });
    assert.equal(await code(a, cred.body.key), 0);
    assert.equal(await code(b, cred.body.key), 0); // cached on B now
    const t0 = Date.now();
    await a.admin('DELETE', `/credentials/${cred.body.credential.id}`);
    assert.equal(await until(b, cred.body.key, 16, 1_000), 16);
    assert.ok(Date.now() - t0 < 1_000);
  });

  test('a change by direct SQL (no keygate involved) reaches every replica', async () => {
    const cred = await a.admin('POST', '/consumers/merchant/credentials', { type: 'key-auth' });
    assert.equal(await code(b, cred.body.key), 0);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('UPDATE consumers SET status = $1 WHERE username = $2', ['suspended', 'merchant']);
    assert.equal(await until(b, cred.body.key, 16, 1_000), 16);
    assert.equal(await until(a, cred.body.key, 16, 1_000), 16);
    await c.query('UPDATE consumers SET status = $1 WHERE username = $2', ['active', 'merchant']);
    assert.equal(await until(b, cred.body.key, 0, 1_000), 0);
    await c.query('DELETE FROM credentials WHERE id = $1', [cred.body.credential.id]);
    assert.equal(await until(b, cred.body.key, 16, 1_000), 16);
    await c.end();
  });

  test('a lost signal is caught up from the outbox', async () => {
    const cred = await a.admin('POST', '/consumers/merchant/credentials', { type: 'key-auth' });
    assert.equal(await code(b, cred.body.key), 0);
    // Kill every LISTEN connection (replica B's signal path); B must still catch up by polling.
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'keygate-listen' AND datname = current_database()");
    await a.admin('DELETE', `/credentials/${cred.body.credential.id}`);
    await c.end();
    assert.equal(await until(b, cred.body.key, 16, 3_000), 16);
  });

  test('a change made while no replica runs is not served from a stale Redis entry', async () => {
    const cred = await a.admin('POST', '/consumers/merchant/credentials', { type: 'key-auth' });
    assert.equal(await code(a, cred.body.key), 0); // now in Redis (L2) too
    await a.close();
    await b.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('UPDATE credentials SET revoked_at = now() WHERE id = $1', [cred.body.credential.id]);
    await c.end();
    a = await startKeygate({ store: 'postgres', databaseUrl: url, redis: true });
    b = await startKeygate({ store: 'postgres', databaseUrl: url, redis: true });
    assert.equal(await code(a, cred.body.key), 16);
    assert.equal(await code(b, cred.body.key), 16);
  });

  test('the outbox is pruned past its retention', async () => {
    const before = await a.app.store.db.selectFrom('changes').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    assert.ok(Number(before.n) > 0);
    await a.app.store.db.updateTable('changes').set({ at: new Date(Date.now() - 2 * 86_400_000) }).execute();
    assert.ok((await a.app.changeFeed.prune()) >= Number(before.n));
  });

  test('a replica that was down starts clean and sees the current state', async () => {
    const cred = await a.admin('POST', '/consumers/merchant/credentials', { type: 'key-auth' });
    await b.close();
    await a.admin('DELETE', `/credentials/${cred.body.credential.id}`);
    b = await startKeygate({ store: 'postgres', databaseUrl: url, redis: true });
    assert.equal(await code(b, cred.body.key), 16);
  });
});
