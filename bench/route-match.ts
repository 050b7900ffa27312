/**
 * Route matching: the compiled RouteTable vs the naive linear matcher (every host-pattern/route
 * pair sorted by precedence, first match wins), at 10, 1,000 and 10,000 routes.
 *
 *   node --import tsx bench/route-match.ts
 *
 * Routes: a payments-API mix repeated per service — exact, templates such as
 * `/svcN/v1/merchants/{mid}/payments/{pid}` (GET and POST as separate routes), refunds templates,
 * prefixes — spread over exact hosts, `*.merchants.acme-pay.com`, `*.acme-pay.com` and any host,
 * plus a few global any-host routes. Requests: 2,000 per size, 80 % aimed at a route (template
 * parameters filled in, text after prefixes, ports on some hosts), 20 % misses. Both matchers are
 * checked to agree on every request first. Each case runs in the same process, interleaved, in 5
 * rounds of >= 200 ms after a warm-up; the reported ns/op is the median round. Also reports the
 * time to parse the YAML and compile the table. Prints a table and overwrites
 * bench/results/route-match.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { CheckInput } from '../src/pipeline/check-input.js';
import { parsePolicy } from '../src/policies/policy-file.js';
import { RouteTable } from '../src/policies/route-table.js';
import type { RouteMatcher } from '../src/policies/route-policy.js';
import { NaiveRouteMatcher } from '../test/policies/naive-route-matcher.js';

const SIZES = [10, 1_000, 10_000];
const ROUNDS = 5;
const ROUND_MS = 200;
const REQUESTS = 2_000;

let seed = 42;
function rand(): number {
  seed = (seed * 1_103_515_245 + 12_345) >>> 0;
  return seed / 4_294_967_296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

const HOSTS = ['api.acme-pay.com', 'dashboard.acme-pay.com', '*.merchants.acme-pay.com', '*.acme-pay.com', null] as const;

interface Spec {
  name: string;
  match: { hosts?: string[]; methods?: string[]; path: Record<string, string> };
  credentials: string[];
}

function routes(count: number): Spec[] {
  const out: Spec[] = [
    { name: 'health', match: { path: { exact: '/healthz' } }, credentials: ['key-auth'] },
    { name: 'public-docs', match: { path: { prefix: '/docs/' } }, credentials: ['key-auth'] },
  ];
  const shapes: Array<(svc: string) => Spec['match']> = [
    (s) => ({ methods: ['GET'], path: { template: `/${s}/v1/merchants/{mid}/payments/{pid}` } }),
    (s) => ({ methods: ['POST'], path: { template: `/${s}/v1/merchants/{mid}/payments/{pid}` } }),
    (s) => ({ path: { template: `/${s}/v1/merchants/{mid}/payments/{pid}/refunds` } }),
    (s) => ({ path: { template: `/${s}/v1/payments/{id}` } }),
    (s) => ({ path: { exact: `/${s}/v1/merchants` } }),
    (s) => ({ path: { prefix: `/${s}/v1/admin/` } }),
    (s) => ({ methods: ['GET', 'HEAD'], path: { exact: `/${s}/v1/health` } }),
    (s) => ({ path: { prefix: `/${s}/` } }),
  ];
  for (let i = 0; out.length < count; i++) {
    const group = Math.floor(i / shapes.length);
    const host = HOSTS[group % HOSTS.length] ?? null;
    const match = (shapes[i % shapes.length] ?? shapes[0])?.(`svc${group}`);
    if (match === undefined) throw new Error('no shape');
    if (host !== null) match.hosts = [host];
    out.push({ name: `r${i}`, match, credentials: ['key-auth'] });
  }
  return out.slice(0, count);
}

function requestFor(spec: Spec | null): CheckInput {
  let host = pick(['api.acme-pay.com', 'dashboard.acme-pay.com', 'm42.merchants.acme-pay.com', 'www.acme-pay.com', 'partner.example.net']);
  let method = pick(['GET', 'GET', 'GET', 'POST', 'PUT']);
  let path = `/svc${Math.floor(rand() * 1e6)}/v1/nothing/here`;
  if (spec !== null) {
    const h = spec.match.hosts?.[0];
    if (h !== undefined) host = h.startsWith('*.') ? `m${Math.floor(rand() * 1000)}.${h.slice(2)}` : h;
    if (spec.match.methods !== undefined) method = pick(spec.match.methods);
    const p = spec.match.path;
    if (p.exact !== undefined) path = p.exact;
    else if (p.template !== undefined) path = p.template.replace(/\{[a-z]+\}/g, () => `id_${Math.floor(rand() * 1e9).toString(36)}`);
    else if (p.prefix !== undefined) path = `${p.prefix}reports/2024/q${1 + Math.floor(rand() * 4)}`;
  }
  if (rand() < 0.2) host = `${host}:8443`;
  return { method, host, path, query: '', requestId: '', sourcePrincipal: '', sourceCertificate: '', contextExtensions: {}, header: () => undefined };
}

interface Case { readonly label: string; readonly matcher: RouteMatcher; readonly requests: readonly CheckInput[]; readonly samples: number[]; iterations: number }

function runRound(c: Case): void {
  const reqs = c.requests;
  let sink = 0;
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ROUND_MS) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (const r of reqs) sink += c.matcher.match(r).name.length;
    ops += reqs.length;
    now = process.hrtime.bigint();
  }
  if (sink === 42) console.log('');
  c.samples.push(Number(now - start) / ops);
  c.iterations = ops;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

const loadBefore = os.loadavg()[0] ?? NaN;
const rows: Array<{ size: number; compileMs: number; table: Case; naive: Case; defaultShare: number }> = [];
for (const size of SIZES) {
  const specs = routes(size);
  const yaml = stringify({ version: 1, default: { credentials: ['key-auth'] }, routes: specs });
  const t0 = process.hrtime.bigint();
  const config = parsePolicy(yaml);
  const table = new RouteTable(config);
  const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const naive = new NaiveRouteMatcher(config);
  const requests = Array.from({ length: REQUESTS }, () => requestFor(rand() < 0.8 ? pick(specs) : null));
  let defaults = 0;
  for (const r of requests) {
    const a = table.match(r).name;
    const b = naive.match(r).name;
    if (a !== b) throw new Error(`disagree on ${r.method} ${r.host} ${r.path}: ${a} vs ${b}`);
    if (a === 'default') defaults++;
  }
  rows.push({
    size, compileMs, defaultShare: defaults / requests.length,
    table: { label: `compiled, ${size} routes`, matcher: table, requests, samples: [], iterations: 0 },
    naive: { label: `naive, ${size} routes`, matcher: naive, requests, samples: [], iterations: 0 },
  });
}

const cases = rows.flatMap((r) => [r.table, r.naive]);
for (const c of cases) { for (let i = 0; i < 3; i++) for (const r of c.requests) c.matcher.match(r); }
for (let round = 0; round < ROUNDS; round++) for (const c of cases) runRound(c);
const loadAfter = os.loadavg()[0] ?? NaN;

const cpu = os.cpus()[0]?.model.trim() ?? 'unknown cpu';
const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const lines = [
  '# Route matching: compiled RouteTable vs naive linear matcher',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpu}, ${os.cpus().length} cores, ${os.platform()} ${os.release()} ${os.arch()}`,
  `- node: ${process.version}`,
  `- 1-minute load average: ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (shared box; cases are interleaved per round)`,
  '- command: `node --import tsx bench/route-match.ts`',
  `- workload: ${REQUESTS.toLocaleString('en-US')} requests per size, 80 % aimed at a route, 20 % misses; both matchers agree on every request`,
  '- routes: per service `svcN`, GET/POST `/svcN/v1/merchants/{mid}/payments/{pid}`, `…/{pid}/refunds`, `/svcN/v1/payments/{id}`,',
  '  exact `/svcN/v1/merchants` and `/svcN/v1/health` (GET, HEAD), prefixes `/svcN/v1/admin/` and `/svcN/`; hosts rotate over',
  '  `api.acme-pay.com`, `dashboard.acme-pay.com`, `*.merchants.acme-pay.com`, `*.acme-pay.com`, any; plus `/healthz` and `/docs/` on any host',
  '- naive: every (host pattern, route) pair sorted once by the documented precedence; linear scan, first match wins',
  `- ns/op: median of ${ROUNDS} rounds of >= ${ROUND_MS} ms`,
  '',
  '| routes | compiled ns/op | naive ns/op | naive / compiled | parse + compile (ms) | requests to default |',
  '| ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => {
    const t = median(r.table.samples);
    const n = median(r.naive.samples);
    return `| ${r.size.toLocaleString('en-US')} | ${fmt(t)} | ${fmt(n)} | ${(n / t).toFixed(1)}x | ${r.compileMs.toFixed(1)} | ${(r.defaultShare * 100).toFixed(0)} % |`;
  }),
  '',
];
const text = lines.join('\n');
console.log(text);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}route-match.md`, text);
