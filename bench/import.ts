/**
 * Bulk NDJSON import: generates N consumers with one plain API key each into a temp file
 * (streamed), imports it into a fresh PostgreSQL database with COPY, and records the time, rate
 * and peak memory in bench/results/import.md (one row per run, appended).
 *
 *   node --import tsx bench/import.ts [--consumers 1000000] [--batch 10000] [--rerun] [--keep]
 *
 * The import runs in a child process, so its memory figures are the importer's alone (not the
 * generator's). PostgreSQL: KEYGATE_BENCH_PG_URL, else KEYGATE_TEST_PG_URL, else
 * postgres://postgres@127.0.0.1:5432/postgres; a database `keygate_bench_import_<pid>` is created
 * there and dropped at the end unless --keep.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { importNdjson } from '../src/admin/import/ndjson-import.js';
import type { ImportReport } from '../src/admin/import/import-report.js';
import { SecretHasher } from '../src/credentials/secret-hasher.js';
import { PostgresCredentialSource } from '../src/store/credential-source.js';
import { openPostgresStore } from '../src/store/database.js';
import { migrateToLatest } from '../src/store/migrations.js';

const { values: args } = parseArgs({
  options: {
    consumers: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '10000' },
    rerun: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string', default: fileURLToPath(new URL('results/import.md', import.meta.url)) },
    // Internal: the child process that imports.
    child: { type: 'boolean', default: false },
    file: { type: 'string' },
    url: { type: 'string' },
  },
});
const BATCH = Number(args.batch);
const PEPPER = 'bench-pepper-0123456789abcdef0123456789abcdef';
const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MiB`;

/** What the child reports on its stdout (one JSON line). */
interface ChildResult {
  readonly report: ImportReport;
  readonly seconds: number;
  readonly rssStart: number;
  readonly rssPeak: number;
  readonly maxRss: number;
  /** Heap in use after a full GC as the last batch commits: what the import really holds. */
  readonly heapLive: number;
  readonly cpuSeconds: number;
  readonly rerunSeconds: number | null;
}

