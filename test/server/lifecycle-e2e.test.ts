import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { envoyRequest, setHeaders, startKeygate } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('credential lifecycle over gRPC (PostgreSQL + Redis)', () => {
  let h: Harness;
  const code = async (key: string): Promise<number> => (await h.client.check(envoyRequest({ headers: { 'x-api-key': key } }))).status?.code ?? 0;
  const eventually = async (key: string, want: number, ms = 2_000): Promise<number> => {
    const deadline = Date.now() + ms;
    let got = await code(key);
    while (got !== want && Date.now() < deadline) { await sleep(20); got = await code(key); }
    return got;
  };

  before(async () => {
    h = await startKeygate({ store: 'postgres', redis: true });
    assert.equal((await h.admin('POST', '/consumers', { username: 'partner', roles: ['payments:read'] })).status, 201);
  });
  after(async () => { await h.close(); });

  test('expires_at is enforced to the second, also on a cache hit', async () => {
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const cred = await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', expires_at: expiresAt });
    assert.equal(cred.status, 201);
    assert.equal(await code(cred.body.key), 0);
    assert.equal(await code(cred.body.key), 0); // L1 hit
    await sleep(Date.parse(expiresAt) - Date.now() + 5);
    assert.equal(await code(cred.body.key), 16, 'denied right after expiry, from the cache');
  });

  test('--ttl style creation and not_before', async () => {
    const ttl = await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', ttl_seconds: 86_400 });
    const exp = Date.parse(ttl.body.credential.expires_at);
    assert.ok(Math.abs(exp - (Date.now() + 86_400_000)) < 10_000);
    assert.equal(await code(ttl.body.key), 0);
    const later = await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', not_before: new Date(Date.now() + 60_000).toISOString() });
    assert.equal(await code(later.body.key), 16);
    const both = await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', ttl_seconds: 10, expires_at: new Date().toISOString() });
    assert.equal(both.status, 400);
    assert.equal(both.body.field, 'ttl_seconds');
  });

  test('a credential set expires together, in one statement, on every cached member', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 5; i++) {
      keys.push((await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', set_name: 'sandbox-2026' })).body.key);
    }
    const outsider = (await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', set_name: 'production' })).body.key;
    for (const k of keys) assert.equal(await code(k), 0);
    const r = await h.admin('POST', '/credential-sets/sandbox-2026/expire', { in_seconds: 0 });
    assert.equal(r.status, 200);
    assert.equal(r.body.updated, 5);
    for (const k of keys) assert.equal(await eventually(k, 16), 16);
    assert.equal(await code(outsider), 0);
    const later = await h.admin('POST', '/credential-sets/production/expire', { in_seconds: 86_400 });
    assert.equal(later.body.updated, 1);
    assert.equal(await code(outsider), 0, 'expiring in 24h leaves it valid now');
    assert.equal((await h.admin('POST', '/credential-sets/production/expire', { in_seconds: 'soon' })).status, 400);
  });

  test('rotation issues a new key; the old one works through the grace period only', async () => {
    const first = await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', scopes: ['refunds'], set_name: 'rot' });
    const oldKey: string = first.body.key;
    assert.equal(await code(oldKey), 0);
    const rotated = await h.admin('POST', `/credentials/${first.body.credential.id}/rotate`, { grace_seconds: 2 });
    assert.equal(rotated.status, 201);
    const newKey: string = rotated.body.key;
    assert.notEqual(newKey, oldKey);
    assert.equal(rotated.body.credential.rotated_from, first.body.credential.id);
    assert.deepEqual(rotated.body.credential.scopes, ['refunds']);
    assert.equal(rotated.body.credential.set_name, 'rot');
    const res = await h.client.check(envoyRequest({ headers: { 'x-api-key': newKey } }));
    assert.equal(setHeaders(res).get('x-credential-id')?.value, rotated.body.credential.id);
    assert.equal(await eventually(oldKey, 0), 0, 'old key valid during grace');
    await sleep(2_100);
    assert.equal(await eventually(oldKey, 16), 16, 'old key expired after grace');
    assert.equal(await code(newKey), 0);
  });

  test('rotation never extends an earlier expiry; revoked keys cannot be rotated', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const c = await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth', expires_at: soon });
    await h.admin('POST', `/credentials/${c.body.credential.id}/rotate`, { grace_seconds: 86_400 });
    const list = await h.admin('GET', '/consumers/partner/credentials');
    const old = list.body.data.find((x: { id: string }) => x.id === c.body.credential.id);
    assert.equal(old.expires_at, soon);
    await h.admin('DELETE', `/credentials/${c.body.credential.id}`);
    const again = await h.admin('POST', `/credentials/${c.body.credential.id}/rotate`, { grace_seconds: 0 });
    assert.equal(again.status, 400);
  });

  test('revocation is immediate and never resurrected from L2', async () => {
    const c = await h.admin('POST', '/consumers/partner/credentials', { type: 'key-auth' });
    assert.equal(await code(c.body.key), 0);
    await h.admin('DELETE', `/credentials/${c.body.credential.id}`);
    assert.equal(await eventually(c.body.key, 16), 16);
    // Drop L1 only: the next load goes to Redis, which must not hold the old allow either.
    h.app.resolver.clearLocal();
    assert.equal(await code(c.body.key), 16);
  });
});
