/**
 * A hand-written protobuf encoder for `envoy.service.auth.v3.CheckResponse` from keygate's
 * {@link CheckResponseModel}. Two passes over the model: the first computes every string's UTF-8
 * length and every submessage's size (recorded in pre-order in a reused scratch array), the second
 * writes into one `Buffer.allocUnsafe` of exactly the computed size. Verified against proto-loader
 * (decode and byte-for-byte) by test/server/check-codec.test.ts; benchmarked by bench/codec.ts.
 *
 * Wire layout (field numbers from proto/gen; fields written in field-number order, the order
 * protobufjs uses, so the bytes equal protobufjs' for the equivalent object):
 *
 *   CheckResponse       status = 1 (google.rpc.Status), denied_response = 2, ok_response = 3,
 *                       dynamic_metadata = 4 (google.protobuf.Struct, omitted when empty)
 *   google.rpc.Status   code = 1 (int32), message = 2. ok: present and empty (code 0).
 *   OkHttpResponse      headers = 2, headers_to_remove = 5, response_headers_to_add = 6,
 *                       query_parameters_to_remove = 8
 *   DeniedHttpResponse  status = 1 (envoy.type.v3.HttpStatus{code = 1}), headers = 2, body = 3
 *   HeaderValueOption   header = 1 (HeaderValue{key = 1, value = 2}), append = 2: always an explicit
 *                       google.protobuf.BoolValue{value: false} - an empty submessage `12 00` - so
 *                       Envoy overwrites instead of appending (an unset `append` defers to
 *                       `append_action`, whose default appends). `append_action` is never written.
 *   Struct              fields = 1 (map<string, Value>: entry key = 1, value = 2)
 *   Value               number_value = 2 (double), string_value = 3, bool_value = 4,
 *                       list_value = 6 (ListValue{values = 1})
 *
 * proto3 implicit presence: empty strings and zero numbers in ordinary fields are omitted (as every
 * conformant encoder does); members of the Value oneof, map entry keys/values and repeated strings
 * are always written, even when empty.
 */
import type { CheckResponseModel, DeniedCheckResponse, MetadataValue, OkCheckResponse } from './check-response-model.js';

type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;
type Metadata = Readonly<Record<string, MetadataValue>>;

// Tags: (field number << 3) | wire type. All fields used are < 16, so every tag is one byte.
const T_STATUS = 0x0a; //               CheckResponse.status, LEN
const T_DENIED = 0x12; //               CheckResponse.denied_response, LEN
const T_OK = 0x1a; //                   CheckResponse.ok_response, LEN
const T_DYNAMIC_METADATA = 0x22; //     CheckResponse.dynamic_metadata, LEN
const T_STATUS_CODE = 0x08; //          google.rpc.Status.code, VARINT
const T_STATUS_MESSAGE = 0x12; //       google.rpc.Status.message, LEN
const T_OK_HEADERS = 0x12; //           OkHttpResponse.headers (2)
const T_OK_HEADERS_TO_REMOVE = 0x2a; // OkHttpResponse.headers_to_remove (5)
const T_OK_RESPONSE_HEADERS = 0x32; //  OkHttpResponse.response_headers_to_add (6)
const T_OK_QUERY_TO_REMOVE = 0x42; //   OkHttpResponse.query_parameters_to_remove (8)
const T_DENIED_STATUS = 0x0a; //        DeniedHttpResponse.status (1)
const T_DENIED_HEADERS = 0x12; //       DeniedHttpResponse.headers (2)
const T_DENIED_BODY = 0x1a; //          DeniedHttpResponse.body (3)
const T_HTTP_STATUS_CODE = 0x08; //     envoy.type.v3.HttpStatus.code, VARINT
const T_HVO_HEADER = 0x0a; //           HeaderValueOption.header (1)
const T_HVO_APPEND = 0x12; //           HeaderValueOption.append (2)
const T_HV_KEY = 0x0a; //               HeaderValue.key (1)
const T_HV_VALUE = 0x12; //             HeaderValue.value (2)
const T_STRUCT_FIELDS = 0x0a; //        Struct.fields (1), map entry
const T_ENTRY_KEY = 0x0a; //            map entry key (1)
const T_ENTRY_VALUE = 0x12; //          map entry value (2)
const T_VALUE_NUMBER = 0x11; //         Value.number_value (2), I64
const T_VALUE_STRING = 0x1a; //         Value.string_value (3), LEN
const T_VALUE_BOOL = 0x20; //           Value.bool_value (4), VARINT
const T_VALUE_LIST = 0x32; //           Value.list_value (6), LEN
const T_LIST_VALUES = 0x0a; //          ListValue.values (1)

