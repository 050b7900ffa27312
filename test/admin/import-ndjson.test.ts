import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import pg from 'pg';
import { LineSplitter, importNdjson } from '../../src/admin/import/ndjson-import.js';
import type { ImportReport } from '../../src/admin/import/import-report.js';
import { SecretHasher } from '../../src/credentials/secret-hasher.js';
import { PostgresCredentialSource } from '../../src/store/credential-source.js';
import { openEmbeddedStore, openPostgresStore } from '../../src/store/database.js';
import type { Store } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrations.js';
import { TEST_PEPPER, createTestDatabase } from '../support/harness.js';

const hasher = new SecretHasher(TEST_PEPPER);

interface Generated {
  readonly text: string;
  /** Every plain secret in the file. */
  readonly secrets: Set<string>;
  /** username → its first key. */
  readonly keys: Map<string, string>;
  readonly basic: Map<string, { keyId: string; secret: string }>;
  /** line → expected reason fragment. */
  readonly bad: Map<number, RegExp>;
  readonly goodConsumers: number;
  readonly goodCredentials: number;
}

const token = (): string => randomBytes(24).toString('base64url');

/**
 * `n` consumers (one plain key each; every 10th also a basic-auth secret, every 25th a key given
 * as its hash, every 100th an mTLS identity) with bad lines mixed in at known places.
 */
function generate(n: number): Generated {
  const out: string[] = [];
  const secrets = new Set<string>();
  const keys = new Map<string, string>();
  const basic = new Map<string, { keyId: string; secret: string }>();
  const bad = new Map<number, RegExp>();
  let goodConsumers = 0;
  let goodCredentials = 0;
  const roleSets = [['payments:read'], ['payments:read', 'payments:write'], ['refunds:write'], []];
  const push = (line: unknown): void => { out.push(typeof line === 'string' ? line : JSON.stringify(line)); };
  const badLine = (line: string, reason: RegExp): void => { out.push(line); bad.set(out.length, reason); };
  for (let i = 1; i <= n; i++) {
    const username = `m-${String(i).padStart(7, '0')}`;
    const key = `kg_${token()}`;
    secrets.add(key);
    keys.set(username, key);
    const credentials: object[] = [{ type: 'key-auth', key, ...(i % 7 === 0 ? { scopes: ['read'], set_name: 'rollout-7', expires_at: '2031-01-01T00:00:00Z' } : {}) }];
    if (i % 10 === 0) {
      const b = { keyId: `kgk_${username}`, secret: token() };
      secrets.add(b.secret);
      basic.set(username, b);
      credentials.push({ type: 'basic-auth', key_id: b.keyId, secret: b.secret });
    }
    if (i % 25 === 0) credentials.push({ type: 'key-auth', key_hash: hasher.hash(`hashed-elsewhere-${i}`) });
    if (i % 100 === 0) credentials.push({ type: 'mtls', lookup: `spiffe://example.org/ns/shop/sa/${username}` });
    push({
      username, ...(i % 2 === 0 ? { custom_id: `merchant-${i}` } : {}), roles: roleSets[i % 4],
      ...(i % 3 === 0 ? { metadata: { tier: 'gold', note: 'tab\there "quoted" back\\slash' } } : {}), credentials,
    });
    goodConsumers++;
    goodCredentials += credentials.length;
    if (i === 100) {
      // A secret inside a broken line must not come back in the reason.
      const leaked = `kg_${token()}`;
      secrets.add(leaked);
      badLine(`{"username":"broken","credentials":[{"type":"key-auth","key":"${leaked}"}`, /^not valid JSON/);
      badLine('{"roles":["payments:read"]}', /username is missing/);
      badLine('{"username":"bad-role","roles":["has space"]}', /roles: "has space" must be/);
      badLine('{"username":"bad-type","credentials":[{"type":"hmac-auth","key":"x"}]}', /credentials\[0\]\.type "hmac-auth" is not a credential type/);
      badLine('{"username":"bad name!"}', /username must be/);
      badLine('{"username":"extra","status":"active"}', /unknown field "status"/);
      badLine('{"username":"two-secrets","credentials":[{"type":"basic-auth","key_id":"k","secret":"a","secret_hash":"00"}]}', /exactly one of secret and secret_hash/);
      badLine('{"username":"bad-time","credentials":[{"type":"mtls","lookup":"spiffe://x","expires_at":"tomorrow"}]}', /expires_at must be an RFC 3339 time/);
      badLine('[1,2,3]', /must be a JSON object/);
      out.push('');
    }
    if (i === 7000) {
      badLine(JSON.stringify({ username: 'm-0000050' }), /username m-0000050 is also on line 50/);
      // Same custom_id as a consumer of an earlier batch: the database finds it.
      badLine(JSON.stringify({ username: 'dup-custom', custom_id: 'merchant-2' }), /custom_id belongs to another consumer/);
    }
  }
  return { text: `${out.join('\n')}\n`, secrets, keys, basic, bad, goodConsumers, goodCredentials };
}

