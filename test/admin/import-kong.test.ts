import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import {
  KONG_SHA1_ALGORITHM, importKong, parseKongSha1Hash, verifyKongSha1, verifyKongSha1Hash,
} from '../../src/admin/import/kong-import.js';
import type { ImportReport } from '../../src/admin/import/import-report.js';
import { OperationError } from '../../src/admin/operation-error.js';
import { SecretHasher } from '../../src/credentials/secret-hasher.js';
import { PostgresCredentialSource } from '../../src/store/credential-source.js';
import { openPostgresStore } from '../../src/store/database.js';
import type { Store } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrations.js';
import { TEST_PEPPER, createTestDatabase } from '../support/harness.js';

const hasher = new SecretHasher(TEST_PEPPER);
const FIXTURE = readFileSync(new URL('../fixtures/kong-export.yaml', import.meta.url), 'utf8');
const ACME_ID = '7f3c8f2e-4b1a-4c6d-9e2f-1a2b3c4d5e6f';
const GLOBEX_ID = '0b9d6c41-2f7e-4a38-b5d1-6e4f3a2b1c0d';
/** Every plain secret the fixture holds: none may reach the database. */
const FIXTURE_SECRETS = [
  'ba151c5cf3961448c6327841150fdf96', 'kg_AcmeLegacyKey0000000000000000001', 'e5503014d41b45872a6c89cc84aedd77',
  'f7c7fb24986c54f402f216ebaf20dd25', '3f7c1a9e5b2d4c6a8e0f1b3d5a7c9e1f', 'not-imported-hmac-secret',
];

test('verifyKongSha1 is Kong basic-auth: sha1(password .. consumer id)', () => {
  const sha1 = createHash('sha1').update(`open sesame${ACME_ID}`).digest('hex');
  assert.equal(verifyKongSha1('open sesame', ACME_ID, sha1), true);
  assert.equal(verifyKongSha1('open sesame', ACME_ID, sha1.toUpperCase()), true);
  assert.equal(verifyKongSha1('open sesamE', ACME_ID, sha1), false);
  assert.equal(verifyKongSha1('open sesame', GLOBEX_ID, sha1), false);
  assert.equal(verifyKongSha1('open sesame', ACME_ID, 'abc'), false);
  assert.equal(verifyKongSha1('open sesame', ACME_ID, `${sha1.slice(0, 39)}g`), false);
  assert.deepEqual(parseKongSha1Hash(`${ACME_ID}:${sha1}`), { consumerId: ACME_ID, sha1hex: sha1 });
  assert.equal(parseKongSha1Hash(sha1), null);
  assert.equal(verifyKongSha1Hash('open sesame', `${ACME_ID}:${sha1}`), true);
});

