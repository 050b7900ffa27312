import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKeygate } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

describe('HTTP ext_authz / forward-auth on :9192/authz', () => {
  let h: Harness;
  let key: string;
  let base: string;

  before(async () => {
    h = await startKeygate({ store: 'embedded' });
    await h.admin('POST', '/consumers', { username: 'dora', roles: ['payments:read'] });
    key = (await h.admin('POST', '/consumers/dora/credentials', { type: 'key-auth' })).body.key;
    base = `http://127.0.0.1:${h.app.httpPort}`;
  });
  after(async () => { await h.close(); });

  // Envoy http_service with path_prefix "/authz": curl -H 'x-api-key: kg_…' https://api.example.com/v1/payments?x=1
  test('allow: 200 with identity headers and x-envoy-auth-headers-to-remove', async () => {
    const res = await fetch(`${base}/authz/v1/payments?x=1`, { headers: { 'x-api-key': key, 'x-consumer-id': 'spoofed', host: 'api.example.com' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-consumer-username'), 'dora');
    assert.match(res.headers.get('x-consumer-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('x-auth-method'), 'key-auth');
    const removed = (res.headers.get('x-envoy-auth-headers-to-remove') ?? '').split(',');
    assert.ok(removed.includes('x-api-key'));
    assert.ok(!removed.includes('x-consumer-id'));
  });

  // Traefik / nginx style: GET /authz with X-Forwarded-Method/-Host/-Uri
  test('forwarded style and denial with a challenge', async () => {
    const ok = await fetch(`${base}/authz`, { headers: { 'x-forwarded-method': 'POST', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': `/v1/refunds?apikey=${key}` } });
    assert.equal(ok.status, 200);
    const denied = await fetch(`${base}/authz/v1/payments`, { headers: { 'x-api-key': 'kg_nope', 'x-request-id': 'r-1' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('www-authenticate'), 'Key realm="keygate"');
    assert.equal(denied.headers.get('x-keygate-reason'), 'invalid_credentials');
    assert.deepEqual(await denied.json(), { error: 'invalid_credentials', message: 'Invalid authentication credentials', request_id: 'r-1' });
  });
});