/** The file as a stream of 64 KiB chunks (lines cross chunk boundaries). */
function stream(text: string): Readable {
  const buf = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 65536) chunks.push(buf.subarray(i, i + 65536));
  return Readable.from(chunks);
}

async function tableText(store: Store, table: string): Promise<string> {
  const rows = await sql<{ t: string }>`SELECT row_to_json(x)::text AS t FROM ${sql.table(table)} x`.execute(store.db);
  return rows.rows.map((r) => r.t).join('\n');
}

describe('NDJSON import into PostgreSQL', () => {
  const N = 20_000;
  let drop: () => Promise<void>;
  let store: Store;
  let pool: pg.Pool;
  let data: Generated;
  let first: ImportReport;
  const progress: Array<[number, number]> = [];

  before(async () => {
    const created = await createTestDatabase();
    drop = created.drop;
    store = openPostgresStore({ url: created.url, poolSize: 2 });
    await migrateToLatest(store.db);
    pool = new pg.Pool({ connectionString: created.url, max: 1 });
    data = generate(N);
    first = await importNdjson({
      db: store.db, pg: pool, hasher, input: stream(data.text), actor: 'test', source: 'consumers.ndjson', batchSize: 5000,
      onProgress: (l, b) => progress.push([l, b]),
    });
  });

  after(async () => {
    await pool?.end();
    await store?.close();
    await drop?.();
  });

  test('imports every good line, with COPY, in batches', async () => {
    assert.equal(first.lines, data.text.split('\n').length - 1);
    assert.equal(first.bytesRead, Buffer.byteLength(data.text));
    assert.equal(first.consumersInserted, data.goodConsumers);
    assert.equal(first.consumersUpdated, 0);
    assert.equal(first.credentialsInserted, data.goodCredentials);
    assert.equal(first.credentialsSkipped, 0);
    const counts = await sql<{ consumers: number; credentials: number }>`
      SELECT (SELECT count(*) FROM consumers)::int AS consumers, (SELECT count(*) FROM credentials)::int AS credentials`.execute(store.db);
    assert.deepEqual(counts.rows[0], { consumers: data.goodConsumers, credentials: data.goodCredentials });
    assert.ok(progress.length >= 4, 'progress after each batch');
    assert.deepEqual(progress[progress.length - 1], [first.lines, first.bytesRead]);
    const changes = await sql<{ n: number }>`SELECT count(*)::int AS n FROM changes`.execute(store.db);
    assert.ok((changes.rows[0]?.n ?? 0) >= data.goodCredentials, 'the change feed saw every new credential');
  });

  test('reports each rejected line with its number and reason', () => {
    assert.equal(first.rejectedCount, data.bad.size);
    assert.deepEqual(first.rejected.map((r) => r.line), [...data.bad.keys()]);
    for (const r of first.rejected) assert.match(r.reason, data.bad.get(r.line) ?? /^$/, `line ${r.line}: ${r.reason}`);
  });

  test('stores hashes only: no plain key or secret anywhere', async () => {
    for (const table of ['consumers', 'credentials', 'audit_log', 'changes']) {
      const text = await tableText(store, table);
      for (const t of text.match(/[A-Za-z0-9_-]{20,}/g) ?? []) assert.ok(!data.secrets.has(t), `a plain secret in ${table}`);
    }
    assert.ok(first.rejected.every((r) => ![...data.secrets].some((s) => r.reason.includes(s))));
    const algorithms = await sql<{ type: string; hash_algorithm: string | null }>`SELECT DISTINCT type, hash_algorithm FROM credentials ORDER BY type`.execute(store.db);
    assert.deepEqual(algorithms.rows, [
      { type: 'basic-auth', hash_algorithm: 'hmac-sha256' }, { type: 'key-auth', hash_algorithm: 'hmac-sha256' }, { type: 'mtls', hash_algorithm: null },
    ]);
  });

  test('an imported key, basic secret and mTLS identity identify their consumer', async () => {
    const source = new PostgresCredentialSource(store.db);
    const key = data.keys.get('m-0000014') ?? '';
    const record = await source.load('key-auth', hasher.hash(key));
    assert.equal(record?.username, 'm-0000014');
    assert.equal(record?.customId, 'merchant-14');
    assert.deepEqual(record?.roles, ['refunds:write']);
    assert.deepEqual(record?.scopes, ['read']);
    assert.equal(record?.expiresAt, Date.parse('2031-01-01T00:00:00Z'));
    const b = data.basic.get('m-0000030');
    const basic = await source.load('basic-auth', b?.keyId ?? '');
    assert.equal(basic?.username, 'm-0000030');
    assert.deepEqual(basic?.secretHash, hasher.digest(b?.secret ?? ''));
    assert.equal((await source.load('key-auth', hasher.hash('hashed-elsewhere-50')))?.username, 'm-0000050');
    assert.equal((await source.load('mtls', 'spiffe://example.org/ns/shop/sa/m-0000100'))?.username, 'm-0000100');
    const meta = await store.db.selectFrom('consumers').select('metadata').where('username', '=', 'm-0000003').executeTakeFirstOrThrow();
    assert.deepEqual(meta.metadata, { tier: 'gold', note: 'tab\there "quoted" back\\slash' });
  });

  test('re-running the same file changes nothing and reports the same', async () => {
    const again = await importNdjson({ db: store.db, pg: pool, hasher, input: stream(data.text), actor: 'test', batchSize: 5000 });
    assert.equal(again.consumersInserted, 0);
    assert.equal(again.consumersUpdated, 0);
    assert.equal(again.consumersUnchanged, data.goodConsumers);
    assert.equal(again.credentialsInserted, 0);
    assert.equal(again.credentialsSkipped, data.goodCredentials);
    assert.deepEqual(again.rejected, first.rejected);
    const counts = await sql<{ consumers: number; credentials: number }>`
      SELECT (SELECT count(*) FROM consumers)::int AS consumers, (SELECT count(*) FROM credentials)::int AS credentials`.execute(store.db);
    assert.deepEqual(counts.rows[0], { consumers: data.goodConsumers, credentials: data.goodCredentials });
    const audits = await sql<{ n: number }>`SELECT count(*)::int AS n FROM audit_log WHERE action = 'import.ndjson'`.execute(store.db);
    assert.equal(audits.rows[0]?.n, 2, 'one audit row per import');
  });

  test('upsert: given fields are set, absent ones kept; foreign credentials are reported', async () => {
    const key14 = data.keys.get('m-0000014') ?? '';
    const freshKey = `kg_${token()}`;
    const text = [
      JSON.stringify({ username: 'm-0000001', roles: ['admin'] }),
      JSON.stringify({ username: 'm-0000002', credentials: [{ type: 'key-auth', key: freshKey }] }),
      JSON.stringify({ username: 'm-0000004', custom_id: null }),
      JSON.stringify({ username: 'newcomer', credentials: [{ type: 'key-auth', key: key14 }, { type: 'key-auth', key: freshKey }] }),
    ].join('\n');
    const r = await importNdjson({ db: store.db, pg: pool, hasher, input: Readable.from([text]), actor: 'test' });
    assert.equal(r.consumersInserted, 1);
    assert.equal(r.consumersUpdated, 2);
    assert.equal(r.consumersUnchanged, 1);
    assert.equal(r.credentialsInserted, 1);
    assert.deepEqual([...r.rejected].sort((a, b) => a.reason.localeCompare(b.reason)), [
      { line: 4, reason: 'credentials[0]: this key-auth credential belongs to another consumer; not imported' },
      { line: 4, reason: 'credentials[1]: the same key-auth credential is also on line 2; not imported' },
    ]);
    const rows = await store.db.selectFrom('consumers').select(['username', 'custom_id', 'roles'])
      .where('username', 'in', ['m-0000001', 'm-0000002', 'm-0000004', 'newcomer']).orderBy('username').execute();
    assert.deepEqual(rows, [
      { username: 'm-0000001', custom_id: null, roles: ['admin'] },
      { username: 'm-0000002', custom_id: 'merchant-2', roles: ['refunds:write'] },
      { username: 'm-0000004', custom_id: null, roles: ['payments:read'] },
      { username: 'newcomer', custom_id: null, roles: [] },
    ]);
    const source = new PostgresCredentialSource(store.db);
    assert.equal((await source.load('key-auth', hasher.hash(key14)))?.username, 'm-0000014');
    assert.equal((await source.load('key-auth', hasher.hash(freshKey)))?.username, 'm-0000002');
  });
});

