import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger.js';
import type { CheckInput } from '../../src/pipeline/check-input.js';
import { PolicyError } from '../../src/policies/policy-file.js';
import { PolicyStore, resolvePolicyFile } from '../../src/policies/policy-store.js';
import type { PolicySnapshot } from '../../src/policies/policy-store.js';
import { DEFAULT_ROUTE } from '../../src/policies/route-policy.js';

interface LogLine { level: number; msg: string; module?: string; problems?: string[]; version?: string; file?: string }

function logSink(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as LogLine); cb(); } });
  return { logger: createLogger('debug', sink), lines };
}

function get(path: string): CheckInput {
  return { method: 'GET', host: 'api.example.com', path, query: '', requestId: '', sourcePrincipal: '', sourceCertificate: '', contextExtensions: {}, header: () => undefined };
}

const policy = (route: string, path: string): string =>
  `version: 1\nroutes:\n  - { name: ${route}, match: { path: { exact: ${path} } }, credentials: [key-auth] }\n`;

/** Replaces the file as editors and ConfigMap updates do: write elsewhere, rename over it. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Polls until `check` holds; the pending timer keeps the event loop alive meanwhile. */
async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-policy-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

test('no file: the built-in policy (DEFAULT_ROUTE), nothing to watch', async () => {
  const { logger } = logSink();
  const store = await PolicyStore.open({ file: null, logger });
  store.start();
  const current = store.current();
  assert.equal(current.version, 'builtin');
  assert.equal(store.version, 'builtin');
  assert.deepEqual(current.routes.match(get('/anything')), DEFAULT_ROUTE);
  assert.deepEqual(current.config.credentials.keyAuth, { headers: ['x-api-key', 'apikey'], query: ['apikey'], bearer: true });
  assert.deepEqual(current.config.credentials.basicAuth, { headers: ['authorization', 'proxy-authorization'] });
  assert.equal(await store.reload(), 'unchanged');
  await store.stop();
});

test('a bad or missing file at start-up throws PolicyError naming the file', async () => {
  const tmp = tempDir();
  const { logger } = logSink();
  const file = join(tmp.dir, 'keygate.yaml');
  await assert.rejects(PolicyStore.open({ file, logger }), (err: unknown) =>
    err instanceof PolicyError && err.file === file && /cannot read the file/.test(err.problems[0] ?? ''));
  writeFileSync(file, 'version: 1\nroutes: [{ name: a }]\n');
  await assert.rejects(PolicyStore.open({ file, logger }), (err: unknown) =>
    err instanceof PolicyError && err.message.includes(file) && err.problems.includes('routes[0].match: is required (hosts, methods and/or path; use `default` for a catch-all)'));
  tmp.remove();
});

test('watch: a good change is put in force, a bad one is logged and the last good policy stays', async () => {
  const tmp = tempDir();
  const { logger, lines } = logSink();
  const file = join(tmp.dir, 'keygate.yaml');
  writeFileSync(file, policy('first', '/one'));
  const store = await PolicyStore.open({ file, logger, debounceMs: 20, pollIntervalMs: 0 });
  const changes: Array<[string, string]> = [];
  store.onChange((now: PolicySnapshot, before: PolicySnapshot) => { changes.push([before.version, now.version]); });
  store.start();
  try {
    const v1 = store.version;
    assert.equal(store.current().routes.match(get('/one')).name, 'first');
    assert.ok(lines.some((l) => l.msg === 'policy loaded' && l.module === 'policy' && l.version === v1));

    // Good change (in-place write).
    writeFileSync(file, policy('second', '/two'));
    await until(() => changes.length === 1, 'the reload');
    const v2 = store.version;
    assert.notEqual(v2, v1);
    assert.deepEqual(changes[0], [v1, v2]);
    assert.equal(store.current().routes.match(get('/two')).name, 'second');
    assert.equal(store.current().routes.match(get('/one')).name, 'default');

    // Bad change: error logged with every problem, old policy stays.
    replace(file, 'version: 1\nroutes:\n  - { name: third, match: { path: { exact: three } }, credentials: [saml] }\n');
    await until(() => lines.some((l) => l.level === 50), 'the error log');
    const error = lines.find((l) => l.level === 50);
    assert.equal(error?.msg, 'policy file rejected: keeping the last good policy');
    assert.equal(error?.file, file);
    assert.equal(error?.version, v2);
    assert.deepEqual(error?.problems, [
      'routes[0].match.path.exact: "three" must start with /',
      'routes[0].credentials[0]: unknown credential type "saml"; known: key-auth, basic-auth, jwt, oauth2, mtls',
    ]);
    assert.equal(store.version, v2);
    assert.equal(store.current().routes.match(get('/two')).name, 'second');
    assert.equal(store.status().rejected, 1);
    assert.equal(store.status().lastProblems?.length, 2);
    assert.equal(changes.length, 1);

    // Fixed again (atomic rename): in force, problems cleared.
    replace(file, policy('fourth', '/four'));
    await until(() => changes.length === 2, 'the second reload');
    assert.equal(store.current().routes.match(get('/four')).name, 'fourth');
    assert.equal(store.status().lastProblems, null);
    assert.equal(store.status().reloads, 2);
    assert.ok(store.current().loadedAt.getTime() >= Date.now() - 5_000);
  } finally {
    await store.stop();
    tmp.remove();
  }
});

test('stat poll alone picks up a change; reload() of the same content is a no-op', async () => {
  const tmp = tempDir();
  const { logger, lines } = logSink();
  const file = join(tmp.dir, 'policy.yaml');
  writeFileSync(file, policy('first', '/one'));
  const store = await PolicyStore.open({ file, logger, watch: false, pollIntervalMs: 25, debounceMs: 10 });
  store.start();
  try {
    assert.equal(await store.reload(), 'unchanged');
    const before = store.current();
    replace(file, policy('second', '/two'));
    await until(() => store.current() !== before, 'the poll');
    assert.equal(store.current().routes.match(get('/two')).name, 'second');
    writeFileSync(file, 'version: [');
    assert.equal(await store.reload(), 'rejected');
    assert.equal(await store.reload(), 'rejected'); // same bad content: logged once
    assert.equal(lines.filter((l) => l.level === 50).length, 1);
    assert.match(lines.find((l) => l.level === 50)?.problems?.[0] ?? '', /^line 1, column \d+: YAML: /);
  } finally {
    await store.stop();
    tmp.remove();
  }
});

test('resolvePolicyFile: KEYGATE_CONFIG, else ./keygate.yaml when present, else none', () => {
  const tmp = tempDir();
  assert.equal(resolvePolicyFile('/etc/keygate/policy.yaml', tmp.dir), '/etc/keygate/policy.yaml');
  assert.equal(resolvePolicyFile(null, tmp.dir), null);
  writeFileSync(join(tmp.dir, 'keygate.yaml'), 'version: 1\n');
  assert.equal(resolvePolicyFile(null, tmp.dir), join(tmp.dir, 'keygate.yaml'));
  tmp.remove();
});
