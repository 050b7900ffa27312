/**
 * keygate's hand-written CheckRequest decoder and CheckResponse encoder, proven equal to
 * proto-loader (protobufjs) on the real Envoy protos in proto/gen.
 *
 * Decoder: random CheckRequests are serialized with proto-loader's `requestSerialize`, decoded by
 * both `decodeCheckRequest` and proto-loader's `requestDeserialize`, and every CheckInput field is
 * compared with what the documented rules (src/server/check-request-decoder.ts) derive from
 * proto-loader's object. Encoder: `responseDeserialize(encodeCheckResponse(m))` must equal the
 * object the model stands for, and `encodeCheckResponse(m)` must be byte-for-byte
 * `responseSerialize` of that same object (same fields, same field order: protobufjs writes fields
 * by field number and map entries in key order, as the encoder does).
 */
import { strict as assert } from 'node:assert';
import { sep } from 'node:path';
import { describe, it } from 'node:test';
import { loadSync } from '@grpc/proto-loader';
import type { CheckInput } from '../../src/pipeline/check-input.js';
import { CheckRequestDecodeError, decodeCheckRequest } from '../../src/server/check-request-decoder.js';
import { encodeCheckResponse } from '../../src/server/check-response-encoder.js';
import type { CheckResponseModel, MetadataValue } from '../../src/server/check-response-model.js';
import { ENVOY_PROTO_LOADER_OPTIONS, EXTERNAL_AUTH_PROTO, AUTHORIZATION_SERVICE_NAME, loadAuthorizationService } from '../../src/server/envoy-protos.js';
import type { CheckRequest__Input } from '../../src/generated/envoy/service/auth/v3/CheckRequest.js';
import { FIXTURE_BEARER_H2 } from '../fixtures/check-requests.js';
import type { CheckResponse__Input } from '../../src/generated/envoy/service/auth/v3/CheckResponse.js';
import type { AttributeContext__Input } from '../../src/generated/envoy/service/auth/v3/AttributeContext.js';
import type { HeaderValue__Input } from '../../src/generated/envoy/config/core/v3/HeaderValue.js';
import type { HeaderValueOption__Input } from '../../src/generated/envoy/config/core/v3/HeaderValueOption.js';
import type { HttpStatus__Input } from '../../src/generated/envoy/type/v3/HttpStatus.js';
import type { StatusCode__Input } from '../../src/generated/envoy/type/v3/StatusCode.js';
import type { Struct__Input } from '../../src/generated/google/protobuf/Struct.js';
import type { Value__Input } from '../../src/generated/google/protobuf/Value.js';

type HttpRequestInput = NonNullable<NonNullable<AttributeContext__Input['request']>['http']>;
type PeerInput = NonNullable<AttributeContext__Input['source']>;

const service = loadAuthorizationService();
const check = service.check;

/** The same method loaded with `defaults: true`, to see `append.value` spelled out as false. */
const checkWithDefaults = (() => {
  const pd = loadSync(EXTERNAL_AUTH_PROTO, { ...ENVOY_PROTO_LOADER_OPTIONS, defaults: true, includeDirs: [service.protoRoot] });
  const def = pd[AUTHORIZATION_SERVICE_NAME];
  assert.ok(def !== undefined && !('format' in def));
  const method = def['Check'];
  assert.ok(method !== undefined);
  return method;
})();

/** envoy.type.v3.StatusCode number -> name, from the loaded descriptor. */
const httpStatusNames: ReadonlyMap<number, string> = (() => {
  const def = service.packageDefinition['envoy.type.v3.StatusCode'];
  assert.ok(def !== undefined && 'format' in def);
  const type = def.type as { value?: ReadonlyArray<{ name?: string; number?: number }> };
  const names = new Map<number, string>();
  for (const v of type.value ?? []) if (v.name !== undefined && v.number !== undefined) names.set(v.number, v.name);
  assert.equal(names.get(401), 'Unauthorized');
  return names;
})();

function serializeRequest(obj: CheckRequest__Input): Buffer {
  return check.requestSerialize(obj);
}

function protoLoaderDecode(bytes: Buffer): CheckRequest__Input {
  return check.requestDeserialize(bytes) as CheckRequest__Input;
}

// ---- deterministic randomness --------------------------------------------------------------------

class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from empty list');
    return item;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  token(min: number, max: number, alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'): string {
    let s = '';
    const n = min + this.int(max - min + 1);
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)] ?? '';
    return s;
  }
  /** Text mixing ASCII, multi-byte characters, astral characters and (optionally) lone surrogates. */
  text(maxParts: number, loneSurrogates: boolean): string {
    const pieces = ['a', 'Z', '0', ' ', ',', ';', '=', '/', '?', '%2F', 'é', 'ü', 'ß', '日本', 'ключ', '🔑', '👩‍💻', '\t', '"', '\u0000', '\u212a'];
    if (loneSurrogates) pieces.push('\ud800', '\udfff', 'x\ud83d');
    let s = '';
    const n = this.int(maxParts + 1);
    for (let i = 0; i < n; i++) s += this.chance(0.5) ? this.token(1, 8) : this.pick(pieces);
    return s;
  }
}

// ---- the documented decoding rules, applied to proto-loader's object -----------------------------

