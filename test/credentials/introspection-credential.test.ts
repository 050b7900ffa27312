import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CredentialCache } from '../../src/cache/credential-cache.js';
import { CredentialResolver, StoreUnavailableError } from '../../src/cache/credential-resolver.js';
import type { IntrospectionEndpointConfig } from '../../src/config/policy-types.js';
import type { Verification } from '../../src/credentials/credential-type.js';
import { IntrospectionCredential } from '../../src/credentials/oauth2/introspection-credential.js';
import { createLogger } from '../../src/observability/logger.js';
import type { CheckInput } from '../../src/pipeline/check-input.js';
import { PostgresCredentialSource } from '../../src/store/credential-source.js';
import { openEmbeddedStore } from '../../src/store/database.js';
import type { Store } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrations.js';
import { bearerRequest, denied } from '../support/credential-input.js';

const request = (authorization: string | undefined): CheckInput => bearerRequest(authorization, '/v1/orders');

// ---- fixtures ----------------------------------------------------------------------------

const CLIENT_ID = 'keygate gateway';
/** Characters that must be form-urlencoded before Basic encoding (RFC 6749 §2.3.1). */
const CLIENT_SECRET = 'p@ss:w0rd &+/é%';
const nowSec = (): number => Math.floor(Date.now() / 1000);

/** The decoding side of RFC 6749 §2.3.1: base64, split at the first ':', form-urldecode each half. */
function basicClient(header: string | undefined): { id: string; secret: string } | null {
  if (header === undefined || !header.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  const form = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
  return { id: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
}

type Answer = { status: number; body: string; delayMs?: number } | 'hang';

/** A real RFC 7662 endpoint: checks client authentication and the form, counts requests per token. */
class IntrospectionServer {
  readonly answers = new Map<string, () => Answer>();
  readonly requests = new Map<string, number>();
  readonly #server: Server = createServer((req, res) => void this.#handle(req, res));
  port = 0;

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const client = basicClient(req.headers.authorization);
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded') {
      res.writeHead(400).end();
      return;
    }
    if (client === null || client.id !== CLIENT_ID || client.secret !== CLIENT_SECRET) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic' }).end('{"error":"invalid_client"}');
      return;
    }
    const form = new URLSearchParams(raw);
    const token = form.get('token') ?? '';
    assert.equal(form.get('token_type_hint'), 'access_token');
    this.requests.set(token, (this.requests.get(token) ?? 0) + 1);
    const answer = this.answers.get(token)?.() ?? { status: 200, body: '{"active":false}' };
    if (answer === 'hang') return; // never answers; closed in after()
    if (answer.delayMs !== undefined) await new Promise((r) => setTimeout(r, answer.delayMs));
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
  count(token: string): number {
    return this.requests.get(token) ?? 0;
  }
  /** 200 with this JSON, evaluated per request (so `exp` is fresh). */
  json(token: string, body: () => Record<string, unknown>): void {
    this.answers.set(token, () => ({ status: 200, body: JSON.stringify(body()) }));
  }
}


/** A test clock for the introspection cache. */
class Clock {
  t = Date.now();
  readonly now = (): number => this.t;
}

// ---- suite -------------------------------------------------------------------------------

