import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { deniedHeader, envoyRequest, setHeaders, startKeygate } from '../support/harness.js';
import type { CheckResponseObject, Harness } from '../support/harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const code = (r: CheckResponseObject): number => r.status?.code ?? 0;
const reason = (r: CheckResponseObject): string | undefined => deniedHeader(r, 'x-keygate-reason');
const md = (r: CheckResponseObject, k: string): string | undefined => r.dynamic_metadata?.fields?.[k]?.stringValue;

function policy(jwksUrl: string, introspectUrl: string, extraRoute = ''): string {
  return `
version: 1
default: { deny: true }
jwt:
  issuers:
    - name: idp
      issuer: https://idp.test/
      audiences: [payments-api]
      jwks_url: ${jwksUrl}
      algorithms: [RS256]
      leeway_seconds: 5
      subject_claim: sub
    - name: partner-idp
      issuer: https://partners.test/
      audiences: [payments-api]
      jwks_url: ${jwksUrl}
      algorithms: [RS256]
      lookup_prefix: "partners:"
      consumer_optional: true
      roles_claim: roles
introspection:
  endpoints:
    - name: opaque
      url: ${introspectUrl}
      client_id: keygate
      client_secret_env: KG_TEST_INTROSPECTION_SECRET
      cache_ttl_seconds: 60
      negative_ttl_seconds: 5
      timeout_ms: 500
anonymous: { consumer: anonymous }
routes:
  - name: health
    match: { path: { exact: /healthz } }
    auth: optional
    credentials: [key-auth]
  - name: catalog
    match: { hosts: ["*.example.com"], methods: [GET], path: { prefix: /v1/catalog } }
    auth: anonymous
    credentials: [key-auth, basic-auth]
  - name: payments-read
    match: { hosts: [api.example.com], methods: [GET], path: { template: "/v1/payments/{id}" } }
    credentials: [key-auth, basic-auth, jwt, oauth2, mtls]
    allow_roles: [payments:read, payments:admin]
    deny_roles: [blocked]
  - name: refunds
    match: { hosts: [api.example.com], methods: [POST], path: { template: "/v1/payments/{id}/refunds" } }
    credentials: [jwt, oauth2, key-auth]
    required_scopes: { all: [refunds.write] }
    headers: { x-consumer-id: x-merchant-id }
  - name: admin
    match: { hosts: [api.example.com], path: { prefix: /admin/ } }
    credentials: [mtls, key-auth]
    allow_roles: [payments:admin]
    failure_mode: open
${extraRoute}`;
}

