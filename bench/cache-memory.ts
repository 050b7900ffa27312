/**
 * Memory / lookup / GC benchmark of the L1 credential cache.
 *
 *   node --expose-gc --import tsx bench/cache-memory.ts [N=1000000]
 *
 * Inserts N positive entries (random uuids, usernames like `user-000123`, a few shared role and
 * scope sets, key-auth, random 32-byte keys), then measures: RSS / heapUsed / arrayBuffers growth
 * after a full GC, the cache's own `stats().bytes`, insert time, mean `get` time for hits and for
 * misses (>= 1M lookups each), and the duration of a full `gc()` with the cache populated vs
 * emptied. Prints a table and overwrites bench/results/cache-memory.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { CredentialCache } from '../src/cache/credential-cache.js';
import { syntheticRecord as record } from '../test/fixtures/credential-records.js';

const gcFn = (globalThis as { gc?: () => void }).gc;
if (gcFn === undefined) {
  console.error('run with --expose-gc: node --expose-gc --import tsx bench/cache-memory.ts [N]');
  process.exit(2);
}
const gc: () => void = gcFn;

const n = Number(process.argv[2] ?? 1_000_000);
if (!Number.isSafeInteger(n) || n < 1) {
  console.error(`bad N: ${process.argv[2] ?? ''}`);
  process.exit(2);
}
const lookups = Math.max(1_000_000, n);


function fullGc(): void {
  gc();
  gc();
}

function mem(): { rss: number; heapTotal: number; heapUsed: number; arrayBuffers: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

/** Times `rounds` full GCs (after one untimed one); median and max in ms. */
function timeGc(rounds: number): { median: number; max: number } {
  gc();
  const d: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    gc();
    d.push(performance.now() - t0);
  }
  d.sort((a, b) => a - b);
  return { median: d[Math.floor(rounds / 2)] ?? 0, max: d[rounds - 1] ?? 0 };
}

// Inputs are allocated before the baseline so that they are not counted as cache memory.
const keyBytes = randomBytes(32 * n);
const missBytes = randomBytes(32 * 4096);
const order = new Uint32Array(lookups);
for (let i = 0; i < lookups; i++) order[i] = Math.floor(Math.random() * n);

fullGc();
const gcBaseline = timeGc(7);
fullGc();
const before = mem();

const cache = new CredentialCache({ maxEntries: n, positiveTtlMs: 300_000, negativeTtlMs: 30_000 });
const tInsert = performance.now();
for (let i = 0; i < n; i++) cache.setPositive(keyBytes.subarray(i * 32, i * 32 + 32), record(i));
const insertMs = performance.now() - tInsert;

fullGc();
const after = mem();
const stats = cache.stats();
if (stats.entries !== n) throw new Error(`expected ${n} entries, have ${stats.entries}`);

// Lookups. Fetching the key (a random 32 bytes of a 32 MB array: a cache miss a real caller,
// which has just hashed the key, does not pay) and slicing it are part of every loop; their
// own cost is measured separately.
let sink = 0;
let t0 = process.hrtime.bigint();
for (let j = 0; j < lookups; j++) {
  const i = order[j] ?? 0;
  sink += keyBytes.subarray(i * 32, i * 32 + 32)[31] ?? 0;
}
const sliceNs = Number(process.hrtime.bigint() - t0) / lookups;

t0 = process.hrtime.bigint();
for (let j = 0; j < lookups; j++) {
  const i = order[j] ?? 0;
  const r = cache.get(keyBytes.subarray(i * 32, i * 32 + 32));
  if (r.kind !== 'hit') throw new Error('expected a hit');
  sink += r.record.username.length;
}
const hitNs = Number(process.hrtime.bigint() - t0) / lookups;

// The same over a hot set of 1,000 keys (index and records stay in the CPU caches).
t0 = process.hrtime.bigint();
for (let j = 0; j < lookups; j++) {
  const i = (order[j] ?? 0) % 1000;
  const r = cache.get(keyBytes.subarray(i * 32, i * 32 + 32));
  if (r.kind !== 'hit') throw new Error('expected a hit');
  sink += r.record.username.length;
}
const hotHitNs = Number(process.hrtime.bigint() - t0) / lookups;

