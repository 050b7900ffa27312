import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, base64url, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { CredentialCache } from '../../src/cache/credential-cache.js';
import { CredentialResolver, StoreUnavailableError } from '../../src/cache/credential-resolver.js';
import type { JwtIssuerConfig } from '../../src/config/policy-types.js';
import type { Verification } from '../../src/credentials/credential-type.js';
import { JwtCredential, bearerShape } from '../../src/credentials/jwt/jwt-credential.js';
import { createLogger } from '../../src/observability/logger.js';
import type { CheckInput } from '../../src/pipeline/check-input.js';
import { PostgresCredentialSource } from '../../src/store/credential-source.js';
import { openEmbeddedStore } from '../../src/store/database.js';
import type { Store } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrations.js';
import { bearerRequest, denied } from '../support/credential-input.js';

const request = (authorization: string | undefined): CheckInput => bearerRequest(authorization);

// ---- fixtures ----------------------------------------------------------------------------

const AUD = 'payments-api';
const IDP = 'https://idp.example.com/';
const STATIC_ISS = 'https://static.example.com/';
const HMAC_ISS = 'https://hmac.example.com/';
const nowSec = (): number => Math.floor(Date.now() / 1000);

/** A real JWKS server: one key set per path, fetches counted per path. */
class JwksServer {
  readonly sets = new Map<string, { keys: JWK[] }>();
  readonly fetches = new Map<string, number>();
  readonly #server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    this.fetches.set(path, (this.fetches.get(path) ?? 0) + 1);
    const set = this.sets.get(path);
    res.writeHead(set === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(set ?? { error: 'not found' }));
  });
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

interface KeyPair { readonly privateKey: CryptoKey; readonly publicJwk: JWK }
async function keyPair(alg: string, kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function issuer(over: Partial<JwtIssuerConfig>): JwtIssuerConfig {
  return {
    name: 'idp', issuer: IDP, audiences: [AUD], jwksUrl: null, staticKeys: [], algorithms: ['RS256'],
    leewaySeconds: 30, subjectClaim: 'sub', lookupPrefix: '', consumerOptional: false, rolesClaim: null, ...over,
  };
}

interface SignOptions { alg?: string; kid?: string; iss?: string | null; aud?: string; exp?: number | null; nbf?: number }
async function sign(key: CryptoKey | Uint8Array, claims: JWTPayload, o: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? 'RS256', ...(o.kid === undefined ? {} : { kid: o.kid }) }).setIssuedAt().setAudience(o.aud ?? AUD);
  if (o.iss !== null) jwt.setIssuer(o.iss ?? IDP);
  if (o.exp !== null) jwt.setExpirationTime(o.exp ?? nowSec() + 600);
  if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
  return jwt.sign(key);
}


// ---- suite -------------------------------------------------------------------------------

