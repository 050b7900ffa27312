/**
 * CheckRequest decode / CheckResponse encode: proto-loader (protobufjs) vs keygate's codec.
 *
 *   node --import tsx bench/codec.ts
 *
 * Decode: a realistic ~1.5 KB CheckRequest (curl through an Envoy HTTPS listener over HTTP/2, 18
 * headers incl. a JWT bearer token, source/destination addresses, time, TLS SNI, context
 * extensions), decoded by proto-loader's `requestDeserialize` (the full object the server used to
 * get) and by `decodeCheckRequest`; each alone and followed by what the pipeline does next:
 * method/host/path and 3 header lookups (`authorization`, `x-api-key` (absent), `x-request-id`,
 * the latter via `requestId` for keygate).
 * Encode: a typical allow response (2 headers to set, 2 to remove, 1 query parameter to remove,
 * 3 dynamic metadata fields) via proto-loader's `responseSerialize` of the equivalent object vs
 * `encodeCheckResponse` of the model.
 *
 * Each case runs in the same process, interleaved, in 7 rounds of >= 200 ms after a warm-up; the
 * reported ns/op is the median round. Prints a table and overwrites bench/results/codec.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { decodeCheckRequest } from '../src/server/check-request-decoder.js';
import { encodeCheckResponse } from '../src/server/check-response-encoder.js';
import type { CheckResponseModel } from '../src/server/check-response-model.js';
import { loadAuthorizationService } from '../src/server/envoy-protos.js';
import { FIXTURE_BEARER_H2 } from '../test/fixtures/check-requests.js';

const { check } = loadAuthorizationService();

const request = check.requestSerialize(FIXTURE_BEARER_H2);
const headerCount = 18;

const allow: CheckResponseModel = {
  kind: 'ok',
  headersToSet: [
    ['x-consumer-id', '8d6f7a52-3c1e-4b8a-9f0d-2e5c7b1a4d93'],
    ['x-consumer-username', 'alice'],
  ],
  headersToRemove: ['authorization', 'x-api-key'],
  queryParametersToRemove: ['apikey'],
  responseHeadersToAdd: [],
  dynamicMetadata: { consumer_id: '8d6f7a52-3c1e-4b8a-9f0d-2e5c7b1a4d93', credential_type: 'jwt', authenticated: true },
};
const allowObject = {
  status: {},
  ok_response: {
    headers: allow.headersToSet.map(([key, value]) => ({ header: { key, value }, append: {} })),
    headers_to_remove: [...allow.headersToRemove],
    query_parameters_to_remove: [...allow.queryParametersToRemove],
  },
  dynamic_metadata: {
    fields: {
      consumer_id: { stringValue: '8d6f7a52-3c1e-4b8a-9f0d-2e5c7b1a4d93' },
      credential_type: { stringValue: 'jwt' },
      authenticated: { boolValue: true },
    },
  },
};
const ours = encodeCheckResponse(allow);
const theirs = check.responseSerialize(allowObject);
if (!ours.equals(theirs)) throw new Error('encoders disagree on the benchmark response');

interface HttpObject {
  method?: string;
  host?: string;
  path?: string;
  headers?: Record<string, string>;
}
interface DecodedObject {
  attributes?: { request?: { http?: HttpObject } };
}

let sink = 0;

const cases: Record<string, () => void> = {
  'decode: proto-loader requestDeserialize': () => {
    const obj = check.requestDeserialize(request);
    sink += obj === null ? 0 : 1;
  },
  'decode: keygate decodeCheckRequest': () => {
    const input = decodeCheckRequest(request);
    sink += input.method.length;
  },
  'decode + method/host/path + 3 header lookups: proto-loader': () => {
    const obj = check.requestDeserialize(request) as DecodedObject;
    const http = obj.attributes?.request?.http ?? {};
    const headers = http.headers ?? {};
    sink += (http.method ?? '').length + (http.host ?? '').length + (http.path ?? '').indexOf('?');
    sink += (headers['authorization'] ?? '').length + (headers['x-api-key'] ?? '').length + (headers['x-request-id'] ?? '').length;
  },
  'decode + method/host/path + 3 header lookups: keygate': () => {
    const input = decodeCheckRequest(request);
    sink += input.method.length + input.host.length + input.path.length + input.query.length;
    sink += (input.header('authorization') ?? '').length + (input.header('x-api-key') ?? '').length + input.requestId.length;
  },
  'encode allow: proto-loader responseSerialize': () => {
    sink += check.responseSerialize(allowObject).length;
  },
  'encode allow: keygate encodeCheckResponse': () => {
    sink += encodeCheckResponse(allow).length;
  },
};

function timeLoop(fn: () => void, iterations: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - t0);
}

/** Iterations that take about `ms` milliseconds. */
function calibrate(fn: () => void, ms: number): number {
  let n = 1000;
  for (;;) {
    const ns = timeLoop(fn, n);
    if (ns > 20e6) return Math.ceil((n * ms * 1e6) / ns);
    n *= 4;
  }
}

