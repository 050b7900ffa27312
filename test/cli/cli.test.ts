import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { createTestDatabase, envoyRequest, startKeygate, TEST_PEPPER } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

/** Runs the CLI in process with `env`, capturing what it prints. */
async function cli(env: Record<string, string>, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const saved = { ...process.env };
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => { out.push(a.join(' ')); };
  console.error = (...a: unknown[]) => { err.push(a.join(' ')); };
  Object.assign(process.env, env);
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe('keygate CLI', () => {
  let dbUrl: string;
  let drop: () => Promise<void>;
  let h: Harness;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    const db = await createTestDatabase();
    dbUrl = db.url;
    drop = db.drop;
    dir = mkdtempSync(join(tmpdir(), 'keygate-cli-'));
    env = { DATABASE_URL: dbUrl, KEYGATE_PEPPER: TEST_PEPPER, KEYGATE_LOG_LEVEL: 'silent' };
    h = await startKeygate({ store: 'postgres', databaseUrl: dbUrl });
  });
  after(async () => {
    await h.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('consumer and credential commands straight to PostgreSQL; the running server sees them', async () => {
    const created = await cli(env, 'consumer', 'create', 'alice', '--roles', 'payments:read,payments:write', '--json');
    assert.equal(created.code, 0, created.err);
    assert.deepEqual(JSON.parse(created.out).roles, ['payments:read', 'payments:write']);
    const cred = await cli(env, 'credential', 'create', 'alice', '--type', 'key-auth', '--ttl', '24h', '--set', 'sandbox', '--json');
    const issued = JSON.parse(cred.out) as { key: string; credential: { id: string; expires_at: string } };
    assert.match(issued.key, /^kg_/);
    assert.ok(Math.abs(Date.parse(issued.credential.expires_at) - Date.now() - 86_400_000) < 60_000);
    assert.equal((await h.client.check(envoyRequest({ headers: { 'x-api-key': issued.key } }))).status?.code ?? 0, 0);
    const human = await cli(env, 'credential', 'create', 'alice', '--type', 'basic-auth');
    assert.match(human.out, /key_id: kgk_/);
    assert.match(human.out, /shown only now/);
    const list = await cli(env, 'credential', 'list', 'alice');
    assert.equal(list.out.split('\n').length, 2);
    const rotated = await cli(env, 'credential', 'rotate', issued.credential.id, '--grace', '1h', '--json');
    assert.equal(JSON.parse(rotated.out).credential.rotated_from, issued.credential.id);
    const expired = await cli(env, 'set', 'expire', 'sandbox', '--in', '0s');
    assert.equal(expired.code, 2, 'zero durations are refused');
    const expire = await cli(env, 'set', 'expire', 'sandbox', '--in', '1s', '--json');
    assert.equal(JSON.parse(expire.out).updated, 2);
    const suspended = await cli(env, 'consumer', 'suspend', 'alice', '--json');
    assert.equal(JSON.parse(suspended.out).status, 'suspended');
    const revoke = await cli(env, 'credential', 'revoke', issued.credential.id);
    assert.equal(revoke.code, 0);
  });

  test('through the admin API with --admin-url; errors have exit codes', async () => {
    const remote = await cli({ KEYGATE_LOG_LEVEL: 'silent' }, 'consumer', 'create', 'bob', '--admin-url', h.adminUrl, '--json');
    assert.equal(remote.code, 0, remote.err);
    const missing = await cli({}, 'consumer', 'get', 'nobody', '--admin-url', h.adminUrl);
    assert.equal(missing.code, 3);
    assert.match(missing.err, /not_found/);
    const usage = await cli(env, 'credential', 'create');
    assert.equal(usage.code, 2);
    const unknown = await cli(env, 'frobnicate');
    assert.equal(unknown.code, 2);
    const badEnv = await cli({ KEYGATE_CACHE_SHARDS: '3' }, 'consumer', 'list');
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.err, /KEYGATE_CACHE_SHARDS/);
  });

  test('import, export and seed', async () => {
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, `${JSON.stringify({ username: 'imp-a', credentials: [{ type: 'key-auth', key: 'kg_cli_imported_key_00000000001' }] })}\nnot json\n`);
    const imported = await cli(env, 'import', file, '--json');
    assert.equal(imported.code, 4, 'rejected lines make a non-zero exit');
    assert.equal(JSON.parse(imported.out).consumersInserted, 1);
    const out = join(dir, 'out.ndjson');
    assert.equal((await cli(env, 'export', '--out', out)).code, 0);
    const exported = readFileSync(out, 'utf8');
    assert.match(exported, /"username":"imp-a"/);
    assert.ok(!exported.includes('kg_cli_imported_key_00000000001'));
    const keys = join(dir, 'keys.txt');
    const seeded = await cli(env, 'seed', '--consumers', '1000', '--keys-out', keys);
    assert.equal(seeded.code, 0, seeded.err);
    const first = readFileSync(keys, 'utf8').split('\n')[0] ?? '';
    assert.equal((await h.client.check(envoyRequest({ headers: { 'x-api-key': first } }))).status?.code ?? 0, 0);
  });
});
