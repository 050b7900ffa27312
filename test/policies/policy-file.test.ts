import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  builtinPolicy, checkHostPattern, DEFAULT_CREDENTIAL_LOCATIONS, isCanonicalPath, parsePathTemplate, parsePolicy, PolicyError,
} from '../../src/policies/policy-file.js';
import { DEFAULT_ROUTE } from '../../src/policies/route-policy.js';
import { toRoutePolicy } from '../../src/policies/route-table.js';

const ENV = { HYDRA_SECRET: 's3cret-from-env' };

const FULL = `
version: 1
default: { auth: optional, credentials: [key-auth, jwt], failure_mode: open }
routes:
  - name: payments-read
    match:
      hosts: ["API.example.com", "*.payments.example.com"]
      methods: [GET, HEAD]
      path: { template: "/v1/payments/{id}" }
    auth: required
    credentials: [key-auth, jwt, basic-auth]
    allow_roles: ["payments:read", merchant]
    deny_roles: [suspended-merchant]
    required_scopes: { any: [payments.read, payments.admin] }
    failure_mode: closed
    headers: { x-consumer-id: X-Merchant-Id, x-consumer-username: x-merchant-name }
  - name: health
    match: { path: { exact: /healthz } }
    auth: anonymous
  - name: admin
    match: { path: { prefix: /admin/ } }
    credentials: [oauth2, mtls]
    required_scopes: { all: [admin] }
  - name: internal
    match: { methods: [POST] }
    deny: true
credentials:
  key-auth: { headers: [X-Api-Key], query: [key], bearer: false }
  basic-auth: { headers: [authorization] }
jwt:
  issuers:
    - name: auth0
      issuer: https://tenant.example.com/
      audiences: [payments-api]
      jwks_url: https://tenant.example.com/.well-known/jwks.json
      algorithms: [RS256, ES256]
      leeway_seconds: 10
      subject_claim: client_id
      lookup_prefix: "auth0:"
      consumer_optional: true
      roles_claim: roles
    - name: local
      issuer: keygate-test
      audiences: [a, b]
      static_keys: [{ kty: oct, k: c2VjcmV0 }]
      algorithms: [HS256]
introspection:
  endpoints:
    - name: hydra
      url: https://auth.example.com/oauth2/introspect
      client_id: keygate
      client_secret_env: HYDRA_SECRET
      cache_ttl_seconds: 120
      negative_ttl_seconds: 0
      timeout_ms: 250
      consumer_optional: true
anonymous: { consumer: anon }
`;