interface ExpectedInput {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly query: string;
  readonly requestId: string;
  readonly sourcePrincipal: string;
  readonly sourceCertificate: string;
  readonly contextExtensions: Readonly<Record<string, string>>;
  /** folded name -> value, as `header(name)` must answer. */
  readonly headers: ReadonlyMap<string, string>;
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function asciiUpper(s: string): string {
  return s.replace(/[a-z]/g, (c) => c.toUpperCase());
}

function expectedHost(raw: string): string {
  const host = raw.toLowerCase();
  if (host.endsWith('.')) return host.slice(0, -1);
  const m = /^(.*)\.(:\d+)$/s.exec(host);
  return m === null ? host : `${m[1] ?? ''}${m[2] ?? ''}`;
}

function rawValueText(raw: HeaderValue__Input['raw_value']): string {
  if (raw === undefined) return '';
  return typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
}

function expectedFromProtoLoader(req: CheckRequest__Input): ExpectedInput {
  const attributes = req.attributes ?? {};
  const http: HttpRequestInput = attributes.request?.http ?? {};
  const mapHeaders = new Map<string, string>();
  for (const [k, v] of Object.entries(http.headers ?? {})) mapHeaders.set(asciiLower(k), v);
  const listHeaders = new Map<string, string>();
  for (const h of http.header_map?.headers ?? []) {
    const key = asciiLower(h.key ?? '');
    const value = h.value !== undefined && h.value !== '' ? h.value : rawValueText(h.raw_value);
    const prev = listHeaders.get(key);
    listHeaders.set(key, prev === undefined ? value : `${prev},${value}`);
  }
  const headers = new Map(listHeaders);
  for (const [k, v] of mapHeaders) headers.set(k, v);
  const target = http.path ?? '';
  const q = target.indexOf('?');
  const xRequestId = headers.get('x-request-id');
  return {
    method: http.method ?? '',
    host: expectedHost(http.host ?? ''),
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    requestId: xRequestId !== undefined && xRequestId !== '' ? xRequestId : http.id ?? '',
    sourcePrincipal: attributes.source?.principal ?? '',
    sourceCertificate: attributes.source?.certificate ?? '',
    contextExtensions: { ...(attributes.context_extensions ?? {}) },
    headers,
  };
}

const ABSENT_NAMES = ['x-not-sent', 'authorization-x', 'x-request-i', 'x-request-idd', ':authorityx', 'é-absent'];

function assertMatches(got: CheckInput, exp: ExpectedInput, label: string): void {
  assert.equal(got.method, exp.method, `${label}: method`);
  assert.equal(got.host, exp.host, `${label}: host`);
  assert.equal(got.path, exp.path, `${label}: path`);
  assert.equal(got.query, exp.query, `${label}: query`);
  assert.equal(got.requestId, exp.requestId, `${label}: requestId`);
  assert.equal(got.sourcePrincipal, exp.sourcePrincipal, `${label}: sourcePrincipal`);
  assert.equal(got.sourceCertificate, exp.sourceCertificate, `${label}: sourceCertificate`);
  assert.deepStrictEqual(got.contextExtensions, exp.contextExtensions, `${label}: contextExtensions`);
  assert.ok(Object.isFrozen(got.contextExtensions), `${label}: contextExtensions frozen`);
  for (const [name, value] of exp.headers) {
    assert.equal(got.header(name), value, `${label}: header ${JSON.stringify(name)}`);
    assert.equal(got.header(asciiUpper(name)), value, `${label}: header ${JSON.stringify(asciiUpper(name))}`);
    // Near misses of a present name are absent unless they happen to be present too.
    for (const near of [`${name}x`, name.slice(0, -1)]) {
      assert.equal(got.header(near), exp.headers.get(near), `${label}: header ${JSON.stringify(near)}`);
    }
  }
  for (const name of ABSENT_NAMES) {
    assert.equal(got.header(name), exp.headers.get(name), `${label}: absent header ${name}`);
  }
}

function assertEquivalent(obj: CheckRequest__Input, label: string): CheckInput {
  const bytes = serializeRequest(obj);
  const got = decodeCheckRequest(bytes);
  assertMatches(got, expectedFromProtoLoader(protoLoaderDecode(bytes)), label);
  return got;
}

// ---- random CheckRequests -----------------------------------------------------------------------

const HEADER_NAMES = [
  ':authority', ':method', ':path', ':scheme', 'accept', 'accept-encoding', 'authorization', 'content-type',
  'content-length', 'cookie', 'user-agent', 'x-api-key', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id',
  'x-envoy-expected-rq-timeout-ms', 'x-envoy-internal', 'x-b3-traceid', 'traceparent', 'apikey',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'PROPFIND', 'get', ''];
const HOSTS = ['api.example.com', 'Example.COM', 'LOCALHOST', '10.0.0.1', '[::1]', '[2001:DB8::1]', 'xn--bcher-kva.example', 'ÄPI.Example', 'a', ''];

function randomHeaderName(r: Rng): string {
  switch (r.int(6)) {
    case 0:
      return r.token(1, 24);
    case 1:
      return asciiUpper(r.pick(HEADER_NAMES));
    case 2:
      return `x-${r.text(2, false)}`; // unicode names: folded by ASCII rules only
    default:
      return r.pick(HEADER_NAMES);
  }
}

function randomHeaderValue(r: Rng): string {
  switch (r.int(5)) {
    case 0:
      return '';
    case 1:
      return r.text(12, true);
    case 2:
      return r.token(0, 200, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/=');
    default:
      return r.token(0, 40);
  }
}

function randomHost(r: Rng): string {
  let host = r.pick(HOSTS);
  if (r.chance(0.3)) host += '.';
  if (r.chance(0.05)) host += '.';
  if (r.chance(0.3)) host += `:${r.int(65536)}`;
  if (r.chance(0.05)) host += ':';
  return host;
}

function randomPath(r: Rng): string {
  let path = '';
  const segments = r.int(6);
  for (let i = 0; i < segments; i++) path += `/${r.chance(0.8) ? r.token(0, 12) : r.text(3, false)}`;
  if (r.chance(0.4)) path += `?${r.token(0, 10)}=${r.text(3, true)}`;
  if (r.chance(0.1)) path += `?again&x=${r.token(0, 5)}`;
  if (r.chance(0.05)) path = '?';
  return path;
}

function randomStruct(r: Rng, depth: number): Struct__Input {
  const fields: Record<string, Value__Input> = {};
  const n = r.int(5);
  for (let i = 0; i < n; i++) fields[r.token(1, 10)] = randomValue(r, depth);
  return { fields };
}

function randomValue(r: Rng, depth: number): Value__Input {
  switch (r.int(depth > 0 ? 6 : 4)) {
    case 0:
      return { stringValue: r.text(6, false) };
    case 1:
      return { numberValue: (r.next() - 0.5) * 1e6 };
    case 2:
      return { boolValue: r.chance(0.5) };
    case 3:
      return { nullValue: 'NULL_VALUE' };
    case 4:
      return { structValue: randomStruct(r, depth - 1) };
    default:
      return { listValue: { values: [randomValue(r, depth - 1), randomValue(r, depth - 1)] } };
  }
}

function randomPeer(r: Rng, withIdentity: boolean): PeerInput {
  const peer: PeerInput = {};
  if (r.chance(0.8)) peer.address = { socket_address: { address: `10.${r.int(256)}.${r.int(256)}.${r.int(256)}`, port_value: r.int(65536) } };
  if (r.chance(0.2)) peer.service = r.token(1, 20);
  if (r.chance(0.2)) peer.labels = { app: r.token(1, 8), version: 'v1' };
  if (withIdentity && r.chance(0.5)) peer.principal = r.chance(0.8) ? `spiffe://cluster.local/ns/${r.token(1, 8)}/sa/${r.token(1, 8)}` : r.text(4, true);
  if (withIdentity && r.chance(0.3)) {
    peer.certificate = encodeURIComponent(`-----BEGIN CERTIFICATE-----\n${r.bytes(200 + r.int(1200)).toString('base64')}\n-----END CERTIFICATE-----\n`);
  }
  return peer;
}

function randomHttp(r: Rng): HttpRequestInput {
  const http: HttpRequestInput = {};
  if (r.chance(0.8)) http.id = String(r.int(2 ** 31)) + String(r.int(2 ** 31));
  if (r.chance(0.95)) http.method = r.pick(METHODS);
  if (r.chance(0.95)) http.host = randomHost(r);
  if (r.chance(0.95)) http.path = randomPath(r);
  const headerCount = r.int(31);
  const useHeaderMap = r.chance(0.3);
  const both = r.chance(0.05);
  if (!useHeaderMap || both) {
    const headers: Record<string, string> = {};
    for (let i = 0; i < headerCount; i++) {
      const name = randomHeaderName(r);
      if (name === '__proto__') continue;
      headers[name] = randomHeaderValue(r);
    }
    if (r.chance(0.5)) headers['x-request-id'] = r.chance(0.1) ? '' : `${r.token(8, 8, '0123456789abcdef')}-${r.token(4, 4, '0123456789abcdef')}`;
    http.headers = headers;
  }
  if (useHeaderMap || both) {
    const list: HeaderValue__Input[] = [];
    for (let i = 0; i < headerCount; i++) {
      const previous = list.length > 0 && r.chance(0.25) ? list[r.int(list.length)] : undefined;
      // Duplicates, sometimes differing in case (they fold together and are joined with ',').
      const key = previous?.key !== undefined ? (r.chance(0.5) ? asciiUpper(previous.key) : previous.key) : randomHeaderName(r);
      const h: HeaderValue__Input = { key };
      switch (r.int(4)) {
        case 0:
          h.value = randomHeaderValue(r);
          break;
        case 1:
          h.raw_value = Buffer.from(randomHeaderValue(r), 'utf8');
          break;
        case 2:
          h.raw_value = r.bytes(r.int(12)); // arbitrary bytes, invalid UTF-8 included
          break;
        default:
          h.value = randomHeaderValue(r);
          h.raw_value = Buffer.from(randomHeaderValue(r), 'utf8');
      }
      list.push(h);
    }
    if (r.chance(0.3)) list.push({ key: 'x-request-id', raw_value: Buffer.from(r.token(1, 36)) });
    http.header_map = { headers: list };
  }
  // Fields the decoder must skip.
  if (r.chance(0.5)) http.scheme = r.pick(['http', 'https']);
  if (r.chance(0.5)) http.protocol = r.pick(['HTTP/1.1', 'HTTP/2', 'HTTP/3']);
  if (r.chance(0.5)) http.size = r.pick(['-1', '0', String(r.int(1e6)), '9007199254740993', '-9223372036854775808']);
  if (r.chance(0.2)) http.body = r.chance(0.1) ? r.token(5000, 20000) : r.text(20, true);
  if (r.chance(0.1)) http.raw_body = r.bytes(r.int(3000));
  if (r.chance(0.05)) http.query = 'ignored=1';
  if (r.chance(0.05)) http.fragment = 'frag';
  return http;
}

function randomCheckRequest(r: Rng): CheckRequest__Input {
  if (r.chance(0.01)) return {};
  const attributes: AttributeContext__Input = {};
  if (r.chance(0.9)) attributes.source = randomPeer(r, true);
  if (r.chance(0.7)) attributes.destination = randomPeer(r, r.chance(0.5));
  if (r.chance(0.97)) {
    attributes.request = {};
    if (r.chance(0.8)) attributes.request.time = { seconds: String(1_700_000_000 + r.int(1e8)), nanos: r.int(1e9) };
    if (r.chance(0.97)) attributes.request.http = randomHttp(r);
  }
  if (r.chance(0.4)) {
    const ext: Record<string, string> = {};
    const n = r.int(5);
    for (let i = 0; i < n; i++) ext[r.chance(0.9) ? r.token(0, 16) : r.text(3, true)] = r.chance(0.9) ? r.token(0, 30) : r.text(5, true);
    delete ext['__proto__'];
    attributes.context_extensions = ext;
  }
  if (r.chance(0.4)) {
    attributes.metadata_context = {
      filter_metadata: { 'envoy.filters.http.jwt_authn': randomStruct(r, 3), [r.token(1, 20)]: randomStruct(r, 2) },
    };
    if (r.chance(0.3)) {
      attributes.metadata_context.typed_filter_metadata = {
        'envoy.lb': { type_url: 'type.googleapis.com/google.protobuf.Struct', value: r.bytes(r.int(40)) },
      };
    }
  }
  if (r.chance(0.2)) attributes.route_metadata_context = { filter_metadata: { 'keygate_route': randomStruct(r, 2) } };
  if (r.chance(0.3)) attributes.tls_session = { sni: randomHost(r) };
  return { attributes };
}

// ---- realistic fixtures -------------------------------------------------------------------------


/**
 * `curl -s -u alice:s3cret -X POST -H 'Content-Type: application/json' -d '{"qty":1}' 'http://API.Example.COM.:10000/api/items'`
 * over plain HTTP/1.1 with `with_request_body` on (so Envoy buffers and forwards the body).
 */
const FIXTURE_BASIC_POST_H1: CheckRequest__Input = {
  attributes: {
    source: { address: { socket_address: { address: '127.0.0.1', port_value: 41514 } } },
    destination: { address: { socket_address: { address: '127.0.0.1', port_value: 10000 } } },
    request: {
      time: { seconds: '1735689601', nanos: 5000 },
      http: {
        id: '4242424242424242424',
        method: 'POST',
        headers: {
          ':authority': 'API.Example.COM.:10000',
          ':path': '/api/items',
          ':method': 'POST',
          ':scheme': 'http',
          authorization: 'Basic YWxpY2U6czNjcmV0',
          'user-agent': 'curl/8.5.0',
          accept: '*/*',
          'content-type': 'application/json',
          'content-length': '9',
          'x-forwarded-proto': 'http',
          'x-request-id': '0d4e2f6a-1111-4222-8333-944455566677',
          'x-envoy-expected-rq-timeout-ms': '15000',
        },
        path: '/api/items',
        host: 'API.Example.COM.:10000',
        scheme: 'http',
        protocol: 'HTTP/1.1',
        size: '9',
        body: '{"qty":1}',
      },
    },
  },
};

/**
 * `curl -s -H 'x-api-key: kg_live_4f1c9e' 'http://reviews.default.svc.cluster.local:9080/reviews/1?debug'`
 * from a pod in an Istio mesh (mTLS between sidecars: the source principal is the caller's SPIFFE
 * id and `include_peer_certificate` is on), with `encode_raw_headers: true`, so Envoy sends
 * `header_map` with `raw_value` and repeats a header instead of joining it (`-H 'accept: a' -H 'accept: b'`).
 */
const FIXTURE_ISTIO_RAW_HEADERS: CheckRequest__Input = {
  attributes: {
    source: {
      address: { socket_address: { address: '10.244.1.17', port_value: 39808 } },
      principal: 'spiffe://cluster.local/ns/default/sa/productpage',
      certificate: encodeURIComponent('-----BEGIN CERTIFICATE-----\nMIIC3jCCAcagAwIBAgIRAOq2\n-----END CERTIFICATE-----\n'),
    },
    destination: {
      address: { socket_address: { address: '10.244.2.9', port_value: 9080 } },
      principal: 'spiffe://cluster.local/ns/default/sa/reviews',
    },
    request: {
      time: { seconds: '1735689602', nanos: 0 },
      http: {
        id: '9876543210123456789',
        method: 'GET',
        header_map: {
          headers: [
            { key: ':authority', raw_value: Buffer.from('reviews.default.svc.cluster.local:9080') },
            { key: ':path', raw_value: Buffer.from('/reviews/1?debug') },
            { key: ':method', raw_value: Buffer.from('GET') },
            { key: ':scheme', raw_value: Buffer.from('http') },
            { key: 'user-agent', raw_value: Buffer.from('curl/8.5.0') },
            { key: 'accept', raw_value: Buffer.from('a') },
            { key: 'accept', raw_value: Buffer.from('b') },
            { key: 'x-api-key', raw_value: Buffer.from('kg_live_4f1c9e') },
            { key: 'x-forwarded-proto', raw_value: Buffer.from('http') },
            { key: 'x-request-id', raw_value: Buffer.from('2b1e4c3d-5f60-4718-9a2b-3c4d5e6f7081') },
            { key: 'x-envoy-attempt-count', raw_value: Buffer.from('1') },
            { key: 'x-b3-traceid', raw_value: Buffer.from('80f198ee56343ba864fe8b2a57d3eff7') },
          ],
        },
        path: '/reviews/1?debug',
        host: 'reviews.default.svc.cluster.local:9080',
        scheme: 'http',
        protocol: 'HTTP/1.1',
        size: '-1',
      },
    },
    metadata_context: {
      filter_metadata: { 'istio_authn': { fields: { 'source.principal': { stringValue: 'cluster.local/ns/default/sa/productpage' } } } },
    },
  },
};

// ---- decoder tests ------------------------------------------------------------------------------

describe('loadAuthorizationService', () => {
  it('loads the Check method from proto/gen once', () => {
    assert.equal(loadAuthorizationService(), service);
    assert.ok(service.protoRoot.endsWith(`${sep}proto${sep}gen${sep}`), service.protoRoot);
    assert.equal(check.path, '/envoy.service.auth.v3.Authorization/Check');
    assert.equal(service.definition['Check'], check);
    assert.equal(check.requestStream || check.responseStream, false);
  });
});

describe('decodeCheckRequest', () => {
  it('decodes realistic Envoy requests', () => {
    const bearer = assertEquivalent(FIXTURE_BEARER_H2, 'bearer');
    assert.equal(bearer.method, 'GET');
    assert.equal(bearer.host, 'api.example.com');
    assert.equal(bearer.path, '/v1/orders');
    assert.equal(bearer.query, 'limit=10&status=open');
    assert.equal(bearer.requestId, '7f0c1e3a-9b2d-4c5e-8f6a-1b2c3d4e5f60');
    assert.equal(bearer.header('user-agent'), 'curl/8.5.0');
    assert.equal(bearer.header('x-forwarded-proto'), 'https');
    assert.equal(bearer.header(':authority'), 'api.example.com');
    assert.ok(bearer.header('authorization')?.startsWith('Bearer eyJ'));
    assert.equal(bearer.header('x-api-key'), undefined);
    assert.equal(bearer.sourcePrincipal, '');
    assert.equal(bearer.sourceCertificate, '');
    assert.deepStrictEqual(bearer.contextExtensions, { 'keygate_route': 'orders-read', 'keygate.tenant': 'acme' });

    const basic = assertEquivalent(FIXTURE_BASIC_POST_H1, 'basic');
    assert.equal(basic.method, 'POST');
    assert.equal(basic.host, 'api.example.com:10000');
    assert.equal(basic.path, '/api/items');
    assert.equal(basic.query, '');
    assert.equal(basic.header('Authorization'), 'Basic YWxpY2U6czNjcmV0');
    assert.equal(basic.contextExtensions, decodeCheckRequest(Buffer.alloc(0)).contextExtensions, 'shared empty extensions');

    const istio = assertEquivalent(FIXTURE_ISTIO_RAW_HEADERS, 'istio');
    assert.equal(istio.host, 'reviews.default.svc.cluster.local:9080');
    assert.equal(istio.path, '/reviews/1');
    assert.equal(istio.query, 'debug');
    assert.equal(istio.header('accept'), 'a,b');
    assert.equal(istio.header('x-api-key'), 'kg_live_4f1c9e');
    assert.equal(istio.requestId, '2b1e4c3d-5f60-4718-9a2b-3c4d5e6f7081');
    assert.equal(istio.sourcePrincipal, 'spiffe://cluster.local/ns/default/sa/productpage');
    assert.ok(decodeURIComponent(istio.sourceCertificate).startsWith('-----BEGIN CERTIFICATE-----\n'));
  });

  it('keeps lazily decoded fields correct after later decodes', () => {
    const fixtures = [FIXTURE_BEARER_H2, FIXTURE_BASIC_POST_H1, FIXTURE_ISTIO_RAW_HEADERS];
    const decoded = fixtures.map((f) => decodeCheckRequest(serializeRequest(f)));
    fixtures.forEach((f, i) => {
      const got = decoded[i];
      assert.ok(got !== undefined);
      assertMatches(got, expectedFromProtoLoader(protoLoaderDecode(serializeRequest(f))), `fixture ${i}`);
    });
  });

  it('agrees with proto-loader on 2,500 random requests', () => {
    const r = new Rng(0x6b657967);
    let withHeaderMap = 0;
    let withHeaders = 0;
    for (let i = 0; i < 2500; i++) {
      const req = randomCheckRequest(r);
      if (req.attributes?.request?.http?.header_map) withHeaderMap++;
      if (req.attributes?.request?.http?.headers) withHeaders++;
      assertEquivalent(req, `random #${i}`);
    }
    assert.ok(withHeaderMap > 500 && withHeaders > 1500, `coverage: ${withHeaderMap} header_map, ${withHeaders} headers`);
  });

  it('applies the documented rules to edge cases', () => {
    const got = assertEquivalent(
      {
        attributes: {
          request: {
            http: {
              host: 'Example.COM..',
              path: '/a?b?c',
              headers: { 'X-Dup': '1', 'x-dup': '2', '\u212a': 'kelvin', 'x-request-id': '' },
              id: 'envoy-id',
            },
          },
          context_extensions: { '': 'empty-key', k: '' },
        },
      },
      'edge',
    );
    assert.equal(got.host, 'example.com.');
    assert.equal(got.path, '/a');
    assert.equal(got.query, 'b?c');
    assert.equal(got.header('x-dup'), '2', 'map: last entry wins after folding');
    assert.equal(got.header('k'), undefined, 'no Unicode case folding of names (U+212A KELVIN SIGN)');
    assert.equal(got.header('\u212a'), 'kelvin', 'non-ASCII names are looked up by their bytes');
    assert.equal(got.requestId, 'envoy-id', 'empty x-request-id falls back to the Envoy id');
    assert.deepStrictEqual(got.contextExtensions, { '': 'empty-key', k: '' });

    // header_map value wins over raw_value unless empty; the headers map wins over header_map.
    const both = assertEquivalent(
      {
        attributes: {
          request: {
            http: {
              headers: { a: 'from-map' },
              header_map: { headers: [{ key: 'a', value: 'from-list' }, { key: 'b', value: 'v', raw_value: Buffer.from('raw') }, { key: 'c', value: '', raw_value: Buffer.from([0xff, 0x61]) }] },
            },
          },
        },
      },
      'both',
    );
    assert.equal(both.header('a'), 'from-map');
    assert.equal(both.header('b'), 'v');
    assert.equal(both.header('c'), '\ufffda');

    // `__proto__` as a context extension key is an ordinary own property.
    const protoKey = decodeCheckRequest(
      Buffer.from([0x0a, 0x0f, 0x52, 0x0d, 0x0a, 0x09, ...Buffer.from('__proto__'), 0x12, 0x00]),
    );
    assert.deepStrictEqual(Object.keys(protoKey.contextExtensions), ['__proto__']);
    assert.equal(Object.getPrototypeOf(protoKey.contextExtensions), Object.prototype);
  });

  it('merges repeated message fields like protobuf (last scalar wins, map entries accumulate)', () => {
    // Envoy never repeats a message field, so this only pins the decoder to the protobuf spec
    // ("merge"). protobufjs deviates here: it replaces the earlier message.
    const a = serializeRequest({ attributes: { request: { http: { method: 'GET', headers: { a: '1' } } }, context_extensions: { x: '1' } } });
    const b = serializeRequest({ attributes: { request: { http: { method: 'POST', headers: { b: '2' } } }, context_extensions: { y: '2' } } });
    const bytes = Buffer.concat([a, b]);
    const got = decodeCheckRequest(bytes);
    assert.deepStrictEqual(protoLoaderDecode(bytes).attributes?.context_extensions, { y: '2' }, 'protobufjs replaces');
    assert.equal(got.method, 'POST');
    assert.equal(got.header('a'), '1');
    assert.equal(got.header('b'), '2');
    assert.deepStrictEqual(got.contextExtensions, { x: '1', y: '2' });
  });

  it('caches context extensions by their bytes without mixing up requests', () => {
    const a = serializeRequest({ attributes: { context_extensions: { route: 'a', tenant: 't1' } } });
    const b = serializeRequest({ attributes: { context_extensions: { route: 'b' } } });
    const first = decodeCheckRequest(a).contextExtensions;
    assert.deepStrictEqual(first, { route: 'a', tenant: 't1' });
    assert.deepStrictEqual(decodeCheckRequest(b).contextExtensions, { route: 'b' });
    assert.equal(decodeCheckRequest(a).contextExtensions, first, 'same bytes: the same frozen object');
    for (let i = 0; i < 200; i++) {
      const route = `r${i % 45}`; // more distinct sets than cache slots
      assert.deepStrictEqual(decodeCheckRequest(serializeRequest({ attributes: { context_extensions: { route } } })).contextExtensions, { route });
    }
    // Entries interleaved with another field, and spread over two (merged) AttributeContexts.
    const entry = (k: string, v: string): Buffer => field(10, Buffer.concat([field(1, Buffer.from(k)), field(2, Buffer.from(v))]));
    const interleaved = field(1, Buffer.concat([entry('x', '1'), field(12, field(1, Buffer.from('sni'))), entry('y', '2')]));
    assert.deepStrictEqual(decodeCheckRequest(interleaved).contextExtensions, { x: '1', y: '2' });
    const split = Buffer.concat([field(1, entry('x', '1')), field(1, entry('z', '3'))]);
    assert.deepStrictEqual(decodeCheckRequest(split).contextExtensions, { x: '1', z: '3' });
    // The same entry bytes framed differently: here the second entry sits inside `source` and is
    // not an extension at all.
    const inner = entry('z', '3');
    const hidden = field(1, Buffer.concat([entry('x', '1'), field(1, inner)]));
    assert.deepStrictEqual(decodeCheckRequest(hidden).contextExtensions, { x: '1' });
    assert.deepStrictEqual(decodeCheckRequest(split).contextExtensions, { x: '1', z: '3' });
  });

  it('decodes an empty buffer as an empty request', () => {
    const got = decodeCheckRequest(Buffer.alloc(0));
    assert.deepStrictEqual(
      [got.method, got.host, got.path, got.query, got.requestId, got.sourcePrincipal, got.sourceCertificate],
      ['', '', '', '', '', '', ''],
    );
    assert.deepStrictEqual(got.contextExtensions, {});
    assert.equal(got.header('x-request-id'), undefined);
  });

  it('skips unknown fields of every wire type, including groups and deeply nested junk', () => {
    const known = serializeRequest(FIXTURE_BEARER_H2);
    const expected = expectedFromProtoLoader(protoLoaderDecode(known));
    let junk = Buffer.from([0x01]);
    for (let i = 0; i < 5000; i++) junk = Buffer.concat([Buffer.from([0x0a]), varint(junk.length), junk]);
    const unknown = Buffer.concat([
      Buffer.from([0xf8, 0x07, 0x96, 0x01]), // field 127, varint
      Buffer.from([0x11, 1, 2, 3, 4, 5, 6, 7, 8]), // field 2, fixed64
      Buffer.from([0x1d, 1, 2, 3, 4]), // field 3, fixed32
      Buffer.from([0x23, 0x08, 0x01, 0x2b, 0x2c, 0x24]), // field 4 group containing a group
      Buffer.from([0x2a]), varint(junk.length), junk, // field 5, 5,000 levels of nested messages
    ]);
    const got = decodeCheckRequest(Buffer.concat([unknown, known, unknown]));
    assertMatches(got, expected, 'unknown fields');
  });

  it('throws CheckRequestDecodeError for every proper prefix of a real request', () => {
    for (const fixture of [FIXTURE_BEARER_H2, FIXTURE_ISTIO_RAW_HEADERS]) {
      const bytes = serializeRequest(fixture);
      assert.equal(decodeCheckRequest(bytes.subarray(0, 0)).method, '');
      for (let n = 1; n < bytes.length; n++) {
        assert.throws(() => decodeCheckRequest(bytes.subarray(0, n)), CheckRequestDecodeError, `prefix ${n} of ${bytes.length}`);
      }
    }
  });

  it('throws CheckRequestDecodeError for malformed input', () => {
    const cases: Array<[string, Buffer]> = [
      ['11-byte varint value', Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])],
      ['11-byte varint length', Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])],
      ['11-byte varint tag', Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])],
      ['10-byte varint above 2^64', Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])],
      ['length 2^31', Buffer.concat([Buffer.from([0x0a]), varint(2 ** 31), Buffer.alloc(64)])],
      ['length 2^31 in an unknown field', Buffer.concat([Buffer.from([0x12]), varint(2 ** 31), Buffer.alloc(64)])],
      ['length past the enclosing message', Buffer.from([0x0a, 0x03, 0x22, 0x05, 0x12, 0x00, 0x00, 0x00, 0x00])],
      ['field 1 as varint', Buffer.from([0x08, 0x01])],
      ['field 1 as fixed32', Buffer.from([0x0d, 0x01, 0x02, 0x03, 0x04])],
      ['field 1 as fixed64', Buffer.from([0x09, 1, 2, 3, 4, 5, 6, 7, 8])],
      ['field 1 as group', Buffer.from([0x0b, 0x0c])],
      ['http.method as varint', Buffer.from([0x0a, 0x06, 0x22, 0x04, 0x12, 0x02, 0x10, 0x01])],
      ['header entry key as varint', Buffer.from([0x0a, 0x08, 0x22, 0x06, 0x12, 0x04, 0x1a, 0x02, 0x08, 0x01])],
      ['source.principal as fixed32', Buffer.from([0x0a, 0x07, 0x0a, 0x05, 0x25, 0, 0, 0, 0])],
      ['context_extensions as varint', Buffer.from([0x0a, 0x02, 0x50, 0x01])],
      ['field number 0', Buffer.from([0x02, 0x00])],
      ['wire type 6', Buffer.from([0x16])],
      ['wire type 7', Buffer.from([0x17])],
      ['stray end-group', Buffer.from([0x14])],
      ['unterminated group', Buffer.from([0x13, 0x08, 0x01])],
      ['mismatched end-group', Buffer.from([0x13, 0x1c])],
      ['groups nested 10,000 deep', Buffer.concat([Buffer.alloc(10_000, 0x13), Buffer.alloc(10_000, 0x14)])],
      ['truncated fixed64', Buffer.from([0x11, 1, 2, 3])],
      ['truncated fixed32', Buffer.from([0x15, 1, 2])],
      ['truncated tag', Buffer.from([0x80])],
    ];
    for (const [label, bytes] of cases) {
      assert.throws(() => decodeCheckRequest(bytes), CheckRequestDecodeError, label);
    }
  });

  it('throws only CheckRequestDecodeError on thousands of random and mutated inputs', () => {
    const r = new Rng(0xbad1);
    let threw = 0;
    let decoded = 0;
    const check1 = (bytes: Buffer, label: string): void => {
      try {
        const got = decodeCheckRequest(bytes);
        // Whatever decodes must be fully usable.
        void got.requestId;
        void got.sourceCertificate;
        got.header('authorization');
        decoded++;
      } catch (err) {
        assert.ok(err instanceof CheckRequestDecodeError, `${label}: ${String(err)}`);
        threw++;
      }
    };
    for (let i = 0; i < 5000; i++) check1(r.bytes(1 + r.int(300)), `garbage #${i}`);
    const real = [FIXTURE_BEARER_H2, FIXTURE_BASIC_POST_H1, FIXTURE_ISTIO_RAW_HEADERS].map(serializeRequest);
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(r.pick(real));
      const edits = 1 + r.int(4);
      for (let e = 0; e < edits; e++) {
        const at = r.int(bytes.length);
        bytes[at] = r.chance(0.5) ? r.int(256) : (bytes[at] ?? 0) ^ (1 << r.int(8));
      }
      check1(bytes, `mutation #${i}`);
    }
    assert.ok(threw > 4000 && decoded > 100, `threw ${threw}, decoded ${decoded}`);
  });
});

