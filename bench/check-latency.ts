/**
 * Warm-cache Check latency per credential type, over real gRPC.
 *
 *   node --import tsx bench/check-latency.ts [--requests 3000]
 *
 * One keygate on embedded PGlite with a policy that accepts every type (local JWKS and
 * introspection servers on 127.0.0.1), one consumer with a credential of each type. Each type is
 * warmed, then sent `requests` sequential Checks from a grpc-js client in this process. The
 * baseline row (no credential → 401 missing_credentials) is the cost of the round trip itself:
 * the difference is what identifying that credential type costs on a warm cache.
 * Writes bench/results/check-latency.md.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { envoyRequest, startKeygate } from '../test/support/harness.js';
import { decodeCheckRequest } from '../src/server/check-request-decoder.js';
import { encodeCheckResponse } from '../src/server/check-response-encoder.js';
import { loadAuthorizationService } from '../src/server/envoy-protos.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '3000' } } });
const N = Number(values.requests);

const { privateKey, publicKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const jwks = createServer((_q, r) => { r.writeHead(200, { 'content-type': 'application/json' }); r.end(JSON.stringify({ keys: [jwk] })); });
const introspect = createServer((q, r) => {
  q.resume();
  q.on('end', () => { r.writeHead(200, { 'content-type': 'application/json' }); r.end(JSON.stringify({ active: true, client_id: 'bench-client', scope: 'payments.read', exp: Math.floor(Date.now() / 1000) + 3600 })); });
});
await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
await new Promise<void>((r) => introspect.listen(0, '127.0.0.1', r));
const dir = mkdtempSync(join(tmpdir(), 'keygate-bench-'));
const file = join(dir, 'keygate.yaml');
writeFileSync(file, `version: 1
jwt:
  issuers:
    - { name: idp, issuer: "https://idp.bench/", audiences: [api], jwks_url: "http://127.0.0.1:${(jwks.address() as AddressInfo).port}/", algorithms: [RS256] }
introspection:
  endpoints:
    - { name: op, url: "http://127.0.0.1:${(introspect.address() as AddressInfo).port}/", client_id: kg, client_secret_env: KG_BENCH_SECRET }
anonymous: { consumer: anonymous }
default: { auth: required, credentials: [key-auth, basic-auth, jwt, oauth2, mtls] }
routes:
  - { name: public, match: { path: { prefix: /public/ } }, auth: anonymous, credentials: [key-auth] }
`);
process.env.KG_BENCH_SECRET = 'x';
const h = await startKeygate({ store: 'embedded', env: { KEYGATE_CONFIG: file, KG_BENCH_SECRET: 'x' } });
await h.admin('POST', '/consumers', { username: 'bench', roles: ['payments:read'] });
await h.admin('POST', '/consumers', { username: 'anonymous' });
const key = (await h.admin('POST', '/consumers/bench/credentials', { type: 'key-auth' })).body.key as string;
const b = (await h.admin('POST', '/consumers/bench/credentials', { type: 'basic-auth' })).body as { key_id: string; secret: string };
await h.admin('POST', '/consumers/bench/credentials', { type: 'jwt', lookup: 'bench-sub' });
await h.admin('POST', '/consumers/bench/credentials', { type: 'oauth2', lookup: 'bench-client' });
await h.admin('POST', '/consumers/bench/credentials', { type: 'mtls', lookup: 'spiffe://cluster.local/ns/bench/sa/bench' });
const token = await new SignJWT({ sub: 'bench-sub' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://idp.bench/')
  .setAudience('api').setExpirationTime('1h').sign(privateKey);

const cases: Array<{ name: string; request: object; expect: number }> = [
  { name: 'baseline: no credential (401)', request: envoyRequest({}), expect: 16 },
  { name: 'key-auth', request: envoyRequest({ headers: { 'x-api-key': key } }), expect: 0 },
  { name: 'basic-auth', request: envoyRequest({ headers: { authorization: `Basic ${Buffer.from(`${b.key_id}:${b.secret}`).toString('base64')}` } }), expect: 0 },
  { name: 'jwt (RS256)', request: envoyRequest({ headers: { authorization: `Bearer ${token}` } }), expect: 0 },
  { name: 'oauth2 (introspection)', request: envoyRequest({ headers: { authorization: 'Bearer opaque-bench-token' } }), expect: 0 },
  { name: 'mtls', request: envoyRequest({ principal: 'spiffe://cluster.local/ns/bench/sa/bench' }), expect: 0 },
  { name: 'anonymous', request: envoyRequest({ path: '/public/catalog' }), expect: 0 },
];
for (const c of cases) {
  for (let i = 0; i < 200; i++) {
    const r = await h.client.check(c.request);
    if ((r.status?.code ?? 0) !== c.expect) throw new Error(`${c.name}: got ${r.status?.code ?? 0}: ${r.denied_response?.body ?? ''}`);
  }
}
// Server side: decode + decide + encode, in this process, no transport.
const serialize = loadAuthorizationService().check.requestSerialize as (o: object) => Buffer;
const serverSide = cases.map((c) => {
  const bytes = serialize(c.request);
  const t: number[] = [];
  return { bytes, t };
});
for (let round = 0; round < N; round++) {
  for (const s of serverSide) {
    const start = process.hrtime.bigint();
    await new Promise<void>((resolve) => h.app.checkService.check(decodeCheckRequest(s.bytes), (res) => { encodeCheckResponse(res); resolve(); }));
    s.t.push(Number(process.hrtime.bigint() - start) / 1000);
  }
}
// Round trip over gRPC, the types interleaved so machine noise falls on all alike.
const roundTrip = cases.map(() => [] as number[]);
for (let round = 0; round < N; round++) {
  for (const [i, c] of cases.entries()) {
    const start = process.hrtime.bigint();
    await h.client.check(c.request);
    roundTrip[i]?.push(Number(process.hrtime.bigint() - start) / 1000);
  }
}
const pct = (t: number[], q: number): number => {
  const sorted = [...t].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};
const rows = cases.map((c, i) => {
  const s = serverSide[i]?.t ?? [];
  const r = roundTrip[i] ?? [];
  return `| ${c.name} | ${pct(s, 0.5).toFixed(1)} µs | ${pct(s, 0.99).toFixed(1)} µs | ${pct(r, 0.5).toFixed(0)} µs | ${pct(r, 0.99).toFixed(0)} µs |`;
});
await h.close();
jwks.close();
introspect.close();
rmSync(dir, { recursive: true, force: true });
const md = [
  '# Warm-cache Check latency per credential type', '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  `- command: \`node --import tsx bench/check-latency.ts --requests ${N}\``,
  '- every credential warmed first (L1 hit, verified-JWT and introspection caches warm). Server columns: decode of the serialized CheckRequest, the decision, and encode of the CheckResponse, in process. Round-trip columns: one sequential Check from a grpc-js client in the same process (client and server share the 2 cores), the types interleaved', '',
  '| credential | server p50 (decode+decide+encode) | server p99 | gRPC round trip p50 | round trip p99 |', '|---|---|---|---|---|', ...rows, '',
].join('\n');
writeFileSync(new URL('./results/check-latency.md', import.meta.url), md);
console.log(md);
