import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import type { CheckInput } from '../../src/pipeline/check-input.js';
import { parsePolicy } from '../../src/policies/policy-file.js';
import { ROUTE_EXTENSION_KEY, RouteTable } from '../../src/policies/route-table.js';
import { NaiveRouteMatcher } from './naive-route-matcher.js';

/** Small seeded PRNG (mulberry32), so a failure can be replayed with its seed. */
class Rng {
  #s: number;
  constructor(seed: number) { this.#s = seed >>> 0; }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('empty');
    return item;
  }
}

// A small vocabulary so that routes overlap a lot: that is where precedence matters.
const EXACT_HOSTS = ['api.example.com', 'shop.example.com', 'a.eu.example.com', 'eu.example.com', 'example.com', 'api.example.org'];
const WILD_HOSTS = ['*.example.com', '*.eu.example.com', '*.com', '*.org'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const WORDS = ['v1', 'payments', 'pay', 'merchants', 'm1', 'refunds', 'a', 'b'];

interface RouteSpec {
  name: string;
  match: { hosts?: string[]; methods?: string[]; path?: Record<string, string> };
  credentials: string[];
}

function randomRoute(r: Rng, name: string): { spec: RouteSpec; hosts: string[]; methods: string[]; pathKey: string } {
  const hosts: string[] = [];
  if (!r.chance(0.3)) {
    for (let n = 1 + r.int(2); hosts.length < n;) {
      const h = r.chance(0.6) ? r.pick(EXACT_HOSTS) : r.pick(WILD_HOSTS);
      if (!hosts.includes(h)) hosts.push(h);
    }
  }
  const methods: string[] = [];
  if (!r.chance(0.4)) {
    for (let n = 1 + r.int(2); methods.length < n;) {
      const m = r.pick(METHODS);
      if (!methods.includes(m)) methods.push(m);
    }
  }
  const segments = (n: number): string[] => Array.from({ length: n }, () => r.pick(WORDS));
  const kind = r.next();
  let path: Record<string, string> | undefined;
  let pathKey = 'none';
  if (kind < 0.3) {
    const value = `/${segments(1 + r.int(4)).join('/')}${r.chance(0.2) ? '/' : ''}`;
    path = { exact: value };
    pathKey = `exact:${value}`;
  } else if (kind < 0.6) {
    const n = 1 + r.int(5);
    const parts = segments(n).map((w, i) => (r.chance(0.4) ? `{p${i}}` : w));
    if (!parts.some((p) => p.startsWith('{'))) parts[r.int(n)] = '{only}';
    if (r.chance(0.15)) parts.push('');
    path = { template: `/${parts.join('/')}` };
    pathKey = `template:/${parts.map((p) => (p.startsWith('{') ? '{}' : p)).join('/')}`;
  } else if (kind < 0.9 || methods.length === 0 && hosts.length === 0) {
    const head = segments(r.int(4));
    const partial = r.chance(0.5) ? '' : r.pick(WORDS).slice(0, 1 + r.int(3));
    const value = `/${head.map((s) => `${s}/`).join('')}${partial}`;
    path = { prefix: value };
    pathKey = `prefix:${value}`;
  }
  const match: RouteSpec['match'] = {};
  if (hosts.length > 0) match.hosts = hosts;
  if (methods.length > 0) match.methods = methods;
  if (path !== undefined) match.path = path;
  return { spec: { name, match, credentials: ['key-auth'] }, hosts, methods, pathKey };
}

/** Random routes, skipping any that would tie with one already taken (the file would not load). */
function randomRoutes(r: Rng, count: number): RouteSpec[] {
  const taken = new Map<string, string[][]>();
  const routes: RouteSpec[] = [];
  while (routes.length < count) {
    const c = randomRoute(r, `r${routes.length}`);
    const keys = (c.hosts.length === 0 ? ['*any*'] : c.hosts).map((h) => `${h}\n${c.pathKey}`);
    const ties = keys.some((k) => (taken.get(k) ?? []).some((m) =>
      (m.length === 0 && c.methods.length === 0) || m.some((x) => c.methods.includes(x))));
    if (ties) continue;
    for (const k of keys) taken.set(k, [...(taken.get(k) ?? []), c.methods]);
    routes.push(c.spec);
  }
  return routes;
}

function randomRequest(r: Rng, names: readonly string[]): CheckInput {
  const method = r.chance(0.05) ? '' : r.pick([...METHODS, 'PATCH']);
  let host = r.chance(0.7) ? r.pick(EXACT_HOSTS) : r.pick(['x.example.com', 'q.a.eu.example.com', 'z.eu.example.com', 'other.net', 'b.example.org', '']);
  if (r.chance(0.2)) host = `${host}:${r.pick(['443', '8443'])}`;
  const words = [...WORDS, 'paym', 'zz', 'p_123', 'refund'];
  let path = `/${Array.from({ length: r.int(6) }, () => r.pick(words)).join('/')}`;
  if (r.chance(0.2) && path !== '/') path += '/';
  if (r.chance(0.02)) path = r.pick(['//v1', '/v1/../a', '/v1/%2e/a', '/a%2fb', '']);
  const contextExtensions: Record<string, string> = {};
  if (r.chance(0.02)) contextExtensions[ROUTE_EXTENSION_KEY] = r.chance(0.8) ? r.pick(names) : 'unknown-route';
  return { method, host, path, query: '', requestId: '', sourcePrincipal: '', sourceCertificate: '', contextExtensions, header: () => undefined };
}

test('the compiled matcher agrees with the naive linear matcher on random routes and requests', () => {
  const seed = Number(process.env.KEYGATE_TEST_SEED ?? 20_240_601);
  const r = new Rng(seed);
  const routes = randomRoutes(r, 2_000);
  const yaml = stringify({ version: 1, default: r.chance(0.5) ? { credentials: ['mtls'] } : undefined, routes });
  const config = parsePolicy(yaml);
  assert.equal(config.routes.length, 2_000);
  const table = new RouteTable(config);
  const naive = new NaiveRouteMatcher(config);
  const names = config.routes.map((c) => c.name);
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const input = randomRequest(r, names);
    const got = table.match(input).name;
    const want = naive.match(input).name;
    if (got !== want) {
      assert.fail(`seed ${seed}, request ${i}: ${input.method} ${input.host} ${input.path} ${JSON.stringify(input.contextExtensions)}: table ${got}, naive ${want}`);
    }
    seen.add(got);
  }
  // The requests exercised many routes, not just the default.
  assert.ok(seen.size > 300, `only ${seen.size} distinct routes matched`);
});
