/**
 * Check throughput and server CPU per Check with N consumers (default 100,000).
 *
 *   node --import tsx bench/check-load.ts [--consumers 100000] [--seconds 15] [--connections 4] [--streams 64]
 *
 * Starts `keygate serve` as a child process on a fresh PostgreSQL database (and Redis), seeds N
 * consumers with one key each, then drives Checks over raw HTTP/2 gRPC frames (node:http2, so the
 * client is as light as it can be in Node) with every request using a different consumer's key.
 * Server CPU is read from /proc/<pid>/stat before and after. Phase 1 is cold (L1 empty: each key
 * loads through Redis/PostgreSQL once); phase 2 is warm (every key in L1).
 * Writes bench/results/check-load.md.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { loadSync } from '@grpc/proto-loader';
import { createTestDatabase, TEST_PEPPER, REDIS_URL } from '../test/support/harness.js';
import { seedConsumers } from '../src/admin/seed.js';
import { CredentialRegistry } from '../src/credentials/registry.js';
import { SecretHasher } from '../src/credentials/secret-hasher.js';
import { openPostgresStore } from '../src/store/database.js';

const { values } = parseArgs({ options: {
  consumers: { type: 'string', default: '100000' }, seconds: { type: 'string', default: '15' },
  connections: { type: 'string', default: '4' }, streams: { type: 'string', default: '64' },
  redis: { type: 'boolean', default: true },
  out: { type: 'string', default: 'check-load.md' },
} });
const N = Number(values.consumers);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const STREAMS = Number(values.streams);
const log = (s: string): void => { process.stderr.write(`${s}\n`); };

const db = await createTestDatabase();
const grpcPort = 29191;
const env = {
  ...process.env, DATABASE_URL: db.url, KEYGATE_PEPPER: TEST_PEPPER, KEYGATE_LOG_LEVEL: 'warn',
  KEYGATE_GRPC_ADDR: `127.0.0.1:${grpcPort}`, KEYGATE_HTTP_ADDR: '127.0.0.1:29192', KEYGATE_ADMIN_ADDR: '127.0.0.1:29193',
  ...(values.redis ? { REDIS_URL: REDIS_URL.replace(/\/\d+$/, '/8') } : {}),
};
// Migrate first, so seeding can insert.
await run(process.execPath, ['bin/keygate.js', 'migrate'], env);
log(`seeding ${N} consumers`);
const t0 = Date.now();
const keys: string[] = [];
const seedStore = openPostgresStore({ url: db.url });
await seedConsumers({
  db: seedStore.db, keyAuth: new CredentialRegistry({ hasher: new SecretHasher(TEST_PEPPER) }).keyAuth, consumers: N,
  onKeys: (k) => { keys.push(...k); }, onProgress: (d, t) => { if (d % 50_000 === 0 || d === t) log(`seeded ${d}/${t}`); },
});
await seedStore.close();
log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

const server = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), 'bin/keygate.js', 'serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
await waitReady('http://127.0.0.1:29192/readyz');
const pid = server.pid ?? 0;

// Pre-encode one gRPC-framed CheckRequest per key (protobufjs, as a client would).
const def = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [new URL('../proto/gen/', import.meta.url).pathname], keepCase: true });
const svc = def['envoy.service.auth.v3.Authorization'] as unknown as { Check: { requestSerialize: (o: object) => Buffer } };
const frames = keys.map((key, i) => {
  const path = `/v1/payments/${i}`;
  const body = svc.Check.requestSerialize({ attributes: { request: { http: {
    id: String(i), method: 'POST', host: 'api.example.com', path, scheme: 'https', protocol: 'HTTP/2',
    headers: { ':authority': 'api.example.com', ':method': 'POST', ':path': path, ':scheme': 'https', 'content-type': 'application/json',
      'user-agent': 'bench/1.0', 'x-forwarded-proto': 'https', 'x-request-id': `req-${i}`, 'x-api-key': key, accept: '*/*',
      'x-envoy-expected-rq-timeout-ms': '15000', 'x-forwarded-for': '10.1.2.3' },
  } } } });
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
});
log(`request size: ${frames[0]?.length ?? 0} bytes`);