test('parses every field of the documented schema', () => {
  const c = parsePolicy(FULL, { env: ENV });
  assert.equal(c.version, 1);
  assert.match(c.digest, /^[0-9a-f]{16}$/);
  assert.equal(c.routes.length, 4);
  const [read, health, admin, internal] = c.routes;
  assert.deepEqual(read, {
    name: 'payments-read',
    match: { hosts: ['api.example.com', '*.payments.example.com'], methods: ['GET', 'HEAD'], path: { kind: 'template', value: '/v1/payments/{id}' } },
    auth: 'required',
    credentials: ['key-auth', 'jwt', 'basic-auth'],
    allowRoles: ['payments:read', 'merchant'],
    denyRoles: ['suspended-merchant'],
    requiredScopes: { mode: 'any', scopes: ['payments.read', 'payments.admin'] },
    failureMode: 'closed',
    denyAll: false,
    headerRenames: { 'x-consumer-id': 'x-merchant-id', 'x-consumer-username': 'x-merchant-name' },
  });
  assert.equal(health?.auth, 'anonymous');
  assert.deepEqual(health?.credentials, []);
  assert.deepEqual(health?.match, { hosts: [], methods: [], path: { kind: 'exact', value: '/healthz' } });
  assert.equal(admin?.auth, 'required');
  assert.deepEqual(admin?.credentials, ['oauth2', 'mtls']);
  assert.deepEqual(admin?.requiredScopes, { mode: 'all', scopes: ['admin'] });
  assert.deepEqual(admin?.match.path, { kind: 'prefix', value: '/admin/' });
  assert.equal(internal?.denyAll, true);
  assert.deepEqual(internal?.match.methods, ['POST']);

  assert.equal(c.defaultRoute.name, 'default');
  assert.equal(c.defaultRoute.auth, 'optional');
  assert.deepEqual(c.defaultRoute.credentials, ['key-auth', 'jwt']);
  assert.equal(c.defaultRoute.failureMode, 'open');
  assert.equal(c.defaultRoute.denyAll, false);

  assert.deepEqual(c.credentials, { keyAuth: { headers: ['x-api-key'], query: ['key'], bearer: false }, basicAuth: { headers: ['authorization'] } });
  assert.deepEqual(c.jwtIssuers[0], {
    name: 'auth0', issuer: 'https://tenant.example.com/', audiences: ['payments-api'],
    jwksUrl: 'https://tenant.example.com/.well-known/jwks.json', staticKeys: [], algorithms: ['RS256', 'ES256'],
    leewaySeconds: 10, subjectClaim: 'client_id', lookupPrefix: 'auth0:', consumerOptional: true, rolesClaim: 'roles',
  });
  assert.deepEqual(c.jwtIssuers[1], {
    name: 'local', issuer: 'keygate-test', audiences: ['a', 'b'], jwksUrl: null, staticKeys: [{ kty: 'oct', k: 'c2VjcmV0' }],
    algorithms: ['HS256'], leewaySeconds: 30, subjectClaim: 'sub', lookupPrefix: '', consumerOptional: false, rolesClaim: null,
  });
  assert.deepEqual(c.introspection, [{
    name: 'hydra', url: 'https://auth.example.com/oauth2/introspect', clientId: 'keygate', clientSecret: 's3cret-from-env',
    cacheTtlSeconds: 120, negativeTtlSeconds: 0, timeoutMs: 250, consumerOptional: true,
  }]);
  assert.equal(c.anonymousConsumer, 'anon');

  // Deeply frozen.
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.routes) && Object.isFrozen(read) && Object.isFrozen(read?.match.hosts));
  assert.ok(Object.isFrozen(c.jwtIssuers[1]?.staticKeys[0]));
  // Same text, same digest; any change, a new one.
  assert.equal(parsePolicy(FULL, { env: ENV }).digest, c.digest);
  assert.notEqual(parsePolicy(`${FULL}\n# comment\n`, { env: ENV }).digest, c.digest);
});

test('defaults: no default route denies; credential locations as documented', () => {
  const c = parsePolicy('version: 1\n');
  assert.deepEqual(c.routes, []);
  assert.equal(c.defaultRoute.name, 'default');
  assert.equal(c.defaultRoute.denyAll, true);
  assert.deepEqual(c.credentials, DEFAULT_CREDENTIAL_LOCATIONS);
  assert.deepEqual(c.credentials.keyAuth, { headers: ['x-api-key', 'apikey'], query: ['apikey'], bearer: true });
  assert.deepEqual(c.credentials.basicAuth, { headers: ['authorization', 'proxy-authorization'] });
  assert.deepEqual([c.jwtIssuers, c.introspection, c.anonymousConsumer], [[], [], null]);

  const route = parsePolicy('version: 1\nroutes: [{ name: r, match: { methods: [GET] }, credentials: [key-auth] }]').routes[0];
  assert.equal(route?.auth, 'required');
  assert.equal(route?.failureMode, 'closed');
  assert.deepEqual(route?.requiredScopes, { mode: 'all', scopes: [] });
  assert.deepEqual([route?.allowRoles, route?.denyRoles, route?.headerRenames], [[], [], {}]);
  assert.equal(parsePolicy('version: 1\ndefault: { deny: true }').defaultRoute.denyAll, true);
});

test('the built-in policy is DEFAULT_ROUTE with the documented credential locations', () => {
  const c = builtinPolicy();
  assert.equal(c.digest, 'builtin');
  assert.deepEqual(toRoutePolicy(c.defaultRoute), DEFAULT_ROUTE);
  assert.deepEqual(c.credentials, DEFAULT_CREDENTIAL_LOCATIONS);
  assert.ok(Object.isFrozen(c.defaultRoute.credentials));
});

