import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger.js';
import type { CheckInput } from '../../src/pipeline/check-input.js';
import { parsePolicy } from '../../src/policies/policy-file.js';
import { NON_CANONICAL_PATH_ROUTE, normaliseHost, ROUTE_EXTENSION_KEY, RouteTable } from '../../src/policies/route-table.js';
import { NaiveRouteMatcher } from './naive-route-matcher.js';

/** A CheckInput as the gRPC adapter builds it (host lower case, port kept; path without query). */
function request(method: string, host: string, path: string, contextExtensions: Record<string, string> = {}): CheckInput {
  return {
    method, host, path, query: '', requestId: '', sourcePrincipal: '', sourceCertificate: '', contextExtensions,
    header: () => undefined,
  };
}

// Every route needs `credentials` unless it denies; `r` keeps the table short.
const r = (name: string, match: string): string => `  - { name: ${name}, match: ${match}, credentials: [key-auth] }`;

const POLICY = `version: 1
default: { auth: required, credentials: [key-auth, jwt] }
jwt:
  issuers: [{ name: i, issuer: https://idp.example.com/, audiences: [api], jwks_url: https://idp.example.com/jwks, algorithms: [RS256] }]
routes:
${[
    // One host, every path kind.
    r('api-exact-export', '{ hosts: [api.example.com], path: { exact: /v1/payments/export } }'),
    r('api-tpl-payment', '{ hosts: [api.example.com], path: { template: "/v1/payments/{id}" } }'),
    r('api-prefix-payments', '{ hosts: [api.example.com], path: { prefix: /v1/payments/ } }'),
    r('api-prefix-pay', '{ hosts: [api.example.com], path: { prefix: /v1/pay } }'),
    r('api-prefix-v1', '{ hosts: [api.example.com], path: { prefix: /v1/ } }'),
    r('api-delete-anything', '{ hosts: [api.example.com], methods: [DELETE] }'),
    // Template ranks: more literals, then the leftmost literal.
    r('tpl-lit-3-left', '{ hosts: [api.example.com], path: { template: "/v2/merchants/{mid}/payments/{pid}" } }'),
    r('tpl-lit-3-right', '{ hosts: [api.example.com], path: { template: "/v2/{any}/acme/payments/{pid}" } }'),
    r('tpl-lit-2', '{ hosts: [api.example.com], path: { template: "/v2/merchants/{mid}/{kind}/{pid}" } }'),
    r('tpl-lit-1', '{ hosts: [api.example.com], path: { template: "/v2/{a}/{b}/{c}/{d}" } }'),
    r('tpl-trailing', '{ hosts: [api.example.com], path: { template: "/v2/items/{id}/" } }'),
    // Methods: listed beat any on the same host and path.
    r('refund-post', '{ hosts: [api.example.com], methods: [POST], path: { template: "/v1/payments/{id}/refunds" } }'),
    r('refund-any', '{ hosts: [api.example.com], path: { template: "/v1/payments/{pid}/refunds" } }'),
    // Exact path: the trailing slash counts.
    r('health', '{ path: { exact: /healthz } }'),
    // Host kinds on one path.
    r('status-exact-host', '{ hosts: [api.example.com], path: { exact: /status } }'),
    r('status-wild', '{ hosts: ["*.example.com"], path: { exact: /status } }'),
    r('status-wild-eu', '{ hosts: ["*.eu.example.com"], path: { exact: /status } }'),
    r('status-any', '{ path: { exact: /status } }'),
    r('status-v6', '{ hosts: ["[::1]"], path: { exact: /status } }'),
    // Host beats path: any-host exact path loses to the api host's prefix.
    r('special-any-host', '{ path: { exact: /v1/special } }'),
    r('other-any-host', '{ path: { exact: /other } }'),
    r('root-prefix-any-host', '{ methods: [PUT], path: { prefix: / } }'),
  ].join('\n')}
  - { name: blocked, match: { path: { prefix: /internal/ } }, deny: true }
`;

const table = new RouteTable(parsePolicy(POLICY));
const naive = new NaiveRouteMatcher(parsePolicy(POLICY));

