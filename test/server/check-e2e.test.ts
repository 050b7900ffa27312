import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deniedHeader, envoyRequest, setHeaders, startKeygate } from '../support/harness.js';
import type { CheckResponseObject, Harness } from '../support/harness.js';
import { connect } from 'node:http2';
import { IDENTITY_HEADER_NAMES } from '../../src/pipeline/identity-headers.js';
import { loadAuthorizationService } from '../../src/server/envoy-protos.js';

const variants = [
  { name: 'PostgreSQL + Redis', options: { store: 'postgres', redis: true } as const },
  { name: 'embedded PGlite', options: { store: 'embedded' } as const },
];

for (const variant of variants) {
  describe(`Check over gRPC (${variant.name})`, () => {
    let h: Harness;
    let key: string;
    let consumerId: string;
    let credentialId: string;

    before(async () => {
      h = await startKeygate(variant.options);
      const created = await h.admin('POST', '/consumers', { username: 'alice', roles: ['payments:read', 'payments:write'] });
      assert.equal(created.status, 201);
      consumerId = created.body.id;
      const cred = await h.admin('POST', `/consumers/alice/credentials`, { type: 'key-auth' });
      assert.equal(cred.status, 201);
      key = cred.body.key;
      credentialId = cred.body.credential.id;
      assert.match(key, /^kg_[A-Za-z0-9_-]{32}$/);
    });
    after(async () => { await h.close(); });

    function assertAllowed(res: CheckResponseObject, removedCredentialHeader: string | null): void {
      assert.equal(res.status?.code ?? 0, 0, JSON.stringify(res));
      assert.equal(res.http_response, 'ok_response');
      const set = setHeaders(res);
      assert.equal(set.get('x-consumer-id')?.value, consumerId);
      assert.equal(set.get('x-consumer-username')?.value, 'alice');
      assert.equal(set.get('x-consumer-roles')?.value, 'payments:read,payments:write');
      assert.equal(set.get('x-credential-id')?.value, credentialId);
      assert.equal(set.get('x-auth-method')?.value, 'key-auth');
      for (const [name, h2] of set) {
        assert.equal(h2.hasAppend, true, `${name} must carry an explicit append`);
        assert.equal(h2.append, false, `${name} must be append: false`);
      }
      const removed = res.ok_response?.headers_to_remove ?? [];
      for (const name of set.keys()) assert.ok(!removed.includes(name), `${name} is set and must not be removed`);
      // Identity headers keygate does not set on this answer are removed.
      for (const name of IDENTITY_HEADER_NAMES) assert.ok(set.has(name) || removed.includes(name), `${name} neither set nor removed`);
      assert.ok(removed.includes('x-consumer-custom-id'));
      assert.ok(removed.includes('x-anonymous-consumer'));
      if (removedCredentialHeader !== null) assert.ok(removed.includes(removedCredentialHeader), `credential header ${removedCredentialHeader} not removed`);
      const md = res.dynamic_metadata?.fields ?? {};
      assert.equal(md.consumer_id?.stringValue, consumerId);
      assert.equal(md.auth_method?.stringValue, 'key-auth');
    }

    function assertUnauthenticated(res: CheckResponseObject, error: string): void {
      assert.equal(res.status?.code, 16);
      assert.equal(res.http_response, 'denied_response');
      assert.equal(res.denied_response?.status?.code, 'Unauthorized');
      assert.equal(deniedHeader(res, 'www-authenticate'), 'Key realm="keygate"');
      assert.equal(deniedHeader(res, 'x-keygate-reason'), error);
      assert.equal(deniedHeader(res, 'content-type'), 'application/json');
      const body = JSON.parse(res.denied_response?.body ?? '{}');
      assert.equal(body.error, error);
      assert.equal(body.request_id, 'd8f2c1a4-5b6e-4f7a-8c9d-0e1f2a3b4c5d');
      assert.equal(typeof body.message, 'string');
    }

    test('health is SERVING once the store answers', async () => {
      assert.equal(await h.client.health(''), 'SERVING');
      assert.equal(await h.client.health('envoy.service.auth.v3.Authorization'), 'SERVING');
      const healthz = await fetch(`http://127.0.0.1:${h.app.httpPort}/healthz`);
      assert.equal(healthz.status, 200);
      const readyz = await fetch(`http://127.0.0.1:${h.app.httpPort}/readyz`);
      assert.equal(readyz.status, 200);
      const metrics = await (await fetch(`http://127.0.0.1:${h.app.httpPort}/metrics`)).text();
      assert.match(metrics, /keygate_cache_entries/);
    });

    // curl -H 'x-api-key: kg_…' https://api.example.com/v1/payments
    test('allows a valid key in x-api-key and sets the consumer headers', async () => {
      assertAllowed(await h.client.check(envoyRequest({ headers: { 'x-api-key': key } })), 'x-api-key');
      // Second call is served from L1.
      assertAllowed(await h.client.check(envoyRequest({ headers: { 'x-api-key': key } })), 'x-api-key');
    });

    // curl -H 'apikey: kg_…' https://api.example.com/v1/payments
    test('accepts the key in the apikey header', async () => {
      assertAllowed(await h.client.check(envoyRequest({ headers: { apikey: key } })), 'apikey');
    });

    // curl 'https://api.example.com/v1/payments?page=2&apikey=kg_…'
    test('accepts the key in the query and strips that parameter', async () => {
      const res = await h.client.check(envoyRequest({ path: `/v1/payments?page=2&apikey=${encodeURIComponent(key)}` }));
      assertAllowed(res, null);
      assert.deepEqual(res.ok_response?.query_parameters_to_remove, ['apikey']);
    });

    // curl -H 'Authorization: Bearer kg_…' https://api.example.com/v1/payments
    test('accepts Authorization: Bearer kg_… and strips authorization', async () => {
      assertAllowed(await h.client.check(envoyRequest({ headers: { authorization: `Bearer ${key}` } })), 'authorization');
    });

    // curl -H 'x-api-key: kg_…' -H 'x-consumer-id: admin' -H 'x-consumer-roles: admin' …
    test('replaces spoofed identity headers (append: false, never removed after being set)', async () => {
      const res = await h.client.check(envoyRequest({ headers: { 'x-api-key': key, 'x-consumer-id': 'admin', 'x-consumer-roles': 'admin', 'x-consumer-custom-id': 'spoof' } }));
      assertAllowed(res, 'x-api-key');
      const set = setHeaders(res);
      assert.equal(set.get('x-consumer-id')?.value, consumerId);
      assert.deepEqual(set.get('x-consumer-id'), { value: consumerId, append: false, hasAppend: true });
      assert.ok(res.ok_response?.headers_to_remove?.includes('x-consumer-custom-id'));
    });

    // curl -H 'x-api-key: kg_doesnotexist…' …
    test('denies an unknown key and a wrong key with the same generic answer', async () => {
      const unknown = await h.client.check(envoyRequest({ headers: { 'x-api-key': 'kg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } }));
      assertUnauthenticated(unknown, 'invalid_credentials');
      const wrong = await h.client.check(envoyRequest({ headers: { 'x-api-key': `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}` } }));
      assertUnauthenticated(wrong, 'invalid_credentials');
      assert.equal(wrong.denied_response?.body, unknown.denied_response?.body);
      // The negative entry answers the repeat from L1 the same way.
      assertUnauthenticated(await h.client.check(envoyRequest({ headers: { 'x-api-key': 'kg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } })), 'invalid_credentials');
    });

    // curl https://api.example.com/v1/payments
    test('denies a request without credentials', async () => {
      assertUnauthenticated(await h.client.check(envoyRequest({})), 'missing_credentials');
    });

    test('denies malformed keys: empty, control characters, oversized', async () => {
      assertUnauthenticated(await h.client.check(envoyRequest({ headers: { 'x-api-key': '' } })), 'malformed_credentials');
      assertUnauthenticated(await h.client.check(envoyRequest({ headers: { 'x-api-key': 'kg_a\u0001b' } })), 'malformed_credentials');
      assertUnauthenticated(await h.client.check(envoyRequest({ headers: { 'x-api-key': `kg_${'x'.repeat(5000)}` } })), 'malformed_credentials');
      assertUnauthenticated(await h.client.check(envoyRequest({ path: '/v1?apikey=%E0%A4%A' })), 'malformed_credentials');
    });

    // curl -H 'x-api-key: kg_…' --data-binary @5mb.json … with Envoy's with_request_body on
    test('a 5 MB CheckRequest (request body included) still gets a CheckResponse', async () => {
      const req = envoyRequest({ headers: { 'x-api-key': key } }) as { attributes: { request: { http: Record<string, unknown> } } };
      req.attributes.request.http.body = 'x'.repeat(5 * 1024 * 1024);
      assertAllowed(await h.client.check(req), 'x-api-key');
      const many: Record<string, string> = { 'x-api-key': key };
      for (let i = 0; i < 5000; i++) many[`x-extra-${i}`] = 'v'.repeat(100);
      assertAllowed(await h.client.check(envoyRequest({ headers: many })), 'x-api-key');
    });

    test('one load per key: 50 concurrent Checks of an uncached key read the store once', async () => {
      const fresh = (await h.admin('POST', '/consumers/alice/credentials', { type: 'key-auth' })).body.key as string;
      const loads = h.app.resolver.stats.l3Loads;
      const results = await Promise.all(Array.from({ length: 50 }, () => h.client.check(envoyRequest({ headers: { 'x-api-key': fresh } }))));
      for (const r of results) assert.equal(r.status?.code ?? 0, 0);
      assert.ok(h.app.resolver.stats.l3Loads - loads <= 1, `store read ${h.app.resolver.stats.l3Loads - loads} times`);
      const unknownLoads = h.app.resolver.stats.l3Loads;
      await Promise.all(Array.from({ length: 50 }, () => h.client.check(envoyRequest({ headers: { 'x-api-key': 'kg_never_issued_0000000000000000' } }))));
      assert.ok(h.app.resolver.stats.l3Loads - unknownLoads <= 1, 'unknown keys coalesce and are then remembered as unknown');
    });

    test('bytes that are not a CheckRequest get a denied CheckResponse, not an RPC error', async () => {
      const session = connect(`http://127.0.0.1:${h.app.grpcPort}`);
      try {
        const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]); // field 1, length past the end
        const frame = Buffer.alloc(5 + garbage.length);
        frame.writeUInt32BE(garbage.length, 1);
        garbage.copy(frame, 5);
        const { body, grpcStatus } = await new Promise<{ body: Buffer; grpcStatus: string | undefined }>((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
          const chunks: Buffer[] = [];
          let status: string | undefined;
          req.on('trailers', (t) => { status = String(t['grpc-status']); });
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => resolve({ body: Buffer.concat(chunks), grpcStatus: status }));
          req.on('error', reject);
          req.end(frame);
        });
        assert.equal(grpcStatus, '0', 'the RPC itself succeeds');
        const res = loadAuthorizationService().check.responseDeserialize(body.subarray(5)) as CheckResponseObject;
        assert.equal(res.status?.code, 13);
        assert.equal(res.http_response, 'denied_response');
        assert.equal(JSON.parse(res.denied_response?.body ?? '{}').error, 'internal_error');
      } finally {
        session.close();
      }
    });

    test('a revoked key is denied by the same server (change feed)', async () => {
      const cred = await h.admin('POST', '/consumers/alice/credentials', { type: 'key-auth' });
      const k2: string = cred.body.key;
      assert.equal((await h.client.check(envoyRequest({ headers: { 'x-api-key': k2 } }))).status?.code ?? 0, 0);
      const revoked = await h.admin('DELETE', `/credentials/${cred.body.credential.id}`);
      assert.equal(revoked.status, 200);
      const deadline = Date.now() + 2_000;
      let res = await h.client.check(envoyRequest({ headers: { 'x-api-key': k2 } }));
      while (res.status?.code !== 16 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
        res = await h.client.check(envoyRequest({ headers: { 'x-api-key': k2 } }));
      }
      assertUnauthenticated(res, 'invalid_credentials');
    });

    test('a suspended consumer is denied; reactivated it passes again', async () => {
      const waitFor = async (code: number): Promise<CheckResponseObject> => {
        const deadline = Date.now() + 2_000;
        for (;;) {
          const res = await h.client.check(envoyRequest({ headers: { 'x-api-key': key } }));
          if ((res.status?.code ?? 0) === code || Date.now() > deadline) return res;
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      assert.equal((await h.admin('PATCH', '/consumers/alice', { status: 'suspended' })).status, 200);
      assertUnauthenticated(await waitFor(16), 'invalid_credentials');
      assert.equal((await h.admin('PATCH', '/consumers/alice', { status: 'active' })).status, 200);
      assertAllowed(await waitFor(0), 'x-api-key');
    });
  });
}