async function child(file: string, url: string): Promise<void> {
  const rssStart = process.memoryUsage.rss();
  let rssPeak = rssStart;
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage.rss()); }, 100);
  const store = openPostgresStore({ url, poolSize: 2, applicationName: 'keygate-bench-import' });
  const pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'keygate-bench-import-copy' });
  try {
    const hasher = new SecretHasher(PEPPER);
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    let next = 100_000;
    const fileBytes = statSync(file).size;
    let heapLive = 0;
    const report = await importNdjson({
      db: store.db, pg: pool, hasher, input: createReadStream(file, { highWaterMark: 1 << 16 }), actor: 'bench', source: 'bench', batchSize: BATCH,
      onProgress: (lines, bytes) => {
        if (bytes === fileBytes) {
          // The last batch: everything the import holds (the usernames seen) is still alive.
          (globalThis as { gc?: () => void }).gc?.();
          heapLive = process.memoryUsage().heapUsed;
        }
        if (lines < next) return;
        next += 100_000;
        const m = process.memoryUsage();
        log(`  ${lines.toLocaleString('en-US')} lines, ${((performance.now() - t) / 1000).toFixed(1)} s, rss ${mib(m.rss)}, heap ${mib(m.heapUsed)} of ${mib(m.heapTotal)}`);
      },
    });
    const seconds = (performance.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    let rerunSeconds: number | null = null;
    if (args.rerun) {
      const t2 = performance.now();
      const again = await importNdjson({ db: store.db, pg: pool, hasher, input: createReadStream(file, { highWaterMark: 1 << 16 }), actor: 'bench', batchSize: BATCH });
      rerunSeconds = (performance.now() - t2) / 1000;
      if (again.consumersInserted + again.consumersUpdated + again.credentialsInserted !== 0) throw new Error('the re-run wrote rows');
    }
    const result: ChildResult = {
      report: { ...report, rejected: report.rejected.slice(0, 5) }, seconds, rssStart, rssPeak, maxRss: process.resourceUsage().maxRSS * 1024,
      heapLive, cpuSeconds: (cpu.user + cpu.system) / 1e6, rerunSeconds,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    clearInterval(sampler);
    await pool.end();
    await store.close();
  }
}

async function generate(path: string, n: number): Promise<Array<{ username: string; key: string }>> {
  const out = createWriteStream(path);
  const roleSets = ['["payments:read"]', '["payments:read","payments:write"]', '["refunds:write"]', '[]'];
  const sample: Array<{ username: string; key: string }> = [];
  let buf = '';
  let random = Buffer.alloc(0);
  for (let i = 1; i <= n; i++) {
    if ((i - 1) % 1000 === 0) random = randomBytes(24 * 1000);
    const at = ((i - 1) % 1000) * 24;
    const key = `kg_${random.subarray(at, at + 24).toString('base64url')}`;
    const username = `m-${String(i).padStart(7, '0')}`;
    if (i % Math.max(1, Math.floor(n / 5)) === 0) sample.push({ username, key });
    const metadata = i % 10 === 0 ? ',"metadata":{"tier":"gold","region":"eu-west-1"}' : '';
    buf += `{"username":"${username}","custom_id":"merchant-${i}","roles":${roleSets[i % 4] ?? '[]'}${metadata},"credentials":[{"type":"key-auth","key":"${key}"}]}\n`;
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return sample;
}

async function runChild(file: string, url: string): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  const argv = ['--import', 'tsx', '--expose-gc', self, '--child', '--file', file, '--url', url, '--batch', String(BATCH), ...(args.rerun ? ['--rerun'] : [])];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (s: string) => { stdout += s; });
  const [code] = await once(proc, 'exit') as [number | null];
  if (code !== 0) throw new Error(`the import process exited with ${String(code)}`);
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as ChildResult;
}

