import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seedConsumers } from '../../src/admin/seed.js';
import { CredentialRegistry } from '../../src/credentials/registry.js';
import { SecretHasher } from '../../src/credentials/secret-hasher.js';
import { openApiDocument } from '../../src/admin/openapi.js';
import { readFileSync } from 'node:fs';
import { envoyRequest, startKeygate, TEST_PEPPER } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

describe('admin API (PostgreSQL)', () => {
  let h: Harness;
  const token = 'admin-token-for-tests-0123456789';
  const auth = { authorization: `Bearer ${token}` };

  before(async () => { h = await startKeygate({ store: 'postgres', env: { KEYGATE_ADMIN_TOKEN: token } }); });
  after(async () => { await h.close(); });

  test('the OpenAPI document lists exactly the routes served', async () => {
    const res = await h.admin('GET', '/openapi.json', undefined, auth);
    assert.equal(res.status, 200);
    const doc = res.body as { paths: Record<string, Record<string, unknown>> };
    assert.deepEqual(doc, JSON.parse(JSON.stringify(openApiDocument())));
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    const served = h.app.adminRouteKeys().sort();
    assert.deepEqual(documented, served);
  });

  test('a token is required when configured, compared in constant time', async () => {
    assert.equal((await h.admin('GET', '/consumers')).status, 401);
    assert.equal((await h.admin('GET', '/consumers', undefined, { authorization: 'Bearer wrong' })).status, 401);
    const ok = await h.admin('GET', '/consumers', undefined, auth);
    assert.equal(ok.status, 200);
  });

  test('bad input: invalid JSON, unknown fields, wrong types, oversized bodies → 400/413 naming the field', async () => {
    const bad = await h.admin('POST', '/consumers', '{"username": ', auth);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'invalid_request');
    const unknown = await h.admin('POST', '/consumers', { username: 'x1', colour: 'red' }, auth);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.field, 'colour');
    const wrongType = await h.admin('POST', '/consumers', { username: 'x2', roles: 'admin' }, auth);
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.body.field, 'roles');
    const badName = await h.admin('POST', '/consumers', { username: 'has space' }, auth);
    assert.equal(badName.body.field, 'username');
    const big = await h.admin('POST', '/consumers', { username: 'x3', metadata: { blob: 'x'.repeat(2 * 1024 * 1024) } }, auth);
    assert.equal(big.status, 413);
    const badType = await h.admin('POST', '/consumers', { username: 'x4' }, auth);
    assert.equal(badType.status, 201);
    const cred = await h.admin('POST', '/consumers/x4/credentials', { type: 'password' }, auth);
    assert.equal(cred.status, 400);
    assert.equal(cred.body.field, 'type');
    const ttl = await h.admin('POST', '/consumers/x4/credentials', { type: 'key-auth', ttl_seconds: -5 }, auth);
    assert.equal(ttl.body.field, 'ttl_seconds');
    assert.equal((await h.admin('GET', '/nope', undefined, auth)).status, 404);
    assert.equal((await h.admin('GET', '/consumers/nobody', undefined, auth)).status, 404);
    assert.equal((await h.admin('PUT', '/consumers/x4', {}, auth)).status, 400);
    // Nothing half-written: the failed creates left no consumer behind.
    for (const name of ['x1', 'x2', 'x3']) assert.equal((await h.admin('GET', `/consumers/${name}`, undefined, auth)).status, 404);
  });

  test('conflicts are 409; Idempotency-Key replays the first answer without the secret', async () => {
    const first = await h.admin('POST', '/consumers', { username: 'idem' }, { ...auth, 'idempotency-key': 'create-idem-1' });
    assert.equal(first.status, 201);
    const again = await h.admin('POST', '/consumers', { username: 'idem' }, { ...auth, 'idempotency-key': 'create-idem-1' });
    assert.equal(again.status, 201);
    assert.deepEqual(again.body, first.body);
    const conflict = await h.admin('POST', '/consumers', { username: 'idem' }, auth);
    assert.equal(conflict.status, 409);
    const c1 = await h.admin('POST', '/consumers/idem/credentials', { type: 'key-auth' }, { ...auth, 'idempotency-key': 'k-1' });
    const c2 = await h.admin('POST', '/consumers/idem/credentials', { type: 'key-auth' }, { ...auth, 'idempotency-key': 'k-1' });
    assert.equal(c2.body.credential.id, c1.body.credential.id);
    assert.equal(c2.body.key, undefined, 'the secret is never stored, so never replayed');
    assert.equal(c2.body.secret_not_shown_again, true);
    const list = await h.admin('GET', '/consumers/idem/credentials', undefined, auth);
    assert.equal(list.body.data.length, 1);
  });

  test('the audit log says who did what, with before/after and never a secret', async () => {
    await h.admin('POST', '/consumers', { username: 'audited' }, { ...auth, 'x-keygate-actor': 'cli:alice' });
    const issued = await h.admin('POST', '/consumers/audited/credentials', { type: 'basic-auth' }, auth);
    await h.admin('PATCH', '/consumers/audited', { roles: ['payments:read'] }, auth);
    const rows = await h.app.store.db.selectFrom('audit_log').selectAll().orderBy('id').execute();
    const text = JSON.stringify(rows);
    assert.ok(!text.includes(issued.body.secret), 'no secret in the audit log');
    const create = rows.find((r) => r.action === 'consumer.create' && JSON.stringify(r.after).includes('audited'));
    assert.equal(create?.actor, 'admin-token (cli:alice)');
    const update = rows.find((r) => r.action === 'consumer.update');
    assert.deepEqual((update?.before as { roles: string[] }).roles, []);
    assert.deepEqual((update?.after as { roles: string[] }).roles, ['payments:read']);
    assert.ok(rows.some((r) => r.action === 'credential.create' && r.actor === 'admin-token'));
  });

  test('POST /import streams NDJSON and Kong exports; imported keys verify over gRPC', async () => {
    const ndjson = [
      JSON.stringify({ username: 'imp-1', roles: ['payments:read'], credentials: [{ type: 'key-auth', key: 'kg_imported_key_number_one_0001' }] }),
      '{not json',
      JSON.stringify({ username: 'imp-2' }),
    ].join('\n');
    const res = await fetch(`${h.adminUrl}/import`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-ndjson' }, body: ndjson });
    assert.equal(res.status, 200);
    const report = await res.json() as { consumersInserted: number; credentialsInserted: number; rejectedCount: number; rejected: Array<{ line: number }> };
    assert.equal(report.consumersInserted, 2);
    assert.equal(report.credentialsInserted, 1);
    assert.equal(report.rejectedCount, 1);
    assert.equal(report.rejected[0]?.line, 2);
    const check = await h.client.check(envoyRequest({ headers: { 'x-api-key': 'kg_imported_key_number_one_0001' } }));
    assert.equal(check.status?.code ?? 0, 0);
    const kong = await fetch(`${h.adminUrl}/import?from=kong`, { method: 'POST', headers: { ...auth, 'content-type': 'application/yaml' }, body: readFileSync(new URL('../fixtures/kong-export.yaml', import.meta.url), 'utf8') });
    assert.equal(kong.status, 200);
    assert.ok(((await kong.json()) as { consumersInserted: number }).consumersInserted >= 3);
    const bad = await fetch(`${h.adminUrl}/import?from=kong`, { method: 'POST', headers: auth, body: '{"_format_version": ' });
    assert.equal(bad.status, 400);
  });

  test('GET /export round-trips through import (hashes only, revoked credentials left out)', async () => {
    await h.admin('POST', '/consumers', { username: 'exported', roles: ['payments:read'], custom_id: 'ext-1' }, auth);
    const key = (await h.admin('POST', '/consumers/exported/credentials', { type: 'key-auth', set_name: 'x', scopes: ['a'] }, auth)).body.key as string;
    const gone = await h.admin('POST', '/consumers/exported/credentials', { type: 'key-auth' }, auth);
    await h.admin('DELETE', `/credentials/${gone.body.credential.id}`, undefined, auth);
    const res = await fetch(`${h.adminUrl}/export`, { headers: auth });
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const text = await res.text();
    assert.ok(!text.includes(key), 'no secret in an export');
    const line = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { username: string; credentials: Array<Record<string, unknown>> }).find((c) => c.username === 'exported');
    assert.equal(line?.credentials.length, 1);
    assert.equal(line?.credentials[0]?.set_name, 'x');
    // Into a fresh store with the same pepper: the key verifies there.
    const other = await startKeygate({ store: 'postgres' });
    try {
      const imported = await fetch(`${other.adminUrl}/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: text });
      const report = await imported.json() as { rejectedCount: number; consumersInserted: number };
      assert.equal(report.rejectedCount, 0);
      assert.ok(report.consumersInserted >= 1);
      assert.equal((await other.client.check(envoyRequest({ headers: { 'x-api-key': key } }))).status?.code ?? 0, 0);
    } finally {
      await other.close();
    }
  });

  test('keyset pagination walks 10^5 consumers without gaps or repeats', async () => {
    const keyAuth = new CredentialRegistry({ hasher: new SecretHasher(TEST_PEPPER) }).keyAuth;
    await seedConsumers({ db: h.app.store.db, keyAuth, consumers: 100_000 });
    const seen = new Set<string>();
    let after: string | null = null;
    let pages = 0;
    let last = '';
    for (;;) {
      const q: string = after === null ? '?limit=1000' : `?limit=1000&after=${after}`;
      const page = await h.admin('GET', `/consumers${q}`, undefined, auth);
      assert.equal(page.status, 200);
      for (const c of page.body.data as Array<{ id: string }>) {
        assert.ok(c.id > last, 'ordered by id');
        last = c.id;
        seen.add(c.id);
      }
      pages++;
      after = page.body.next;
      if (after === null) break;
    }
    assert.ok(seen.size >= 100_000);
    assert.ok(pages >= 100);
    assert.equal((await h.admin('GET', '/consumers?limit=abc', undefined, auth)).status, 400);
  });

  test('a credential set of 10^5 members expires in one statement and reaches the cache', async (t) => {
    const keyAuth = new CredentialRegistry({ hasher: new SecretHasher(TEST_PEPPER) }).keyAuth;
    const keys: string[] = [];
    await seedConsumers({ db: h.app.store.db, keyAuth, consumers: 100_000, prefix: 'setm', onKeys: (k) => { keys.push(...k); } });
    await h.app.store.db.updateTable('credentials').set({ set_name: 'partner-x' })
      .where('consumer_id', 'in', (eb) => eb.selectFrom('consumers').select('id').where('username', 'like', 'setm-%')).execute();
    const probe = keys[12_345] ?? '';
    assert.equal((await h.client.check(envoyRequest({ headers: { 'x-api-key': probe } }))).status?.code ?? 0, 0);
    const started = Date.now();
    const r = await h.admin('POST', '/credential-sets/partner-x/expire', { in_seconds: 0 }, auth);
    assert.equal(r.status, 200);
    assert.equal(r.body.updated, 100_000);
    t.diagnostic(`expire of 100000 members answered in ${Date.now() - started} ms`);
    let code = 0;
    while (code === 0 && Date.now() - started < 10_000) {
      code = (await h.client.check(envoyRequest({ headers: { 'x-api-key': probe } }))).status?.code ?? 0;
      if (code === 0) await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(code, 16, 'the cached member is denied');
    t.diagnostic(`a cached member denied ${Date.now() - started} ms after the request`);
    const audit = await h.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', 'credential_set.expire').execute();
    assert.ok(audit.some((a) => (a.after as { updated: number }).updated === 100_000));
  });
});