describe('JwtCredential', () => {
  let store: Store;
  let resolver: CredentialResolver;
  const jwks = new JwksServer();
  let rsa1: KeyPair;
  let rsa2: KeyPair;
  let es: KeyPair;
  let hmacSecret: Uint8Array;
  let jwt: JwtCredential;
  let downUrl: string;

  const verify = async (cred: JwtCredential, token: string, now = Date.now()): Promise<Verification> => cred.verify({ token }, { resolver, now });

  async function addConsumer(username: string, roles: string[], lookup: string): Promise<void> {
    const { id } = await store.db.insertInto('consumers').values({ username, roles }).returning('id').executeTakeFirstOrThrow();
    await store.db.insertInto('credentials').values({ consumer_id: id, type: 'jwt', lookup }).execute();
  }

  before(async () => {
    store = await openEmbeddedStore(null);
    await migrateToLatest(store.db);
    resolver = new CredentialResolver({
      l1: new CredentialCache({ maxEntries: 1000, positiveTtlMs: 0, negativeTtlMs: 60_000 }),
      l2: null, source: new PostgresCredentialSource(store.db), logger: createLogger('silent'),
    });
    await addConsumer('alice', ['payments'], 'alice-sub');
    await addConsumer('bob', ['payments'], 'bob-sub');
    await addConsumer('svc-known', ['batch'], 'svc-known');

    [rsa1, rsa2, es] = await Promise.all([keyPair('RS256', 'rsa-1'), keyPair('RS256', 'rsa-2'), keyPair('ES256', 'es-1')]);
    hmacSecret = crypto.getRandomValues(new Uint8Array(32));
    await jwks.start();
    jwks.sets.set('/idp/jwks.json', { keys: [rsa1.publicJwk] });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    downUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks.json`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    jwt = new JwtCredential({
      fetchTimeoutMs: 500,
      issuers: [
        issuer({ jwksUrl: jwks.url('/idp/jwks.json') }),
        issuer({ name: 'static', issuer: STATIC_ISS, staticKeys: [es.publicJwk as Record<string, unknown>], algorithms: ['ES256'], subjectClaim: 'client_id', consumerOptional: true, rolesClaim: 'roles' }),
        issuer({ name: 'hmac', issuer: HMAC_ISS, staticKeys: [{ kty: 'oct', kid: 'h-1', k: base64url.encode(hmacSecret) }], algorithms: ['HS256'] }),
        issuer({ name: 'down', issuer: 'https://down.example.com/', jwksUrl: downUrl }),
      ],
    });
  });

  after(async () => {
    await jwks.close();
    await store.close();
  });

  test('extract: JWT-shaped Bearer tokens are found; opaque and kg_ tokens are left to other types; broken JWTs are malformed', async () => {
    const token = await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1' });
    const found = jwt.extract(request(`Bearer ${token}`));
    assert.equal(found.kind, 'found');
    assert.deepEqual(found.kind === 'found' ? found.carrier.headers : [], ['authorization']);
    assert.equal(jwt.extract(request(`bearer ${token}`)).kind, 'found', 'scheme is case-insensitive');

    for (const absent of [undefined, 'Basic YWxpY2U6c2VjcmV0', 'Bearer kg_abc.def.ghi', 'Bearer 2YotnFZFEjr1zCsicMWpAA', 'Bearer ya29.a0AfH6SMB', 'Bearer ']) {
      assert.equal(jwt.extract(request(absent)).kind, 'absent', String(absent));
    }
    const [h, p] = token.split('.');
    const malformed = [
      `${h}.${p}`, // truncated: signature part missing
      `${h}`.slice(0, 20) + '.abc', // truncated header, one dot
      `${h}.${p}!.sig`, // not base64url
      `${h}..sig`, // empty payload
      `${h}.${p}.a.b.c`, // JWE-like, five parts
      `${h}.${'A'.repeat(8200)}.sig`, // over 8 KiB
    ];
    for (const bad of malformed) assert.equal(jwt.extract(request(`Bearer ${bad}`)).kind, 'malformed', bad.slice(0, 40));
    assert.equal(bearerShape('aaa.bbb.ccc'), 'jwt', 'shape only; decoding happens in verify');
  });

  test('a valid RS256 token from the JWKS maps its subject to the stored consumer, with the token scopes', async () => {
    const token = await sign(rsa1.privateKey, { sub: 'alice-sub', scope: 'payments.read  payments.write' }, { kid: 'rsa-1' });
    const v = await verify(jwt, token);
    assert.ok(v.ok);
    assert.equal(v.identity.method, 'jwt');
    assert.equal(v.identity.record.username, 'alice');
    assert.deepEqual(v.identity.record.roles, ['payments']);
    assert.deepEqual(v.identity.scopes, ['payments.read', 'payments.write']);

    const scp = await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub', scp: ['a', 'b'] }, { kid: 'rsa-1' }));
    assert.ok(scp.ok);
    assert.deepEqual(scp.identity.scopes, ['a', 'b']);
  });

  test('a hot token is not re-verified (synchronous answer), yet revocation through the resolver still applies', async () => {
    const token = await sign(rsa1.privateKey, { sub: 'bob-sub' }, { kid: 'rsa-1' });
    assert.ok((await verify(jwt, token)).ok);
    const again = jwt.verify({ token }, { resolver, now: Date.now() });
    assert.ok(!(again instanceof Promise), 'served from the verified-token cache and L1');
    assert.ok(again.ok);

    await store.db.updateTable('credentials').set({ revoked_at: new Date() }).where('lookup', '=', 'bob-sub').execute();
    await resolver.invalidate([jwt.cacheKey('bob-sub')]);
    const revoked = await verify(jwt, token);
    assert.ok(revoked.ok);
    assert.equal(revoked.identity.record.revoked, true, 'the pipeline lifecycle phase denies it');

    const uncached = new JwtCredential({ issuers: [issuer({ jwksUrl: jwks.url('/idp/jwks.json') })], verifiedTtlMs: 0 });
    const first = uncached.verify({ token }, { resolver, now: Date.now() });
    assert.ok(first instanceof Promise);
    await first;
    assert.ok(uncached.verify({ token }, { resolver, now: Date.now() }) instanceof Promise, 'verifiedTtlMs: 0 re-verifies every time');
  });

  test('iss and aud are checked: unknown issuer, missing iss, wrong audience', async () => {
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', iss: 'https://evil.example.com/' }))), 'issuer_unknown');
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', iss: null }))), 'issuer_unknown');
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', aud: 'other-api' }))), 'token_claim_invalid');
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', exp: null }))), 'token_claim_invalid', 'exp is required');
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, JSON.parse('{"sub":42}') as JWTPayload, { kid: 'rsa-1' }))), 'token_claim_invalid', 'subject must be a string');
  });

  test('exp and nbf with leeway (30 s)', async () => {
    const t = nowSec();
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', exp: t - 60 }))), 'token_expired');
    assert.ok((await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', exp: t - 10 }))).ok, 'expired 10 s ago: within leeway');
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', nbf: t + 120 }))), 'token_not_yet_valid');
    assert.ok((await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', nbf: t + 10 }))).ok, 'nbf 10 s ahead: within leeway');

    const token = await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', exp: t + 60 });
    assert.ok((await verify(jwt, token)).ok);
    assert.equal(denied(await verify(jwt, token, (t + 60 + 31) * 1000)), 'token_expired', 'a remembered token still expires');
  });

  test('algorithms: allow-list, alg none, and HS256 signed with the RSA public key are refused', async () => {
    // ES256 is valid for the static issuer but not in the idp issuer's list.
    assert.equal(denied(await verify(jwt, await sign(es.privateKey, { sub: 'alice-sub' }, { alg: 'ES256', kid: 'rsa-1' }))), 'token_algorithm_not_allowed');
    const ps = await generateKeyPair('PS256');
    assert.equal(denied(await verify(jwt, await sign(ps.privateKey, { sub: 'alice-sub' }, { alg: 'PS256', kid: 'rsa-1' }))), 'token_algorithm_not_allowed');

    const payload = base64url.encode(JSON.stringify({ iss: IDP, aud: AUD, sub: 'alice-sub', exp: nowSec() + 600 }));
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`;
    assert.equal(jwt.extract(request(`Bearer ${none}`)).kind, 'found');
    assert.equal(denied(await verify(jwt, none)), 'token_algorithm_not_allowed');

    // The classic confusion: HS256 with the issuer's public key (PEM, or its JWK JSON) as the HMAC secret.
    const rsaPublic = await crypto.subtle.importKey('jwk', rsa1.publicJwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
    for (const secret of [await exportSPKI(rsaPublic), JSON.stringify(rsa1.publicJwk)]) {
      const forged = await sign(new TextEncoder().encode(secret), { sub: 'alice-sub' }, { alg: 'HS256', kid: 'rsa-1' });
      assert.equal(denied(await verify(jwt, forged)), 'token_algorithm_not_allowed');
    }

    assert.throws(() => new JwtCredential({ issuers: [issuer({ jwksUrl: jwks.url('/idp/jwks.json'), algorithms: ['RS256', 'HS256'] })] }), /HS256 \(HMAC\) is allowed only with static oct keys/);
    assert.throws(() => new JwtCredential({ issuers: [issuer({ jwksUrl: jwks.url('/idp/jwks.json'), algorithms: ['none'] })] }), /never accepted/);
    assert.throws(() => new JwtCredential({ issuers: [issuer({ staticKeys: [{ ...rsa1.publicJwk, d: 'secret' }] })] }), /private key/);
    assert.throws(() => new JwtCredential({ issuers: [issuer({ jwksUrl: jwks.url('/x'), audiences: [] })] }), /audiences/);
  });

  test('garbage and tampered tokens: undecodable is malformed, a bad signature is invalid', async () => {
    assert.equal(denied(await verify(jwt, 'aaa.bbb.ccc')), 'malformed_credentials');
    const token = await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1' });
    assert.equal(denied(await verify(jwt, token.slice(0, -6))), 'token_invalid', 'truncated signature');
    const [h, , s] = token.split('.');
    const otherPayload = base64url.encode(JSON.stringify({ iss: IDP, aud: AUD, sub: 'bob-sub', exp: nowSec() + 600 }));
    assert.equal(denied(await verify(jwt, `${h}.${otherPayload}.${s}`)), 'token_invalid', 'payload swapped');
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'no-such-kid' }))), 'token_invalid');
  });

  test('static keys: ES256 and HS256 (oct) issuers', async () => {
    const es256 = await verify(jwt, await sign(es.privateKey, { client_id: 'svc-known' }, { alg: 'ES256', kid: 'es-1', iss: STATIC_ISS }));
    assert.ok(es256.ok);
    assert.equal(es256.identity.record.username, 'svc-known', 'subject_claim: client_id');
    const hs = await verify(jwt, await sign(hmacSecret, { sub: 'alice-sub' }, { alg: 'HS256', kid: 'h-1', iss: HMAC_ISS }));
    assert.ok(hs.ok);
    assert.equal(hs.identity.record.username, 'alice');
    const wrongSecret = await sign(crypto.getRandomValues(new Uint8Array(32)), { sub: 'alice-sub' }, { alg: 'HS256', kid: 'h-1', iss: HMAC_ISS });
    assert.equal(denied(await verify(jwt, wrongSecret)), 'token_invalid');
  });

  test('unknown subject: unknown_credential, or a token-only principal with roles when the issuer allows it', async () => {
    assert.equal(denied(await verify(jwt, await sign(rsa1.privateKey, { sub: 'nobody' }, { kid: 'rsa-1' }))), 'unknown_credential');

    const exp = nowSec() + 300;
    const v = await verify(jwt, await sign(es.privateKey, { client_id: 'svc-x', jti: 'tok-123', roles: 'ops, audit  reports', scope: 'batch.run' }, { alg: 'ES256', kid: 'es-1', iss: STATIC_ISS, exp }));
    assert.ok(v.ok);
    const r = v.identity.record;
    assert.equal(r.consumerId, 'svc-x');
    assert.equal(r.username, 'svc-x');
    assert.equal(r.credentialId, 'jwt:tok-123');
    assert.deepEqual(r.roles, ['ops', 'audit', 'reports']);
    assert.deepEqual(v.identity.scopes, ['batch.run']);
    assert.equal(r.expiresAt, (exp + 30) * 1000, 'exp plus leeway, like the signature check');

    const arr = await verify(jwt, await sign(es.privateKey, { client_id: 'svc-y', roles: ['a', 7, 'b'] }, { alg: 'ES256', kid: 'es-1', iss: STATIC_ISS }));
    assert.ok(arr.ok);
    assert.deepEqual(arr.identity.record.roles, ['a', 'b']);
    assert.match(arr.identity.record.credentialId, /^jwt:[0-9a-f]{32}$/, 'no jti: a hash of the token');
  });

  test('JWKS server down: an outage, so the route failure rule applies', async () => {
    const v = await verify(jwt, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1', iss: 'https://down.example.com/' }));
    assert.equal(denied(v), 'store_unavailable');
    assert.ok(!v.ok && v.outage instanceof StoreUnavailableError);
    assert.match(v.ok ? '' : v.outage?.message ?? '', /JWKS of issuer down/);
  });

  test('IdP down after a good fetch: the last good JWKS keeps verifying within stale-if-error, then an outage', async () => {
    const path = '/flaky/jwks.json';
    jwks.sets.set(path, { keys: [rsa1.publicJwk] });
    const stale = new JwtCredential({ issuers: [issuer({ jwksUrl: jwks.url(path) })], jwksCacheMaxAgeMs: 100, jwksCooldownMs: 0, verifiedTtlMs: 0 });
    const strict = new JwtCredential({ issuers: [issuer({ jwksUrl: jwks.url(path) })], jwksCacheMaxAgeMs: 100, jwksCooldownMs: 0, verifiedTtlMs: 0, jwksStaleIfErrorMs: 0 });
    const token = await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1' });
    assert.ok((await verify(stale, token)).ok);
    assert.ok((await verify(strict, token)).ok);
    jwks.sets.delete(path); // the IdP now answers 404
    await new Promise((r) => setTimeout(r, 150)); // past cacheMaxAge: the next verification re-fetches
    const before = jwks.fetches.get(path) ?? 0;
    assert.ok((await verify(stale, token)).ok, 'stale keys serve while the IdP fails');
    assert.ok((jwks.fetches.get(path) ?? 0) > before, 'a re-fetch was tried');
    assert.equal(denied(await verify(strict, token)), 'store_unavailable');
  });

  test('key rotation: a new kid verifies after the re-fetch (cooldown respected); a removed key stops verifying', async () => {
    const path = '/rotating/jwks.json';
    jwks.sets.set(path, { keys: [rsa1.publicJwk] });
    const cred = new JwtCredential({ issuers: [issuer({ jwksUrl: jwks.url(path) })], jwksCooldownMs: 600 });
    const fetches = (): number => jwks.fetches.get(path) ?? 0;
    const oldToken = await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-1' });
    const newToken = await sign(rsa2.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-2' });

    assert.ok((await verify(cred, oldToken)).ok);
    assert.equal(fetches(), 1);
    // Key rotated at the IdP, but keygate fetched the JWKS less than a cooldown ago: no re-fetch yet.
    jwks.sets.set(path, { keys: [rsa1.publicJwk, rsa2.publicJwk] });
    assert.equal(denied(await verify(cred, newToken)), 'token_invalid');
    assert.equal(fetches(), 1);
    await new Promise((r) => setTimeout(r, 650));
    assert.ok((await verify(cred, newToken)).ok, 'unknown kid after the cooldown: re-fetched');
    assert.equal(fetches(), 2);
    assert.ok((await verify(cred, oldToken)).ok, 'both keys published');

    // The old key is withdrawn; the next re-fetch (triggered here by another unknown kid) drops it,
    // and the remembered verification of the old token goes with it.
    jwks.sets.set(path, { keys: [rsa2.publicJwk] });
    await new Promise((r) => setTimeout(r, 650));
    assert.equal(denied(await verify(cred, await sign(rsa1.privateKey, { sub: 'alice-sub' }, { kid: 'rsa-9' }))), 'token_invalid');
    assert.equal(fetches(), 3);
    assert.equal(denied(await verify(cred, oldToken)), 'token_invalid');
    assert.ok((await verify(cred, newToken)).ok);
    assert.equal(fetches(), 3);
  });
});