/** A length-delimited field. */
function field(fieldNumber: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((fieldNumber << 3) | 2), varint(payload.length), payload]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

// ---- encoder tests ------------------------------------------------------------------------------

type Headers = ReadonlyArray<readonly [string, string]>;

function expectedHeaderOptions(headers: Headers): HeaderValueOption__Input[] {
  return headers.map(([key, value]) => {
    const header: HeaderValue__Input = {};
    if (key !== '') header.key = key;
    if (value !== '') header.value = value;
    return { header, append: {} };
  });
}

function expectedValue(v: MetadataValue): Value__Input {
  if (typeof v === 'string') return { stringValue: v, kind: 'stringValue' };
  if (typeof v === 'number') return { numberValue: v, kind: 'numberValue' };
  if (typeof v === 'boolean') return { boolValue: v, kind: 'boolValue' };
  return { listValue: v.length === 0 ? {} : { values: v.map((s) => ({ stringValue: s, kind: 'stringValue' as const })) }, kind: 'listValue' };
}

/**
 * The CheckResponse object a model stands for, as proto-loader decodes it with `defaults: false`
 * (proto3: empty strings / zero numbers / empty lists are absent; oneof members are present).
 */
function expectedResponse(model: CheckResponseModel): CheckResponse__Input {
  const res: CheckResponse__Input = {};
  if (model.kind === 'ok') {
    res.status = {};
    const ok: NonNullable<CheckResponse__Input['ok_response']> = {};
    if (model.headersToSet.length > 0) ok.headers = expectedHeaderOptions(model.headersToSet);
    if (model.headersToRemove.length > 0) ok.headers_to_remove = [...model.headersToRemove];
    if (model.responseHeadersToAdd.length > 0) ok.response_headers_to_add = expectedHeaderOptions(model.responseHeadersToAdd);
    if (model.queryParametersToRemove.length > 0) ok.query_parameters_to_remove = [...model.queryParametersToRemove];
    res.ok_response = ok;
    res.http_response = 'ok_response';
  } else {
    res.status = {};
    if (model.grpcCode !== 0) res.status.code = model.grpcCode;
    if (model.message !== '') res.status.message = model.message;
    const status: HttpStatus__Input = {};
    if (model.httpStatus !== 0) status.code = (httpStatusNames.get(model.httpStatus) ?? model.httpStatus) as StatusCode__Input;
    const denied: NonNullable<CheckResponse__Input['denied_response']> = { status };
    if (model.headers.length > 0) denied.headers = expectedHeaderOptions(model.headers);
    if (model.body !== '') denied.body = model.body;
    res.denied_response = denied;
    res.http_response = 'denied_response';
  }
  const keys = Object.keys(model.dynamicMetadata);
  if (keys.length > 0) {
    const fields: Record<string, Value__Input> = {};
    for (const k of keys) {
      const v = model.dynamicMetadata[k];
      if (v !== undefined) fields[k] = expectedValue(v);
    }
    res.dynamic_metadata = { fields };
  }
  return res;
}