const BAD = `
version: 2
bogus: true
default: { failure_mode: half, credentials: [key-auth] }
credentials:
  key-auth: { header: [x-key] }
jwt:
  issuers:
    - { name: j, issuer: i, audiences: [a], jwks_url: "http://idp.example.com/jwks", algorithms: [none] }
introspection:
  endpoints:
    - { name: h, url: https://h.example.com/i, client_id: k, client_secret_env: NOT_SET_ANYWHERE }
routes:
  - name: r0
    match: { hots: [api.example.com], path: { exact: /a } }
    credentials: [key-auth, saml]
  - name: r0
    match: { path: { exact: /b } }
    credentials: [key-auth]
  - name: r2
    match: { path: { template: "/v1/x{id}" } }
    credentials: [key-auth]
  - name: r3
    match: { path: { exact: /d } }
    credentials: [key-auth]
    allow_roles: [admin]
    deny_roles: [admin]
  - name: r4
    match: { path: { exact: /e } }
    credentials: []
  - name: r5
    match: { hosts: ["api.*.com", "api.example.com:443", "*"], path: { exact: /f } }
    credentials: [key-auth]
  - name: r6
    match: { hosts: [shop.example.com], methods: [GET, POST], path: { template: "/v1/p/{id}" } }
    credentials: [key-auth]
  - name: r7
    match: { hosts: [shop.example.com], methods: [POST, PUT], path: { template: "/v1/p/{pid}" } }
    credentials: [key-auth]
  - name: r8
    match: { methods: [get], path: { exact: /g } }
    credentials: [key-auth]
  - name: r9
    match: { path: { exact: /h, prefix: /h/ } }
    credentials: [key-auth]
  - name: r10
    match: { path: { prefix: "/static//x" } }
    auth: anonymous
  - name: r11
    match: { path: { exact: /j } }
    credentials: [jwt]
    deny: true
  - name: r12
    match: {}
    credentials: [key-auth]
  - name: r13
    match: { path: { template: "/v1/{a}/{a}" } }
    credentials: [key-auth]
    required_scopes: { all: [a], any: [b] }
    headers: { x-consumer-id: x-consumer-roles, x-tenant: y }
`;

