import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import pg from 'pg';
import { verifyLegacy } from '../../src/credentials/basic-auth/legacy-secrets.js';
import { envoyRequest, startKeygate } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

function scryptHash(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1 });
  return `scrypt$16384$8$1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

test('verifyLegacy: scrypt and Kong SHA-1, junk never passes', async () => {
  const s = scryptHash('hunter2');
  assert.equal(await verifyLegacy({ algorithm: 'scrypt', hash: s }, 'hunter2'), true);
  assert.equal(await verifyLegacy({ algorithm: 'scrypt', hash: s }, 'hunter3'), false);
  const kongId = '4a8b7c6d-0000-4000-8000-000000000001';
  const sha1 = createHash('sha1').update(`opensesame${kongId}`).digest('hex');
  assert.equal(await verifyLegacy({ algorithm: 'kong-sha1', hash: `${kongId}:${sha1}` }, 'opensesame'), true);
  assert.equal(await verifyLegacy({ algorithm: 'kong-sha1', hash: `${kongId}:${sha1}` }, 'opensesam'), false);
  for (const junk of ['', 'scrypt$', 'scrypt$99999999$8$1$AA$AA', 'x:zz']) {
    assert.equal(await verifyLegacy({ algorithm: 'scrypt', hash: junk }, 'a'), false);
    assert.equal(await verifyLegacy({ algorithm: 'kong-sha1', hash: junk }, 'a'), false);
  }
  assert.equal(await verifyLegacy({ algorithm: 'md5', hash: 'x' }, 'a'), false);
  const b = bcrypt.hashSync('hunter2', 8);
  assert.equal(await verifyLegacy({ algorithm: 'bcrypt', hash: b }, 'hunter2'), true);
  assert.equal(await verifyLegacy({ algorithm: 'bcrypt', hash: b }, 'hunter22'), false);
  assert.equal(await verifyLegacy({ algorithm: 'bcrypt', hash: '$2b$31$' + 'a'.repeat(53) }, 'x'), false, 'absurd cost refused');
});

describe('imported basic-auth passwords over gRPC (PostgreSQL)', () => {
  let h: Harness;
  const basic = (id: string, secret: string): object => envoyRequest({ headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` } });

  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keygate-legacy-'));
    writeFileSync(join(dir, 'keygate.yaml'), 'version: 1\ndefault: { auth: required, credentials: [basic-auth, key-auth] }\n');
    h = await startKeygate({ store: 'postgres', env: { KEYGATE_CONFIG: join(dir, 'keygate.yaml') } });
    const consumer = await h.admin('POST', '/consumers', { username: 'legacy', roles: ['payments:read'] });
    const url = h.app.databaseUrl;
    assert.ok(url !== null);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const kongId = '4a8b7c6d-0000-4000-8000-000000000002';
    const sha1 = createHash('sha1').update(`kongpass${kongId}`).digest('hex');
    await c.query(`INSERT INTO credentials (consumer_id, type, lookup, secret_hash, hash_algorithm) VALUES
      ($1, 'basic-auth', 'old-scrypt-user', $2, 'scrypt'), ($1, 'basic-auth', 'old-kong-user', $3, 'kong-sha1')`,
    [consumer.body.id, scryptHash('s3cret-pw'), `${kongId}:${sha1}`]);
    await c.end();
  });
  after(async () => { await h.close(); rmSync(dir, { recursive: true, force: true }); });

  test('an imported scrypt password verifies, a wrong one does not, repeats answer from memory', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await h.client.check(basic('old-scrypt-user', 's3cret-pw'))).status?.code ?? 0, 0);
    for (let i = 0; i < 3; i++) assert.equal((await h.client.check(basic('old-scrypt-user', 'guess'))).status?.code, 16);
  });

  test('bcrypt and scrypt hashes imported through NDJSON verify', async () => {
    const lines = [
      JSON.stringify({ username: 'bc-user', roles: ['payments:read'], credentials: [{ type: 'basic-auth', key_id: 'bc-key', secret_hash: bcrypt.hashSync('bc-pass', 8), hash_algorithm: 'bcrypt' }] }),
      JSON.stringify({ username: 'sc-user', credentials: [{ type: 'basic-auth', key_id: 'sc-key', secret_hash: scryptHash('sc-pass'), hash_algorithm: 'scrypt' }] }),
      JSON.stringify({ username: 'bad-user', credentials: [{ type: 'basic-auth', key_id: 'bad-key', secret_hash: 'nope', hash_algorithm: 'bcrypt' }] }),
    ].join('\n');
    const res = await fetch(`${h.adminUrl}/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines });
    const report = await res.json() as { rejectedCount: number; credentialsInserted: number };
    assert.equal(report.credentialsInserted, 2);
    assert.equal(report.rejectedCount, 1);
    assert.equal((await h.client.check(basic('bc-key', 'bc-pass'))).status?.code ?? 0, 0);
    assert.equal((await h.client.check(basic('bc-key', 'bc-pass!'))).status?.code, 16);
    assert.equal((await h.client.check(basic('sc-key', 'sc-pass'))).status?.code ?? 0, 0);
  });

  test("a Kong basic-auth password (SHA-1 of password + Kong consumer id) verifies", async () => {
    const ok = await h.client.check(basic('old-kong-user', 'kongpass'));
    assert.equal(ok.status?.code ?? 0, 0);
    assert.equal((await h.client.check(basic('old-kong-user', 'kongpas'))).status?.code, 16);
  });
});