/** Strings up to this many UTF-16 units are measured and (if ASCII) copied by a JS loop. */
const SHORT_STRING = 48;

const NO_KEYS: string[] = [];

// ---- encoder state (one synchronous encode at a time) ------------------------------------------
/** Pass 1 output, pass 2 input: string byte lengths and submessage sizes, in write order. */
const sizes: number[] = [];
let sizeCount = 0;
let sizeRead = 0;
/** Keys of the dynamic metadata, computed in pass 1 and reused in pass 2. */
let metadataKeys: string[] = [];

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Size of an int32 field value; negative values are sign-extended to 10 bytes. */
function int32Size(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

function utf8Length(s: string): number {
  const n = s.length;
  if (n > SHORT_STRING) return Buffer.byteLength(s, 'utf8');
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 2; // surrogate pair: 2 units -> 4 bytes
      i++;
    } else {
      len += 2; // 3 bytes (a lone surrogate is written as U+FFFD, also 3 bytes)
    }
  }
  return len;
}

// ---- pass 1: sizes ------------------------------------------------------------------------------

/** Reserves the slot of a submessage size that is known only after its contents. */
function reserveSlot(): number {
  sizes[sizeCount] = 0; // written in order, so the array stays packed
  return sizeCount++;
}

/** Records a string's byte length; returns the size of the whole field (tag + length + bytes). */
function stringFieldSize(s: string): number {
  const n = utf8Length(s);
  sizes[sizeCount++] = n;
  return 1 + varintSize(n) + n;
}

/** Records a submessage size in slot `slot`; returns the size of the whole field. */
function messageFieldSize(slot: number, size: number): number {
  sizes[slot] = size;
  return 1 + varintSize(size) + size;
}

function headerOptionFieldSize(name: string, value: string): number {
  const optionSlot = reserveSlot();
  const headerSlot = reserveSlot();
  let header = 0;
  if (name !== '') header += stringFieldSize(name);
  if (value !== '') header += stringFieldSize(value);
  const option = messageFieldSize(headerSlot, header) + 2; // + append: 12 00
  return messageFieldSize(optionSlot, option);
}

function headerListSize(headers: HeaderList): number {
  let size = 0;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    if (h !== undefined) size += headerOptionFieldSize(h[0], h[1]);
  }
  return size;
}

function stringListSize(list: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < list.length; i++) size += stringFieldSize(list[i] ?? '');
  return size;
}

/** Size of a google.protobuf.Value message body. */
function valueSize(v: MetadataValue): number {
  if (typeof v === 'string') return stringFieldSize(v);
  if (typeof v === 'number') return 9;
  if (typeof v === 'boolean') return 2;
  const listSlot = reserveSlot();
  let list = 0;
  for (let i = 0; i < v.length; i++) {
    const itemSlot = reserveSlot();
    list += messageFieldSize(itemSlot, stringFieldSize(v[i] ?? ''));
  }
  return messageFieldSize(listSlot, list);
}