t0 = process.hrtime.bigint();
for (let j = 0; j < lookups; j++) {
  const i = (order[j] ?? 0) & 4095;
  const r = cache.get(missBytes.subarray(i * 32, i * 32 + 32));
  if (r.kind !== 'miss') throw new Error('expected a miss');
  sink += 1;
}
const missNs = Number(process.hrtime.bigint() - t0) / lookups;

fullGc();
const gcPopulated = timeGc(7);

cache.clear();
fullGc();
const gcEmpty = timeGc(7);
const afterClear = mem();

// Lookup cost without decoding: the same N keys as negative entries in a second cache (a
// negative hit runs the same index probe, 32-byte compare and TTL check, and decodes nothing).
// (maxEntries 2N: the negative cap is per shard, a share of maxEntries / shards, and shards are
// not filled exactly evenly.)
const negCache = new CredentialCache({
  maxEntries: 2 * n,
  positiveTtlMs: 0,
  negativeTtlMs: 3_600_000,
  maxNegativeFraction: 1,
});
for (let i = 0; i < n; i++) negCache.setNegative(keyBytes.subarray(i * 32, i * 32 + 32));
t0 = process.hrtime.bigint();
for (let j = 0; j < lookups; j++) {
  const i = order[j] ?? 0;
  const r = negCache.get(keyBytes.subarray(i * 32, i * 32 + 32));
  if (r.kind !== 'negative') throw new Error('expected a negative hit');
  sink += 1;
}
const negativeHitNs = Number(process.hrtime.bigint() - t0) / lookups;
const negativeBytes = negCache.stats().bytes;
negCache.clear();

const cpu = os.cpus()[0]?.model ?? 'unknown';
const machine = {
  cpu,
  cores: os.cpus().length,
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  totalMemGiB: Math.round(os.totalmem() / 2 ** 30),
};
const command = ['node', ...process.execArgv, 'bench/cache-memory.ts', ...process.argv.slice(2)].join(' ');
const perEntry = (bytes: number): number => Math.round((bytes / n) * 10) / 10;
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

const result = {
  date: new Date().toISOString(),
  command,
  machine,
  n,
  lookups,
  shards: 64,
  stats,
  bytesPerEntry: {
    cacheBuffers: perEntry(stats.bytes),
    rss: perEntry(after.rss - before.rss),
    heapUsed: perEntry(after.heapUsed - before.heapUsed),
    heapTotal: perEntry(after.heapTotal - before.heapTotal),
    arrayBuffers: perEntry(after.arrayBuffers - before.arrayBuffers),
  },
  insert: { totalMs: Math.round(insertMs), perEntryUs: r3((insertMs * 1000) / n) },
  lookupUs: { hit: r3(hitNs / 1000), hitHotSet: r3(hotHitNs / 1000), negativeHit: r3(negativeHitNs / 1000), miss: r3(missNs / 1000), keySliceOnly: r3(sliceNs / 1000) },
  fullGcMs: {
    beforeCache: { median: r1(gcBaseline.median), max: r1(gcBaseline.max) },
    populated: { median: r1(gcPopulated.median), max: r1(gcPopulated.max) },
    emptied: { median: r1(gcEmpty.median), max: r1(gcEmpty.max) },
  },
  memoryMiB: {
    before: { rss: r1(before.rss / 2 ** 20), heapTotal: r1(before.heapTotal / 2 ** 20), heapUsed: r1(before.heapUsed / 2 ** 20) },
    populated: { rss: r1(after.rss / 2 ** 20), heapTotal: r1(after.heapTotal / 2 ** 20), heapUsed: r1(after.heapUsed / 2 ** 20) },
    afterClear: { rss: r1(afterClear.rss / 2 ** 20), heapTotal: r1(afterClear.heapTotal / 2 ** 20), heapUsed: r1(afterClear.heapUsed / 2 ** 20) },
  },
  sink,
};