async function main(): Promise<void> {
  const n = Number(args.consumers);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(BATCH) || BATCH < 1) throw new Error('--consumers and --batch must be positive whole numbers');
  const serverUrl = process.env.KEYGATE_BENCH_PG_URL ?? process.env.KEYGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dir = mkdtempSync(join(tmpdir(), 'keygate-import-bench-'));
  const file = join(dir, 'consumers.ndjson');
  const dbName = `keygate_bench_import_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const pgVersion = String((await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?');
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const store = openPostgresStore({ url: url.toString(), poolSize: 1 });
  try {
    await migrateToLatest(store.db);
    log(`generating ${n.toLocaleString('en-US')} consumers into ${file}`);
    let t = performance.now();
    const sample = await generate(file, n);
    const fileBytes = statSync(file).size;
    log(`generated ${(fileBytes / 1e6).toFixed(0)} MB in ${((performance.now() - t) / 1000).toFixed(1)} s; importing`);

    const loadBefore = loadavg()[0] ?? 0;
    t = performance.now();
    const r = await runChild(file, url.toString());
    const loadAfter = loadavg()[0] ?? 0;
    log(`imported in ${r.seconds.toFixed(1)} s: ${JSON.stringify(r.report)}`);

    // Check the result: counts, and one key from each fifth of the file identifies its consumer.
    const counts = await store.db.selectNoFrom((eb) => [
      eb.selectFrom('consumers').select(eb.fn.countAll<string>().as('n')).as('consumers'),
      eb.selectFrom('credentials').select(eb.fn.countAll<string>().as('n')).as('credentials'),
    ]).executeTakeFirstOrThrow();
    if (Number(counts.consumers) !== n || Number(counts.credentials) !== n || r.report.rejectedCount !== 0) throw new Error(`unexpected result: ${JSON.stringify(counts)}`);
    const source = new PostgresCredentialSource(store.db);
    const hasher = new SecretHasher(PEPPER);
    for (const s of sample) {
      if ((await source.load('key-auth', hasher.hash(s.key)))?.username !== s.username) throw new Error(`the key of ${s.username} does not verify`);
    }
    const size = await dbSize(url.toString());

    const header = [
      '# Bulk NDJSON import (COPY into staging tables, then INSERT … SELECT … ON CONFLICT)',
      '',
      '`bench/import.ts` generates N consumers with one plain `kg_` key each (custom_id, roles; metadata on',
      'every 10th) into a temp NDJSON file, then a child process runs `importNdjson` on it into a fresh',
      'PostgreSQL database on the same machine: keys HMAC-hashed on import, batches of 10,000, each',
      'one transaction, change-feed triggers on (one `changes` row per new credential). PostgreSQL',
      'shares the 2 cores with the importer, and the box with other work: see the load average.',
      '',
      'Memory is the importer process\'s (PostgreSQL not counted; the process runs TypeScript through',
      'tsx, whose loader thread and compiler account for most of the start RSS): RSS at start → peak',
      '(lifetime max RSS), and the live heap: heap in use after a full GC as the last batch commits',
      '(mostly the usernames seen, kept for exact duplicate detection, ~60 bytes per consumer). The',
      'gap between the two is V8 heap headroom and allocator caches, not data.',
      '',
      'Where the time goes (1M, measured while building it): PostgreSQL does ~30 s of it — the',
      'credentials insert (~20 µs a row: the random `(type, lookup)` index, the FK check, the',
      `change-feed row) and the consumers insert (~10 µs a row); the importer's parsing, validation and`,
      'HMAC (~17 µs a line) run alongside. What made it fit: one round trip per batch for all the',
      'set-based statements (one implicit transaction), `jit = off` (JIT recompiled every batch),',
      'UUIDv7 ids for new rows (primary keys and `credentials.consumer_id` grow at the right edge),',
      'a MATERIALIZED fence so only skipped credentials are probed for conflicts, and yielding to the',
      'event loop between 8 KiB input slices so COPY and query replies are not held up by parsing.',
      'First working version: 57 s.',
      '',
      '| date (UTC) | command | consumers | file | import s | consumers/s | RSS start → peak (max) | live heap | importer CPU s | re-run s (no change) | DB size | load avg 1m before → after | machine |',
      '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |',
      '',
    ].join('\n');
    if (!existsSync(args.out)) writeFileSync(args.out, header);
    const command = `node --import tsx bench/import.ts --consumers ${n}${BATCH !== 10_000 ? ` --batch ${BATCH}` : ''}${args.rerun ? ' --rerun' : ''}`;
    const machine = `${cpus()[0]?.model.trim() ?? '?'}, ${cpus().length} cores, node ${process.version}, PostgreSQL ${pgVersion.split(' ')[0] ?? '?'}`;
    const row = `| ${new Date().toISOString().slice(0, 16).replace('T', ' ')} | \`${command}\` | ${n.toLocaleString('en-US')} | ${(fileBytes / 1e6).toFixed(0)} MB `
      + `| **${r.seconds.toFixed(1)}** | ${Math.round(n / r.seconds).toLocaleString('en-US')} | ${mib(r.rssStart)} → ${mib(r.rssPeak)} (${mib(r.maxRss)}) | ${mib(r.heapLive)} `
      + `| ${r.cpuSeconds.toFixed(1)} | ${r.rerunSeconds === null ? '–' : r.rerunSeconds.toFixed(1)} | ${size} | ${loadBefore.toFixed(2)} → ${loadAfter.toFixed(2)} | ${machine} |\n`;
    appendFileSync(args.out, row);
    log(row);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    if (!args.keep) {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await c.end();
    }
  }
}

async function dbSize(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return String((await c.query<{ s: string }>('SELECT pg_size_pretty(pg_database_size(current_database())) AS s')).rows[0]?.s ?? '?');
  } finally {
    await c.end();
  }
}

if (args.child) await child(args.file ?? '', args.url ?? '');
else await main();