/** Size of the dynamic_metadata field (0 when the record is empty). */
function metadataFieldSize(metadata: Metadata): number {
  const keys = Object.keys(metadata);
  metadataKeys = keys;
  if (keys.length === 0) return 0;
  const structSlot = reserveSlot();
  let struct = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] ?? '';
    const value = metadata[key];
    if (value === undefined) continue;
    const entrySlot = reserveSlot();
    const entry = stringFieldSize(key);
    const valueSlot = reserveSlot();
    struct += messageFieldSize(entrySlot, entry + messageFieldSize(valueSlot, valueSize(value)));
  }
  return messageFieldSize(structSlot, struct);
}

function okSize(model: OkCheckResponse): number {
  const okSlot = reserveSlot();
  const ok =
    headerListSize(model.headersToSet) +
    stringListSize(model.headersToRemove) +
    headerListSize(model.responseHeadersToAdd) +
    stringListSize(model.queryParametersToRemove);
  return 2 /* status: 0a 00 */ + messageFieldSize(okSlot, ok);
}

function deniedSize(model: DeniedCheckResponse): number {
  const statusSlot = reserveSlot();
  const code = model.grpcCode | 0;
  let status = code !== 0 ? 1 + int32Size(code) : 0;
  if (model.message !== '') status += stringFieldSize(model.message);
  const deniedSlot = reserveSlot();
  const httpCode = model.httpStatus | 0;
  const httpStatus = httpCode !== 0 ? 1 + int32Size(httpCode) : 0;
  let denied = 1 + varintSize(httpStatus) + httpStatus;
  denied += headerListSize(model.headers);
  if (model.body !== '') denied += stringFieldSize(model.body);
  return messageFieldSize(statusSlot, status) + messageFieldSize(deniedSlot, denied);
}

// ---- pass 2: bytes ------------------------------------------------------------------------------
// Each writer takes the buffer and the write position and returns the new position (locals are
// cheaper than module-level state in the hot loops).

function nextSize(): number {
  return sizes[sizeRead++] ?? 0;
}