const rows: [string, string][] = [
  ['entries', n.toLocaleString('en-US')],
  ['cache buffers (stats().bytes)', `${r1(stats.bytes / 2 ** 20)} MiB = ${result.bytesPerEntry.cacheBuffers} B/entry`],
  ['RSS growth after gc', `${r1((after.rss - before.rss) / 2 ** 20)} MiB = ${result.bytesPerEntry.rss} B/entry`],
  ['heapTotal growth after gc (V8 pages kept after the insert churn)', `${r1((after.heapTotal - before.heapTotal) / 2 ** 20)} MiB = ${result.bytesPerEntry.heapTotal} B/entry`],
  ['heapUsed growth after gc', `${r1((after.heapUsed - before.heapUsed) / 2 ** 20)} MiB = ${result.bytesPerEntry.heapUsed} B/entry`],
  ['arrayBuffers growth (the arenas and indexes)', `${r1((after.arrayBuffers - before.arrayBuffers) / 2 ** 20)} MiB = ${result.bytesPerEntry.arrayBuffers} B/entry`],
  ['insert (setPositive incl. encoding)', `${result.insert.totalMs} ms total, ${result.insert.perEntryUs} µs/entry`],
  [`get, hit, uniform over all keys (mean of ${lookups.toLocaleString('en-US')}, incl. decode)`, `${result.lookupUs.hit} µs`],
  [`get, hit, hot set of 1,000 keys (mean of ${lookups.toLocaleString('en-US')})`, `${result.lookupUs.hitHotSet} µs`],
  [`get, miss (mean of ${lookups.toLocaleString('en-US')})`, `${result.lookupUs.miss} µs`],
  [`get, negative hit = lookup without decode, uniform over ${n.toLocaleString('en-US')} negative entries`, `${result.lookupUs.negativeHit} µs`],
  ['fetching + slicing the random key alone (part of the uniform get rows above)', `${result.lookupUs.keySliceOnly} µs`],
  ['full gc() before the cache existed', `${result.fullGcMs.beforeCache.median} ms median, ${result.fullGcMs.beforeCache.max} ms max`],
  ['full gc() with the cache populated', `${result.fullGcMs.populated.median} ms median, ${result.fullGcMs.populated.max} ms max`],
  ['full gc() after clear()', `${result.fullGcMs.emptied.median} ms median, ${result.fullGcMs.emptied.max} ms max`],
  ['negative-only cache of the same N keys (stats().bytes)', `${r1(negativeBytes / 2 ** 20)} MiB = ${perEntry(negativeBytes)} B/entry`],
  ['compactions / evictions during the run', `${stats.rebuilds} / ${stats.evictions}`],
];

const table = ['| measure | value |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
const { sink: _sink, ...json } = result;
const md = `# L1 credential cache: memory, lookup and GC benchmark

- date: ${result.date}
- machine: ${cpu}, ${machine.cores} cores, ${machine.totalMemGiB} GiB RAM, ${machine.platform}
- node: ${machine.node}
- command: \`${command}\`
- data: ${n.toLocaleString('en-US')} positive entries, 64 shards, random 32-byte keys, random uuids,
  usernames \`user-000123\`, 4 shared role sets, 3 shared scope sets, type key-auth, no customId/secret.
  Lookups use uniformly random keys (hits) and random unknown keys (misses). RSS/heap growth is
  measured after two full GCs, with the key material allocated before the baseline. RSS growth
  is more than the cache's buffers: V8 keeps the heap pages the insert loop's garbage grew
  (heapTotal row), and glibc keeps freed blocks of the arenas' earlier, smaller generations.

${table}

\`\`\`json
${JSON.stringify(json, null, 2)}
\`\`\`
`;

console.log(`machine: ${cpu}, ${machine.cores} cores, node ${machine.node}`);
console.log(`command: ${command}`);
console.log(table);
const outDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const outFile = `${outDir}cache-memory.md`;
writeFileSync(outFile, md);
console.log(`wrote ${outFile}`);