const CASES: Array<[method: string, host: string, path: string, route: string]> = [
  // exact > template > prefix (longer first) > no path
  ['GET', 'api.example.com', '/v1/payments/export', 'api-exact-export'],
  ['GET', 'api.example.com', '/v1/payments/p_1', 'api-tpl-payment'],
  ['GET', 'api.example.com', '/v1/payments/p_1/captures', 'api-prefix-payments'],
  ['GET', 'api.example.com', '/v1/payments/', 'api-prefix-payments'], // {id} never matches an empty segment
  ['GET', 'api.example.com', '/v1/payouts', 'api-prefix-pay'], // a prefix is a string prefix
  ['GET', 'api.example.com', '/v1/payments', 'api-prefix-pay'],
  ['GET', 'api.example.com', '/v1/', 'api-prefix-v1'],
  ['GET', 'api.example.com', '/v1', 'default'],
  ['DELETE', 'api.example.com', '/anything', 'api-delete-anything'],
  ['DELETE', 'api.example.com', '/v1/payments/p_1', 'api-tpl-payment'], // path before methods
  // template ranks
  ['GET', 'api.example.com', '/v2/merchants/acme/payments/p1', 'tpl-lit-3-left'],
  ['GET', 'api.example.com', '/v2/x/acme/payments/p1', 'tpl-lit-3-right'],
  ['GET', 'api.example.com', '/v2/merchants/acme/refunds/r1', 'tpl-lit-2'],
  ['GET', 'api.example.com', '/v2/a/b/c/d', 'tpl-lit-1'],
  ['GET', 'api.example.com', '/v2/a/b/c/d/e', 'default'],
  ['GET', 'api.example.com', '/v2/items/7/', 'tpl-trailing'],
  ['GET', 'api.example.com', '/v2/items/7', 'default'],
  // methods
  ['POST', 'api.example.com', '/v1/payments/p_1/refunds', 'refund-post'],
  ['GET', 'api.example.com', '/v1/payments/p_1/refunds', 'refund-any'],
  ['', 'api.example.com', '/v1/payments/p_1/refunds', 'refund-any'],
  ['PUT', 'shop.example.com', '/whatever', 'root-prefix-any-host'],
  ['GET', 'shop.example.com', '/whatever', 'default'],
  // trailing slash on exact
  ['GET', 'any.host', '/healthz', 'health'],
  ['GET', 'any.host', '/healthz/', 'default'],
  // hosts: exact > wildcard (longer suffix first) > any; ports and case ignored
  ['GET', 'api.example.com', '/status', 'status-exact-host'],
  ['GET', 'api.example.com:8443', '/status', 'status-exact-host'],
  ['GET', 'API.Example.COM:443', '/status', 'status-exact-host'],
  ['GET', 'api.example.com.', '/status', 'status-exact-host'],
  ['GET', 'shop.example.com', '/status', 'status-wild'],
  ['GET', 'a.b.c.example.com:80', '/status', 'status-wild'], // any depth >= 1
  ['GET', 'fr.eu.example.com', '/status', 'status-wild-eu'],
  ['GET', 'eu.example.com', '/status', 'status-wild'], // *.eu.example.com does not match its apex
  ['GET', 'example.com', '/status', 'status-any'],
  ['GET', '', '/status', 'status-any'],
  ['GET', '[::1]:9191', '/status', 'status-v6'],
  ['GET', '[::1]', '/status', 'status-v6'],
  // host first: the api host's prefix beats an any-host exact path; a miss falls through to any host
  ['GET', 'api.example.com', '/v1/special', 'api-prefix-v1'],
  ['GET', 'shop.example.com', '/v1/special', 'special-any-host'],
  ['GET', 'api.example.com', '/other', 'other-any-host'],
  // deny routes and non-canonical paths
  ['GET', 'api.example.com', '/internal/x', 'blocked'],
  ['GET', 'api.example.com', '/v1//payments/p_1', 'non_canonical_path'],
  ['GET', 'api.example.com', '/healthz/../internal/x', 'non_canonical_path'],
  ['GET', 'api.example.com', '/v1/%2e%2e/internal/x', 'non_canonical_path'],
  ['GET', 'api.example.com', '/v1/payments%2Fexport', 'non_canonical_path'],
  ['OPTIONS', 'api.example.com', '*', 'non_canonical_path'],
];

test('precedence: most specific wins (table)', () => {
  for (const [method, host, path, expected] of CASES) {
    assert.equal(table.match(request(method, host, path)).name, expected, `${method} ${host} ${path}`);
    assert.equal(naive.match(request(method, host, path)).name, expected, `naive: ${method} ${host} ${path}`);
  }
});