function writeVarint(b: Buffer, q: number, n: number): number {
  while (n > 0x7f) {
    b[q++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  b[q++] = n;
  return q;
}

function writeInt32(b: Buffer, q: number, n: number): number {
  if (n >= 0) return writeVarint(b, q, n);
  // Negative int32: the 64-bit two's complement in 10 bytes (protobuf's rule).
  let lo = n >>> 0;
  for (let i = 0; i < 4; i++) {
    b[q++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  b[q++] = (lo & 0x0f) | 0xf0; // last 4 low bits + 3 sign bits, continuation
  for (let i = 0; i < 4; i++) b[q++] = 0xff;
  b[q++] = 0x01;
  return q;
}

function writeStringField(b: Buffer, q: number, tag: number, s: string): number {
  b[q++] = tag;
  const n = nextSize();
  q = writeVarint(b, q, n);
  if (n === s.length && n <= SHORT_STRING) {
    for (let i = 0; i < n; i++) b[q++] = s.charCodeAt(i);
    return q;
  }
  return q + b.write(s, q, n, 'utf8');
}

function writeMessageHeader(b: Buffer, q: number, tag: number): number {
  b[q++] = tag;
  return writeVarint(b, q, nextSize());
}

function writeHeaderList(b: Buffer, q: number, tag: number, headers: HeaderList): number {
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    if (h === undefined) continue;
    q = writeMessageHeader(b, q, tag);
    q = writeMessageHeader(b, q, T_HVO_HEADER);
    if (h[0] !== '') q = writeStringField(b, q, T_HV_KEY, h[0]);
    if (h[1] !== '') q = writeStringField(b, q, T_HV_VALUE, h[1]);
    b[q++] = T_HVO_APPEND;
    b[q++] = 0; // BoolValue{value: false}: present, empty
  }
  return q;
}

function writeStringList(b: Buffer, q: number, tag: number, list: readonly string[]): number {
  for (let i = 0; i < list.length; i++) q = writeStringField(b, q, tag, list[i] ?? '');
  return q;
}

function writeValue(b: Buffer, q: number, v: MetadataValue): number {
  if (typeof v === 'string') return writeStringField(b, q, T_VALUE_STRING, v);
  if (typeof v === 'number') {
    b[q++] = T_VALUE_NUMBER;
    return b.writeDoubleLE(v, q);
  }
  if (typeof v === 'boolean') {
    b[q++] = T_VALUE_BOOL;
    b[q++] = v ? 1 : 0;
    return q;
  }
  q = writeMessageHeader(b, q, T_VALUE_LIST);
  for (let i = 0; i < v.length; i++) {
    q = writeMessageHeader(b, q, T_LIST_VALUES);
    q = writeStringField(b, q, T_VALUE_STRING, v[i] ?? '');
  }
  return q;
}

function writeMetadata(b: Buffer, q: number, metadata: Metadata, keys: readonly string[]): number {
  if (keys.length === 0) return q;
  q = writeMessageHeader(b, q, T_DYNAMIC_METADATA);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] ?? '';
    const value = metadata[key];
    if (value === undefined) continue;
    q = writeMessageHeader(b, q, T_STRUCT_FIELDS);
    q = writeStringField(b, q, T_ENTRY_KEY, key);
    q = writeMessageHeader(b, q, T_ENTRY_VALUE);
    q = writeValue(b, q, value);
  }
  return q;
}

function writeOk(b: Buffer, q: number, model: OkCheckResponse): number {
  b[q++] = T_STATUS;
  b[q++] = 0; // google.rpc.Status{}: code 0, present
  q = writeMessageHeader(b, q, T_OK);
  q = writeHeaderList(b, q, T_OK_HEADERS, model.headersToSet);
  q = writeStringList(b, q, T_OK_HEADERS_TO_REMOVE, model.headersToRemove);
  q = writeHeaderList(b, q, T_OK_RESPONSE_HEADERS, model.responseHeadersToAdd);
  return writeStringList(b, q, T_OK_QUERY_TO_REMOVE, model.queryParametersToRemove);
}

function writeDenied(b: Buffer, q: number, model: DeniedCheckResponse): number {
  q = writeMessageHeader(b, q, T_STATUS);
  const code = model.grpcCode | 0;
  if (code !== 0) {
    b[q++] = T_STATUS_CODE;
    q = writeInt32(b, q, code);
  }
  if (model.message !== '') q = writeStringField(b, q, T_STATUS_MESSAGE, model.message);
  q = writeMessageHeader(b, q, T_DENIED);
  const httpCode = model.httpStatus | 0;
  b[q++] = T_DENIED_STATUS;
  if (httpCode !== 0) {
    b[q++] = 1 + int32Size(httpCode);
    b[q++] = T_HTTP_STATUS_CODE;
    q = writeInt32(b, q, httpCode);
  } else {
    b[q++] = 0;
  }
  q = writeHeaderList(b, q, T_DENIED_HEADERS, model.headers);
  if (model.body !== '') q = writeStringField(b, q, T_DENIED_BODY, model.body);
  return q;
}

/** Serializes `model` as an `envoy.service.auth.v3.CheckResponse`. */
export function encodeCheckResponse(model: CheckResponseModel): Buffer {
  sizeCount = 0;
  let size = model.kind === 'ok' ? okSize(model) : deniedSize(model);
  size += metadataFieldSize(model.dynamicMetadata);
  const keys = metadataKeys;
  metadataKeys = NO_KEYS;

  const b = Buffer.allocUnsafe(size);
  sizeRead = 0;
  let q = model.kind === 'ok' ? writeOk(b, 0, model) : writeDenied(b, 0, model);
  q = writeMetadata(b, q, model.dynamicMetadata, keys);
  if (q !== size || sizeRead !== sizeCount) {
    throw new Error(`CheckResponse encoder bug: wrote ${q} of ${size} bytes, read ${sizeRead} of ${sizeCount} sizes`);
  }
  return b;
}