describe('IntrospectionCredential', () => {
  let store: Store;
  let resolver: CredentialResolver;
  const idp = new IntrospectionServer();
  let endpoint: IntrospectionEndpointConfig;

  const credential = (over: Partial<IntrospectionEndpointConfig> = {}, clock = new Clock()): IntrospectionCredential =>
    new IntrospectionCredential({ endpoints: [{ ...endpoint, ...over }], now: clock.now });
  const verify = async (cred: IntrospectionCredential, token: string, now = Date.now()): Promise<Verification> => cred.verify({ token }, { resolver, now });

  before(async () => {
    store = await openEmbeddedStore(null);
    await migrateToLatest(store.db);
    resolver = new CredentialResolver({
      l1: new CredentialCache({ maxEntries: 1000, positiveTtlMs: 0, negativeTtlMs: 60_000 }),
      l2: null, source: new PostgresCredentialSource(store.db), logger: createLogger('silent'),
    });
    const { id } = await store.db.insertInto('consumers').values({ username: 'orders-app', roles: ['orders'] }).returning('id').executeTakeFirstOrThrow();
    await store.db.insertInto('credentials').values({ consumer_id: id, type: 'oauth2', lookup: 'orders-client' }).execute();

    await idp.start();
    endpoint = {
      name: 'hydra', url: `http://127.0.0.1:${idp.port}/oauth2/introspect`, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET,
      cacheTtlSeconds: 60, negativeTtlSeconds: 5, timeoutMs: 2_000, consumerOptional: false,
    };
    const active = (extra: Record<string, unknown>) => () => ({ active: true, exp: nowSec() + 3600, ...extra });
    idp.json('tok-active', active({ client_id: 'orders-client', sub: 'user-1', scope: 'orders.read orders.write' }));
    idp.json('tok-sub-only', active({ sub: 'orders-client' }));
    idp.json('tok-ghost', active({ client_id: 'ghost-client', scope: 'orders.read' }));
    idp.json('tok-expired', active({ client_id: 'orders-client', exp: nowSec() - 5 }));
    idp.json('tok-refresh', active({ client_id: 'orders-client', token_type: 'refresh_token' }));
    idp.json('tok-no-principal', active({}));
    idp.json('tok-inactive', () => ({ active: false }));
    idp.answers.set('tok-500', () => ({ status: 500, body: 'oops' }));
    idp.answers.set('tok-html', () => ({ status: 200, body: '<html>login</html>' }));
    idp.answers.set('tok-no-active', () => ({ status: 200, body: '{"client_id":"orders-client"}' }));
    idp.answers.set('tok-hang', () => 'hang');
    idp.answers.set('tok-slow', () => ({ status: 200, body: JSON.stringify({ active: true, client_id: 'orders-client', exp: nowSec() + 3600 }), delayMs: 100 }));
  });

  after(async () => {
    await idp.close();
    await store.close();
  });

  test('extract: opaque Bearer tokens are found; JWTs and kg_ keys are left to their types; bad ones are malformed', () => {
    const cred = credential();
    for (const token of ['2YotnFZFEjr1zCsicMWpAA', 'ya29.a0AfH6SMBx', 'ory_at_abc-DEF_123~+/=']) {
      const e = cred.extract(request(`Bearer ${token}`));
      assert.equal(e.kind, 'found', token);
      assert.deepEqual(e.kind === 'found' ? [e.presented.token, e.carrier.headers] : [], [token, ['authorization']]);
    }
    for (const absent of [undefined, 'Basic YWxpY2U6c2VjcmV0', 'Bearer kg_0123456789', 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIi']) {
      assert.equal(cred.extract(request(absent)).kind, 'absent', String(absent));
    }
    assert.equal(cred.extract(request('Bearer ')).kind, 'malformed');
    assert.equal(cred.extract(request(`Bearer ${'x'.repeat(4097)}`)).kind, 'malformed');
    assert.equal(cred.extract(request('Bearer tok\u00e9n')).kind, 'malformed');
  });

  test('an active token maps client_id to the stored consumer, with the scopes of the response', async () => {
    const v = await verify(credential(), 'tok-active');
    assert.ok(v.ok);
    assert.equal(v.identity.method, 'oauth2');
    assert.equal(v.identity.record.username, 'orders-app');
    assert.deepEqual(v.identity.record.roles, ['orders']);
    assert.deepEqual(v.identity.scopes, ['orders.read', 'orders.write']);

    const sub = await verify(credential(), 'tok-sub-only');
    assert.ok(sub.ok, 'sub when there is no client_id');
    assert.equal(sub.identity.record.username, 'orders-app');
  });

  test('refusals: inactive, expired, refresh token, no principal, unknown client (with and without consumer_optional)', async () => {
    const cred = credential();
    assert.equal(denied(await verify(cred, 'tok-inactive')), 'token_inactive');
    assert.equal(denied(await verify(cred, 'tok-unknown-to-the-idp')), 'token_inactive');
    assert.equal(denied(await verify(cred, 'tok-expired')), 'token_expired');
    assert.equal(denied(await verify(cred, 'tok-refresh')), 'token_claim_invalid');
    assert.equal(denied(await verify(cred, 'tok-no-principal')), 'token_claim_invalid');
    assert.equal(denied(await verify(cred, 'tok-ghost')), 'unknown_credential');

    const optional = await verify(credential({ consumerOptional: true }), 'tok-ghost');
    assert.ok(optional.ok);
    assert.equal(optional.identity.record.consumerId, 'ghost-client');
    assert.equal(optional.identity.record.username, 'ghost-client');
    assert.deepEqual(optional.identity.record.roles, []);
    assert.deepEqual(optional.identity.scopes, ['orders.read']);
    assert.match(optional.identity.record.credentialId, /^oauth2:[0-9a-f]{32}$/);
    assert.ok(optional.identity.record.expiresAt > Date.now());
  });

  test('positive cache: the second call does not reach the endpoint; it lasts min(exp, cache_ttl_seconds)', async () => {
    const clock = new Clock();
    const cred = credential({}, clock);
    const before = idp.count('tok-active');
    assert.ok((await verify(cred, 'tok-active')).ok);
    const hot = cred.verify({ token: 'tok-active' }, { resolver, now: Date.now() });
    assert.ok(!(hot instanceof Promise) && hot.ok, 'answered synchronously from the cache and L1');
    clock.t += 59_000;
    assert.ok((await verify(cred, 'tok-active')).ok);
    assert.equal(idp.count('tok-active'), before + 1);
    clock.t += 2_000; // past cache_ttl_seconds (60)
    assert.ok((await verify(cred, 'tok-active')).ok);
    assert.equal(idp.count('tok-active'), before + 2);

    // exp sooner than the TTL bounds the entry; afterwards the endpoint is asked again.
    const exp = nowSec() + 10;
    idp.json('tok-short', () => ({ active: true, client_id: 'orders-client', exp }));
    assert.ok((await verify(cred, 'tok-short')).ok);
    clock.t += 5_000;
    assert.ok((await verify(cred, 'tok-short')).ok);
    assert.equal(idp.count('tok-short'), 1);
    clock.t += 6_000;
    assert.equal(denied(await verify(cred, 'tok-short', (exp + 1) * 1000)), 'token_expired');
    assert.equal(idp.count('tok-short'), 2);
  });

  test('negative cache: an inactive token is remembered for negative_ttl_seconds', async () => {
    const clock = new Clock();
    const cred = credential({}, clock);
    const before = idp.count('tok-inactive');
    assert.equal(denied(await verify(cred, 'tok-inactive')), 'token_inactive');
    assert.equal(denied(await verify(cred, 'tok-inactive')), 'token_inactive');
    assert.equal(idp.count('tok-inactive'), before + 1);
    clock.t += 5_001;
    assert.equal(denied(await verify(cred, 'tok-inactive')), 'token_inactive');
    assert.equal(idp.count('tok-inactive'), before + 2);
  });

  test('one introspection per token at a time', async () => {
    const cred = credential();
    const results = await Promise.all(Array.from({ length: 5 }, () => verify(cred, 'tok-slow')));
    assert.ok(results.every((v) => v.ok));
    assert.equal(idp.count('tok-slow'), 1);
  });

  test('endpoint failures are outages and are not cached: 5xx, non-JSON, no "active", timeout, refused connection', async () => {
    const cred = credential({ timeoutMs: 200 });
    for (const token of ['tok-500', 'tok-html', 'tok-no-active', 'tok-hang']) {
      const v = await verify(cred, token);
      assert.equal(denied(v), 'store_unavailable', token);
      assert.ok(!v.ok && v.outage instanceof StoreUnavailableError, token);
    }
    assert.match((await verify(cred, 'tok-hang').then((v) => (v.ok ? '' : v.outage?.message))) ?? '', /hydra did not answer: TimeoutError/);
    assert.equal(idp.count('tok-500'), 1);
    await verify(cred, 'tok-500');
    assert.equal(idp.count('tok-500'), 2, 'an outage is not cached');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const down = await verify(credential({ url: `http://127.0.0.1:${port}/introspect` }), 'tok-active');
    assert.equal(denied(down), 'store_unavailable');
    assert.match(down.ok ? '' : down.outage?.message ?? '', /ECONNREFUSED/);
  });

  test('wrong client secret: the endpoint answers 401, an outage (keygate is misconfigured, the token is not at fault)', async () => {
    const before = idp.count('tok-active');
    const v = await verify(credential({ clientSecret: 'wrong' }), 'tok-active');
    assert.equal(denied(v), 'store_unavailable');
    assert.match(v.ok ? '' : v.outage?.message ?? '', /HTTP 401 .*client_id\/client_secret/);
    assert.equal(idp.count('tok-active'), before, 'refused before the token was looked at');
  });

  test('configuration problems are fatal at construction', () => {
    assert.throws(() => new IntrospectionCredential({ endpoints: [] }), /no endpoint/);
    assert.throws(() => new IntrospectionCredential({ endpoints: [{ ...endpoint, url: 'ftp://x', timeoutMs: 0 }] }), /url must be http\(s\)[\s\S]*timeout_ms/);
  });
});