function randomModelString(r: Rng): string {
  switch (r.int(6)) {
    case 0:
      return '';
    case 1:
      return r.text(10, false);
    case 2:
      return r.token(60, 300); // past the encoder's short-string loop, 2-byte lengths
    default:
      return r.token(1, 30);
  }
}

function randomHeaders(r: Rng): Array<[string, string]> {
  const n = r.chance(0.2) ? 0 : r.int(8);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < n; i++) out.push([r.chance(0.95) ? r.pick(['x-consumer-id', 'x-consumer-username', 'x-credential-identifier', 'WWW-Authenticate', r.token(1, 20)]) : '', randomModelString(r)]);
  return out;
}

function randomStrings(r: Rng): string[] {
  const n = r.chance(0.3) ? 0 : r.int(5);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.chance(0.1) ? '' : r.chance(0.8) ? r.token(1, 24) : r.text(5, false));
  return out;
}

function randomMetadata(r: Rng): Record<string, MetadataValue> {
  const md: Record<string, MetadataValue> = {};
  const n = r.chance(0.25) ? 0 : r.int(8);
  const numbers = [0, -0, 1, -1, 42, 0.1, -2.5e-300, 1.7976931348623157e308, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    const key = r.chance(0.05) ? '' : r.chance(0.8) ? r.pick(['consumer_id', 'consumer_name', 'credential_type', 'scopes', 'k', 'ключ', r.token(1, 30)]) : r.text(4, false);
    if (key === '__proto__') continue;
    switch (r.int(4)) {
      case 0:
        md[key] = randomModelString(r);
        break;
      case 1:
        md[key] = r.chance(0.5) ? r.pick(numbers) : (r.next() - 0.5) * 10 ** r.int(20);
        break;
      case 2:
        md[key] = r.chance(0.5);
        break;
      default:
        md[key] = randomStrings(r);
    }
  }
  return md;
}