interface PhaseResult { name: string; checks: number; seconds: number; rps: number; cpuMsPerCheck: number; cpuCoresUsed: number; p50: number; p99: number; errors: number; allowed: number; rssMb: number }
const rssAtStart = procRssMb(pid);
const results: PhaseResult[] = [];
results.push(await phase('cold: every key once (L1 empty, loads through Redis/PostgreSQL)', 3600, true));
results.push(await phase('warm (all keys in L1)', SECONDS, false));
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
await db.drop();

const md = [
  '# Check load', '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  `- command: \`node --import tsx bench/check-load.ts --consumers ${N} --seconds ${SECONDS} --connections ${CONNECTIONS} --streams ${STREAMS}${values.redis ? '' : ' --no-redis'}${values.out === 'check-load.md' ? '' : ` --out ${values.out ?? ''}`}\``,
  `- store: PostgreSQL 127.0.0.1${values.redis ? ' + Redis L2' : ''}; ${N} consumers, one key each; every request a different consumer (round robin)`,
  '- client: node:http2 raw gRPC frames in this process, on the same 2 cores as the server (the client takes a large share of the CPU: server-side cost is the CPU/Check column)', '',
  '| phase | Checks | Checks/s | server CPU per Check | server cores busy | p50 latency | p99 latency | allowed | errors | server RSS after |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.name} | ${r.checks} | ${r.rps.toFixed(0)} | ${(r.cpuMsPerCheck * 1000).toFixed(1)} µs | ${r.cpuCoresUsed.toFixed(2)} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${r.allowed} | ${r.errors} | ${r.rssMb.toFixed(0)} MiB |`),
  '',
  `Server RSS when ready (empty L1): ${rssAtStart.toFixed(0)} MiB; with all ${N} keys in L1: ${(results[0]?.rssMb ?? 0).toFixed(0)} MiB (${(((results[0]?.rssMb ?? 0) - rssAtStart) * 1048576 / N).toFixed(0)} bytes per key, cache buffers and everything else the loads left behind).`,
  '',
].join('\n');
writeFileSync(new URL(`./results/${values.out ?? 'check-load.md'}`, import.meta.url), md);
console.log(md);

async function phase(name: string, seconds: number, coldOnce: boolean): Promise<PhaseResult> {
  const sessions = Array.from({ length: CONNECTIONS }, () => connect(`http://127.0.0.1:${grpcPort}`));
  const latencies: number[] = [];
  let next = 0; let done = 0; let errors = 0; let allowed = 0;
  const cpu0 = procCpuMs(pid);
  const start = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  await Promise.all(sessions.flatMap((session) => Array.from({ length: STREAMS }, async () => {
    while (coldOnce ? next < frames.length : Date.now() < end) {
      const frame = frames[next++ % frames.length] as Buffer;
      const t = process.hrtime.bigint();
      const ok = await call(session, frame);
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      done++;
      if (ok === null) errors++; else if (ok) allowed++;
    }
  })));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = procCpuMs(pid) - cpu0;
  for (const s of sessions) s.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  const r = { name, checks: done, seconds: elapsed, rps: done / elapsed, cpuMsPerCheck: cpu / done, cpuCoresUsed: cpu / 1000 / elapsed, p50: q(0.5), p99: q(0.99), errors, allowed, rssMb: procRssMb(pid) };
  log(JSON.stringify(r));
  return r;
}

/** One unary gRPC call: true allowed, false denied, null on a transport error. */
function call(session: ReturnType<typeof connect>, frame: Buffer): Promise<boolean | null> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => resolve(null));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // CheckResponse.status is field 1; status.code field 1. OK → the status message has no code field.
      const msg = body.subarray(5);
      resolve(msg.length > 0 && isAllowed(msg));
    });
    req.end(frame);
  });
}

function isAllowed(msg: Buffer): boolean {
  // ok_response is field 3 (tag 0x1a); denied_response field 2 (tag 0x12) at the top level.
  let i = 0;
  while (i < msg.length) {
    const tag = msg[i] ?? 0;
    if (tag === 0x1a) return true;
    if (tag === 0x12) return false;
    i++;
    let len = 0; let shift = 0; let b = 0;
    do { b = msg[i++] ?? 0; len |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    i += len;
  }
  return false;
}

function procRssMb(p: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function procCpuMs(p: number): number {
  const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100;
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try { if ((await fetch(url)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become ready');
}

function run(cmd: string, args: string[], e: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: e, stdio: 'inherit' });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}