const loadBefore = os.loadavg()[0] ?? NaN;
const ROUNDS = 7;
const names = Object.keys(cases);
const iterations = new Map<string, number>();
for (const name of names) {
  const fn = cases[name];
  if (fn === undefined) continue;
  timeLoop(fn, 20_000); // warm-up / JIT
  iterations.set(name, calibrate(fn, 200));
}
const samples = new Map<string, number[]>(names.map((n) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const name of names) {
    const fn = cases[name];
    const n = iterations.get(name) ?? 1;
    if (fn !== undefined) samples.get(name)?.push(timeLoop(fn, n) / n);
  }
}
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}
const ns = new Map(names.map((n) => [n, median(samples.get(n) ?? [])]));
const get = (name: string): number => ns.get(name) ?? NaN;
const ratio = (a: string, b: string): string => `${(get(a) / get(b)).toFixed(1)}x`;

const rows: Array<[string, string, string]> = names.map((n) => [n, get(n).toFixed(0), `${(iterations.get(n) ?? 0).toLocaleString('en-US')}`]);
const ratios: Array<[string, string]> = [
  ['decode alone', ratio('decode: proto-loader requestDeserialize', 'decode: keygate decodeCheckRequest')],
  ['decode + lookups', ratio('decode + method/host/path + 3 header lookups: proto-loader', 'decode + method/host/path + 3 header lookups: keygate')],
  ['encode allow', ratio('encode allow: proto-loader responseSerialize', 'encode allow: keygate encodeCheckResponse')],
];

const loadAfter = os.loadavg()[0] ?? NaN;
const cpu = os.cpus()[0]?.model.trim() ?? 'unknown cpu';
const cores = os.cpus().length;
const command = 'node --import tsx bench/codec.ts';
const table = [
  '| case | ns/op (median of 7 rounds) | iterations/round |',
  '| --- | ---: | ---: |',
  ...rows.map(([k, v, it]) => `| ${k} | ${v} | ${it} |`),
].join('\n');
const ratioTable = ['| proto-loader / keygate | ratio |', '| --- | ---: |', ...ratios.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
const md = `# CheckRequest / CheckResponse codec: proto-loader vs keygate

- date: ${new Date().toISOString()}
- machine: ${cpu}, ${cores} cores, ${os.platform()} ${os.release()} ${os.arch()}
- node: ${process.version}
- 1-minute load average: ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (the box is shared; the cases are interleaved per round so ratios hold up better than absolute numbers)
- command: \`${command}\`
- request: ${request.length} bytes, ${headerCount} headers (HTTP/2 curl through Envoy, JWT bearer), in the \`headers\` map
- response: typical allow, ${ours.length} bytes (identical bytes from both encoders)
- lookups: \`authorization\`, \`x-api-key\` (absent), \`x-request-id\` (keygate: via \`requestId\`)

${table}

${ratioTable}
`;

console.log(`machine: ${cpu}, ${cores} cores, node ${process.version}`);
console.log(`command: ${command}`);
console.log(`request ${request.length} B, response ${ours.length} B`);
console.log(table);
console.log(ratioTable);
if (sink === 0) console.log('(sink)');
const outDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const outFile = `${outDir}codec.md`;
writeFileSync(outFile, md);
console.log(`wrote ${outFile}`);