describe('Kong import into PostgreSQL', () => {
  let drop: () => Promise<void>;
  let store: Store;
  let report: ImportReport;

  before(async () => {
    const created = await createTestDatabase();
    drop = created.drop;
    store = openPostgresStore({ url: created.url, poolSize: 2 });
    await migrateToLatest(store.db);
    report = await importKong({ db: store.db, hasher, text: FIXTURE, actor: 'test', source: 'kong-export.yaml' });
  });

  after(async () => {
    await store?.close();
    await drop?.();
  });

  test('imports consumers (Kong ids kept), rejects what keygate cannot hold', async () => {
    assert.equal(report.lines, 5);
    assert.equal(report.consumersInserted, 4);
    assert.equal(report.credentialsInserted, 7);
    assert.deepEqual(report.rejected, [
      { line: 66, reason: 'acls: group "Gavin Belson\'s team" is not a valid role name (1-128 characters of letters, digits and . _ : / -)' },
      { line: 69, reason: 'consumer: username must be 1-255 characters of letters, digits and . _ @ : + -' },
      { line: 94, reason: 'keyauth_credentials: consumer 00000000-0000-4000-8000-000000000000 is not in the file' },
    ]);
    assert.deepEqual(report.warnings.map((w) => w.line), [62, 125]);
    assert.match(report.warnings[0]?.reason ?? '', /hmacauth_credentials: keygate has no such credential type/);
    assert.match(report.warnings[1]?.reason ?? '', /jwt_secrets: key "initech-issuer" \(RS256\) imported as a jwt credential; its rsa_public_key is not/);
    const rows = await store.db.selectFrom('consumers').select(['id', 'username', 'custom_id', 'roles']).orderBy('username').execute();
    assert.deepEqual(rows, [
      { id: ACME_ID, username: 'acme-payments', custom_id: 'acme-001', roles: ['payments:read', 'payments:write'] },
      { id: GLOBEX_ID, username: 'globex', custom_id: 'globex-7', roles: ['refunds:write', 'payments:read'] },
      { id: '74a0f0e3-3b88-4813-8051-9a02d48a7035', username: 'hooli', custom_id: null, roles: [] },
      { id: 'a64125b5-7f45-48ee-af17-6e56a8c3dcdb', username: 'initech', custom_id: null, roles: ['reports'] },
    ]);
  });

  test('key-auth keys verify (nested, by id, by { id }, by username)', async () => {
    const source = new PostgresCredentialSource(store.db);
    const expect: Array<[string, string]> = [
      ['ba151c5cf3961448c6327841150fdf96', 'acme-payments'], ['kg_AcmeLegacyKey0000000000000000001', 'acme-payments'],
      ['e5503014d41b45872a6c89cc84aedd77', 'globex'], ['f7c7fb24986c54f402f216ebaf20dd25', 'initech'],
    ];
    for (const [key, username] of expect) {
      const record = await source.load('key-auth', hasher.hash(key));
      assert.equal(record?.username, username, key);
    }
    const ttl = await source.load('key-auth', hasher.hash('kg_AcmeLegacyKey0000000000000000001'));
    assert.ok(Math.abs((ttl?.expiresAt ?? 0) - (Date.now() + 86_400_000)) < 120_000, 'ttl becomes expires_at');
    assert.deepEqual((await source.load('key-auth', hasher.hash('ba151c5cf3961448c6327841150fdf96')))?.roles, ['payments:read', 'payments:write']);
    assert.equal((await source.load('jwt', 'initech-issuer'))?.username, 'initech');
  });

  test('Kong SHA-1 basic passwords are kept with their salt and verify', async () => {
    const rows = await store.db.selectFrom('credentials').select(['lookup', 'secret_hash', 'hash_algorithm'])
      .where('type', '=', 'basic-auth').orderBy('lookup').execute();
    assert.deepEqual(rows.map((r) => [r.lookup, r.hash_algorithm]), [['acme-admin', KONG_SHA1_ALGORITHM], ['globex-svc', KONG_SHA1_ALGORITHM]]);
    const [acme, globex] = rows;
    assert.equal(acme?.secret_hash, `${ACME_ID}:99c28dcbf6b1689b53b4bc8979ae08acf732e0a6`);
    assert.equal(verifyKongSha1Hash('Acme-Admin-Pa55!', acme?.secret_hash ?? ''), true);
    assert.equal(verifyKongSha1Hash('acme-admin-pa55!', acme?.secret_hash ?? ''), false);
    const parsed = parseKongSha1Hash(globex?.secret_hash ?? '');
    assert.equal(verifyKongSha1('globex svc secret', parsed?.consumerId ?? '', parsed?.sha1hex ?? ''), true);
  });

  test('no plain secret reaches the database', async () => {
    const dump = await sql<{ t: string }>`
      SELECT string_agg(t, E'\n') AS t FROM (
        SELECT row_to_json(c)::text AS t FROM consumers c UNION ALL SELECT row_to_json(k)::text FROM credentials k
        UNION ALL SELECT row_to_json(a)::text FROM audit_log a) x`.execute(store.db);
    const text = dump.rows[0]?.t ?? '';
    for (const secret of FIXTURE_SECRETS) assert.ok(!text.includes(secret), secret);
  });

  test('a re-run is idempotent', async () => {
    const again = await importKong({ db: store.db, hasher, text: FIXTURE, actor: 'test' });
    assert.deepEqual(
      [again.consumersInserted, again.consumersUpdated, again.consumersUnchanged, again.credentialsInserted, again.credentialsSkipped],
      [0, 0, 4, 0, 7],
    );
    assert.deepEqual(again.rejected, report.rejected);
    const n = await sql<{ consumers: number; credentials: number; audits: number }>`
      SELECT (SELECT count(*) FROM consumers)::int AS consumers, (SELECT count(*) FROM credentials)::int AS credentials,
        (SELECT count(*) FROM audit_log WHERE action = 'import.kong')::int AS audits`.execute(store.db);
    assert.deepEqual(n.rows[0], { consumers: 4, credentials: 7, audits: 2 });
  });

  test('decK file with a plain password: stored as HMAC; JSON works too', async () => {
    const deck = {
      _format_version: '3.0',
      consumers: [{
        username: 'umbrella', custom_id: 'umb-1',
        basicauth_credentials: [{ username: 'umbrella-api', password: 'T-virus is not a password' }],
        keyauth_credentials: [{ key: 'umbrella-corp-key-000000000001' }],
        acls: [{ group: 'labs:read' }],
      }],
    };
    const r = await importKong({ db: store.db, hasher, text: JSON.stringify(deck, null, 2), actor: 'test' });
    assert.deepEqual([r.consumersInserted, r.credentialsInserted, r.rejectedCount], [1, 2, 0]);
    const basic = await new PostgresCredentialSource(store.db).load('basic-auth', 'umbrella-api');
    assert.equal(basic?.username, 'umbrella');
    assert.deepEqual(basic?.roles, ['labs:read']);
    assert.deepEqual(basic?.secretHash, hasher.digest('T-virus is not a password'));
  });

  test('a file that is not Kong declarative config is refused whole', async () => {
    await assert.rejects(importKong({ db: store.db, hasher, text: 'consumers: []\n', actor: 'test' }), OperationError);
    await assert.rejects(importKong({ db: store.db, hasher, text: '_format_version: "3.0"\nconsumers: [\n  - a: kg_secret', actor: 'test' }),
      (err: Error) => err instanceof OperationError && /not valid YAML or JSON/.test(err.message) && !err.message.includes('kg_secret'));
  });
});