function randomModel(r: Rng): CheckResponseModel {
  if (r.chance(0.5)) {
    return {
      kind: 'ok',
      headersToSet: randomHeaders(r),
      headersToRemove: randomStrings(r),
      queryParametersToRemove: randomStrings(r),
      responseHeadersToAdd: randomHeaders(r),
      dynamicMetadata: randomMetadata(r),
    };
  }
  return {
    kind: 'denied',
    grpcCode: r.pick([16, 7, 14, 13, 0, -1]),
    message: randomModelString(r),
    httpStatus: r.pick([401, 403, 429, 503, 500, 200, 599, 0]),
    headers: randomHeaders(r),
    body: r.chance(0.3) ? '' : r.chance(0.5) ? JSON.stringify({ error: r.text(6, false) }) : r.token(100, 3000),
    dynamicMetadata: randomMetadata(r),
  };
}

function assertEncodes(model: CheckResponseModel, label: string): void {
  const bytes = encodeCheckResponse(model);
  const expected = expectedResponse(model);
  assert.deepStrictEqual(check.responseDeserialize(bytes), expected, `${label}: decoded by proto-loader`);
  const reference = check.responseSerialize(expected);
  assert.ok(bytes.equals(reference), `${label}: bytes differ from protobufjs\n  ours   ${bytes.toString('hex')}\n  theirs ${reference.toString('hex')}`);
  // With defaults: true an empty BoolValue spells out value: false; every append must be there.
  const withDefaults = checkWithDefaults.responseDeserialize(bytes) as CheckResponse__Input;
  const options = [
    ...(withDefaults.ok_response?.headers ?? []),
    ...(withDefaults.ok_response?.response_headers_to_add ?? []),
    ...(withDefaults.denied_response?.headers ?? []),
  ];
  const modelHeaders = model.kind === 'ok' ? model.headersToSet.length + model.responseHeadersToAdd.length : model.headers.length;
  assert.equal(options.length, modelHeaders, `${label}: header count`);
  for (const o of options) {
    assert.deepStrictEqual(o.append, { value: false }, `${label}: append`);
    assert.equal(o.append_action, 'APPEND_IF_EXISTS_OR_ADD', `${label}: append_action is not sent (default)`);
  }
  if (model.kind === 'ok') assert.equal(withDefaults.status?.code, 0, `${label}: ok status code`);
}

