import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadEnvConfig, parseHostPort } from '../../src/config/env-config.js';

test('defaults follow the contract', () => {
  const c = loadEnvConfig({});
  assert.deepEqual(c.grpcAddr, { host: '0.0.0.0', port: 9191 });
  assert.deepEqual(c.httpAddr, { host: '0.0.0.0', port: 9192 });
  assert.deepEqual(c.adminAddr, { host: '127.0.0.1', port: 9193 });
  assert.equal(c.databaseUrl, null);
  assert.equal(c.dataDir, './.keygate');
  assert.ok(Object.isFrozen(c));
});

test('every problem is listed, nothing is coerced', () => {
  assert.throws(() => loadEnvConfig({
    KEYGATE_GRPC_ADDR: 'nope', KEYGATE_ADMIN_ADDR: '0.0.0.0:9193', DATABASE_URL: 'mysql://x',
    KEYGATE_CACHE_MAX_ENTRIES: '12abc', KEYGATE_CACHE_SHARDS: '3', KEYGATE_LOG_LEVEL: 'loud', KEYGATE_DECISION_LOG: 'yes',
  }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const name of ['KEYGATE_GRPC_ADDR', 'KEYGATE_ADMIN_ADDR', 'DATABASE_URL', 'KEYGATE_PEPPER', 'KEYGATE_CACHE_MAX_ENTRIES', 'KEYGATE_CACHE_SHARDS', 'KEYGATE_LOG_LEVEL', 'KEYGATE_DECISION_LOG']) {
      assert.match(text, new RegExp(name), `${name} should be named`);
    }
    return true;
  });
});

test('the admin API refuses a non-loopback bind without a token', () => {
  assert.throws(() => loadEnvConfig({ KEYGATE_ADMIN_ADDR: '0.0.0.0:9193' }), /KEYGATE_ADMIN_TOKEN/);
  assert.equal(loadEnvConfig({ KEYGATE_ADMIN_ADDR: '0.0.0.0:9193', KEYGATE_ADMIN_TOKEN: 'a-long-enough-admin-token' }).adminToken, 'a-long-enough-admin-token');
  assert.equal(loadEnvConfig({ KEYGATE_ADMIN_ADDR: '[::1]:9193' }).adminAddr.host, '::1');
});

test('DATABASE_URL requires a pepper shared by all replicas', () => {
  assert.throws(() => loadEnvConfig({ DATABASE_URL: 'postgres://x/y' }), /KEYGATE_PEPPER is required/);
  assert.throws(() => loadEnvConfig({ DATABASE_URL: 'postgres://x/y', KEYGATE_PEPPER: 'short' }), /at least 32/);
});

test('parseHostPort', () => {
  assert.deepEqual(parseHostPort(':9191'), { host: '0.0.0.0', port: 9191 });
  assert.deepEqual(parseHostPort('[::]:1'), { host: '::', port: 1 });
  assert.equal(parseHostPort('host:65536'), null);
  assert.equal(parseHostPort('host'), null);
});