test('matched routes carry the route policy 1:1; deny routes deny', () => {
  const route = table.match(request('POST', 'api.example.com', '/v1/payments/p/refunds'));
  assert.deepEqual(route, {
    name: 'refund-post', auth: 'required', credentials: ['key-auth'], allowRoles: [], denyRoles: [],
    requiredScopes: { mode: 'all', scopes: [] }, failureMode: 'closed', denyAll: false, headerRenames: {},
  });
  assert.ok(Object.isFrozen(route) && Object.isFrozen(route.credentials));
  assert.equal(table.match(request('GET', 'x', '/internal/')).denyAll, true);
  assert.equal(table.match(request('GET', 'x', '//')), NON_CANONICAL_PATH_ROUTE);
  assert.equal(NON_CANONICAL_PATH_ROUTE.denyAll, true);
  assert.equal(table.size, 23);
});

test('configured default route; without one, unmatched requests are denied by a route named default', () => {
  const configured = table.match(request('GET', 'nowhere.test', '/nothing'));
  assert.equal(configured.name, 'default');
  assert.equal(configured.denyAll, false);
  assert.deepEqual(configured.credentials, ['key-auth', 'jwt']);

  const bare = new RouteTable(parsePolicy(`version: 1\nroutes: [{ name: h, match: { path: { exact: /h } }, auth: optional }]`));
  const unmatched = bare.match(request('GET', 'a.test', '/x'));
  assert.equal(unmatched.name, 'default');
  assert.equal(unmatched.denyAll, true);
  assert.equal(bare.match(request('GET', 'a.test', '/h')).name, 'h');
  assert.equal(new RouteTable(parsePolicy('version: 1')).match(request('GET', 'a', '/')).denyAll, true);
});

test('context_extensions keygate_route names the route and wins over matching; unknown → default + debug log', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const logged = new RouteTable(parsePolicy(POLICY), { logger: createLogger('debug', sink) });
  const ext = (name: string): Record<string, string> => ({ [ROUTE_EXTENSION_KEY]: name, other: 'x' });
  assert.equal(logged.match(request('GET', 'api.example.com', '/v1/payments/export', ext('health'))).name, 'health');
  assert.equal(logged.match(request('GET', 'api.example.com', '/v1/payments/export', ext('blocked'))).denyAll, true);
  assert.equal(logged.match(request('GET', 'api.example.com', '/status', ext('default'))).name, 'default');
  assert.equal(lines.length, 0);
  const unknown = logged.match(request('GET', 'api.example.com', '/status', ext('no-such-route')));
  assert.equal(unknown, logged.defaultRoute);
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0] ?? '{}') as { level: number; route: string; msg: string };
  assert.equal(line.level, 20);
  assert.equal(line.route, 'no-such-route');
  assert.match(line.msg, /names no route/);
  // A non-canonical path is refused even with an override.
  assert.equal(logged.match(request('GET', 'api.example.com', '/a/../b', ext('health'))), NON_CANONICAL_PATH_ROUTE);
  // Other keys do not matter.
  assert.equal(logged.match(request('GET', 'api.example.com', '/status', { 'keygate.route': 'health' })).name, 'status-exact-host');
});

test('normaliseHost', () => {
  assert.equal(normaliseHost('API.Example.com:8443'), 'api.example.com');
  assert.equal(normaliseHost('[2001:DB8::1]:443'), '[2001:db8::1]');
  assert.equal(normaliseHost('2001:db8::1'), '2001:db8::1');
  assert.equal(normaliseHost('example.com.'), 'example.com');
  assert.equal(normaliseHost(''), '');
});

test('a wildcard host on many routes and deep templates stay consistent with the naive order', () => {
  const policy = parsePolicy(`version: 1
routes:
  - { name: a, match: { hosts: ["*.example.com", api.example.com], path: { template: "/{x}/{y}/z" } }, credentials: [mtls] }
  - { name: b, match: { hosts: ["*.example.com"], path: { template: "/{x}/y/{z}" } }, credentials: [mtls] }
  - { name: c, match: { path: { template: "/x/{y}/{z}" } }, credentials: [mtls] }
`);
  const t = new RouteTable(policy);
  const n = new NaiveRouteMatcher(policy);
  for (const [host, path, expected] of [
    ['a.example.com', '/x/y/z', 'b'], ['api.example.com', '/x/y/z', 'a'], ['api.example.com', '/x/q/w', 'c'], ['a.example.com', '/q/w/z', 'a'], ['other', '/x/y/z', 'c'],
  ] as const) {
    assert.equal(t.match(request('GET', host, path)).name, expected, `${host} ${path}`);
    assert.equal(n.match(request('GET', host, path)).name, expected, `naive ${host} ${path}`);
  }
});