describe('NDJSON import into PostgreSQL through kysely only (no pg pool, no COPY)', () => {
  test('gives the same result as COPY', async () => {
    const created = await createTestDatabase();
    const store = openPostgresStore({ url: created.url, poolSize: 2 });
    try {
      await migrateToLatest(store.db);
      const data = generate(250);
      const run = (): Promise<ImportReport> => importNdjson({ db: store.db, hasher, input: stream(data.text), actor: 'test', batchSize: 100 });
      const r1 = await run();
      assert.deepEqual([r1.consumersInserted, r1.credentialsInserted, r1.rejectedCount], [data.goodConsumers, data.goodCredentials, 9]);
      const r2 = await run();
      assert.deepEqual([r2.consumersInserted, r2.consumersUpdated, r2.consumersUnchanged, r2.credentialsInserted, r2.credentialsSkipped],
        [0, 0, data.goodConsumers, 0, data.goodCredentials]);
      const record = await new PostgresCredentialSource(store.db).load('key-auth', hasher.hash(data.keys.get('m-0000140') ?? ''));
      assert.deepEqual([record?.username, record?.customId, record?.scopes], ['m-0000140', 'merchant-140', ['read']]);
    } finally {
      await store.close();
      await created.drop();
    }
  });
});

describe('NDJSON import into embedded PGlite (no COPY)', () => {
  test('imports, rejects and re-runs idempotently', async () => {
    const store = await openEmbeddedStore(null);
    try {
      await migrateToLatest(store.db);
      const data = generate(300);
      const run = (): Promise<ImportReport> => importNdjson({ db: store.db, hasher, input: stream(data.text), actor: 'test', batchSize: 128 });
      const r1 = await run();
      assert.equal(r1.consumersInserted, data.goodConsumers);
      assert.equal(r1.credentialsInserted, data.goodCredentials);
      assert.equal(r1.rejectedCount, 9);
      const r2 = await run();
      assert.deepEqual([r2.consumersInserted, r2.consumersUpdated, r2.consumersUnchanged, r2.credentialsInserted, r2.credentialsSkipped],
        [0, 0, data.goodConsumers, 0, data.goodCredentials]);
      assert.deepEqual(r2.rejected, r1.rejected);
      const record = await new PostgresCredentialSource(store.db).load('key-auth', hasher.hash(data.keys.get('m-0000042') ?? ''));
      assert.equal(record?.username, 'm-0000042');
      assert.deepEqual(record?.roles, ['refunds:write']);
    } finally {
      await store.close();
    }
  });
});

describe('line splitting', () => {
  const split = (chunks: string[], max: number): Array<[string | null, number]> => {
    const out: Array<[string | null, number]> = [];
    const splitter = new LineSplitter(max, (text, bytes) => out.push([text, bytes]));
    for (const c of chunks) splitter.push(Buffer.from(c, 'utf8'));
    splitter.end();
    return out;
  };

  test('CRLF, a BOM, lines across chunks, a last line without newline, an over-long line', () => {
    assert.deepEqual(split(['\uFEFF{"a":1}\r\n', `${'x'.repeat(50)}\n{"b"`, ':2}\n\n', 'ab', 'c\nd', 'é'], 20), [
      ['{"a":1}', 12], [null, 51], ['{"b":2}', 8], ['', 1], ['abc', 4], ['dé', 3],
    ]);
  });

  test('an over-long line spread over chunks is skipped, not held', () => {
    assert.deepEqual(split(['{"a":', '1}', 'x'.repeat(30), 'y\n{}\n', 'z'.repeat(25)], 20), [[null, 39], ['{}', 3], [null, 25]]);
  });
});