describe('policy file routes and every credential type over gRPC (PostgreSQL)', () => {
  let h: Harness;
  let dir: string;
  let file: string;
  let jwks: Server;
  let introspect: Server;
  let introspectCalls = 0;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let publicJwk: JWK;
  let jwksUrl: string;
  let introspectUrl: string;
  const tokens = new Map<string, object>();
  let apiKey = '';
  let basicId = '';
  let basicSecret = '';
  let consumerId = '';

  const jwt = (claims: Record<string, unknown>, iss = 'https://idp.test/', expSeconds = 300): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(iss).setAudience('payments-api')
      .setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds).sign(privateKey);

  before(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ keys: [publicJwk] })); });
    introspect = createServer((req, res) => {
      introspectCalls++;
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const ok = req.headers.authorization === `Basic ${Buffer.from('keygate:s3cret').toString('base64')}`;
        const token = new URLSearchParams(body).get('token') ?? '';
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? tokens.get(token) ?? { active: false } : { error: 'invalid_client' }));
      });
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => introspect.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    introspectUrl = `http://127.0.0.1:${(introspect.address() as AddressInfo).port}/introspect`;
    dir = mkdtempSync(join(tmpdir(), 'keygate-policy-'));
    file = join(dir, 'keygate.yaml');
    writeFileSync(file, policy(jwksUrl, introspectUrl));
    process.env.KG_TEST_INTROSPECTION_SECRET = 's3cret';
    h = await startKeygate({ store: 'postgres', env: { KEYGATE_CONFIG: file, KG_TEST_INTROSPECTION_SECRET: 's3cret' } });

    consumerId = (await h.admin('POST', '/consumers', { username: 'merchant', roles: ['payments:read'] })).body.id;
    apiKey = (await h.admin('POST', '/consumers/merchant/credentials', { type: 'key-auth', scopes: ['refunds.write'] })).body.key;
    const b = await h.admin('POST', '/consumers/merchant/credentials', { type: 'basic-auth' });
    basicId = b.body.key_id;
    basicSecret = b.body.secret;
    await h.admin('POST', '/consumers/merchant/credentials', { type: 'jwt', lookup: 'merchant-sub' });
    await h.admin('POST', '/consumers/merchant/credentials', { type: 'oauth2', lookup: 'merchant-client' });
    await h.admin('POST', '/consumers', { username: 'ops', roles: ['payments:admin'] });
    await h.admin('POST', '/consumers/ops/credentials', { type: 'mtls', lookup: 'spiffe://cluster.local/ns/ops/sa/console' });
    await h.admin('POST', '/consumers', { username: 'anonymous', roles: ['public'] });
    await h.admin('POST', '/consumers', { username: 'blocked-one', roles: ['payments:read', 'blocked'] });
  });
  after(async () => {
    await h.close();
    jwks.close();
    introspect.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // curl -u kgk_…:secret https://api.example.com/v1/payments/pay_1
  test('basic-auth key_id:secret', async () => {
    const ok = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: basic(basicId, basicSecret) } }));
    assert.equal(code(ok), 0);
    assert.equal(setHeaders(ok).get('x-auth-method')?.value, 'basic-auth');
    assert.ok(ok.ok_response?.headers_to_remove?.includes('authorization'));
    assert.equal(md(ok, 'route'), 'payments-read');
    const wrong = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: basic(basicId, `${basicSecret}x`) } }));
    assert.equal(code(wrong), 16);
    assert.equal(reason(wrong), 'invalid_credentials');
    assert.equal(deniedHeader(wrong, 'www-authenticate'), 'Key realm="keygate", Basic realm="keygate", charset="UTF-8", Bearer realm="keygate"');
    const unknown = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: basic('kgk_nobody', basicSecret) } }));
    assert.equal(unknown.denied_response?.body?.replace(/"request_id":"[^"]*"/, ''), wrong.denied_response?.body?.replace(/"request_id":"[^"]*"/, ''));
    for (const bad of ['Basic !!!notbase64', 'Basic ' + Buffer.from('nocolon').toString('base64'), 'Basic ' + Buffer.from(':secret').toString('base64'), 'Basic ' + Buffer.from('id:').toString('base64'), `Basic ${'A'.repeat(5000)}`, 'Basic ']) {
      const r = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: bad } }));
      assert.equal(code(r), 16, bad.slice(0, 30));
      assert.equal(reason(r), 'malformed_credentials', bad.slice(0, 30));
    }
    const proxy = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { 'proxy-authorization': basic(basicId, basicSecret) } }));
    assert.equal(code(proxy), 0);
  });

  // curl -H 'Authorization: Bearer eyJ…' https://api.example.com/v1/payments/pay_1
  test('JWT mapped to a consumer, and a token-only principal from an issuer that allows it', async () => {
    const ok = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: `Bearer ${await jwt({ sub: 'merchant-sub', scope: 'payments.read' })}` } }));
    assert.equal(code(ok), 0, JSON.stringify(ok.denied_response));
    assert.equal(setHeaders(ok).get('x-consumer-id')?.value, consumerId);
    assert.equal(setHeaders(ok).get('x-auth-method')?.value, 'jwt');
    const expired = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: `Bearer ${await jwt({ sub: 'merchant-sub' }, 'https://idp.test/', -60)}` } }));
    assert.equal(code(expired), 16);
    const unknownSub = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: `Bearer ${await jwt({ sub: 'stranger' })}` } }));
    assert.equal(code(unknownSub), 16);
    const broken = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln' } }));
    assert.equal(code(broken), 16);
    const tokenOnly = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: `Bearer ${await jwt({ sub: 'partner-42', roles: ['payments:read'] }, 'https://partners.test/')}` } }));
    assert.equal(code(tokenOnly), 0, JSON.stringify(tokenOnly.denied_response));
    assert.equal(setHeaders(tokenOnly).get('x-consumer-username')?.value, 'partner-42');
    assert.equal(setHeaders(tokenOnly).get('x-consumer-roles')?.value, 'payments:read');
    // Another issuer's token with the same sub names no consumer of the first issuer.
    const crossIssuer = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: `Bearer ${await jwt({ sub: 'merchant-sub', roles: ['payments:read'] }, 'https://partners.test/')}` } }));
    assert.equal(code(crossIssuer), 0);
    assert.notEqual(setHeaders(crossIssuer).get('x-consumer-id')?.value, consumerId, 'no cross-issuer impersonation');
    assert.equal(setHeaders(crossIssuer).get('x-consumer-username')?.value, 'merchant-sub');
    const tokenOnlyNoRole = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { authorization: `Bearer ${await jwt({ sub: 'partner-43' }, 'https://partners.test/')}` } }));
    assert.equal(code(tokenOnlyNoRole), 7, 'authenticated but no allowed role: 403');
  });

  // curl -X POST -H 'Authorization: Bearer opaque-…' https://api.example.com/v1/payments/pay_1/refunds
  test('OAuth2 opaque token by introspection, cached; scopes decide 403', async () => {
    tokens.set('opaque-good', { active: true, client_id: 'merchant-client', scope: 'refunds.write payments.read', exp: Math.floor(Date.now() / 1000) + 600 });
    tokens.set('opaque-narrow', { active: true, client_id: 'merchant-client', scope: 'payments.read', exp: Math.floor(Date.now() / 1000) + 600 });
    const before = introspectCalls;
    const ok = await h.client.check(envoyRequest({ method: 'POST', path: '/v1/payments/pay_1/refunds', headers: { authorization: 'Bearer opaque-good' } }));
    assert.equal(code(ok), 0, JSON.stringify(ok.denied_response));
    assert.equal(setHeaders(ok).get('x-auth-method')?.value, 'oauth2');
    // This route renames x-consumer-id; the original name is still owned (removed, never passed through).
    assert.equal(setHeaders(ok).get('x-merchant-id')?.value, consumerId);
    assert.equal(setHeaders(ok).has('x-consumer-id'), false);
    assert.ok(ok.ok_response?.headers_to_remove?.includes('x-consumer-id'));
    assert.ok(!ok.ok_response?.headers_to_remove?.includes('x-merchant-id'));
    await h.client.check(envoyRequest({ method: 'POST', path: '/v1/payments/pay_1/refunds', headers: { authorization: 'Bearer opaque-good' } }));
    assert.equal(introspectCalls - before, 1, 'second call served from the introspection cache');
    const narrow = await h.client.check(envoyRequest({ method: 'POST', path: '/v1/payments/pay_1/refunds', headers: { authorization: 'Bearer opaque-narrow' } }));
    assert.equal(code(narrow), 7);
    assert.equal(reason(narrow), 'insufficient_scope');
    assert.equal(narrow.denied_response?.status?.code, 'Forbidden');
    const inactive = await h.client.check(envoyRequest({ method: 'POST', path: '/v1/payments/pay_1/refunds', headers: { authorization: 'Bearer opaque-revoked' } }));
    assert.equal(code(inactive), 16);
    // API key scopes count too.
    const keyScoped = await h.client.check(envoyRequest({ method: 'POST', path: '/v1/payments/pay_1/refunds', headers: { 'x-api-key': apiKey } }));
    assert.equal(code(keyScoped), 0);
  });

  // Istio mTLS: the sidecar reports source.principal
  test('mTLS principal; roles decide the admin route', async () => {
    const ok = await h.client.check(envoyRequest({ path: '/admin/settlements', principal: 'spiffe://cluster.local/ns/ops/sa/console' }));
    assert.equal(code(ok), 0, JSON.stringify(ok.denied_response));
    assert.equal(setHeaders(ok).get('x-auth-method')?.value, 'mtls');
    assert.equal(setHeaders(ok).get('x-consumer-username')?.value, 'ops');
    const merchant = await h.client.check(envoyRequest({ path: '/admin/settlements', headers: { 'x-api-key': apiKey } }));
    assert.equal(code(merchant), 7);
    assert.equal(reason(merchant), 'role_not_allowed');
    const stranger = await h.client.check(envoyRequest({ path: '/admin/settlements', principal: 'spiffe://cluster.local/ns/evil/sa/x' }));
    assert.equal(code(stranger), 16);
  });

  // Plain Envoy with include_peer_certificate: the URL-encoded PEM, no principal
  test('mTLS from the peer certificate URI SAN when no principal is reported', async () => {
    await h.admin('POST', '/consumers', { username: 'billing', roles: ['payments:admin'] });
    await h.admin('POST', '/consumers/billing/credentials', { type: 'mtls', lookup: 'spiffe://cluster.local/ns/billing/sa/worker' });
    const pem = readFileSync(new URL('../fixtures/spiffe-client-cert.pem', import.meta.url), 'utf8');
    const req = envoyRequest({ path: '/admin/settlements' }) as { attributes: { source: Record<string, unknown> } };
    req.attributes.source.certificate = encodeURIComponent(pem);
    const ok = await h.client.check(req);
    assert.equal(code(ok), 0, JSON.stringify(ok.denied_response));
    assert.equal(setHeaders(ok).get('x-consumer-username')?.value, 'billing');
    req.attributes.source.certificate = encodeURIComponent('-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n');
    const junk = await h.client.check(req);
    assert.equal(code(junk), 16);
    assert.equal(reason(junk), 'malformed_credentials');
  });

  test('deny_roles, credential type not accepted (403), methods and hosts, default deny', async () => {
    const blockedKey = (await h.admin('POST', '/consumers/blocked-one/credentials', { type: 'key-auth' })).body.key;
    const blocked = await h.client.check(envoyRequest({ path: '/v1/payments/pay_1', headers: { 'x-api-key': blockedKey } }));
    assert.equal(code(blocked), 7);
    assert.equal(reason(blocked), 'role_denied');
    const basicOnRefunds = await h.client.check(envoyRequest({ method: 'POST', path: '/v1/payments/pay_1/refunds', headers: { authorization: basic(basicId, basicSecret) } }));
    assert.equal(code(basicOnRefunds), 7);
    assert.equal(reason(basicOnRefunds), 'credential_type_not_allowed');
    const wrongMethod = await h.client.check(envoyRequest({ method: 'DELETE', path: '/v1/payments/pay_1', headers: { 'x-api-key': apiKey } }));
    assert.equal(code(wrongMethod), 7);
    assert.equal(reason(wrongMethod), 'no_route');
    const otherHost = await h.client.check(envoyRequest({ host: 'evil.test', path: '/v1/payments/pay_1', headers: { 'x-api-key': apiKey } }));
    assert.equal(reason(otherHost), 'no_route');
    const sneaky = await h.client.check(envoyRequest({ path: '/healthz/../admin/x' }));
    assert.equal(code(sneaky), 7);
    const health = await h.client.check(envoyRequest({ host: 'anything.test', path: '/healthz' }));
    assert.equal(code(health), 0);
    assert.equal(setHeaders(health).size, 0, 'optional route without credentials: no identity');
    assert.ok(health.ok_response?.headers_to_remove?.includes('x-consumer-id'));
  });

  // curl https://shop.example.com/v1/catalog/items
  test('anonymous consumer when nothing is presented; an invalid credential is still 401', async () => {
    const anon = await h.client.check(envoyRequest({ host: 'shop.example.com', path: '/v1/catalog/items' }));
    assert.equal(code(anon), 0, JSON.stringify(anon.denied_response));
    assert.equal(setHeaders(anon).get('x-anonymous-consumer')?.value, 'true');
    assert.equal(setHeaders(anon).get('x-consumer-username')?.value, 'anonymous');
    assert.equal(setHeaders(anon).get('x-auth-method')?.value, 'anonymous');
    const bad = await h.client.check(envoyRequest({ host: 'shop.example.com', path: '/v1/catalog/items', headers: { 'x-api-key': 'kg_wrong' } }));
    assert.equal(code(bad), 16, 'no silent downgrade to anonymous');
    const real = await h.client.check(envoyRequest({ host: 'shop.example.com', path: '/v1/catalog/items', headers: { 'x-api-key': apiKey } }));
    assert.equal(setHeaders(real).get('x-consumer-username')?.value, 'merchant');
    assert.ok(real.ok_response?.headers_to_remove?.includes('x-anonymous-consumer'));
  });

  test('context_extensions keygate_route names the route (plain Envoy per-route config)', async () => {
    const r = await h.client.check(envoyRequest({ host: 'evil.test', path: '/whatever', contextExtensions: { keygate_route: 'health' } }));
    assert.equal(code(r), 0);
    assert.equal(md(r, 'route'), 'health');
  });

  test('reload: a good file takes effect, a bad one is refused and the last good stays', async () => {
    const v1 = h.app.policy.version;
    const next = join(dir, 'next.yaml');
    writeFileSync(next, policy(jwksUrl, introspectUrl, `  - name: status\n    match: { path: { exact: /status } }\n    auth: optional\n    credentials: [key-auth]\n`));
    renameSync(next, file);
    const deadline = Date.now() + 5_000;
    while (h.app.policy.version === v1 && Date.now() < deadline) await sleep(50);
    assert.notEqual(h.app.policy.version, v1);
    assert.equal(code(await h.client.check(envoyRequest({ path: '/status' }))), 0);
    const v2 = h.app.policy.version;
    const rejectedBefore = h.app.policy.status().rejected;
    writeFileSync(file, 'version: 1\nroutes:\n  - name: x\n    credentials: [password]\n');
    const until = Date.now() + 6_000;
    while (h.app.policy.status().rejected === rejectedBefore && Date.now() < until) await sleep(50);
    assert.ok(h.app.policy.status().rejected > rejectedBefore, 'the bad file was read and refused');
    assert.equal(h.app.policy.version, v2, 'the last good policy stays in force');
    assert.equal(code(await h.client.check(envoyRequest({ path: '/status' }))), 0);
    const metrics = await (await fetch(`http://127.0.0.1:${h.app.httpPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`keygate_policy_info\\{version="${v2}"\\} 1`));
  });
});