describe('encodeCheckResponse', () => {
  it('encodes a typical allow and denial exactly like protobufjs', () => {
    assertEncodes(
      {
        kind: 'ok',
        headersToSet: [['x-consumer-id', 'c-42'], ['x-consumer-username', 'alice']],
        headersToRemove: ['authorization', 'x-api-key'],
        queryParametersToRemove: ['apikey'],
        responseHeadersToAdd: [['x-ratelimit-remaining', '99']],
        dynamicMetadata: { consumer_id: 'c-42', authenticated: true, weight: 1.5, scopes: ['orders:read', 'profile'] },
      },
      'allow',
    );
    assertEncodes(
      {
        kind: 'denied',
        grpcCode: 16,
        message: 'missing credentials',
        httpStatus: 401,
        headers: [['www-authenticate', 'Basic realm="keygate", charset="UTF-8"'], ['content-type', 'application/json']],
        body: '{"message":"Unauthorized"}',
        dynamicMetadata: {},
      },
      'deny',
    );
  });

  it('writes the empty-but-present parts exactly', () => {
    const ok = encodeCheckResponse({ kind: 'ok', headersToSet: [], headersToRemove: [], queryParametersToRemove: [], responseHeadersToAdd: [], dynamicMetadata: {} });
    assert.equal(ok.toString('hex'), '0a001a00', 'status {} + ok_response {}');
    const one = encodeCheckResponse({ kind: 'ok', headersToSet: [['a', 'b']], headersToRemove: [], queryParametersToRemove: [], responseHeadersToAdd: [], dynamicMetadata: {} });
    assert.equal(one.toString('hex'), '0a00' + '1a0c' + '120a' + '0a06' + '0a0161' + '120162' + '1200', 'append is 12 00');
    assertEncodes({ kind: 'denied', grpcCode: 7, message: '', httpStatus: 0, headers: [], body: '', dynamicMetadata: {} }, 'bare deny');
  });

  it('writes a lone surrogate as U+FFFD, like Buffer', () => {
    const long = `${'x'.repeat(100)}\ud800${'y'.repeat(100)}`;
    const bytes = encodeCheckResponse({
      kind: 'ok',
      headersToSet: [['x', 'a\ud800b'], ['long', long]],
      headersToRemove: [],
      queryParametersToRemove: [],
      responseHeadersToAdd: [],
      dynamicMetadata: { s: '\udc00', pair: '\ud83d\udd11', lone: '\ud83d!' },
    });
    const decoded = check.responseDeserialize(bytes) as CheckResponse__Input;
    assert.equal(decoded.ok_response?.headers?.[0]?.header?.value, 'a\ufffdb');
    assert.equal(decoded.ok_response?.headers?.[1]?.header?.value, Buffer.from(long).toString());
    assert.equal(decoded.dynamic_metadata?.fields?.['s']?.stringValue, '\ufffd');
    assert.equal(decoded.dynamic_metadata?.fields?.['pair']?.stringValue, '\ud83d\udd11');
    assert.equal(decoded.dynamic_metadata?.fields?.['lone']?.stringValue, '\ufffd!');
  });

  it('agrees with proto-loader on 3,000 random models, byte for byte', () => {
    const r = new Rng(0x656e63);
    for (let i = 0; i < 3000; i++) assertEncodes(randomModel(r), `model #${i}`);
  });
});