test('validation lists every problem at once, each with its path', () => {
  let error: unknown;
  try {
    parsePolicy(BAD, { env: {} });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof PolicyError);
  const problems = error.problems;
  const expected: Array<[string, RegExp]> = [
    ['version', /must be 1/],
    ['bogus', /unknown key/],
    ['default.failure_mode', /closed, open/],
    ['credentials.key-auth.header', /unknown key \(did you mean headers\?\)/],
    ['jwt.issuers[0].algorithms[0]', /"none" is not a supported algorithm/],
    ['jwt.issuers[0].jwks_url', /must be https/],
    ['introspection.endpoints[0].client_secret_env', /NOT_SET_ANYWHERE is not set/],
    ['routes[0].match.hots', /unknown key \(did you mean hosts\?\)/],
    ['routes[0].credentials[1]', /unknown credential type "saml"; known: key-auth, basic-auth, jwt, oauth2, mtls/],
    ['routes[1].name', /duplicate route name "r0" \(also routes\[0\]\)/],
    ['routes[2].match.path.template', /a parameter is a whole segment/],
    ['routes[3].deny_roles', /"admin" is also in allow_roles/],
    ['routes[3].allow_roles', /every allowed role is also denied/],
    ['routes[4].credentials', /auth: required needs at least one credential type/],
    ['routes[5].match.hosts[0]', /only allowed as the whole first label/],
    ['routes[5].match.hosts[1]', /takes no port/],
    ['routes[5].match.hosts[2]', /leave hosts out/],
    ['routes[7]', /ties with routes\[6\] \("r6"\): same host shop.example.com, same path template \/v1\/p\/\{\}, methods POST/],
    ['routes[8].match.methods[0]', /upper-case HTTP method/],
    ['routes[9].match.path', /exactly one of exact, prefix, template \(got exact, prefix\)/],
    ['routes[10].match.path.prefix', /contains \/\//],
    ['routes[10].auth', /anonymous needs the anonymous consumer/],
    ['routes[11].credentials', /deny: true takes no other settings/],
    ['routes[12].match', /matches every request/],
    ['routes[13].match.path.template', /\{a\} appears twice/],
    ['routes[13].required_scopes', /exactly one of all, any/],
    ['routes[13].headers.x-consumer-id', /another identity header/],
    ['routes[13].headers.x-tenant', /unknown key/],
  ];
  for (const [path, message] of expected) {
    const hit = problems.find((p) => p.startsWith(`${path}: `) && message.test(p));
    assert.ok(hit !== undefined, `expected a problem at ${path} matching ${message}; got:\n${problems.join('\n')}`);
  }
  assert.match(error.message, /^invalid policy file:\n {2}- /);
});

test('YAML errors carry a line and column; duplicate keys are errors', () => {
  assert.throws(() => parsePolicy('version: 1\nroutes: [\n'), (err: unknown) => err instanceof PolicyError && /^line \d+, column \d+: YAML: /.test(err.problems[0] ?? ''));
  assert.throws(() => parsePolicy('version: 1\nversion: 1\n'), (err: unknown) => err instanceof PolicyError && /line 2, column 1: YAML: .*unique/i.test(err.problems[0] ?? ''));
  assert.throws(() => parsePolicy(''), /the file is empty/);
  assert.throws(() => parsePolicy('- 1\n'), /must be a mapping, got a list/);
  assert.throws(() => parsePolicy('routes: []'), /version: is required/);
});

test('more rule checks: required route needs credentials, oauth2/jwt need their config, keys and locations', () => {
  const problemsOf = (yaml: string): readonly string[] => {
    try { parsePolicy(yaml, { env: {} }); } catch (err) { if (err instanceof PolicyError) return err.problems; throw err; }
    return [];
  };
  assert.deepEqual(problemsOf('version: 1\nroutes: [{ name: a, match: { methods: [GET] } }]'), ['routes[0].credentials: a route with auth: required needs at least one credential type']);
  assert.deepEqual(problemsOf('version: 1\ndefault: { credentials: [oauth2, jwt] }'), [
    'default.credentials[0]: oauth2 needs at least one endpoint under introspection.endpoints',
    'default.credentials[1]: jwt needs at least one issuer under jwt.issuers',
  ]);
  assert.deepEqual(problemsOf('version: 1\ndefault: { credentials: [anonymous] }'), [
    'default.credentials[0]: unknown credential type "anonymous"; known: key-auth, basic-auth, jwt, oauth2, mtls (anonymous access is `auth: anonymous`)',
  ]);
  assert.match(problemsOf('version: 1\ndefault: { credentials: [key-auth, key-auth] }').join(), /default.credentials\[1\]: duplicate "key-auth"/);
  assert.match(problemsOf('version: 1\ncredentials: { key-auth: { headers: [], query: [], bearer: false } }').join(), /leave nowhere to present a key/);
  assert.match(problemsOf('version: 1\ndefault: { deny: true, auth: optional }').join(), /default.auth: a route with deny: true takes no other settings/);
  assert.match(problemsOf('version: 1\ndefault: { credentials: [key-auth], required_scopes: { all: [] } }').join(), /list at least one scope/);
  assert.match(problemsOf('version: 1\nroutes: [{ name: "a b", match: { methods: [GET] }, credentials: [mtls] }]').join(), /routes\[0\].name: "a b" must be/);
  assert.match(problemsOf('version: 1\nroutes: [{ name: default, match: { methods: [GET] }, credentials: [mtls] }]').join(), /reserved/);
  assert.match(problemsOf('version: 1\nroutes: [{ name: a, match: { path: { template: "/v1/items" } }, credentials: [mtls] }]').join(), /has no \{parameter\}: use exact/);
  assert.match(problemsOf('version: 1\nroutes: [{ name: a, match: { path: { exact: "v1" } }, credentials: [mtls] }]').join(), /must start with \//);
  assert.match(problemsOf('version: 1\nroutes: [{ name: a, match: { path: { exact: "/a?b=1" } }, credentials: [mtls] }]').join(), /the query is not matched/);
  const jwt = problemsOf(`version: 1
jwt:
  issuers:
    - { name: a, issuer: x, audiences: [], jwks_url: "https://x/j", static_keys: [{ kty: RSA, n: x, e: AQAB, d: secret }], algorithms: [RS256, HS256], roles_claim: r }
    - { name: a, issuer: x, audiences: [b], algorithms: [RS256] }
`).join('\n');
  for (const re of [/audiences: list at least one/, /do not mix HMAC/, /is a private key/, /jwt.issuers\[0\]: give exactly one of jwks_url, static_keys/,
    /roles_claim: only applies with consumer_optional/, /jwt.issuers\[1\].name: duplicate issuer name "a"/, /jwt.issuers\[1\].issuer: duplicate issuer "x"/,
    /jwt.issuers\[1\]: give exactly one of jwks_url, static_keys/]) {
    assert.match(jwt, re);
  }
});

test('two routes that differ only in methods do not tie; any vs listed methods do not tie', () => {
  const c = parsePolicy(`version: 1
routes:
  - { name: a, match: { methods: [GET], path: { template: "/p/{id}" } }, credentials: [mtls] }
  - { name: b, match: { methods: [POST], path: { template: "/p/{x}" } }, credentials: [mtls] }
  - { name: c, match: { path: { template: "/p/{y}" } }, credentials: [mtls] }
  - { name: d, match: { hosts: [a.example.com], path: { template: "/p/{y}" } }, credentials: [mtls] }
`);
  assert.equal(c.routes.length, 4);
  assert.throws(() => parsePolicy(`version: 1
routes:
  - { name: a, match: { path: { prefix: "/p" } }, credentials: [mtls] }
  - { name: b, match: { hosts: [x.example.com, y.example.com], path: { prefix: "/q" } }, credentials: [mtls] }
  - { name: c, match: { path: { prefix: "/p" } }, credentials: [mtls] }
  - { name: d, match: { hosts: [y.example.com], path: { prefix: "/q" } }, credentials: [mtls] }
`), (err: unknown) => err instanceof PolicyError && err.problems.length === 2
    && /routes\[2\]: ties with routes\[0\] \("a"\): same host \(any host\), same path prefix \/p, methods any/.test(err.problems.join('\n'))
    && /routes\[3\]: ties with routes\[1\] \("b"\): same host y.example.com/.test(err.problems.join('\n')));
});

test('path grammar: templates, canonical paths, host patterns', () => {
  assert.deepEqual(parsePathTemplate('/v1/payments/{id}/refunds'), { segments: ['v1', 'payments', null, 'refunds'], params: ['id'] });
  assert.deepEqual(parsePathTemplate('/{a}/'), { segments: [null, ''], params: ['a'] });
  for (const bad of ['v1/{id}', '/v1/{id', '/v1/{}', '/v1/{1d}', '/v1/x{id}', '/v1/{id}.json', '/a//{id}', '/a/../{id}']) {
    assert.equal(typeof parsePathTemplate(bad), 'string', bad);
  }
  for (const ok of ['/', '/a', '/a/', '/.well-known/jwks.json', '/a/..b', '/a/b%20c', '/a/file%2Ejson']) assert.equal(isCanonicalPath(ok), true, ok);
  for (const bad of ['', '*', 'a/b', '//a', '/a//b', '/a/./b', '/a/..', '/a/%2e%2E/b', '/a/.%2e', '/a%2Fb', '/a%5cb', '/a\\b']) {
    assert.equal(isCanonicalPath(bad), false, bad);
  }
  for (const ok of ['api.example.com', '*.example.com', '*.com', 'localhost', '10.0.0.1', '[::1]', 'my_svc.internal']) assert.equal(checkHostPattern(ok), null, ok);
  for (const bad of ['', '*', '*example.com', 'api.*.com', 'a.example.com:80', '[::1]:80', '*.10.0.0.1', 'a..b', '-a.com', 'a.com.', `${'a'.repeat(64)}.com`]) {
    assert.notEqual(checkHostPattern(bad), null, bad);
  }
});

test('JWT issuers must not share a subject namespace (lookup_prefix)', () => {
  const yaml = (a: string, b: string): string => `version: 1
jwt:
  issuers:
    - { name: one, issuer: "https://one.example.com/", audiences: [x], jwks_url: "https://one.example.com/jwks", algorithms: [RS256]${a} }
    - { name: two, issuer: "https://two.example.com/", audiences: [x], jwks_url: "https://two.example.com/jwks", algorithms: [RS256]${b} }
`;
  assert.throws(() => parsePolicy(yaml('', '')), (err: unknown) => err instanceof PolicyError && err.problems.some((x) => x.includes('jwt.issuers[1].lookup_prefix') && x.includes('issuer one')));
  assert.deepEqual(parsePolicy(yaml('', ', lookup_prefix: "two:"')).jwtIssuers.map((i) => i.lookupPrefix), ['', 'two:']);
});
