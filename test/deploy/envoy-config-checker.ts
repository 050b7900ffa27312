import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';
import type { Enum, FieldBase, MapField, ReflectionObject, Root, Type } from 'protobufjs';

/**
 * Checks Envoy YAML against Envoy's own protos, field by field. protobufjs' `fromObject` ignores
 * unknown keys, so this walks the object instead: every key must be a field of its message (proto
 * or JSON name), `Any` values are resolved by their `@type`, enum strings must be enum names,
 * scalars must have the right JSON type, at most one member of a oneof may be set, and deprecated
 * fields or enum values are reported (current Envoys warn, and reject some by default).
 */

const require = createRequire(import.meta.url);

/** What `buf export` writes: the protos asked for and everything they import. */
export interface ExportedProtos {
  readonly dir: string;
  remove(): void;
}

/**
 * Exports `files` (paths inside envoy-api, e.g. `envoy/config/bootstrap/v3/bootstrap.proto`) with
 * buf, offline, from the Envoy API that ships in @grpc/grpc-js-xds (as scripts/gen-proto.mjs
 * does), into a fresh directory under os.tmpdir().
 *
 * The protoc-gen-validate `validate.proto` shipped beside that envoy-api is older than it:
 * `StringRules` lacks `ignore_empty` (field 26 upstream), which envoy/config/core/v3/protocol.proto
 * uses, so buf refuses to compile anything that imports it (cluster, bootstrap, HCM, router…).
 * The workspace built here therefore links envoy-api, googleapis and xds unchanged and uses a copy
 * of validate.proto with the missing field added. Validation annotations play no part in the
 * field check below.
 */
export function exportEnvoyProtos(files: readonly string[]): ExportedProtos {
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const buf = join(dirname(require.resolve('@bufbuild/buf/package.json')), 'bin', 'buf');
  const work = mkdtempSync(join(tmpdir(), 'keygate-deploy-protos-'));
  try {
    const ws = join(work, 'ws');
    mkdirSync(join(ws, 'protoc-gen-validate', 'validate'), { recursive: true });
    for (const module of ['envoy-api', 'googleapis', 'xds']) symlinkSync(join(deps, module), join(ws, module), 'dir');
    const validate = join(ws, 'protoc-gen-validate', 'validate', 'validate.proto');
    copyFileSync(join(deps, 'protoc-gen-validate', 'validate', 'validate.proto'), validate);
    writeFileSync(validate, addFieldIfMissing(readFileSync(validate, 'utf8'), 'StringRules', 'ignore_empty', 'optional bool ignore_empty = 26;'));
    writeFileSync(join(ws, 'buf.yaml'), [
      'version: v2', 'modules:', '  - path: envoy-api', '  - path: googleapis', '  - path: protoc-gen-validate', '  - path: xds', '',
    ].join('\n'));
    const out = join(work, 'out');
    execFileSync(buf, ['export', '.', ...files.flatMap((f) => ['--path', `envoy-api/${f}`]), '-o', out], { cwd: ws, stdio: ['ignore', 'pipe', 'pipe'] });
    return { dir: out, remove: () => rmSync(work, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`buf export failed: ${err instanceof Error ? err.message : String(err)}\n${stderr}`);
  }
}

/** Inserts `line` into `message name { … }` unless the message already has `field`. */
function addFieldIfMissing(proto: string, message: string, field: string, line: string): string {
  const start = proto.indexOf(`message ${message} {`);
  if (start === -1) throw new Error(`validate.proto: no message ${message}`);
  let depth = 0;
  for (let i = proto.indexOf('{', start); i < proto.length; i++) {
    if (proto[i] === '{') depth++;
    else if (proto[i] === '}' && --depth === 0) {
      if (new RegExp(`\\b${field}\\s*=`).test(proto.slice(start, i))) return proto;
      return `${proto.slice(0, i)}  ${line}\n${proto.slice(i)}`;
    }
  }
  throw new Error(`validate.proto: message ${message} is not closed`);
}

/**
 * Loads exported protos (and their imports) into one resolved protobufjs Root. buf export leaves
 * out google/protobuf/*: protobufjs bundles the common ones and ships descriptor.proto.
 */
export function loadProtos(dir: string, files: readonly string[]): Root {
  const protobufjsDir = dirname(require.resolve('protobufjs/package.json'));
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => {
    const exported = join(dir, target);
    return existsSync(exported) || !target.startsWith('google/protobuf/') ? exported : join(protobufjsDir, target);
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Well-known types whose JSON form is not an object of fields. */
const WKT_CHECKS: Readonly<Record<string, (v: unknown) => string | null>> = {
  '.google.protobuf.Duration': (v) => (typeof v === 'string' && /^-?\d+(\.\d{1,9})?s$/.test(v) ? null : 'a duration string like "0.25s"'),
  '.google.protobuf.Timestamp': (v) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? null : 'an RFC 3339 timestamp string'),
  '.google.protobuf.FieldMask': (v) => (typeof v === 'string' ? null : 'a field mask string'),
  '.google.protobuf.Struct': (v) => (isObject(v) ? null : 'an object'),
  '.google.protobuf.Value': () => null,
  '.google.protobuf.ListValue': (v) => (Array.isArray(v) ? null : 'a list'),
  '.google.protobuf.Empty': (v) => (isObject(v) && Object.keys(v).length === 0 ? null : 'an empty object {}'),
  '.google.protobuf.BoolValue': (v) => scalarProblem('bool', v),
  '.google.protobuf.StringValue': (v) => scalarProblem('string', v),
  '.google.protobuf.BytesValue': (v) => scalarProblem('bytes', v),
  '.google.protobuf.DoubleValue': (v) => scalarProblem('double', v),
  '.google.protobuf.FloatValue': (v) => scalarProblem('float', v),
  '.google.protobuf.Int32Value': (v) => scalarProblem('int32', v),
  '.google.protobuf.UInt32Value': (v) => scalarProblem('uint32', v),
  '.google.protobuf.Int64Value': (v) => scalarProblem('int64', v),
  '.google.protobuf.UInt64Value': (v) => scalarProblem('uint64', v),
};

/**
 * Checks `value` as the JSON/YAML form of message `typeName` (e.g.
 * `envoy.config.bootstrap.v3.Bootstrap`); returns every problem, each starting with its path.
 */
export function checkEnvoyMessage(root: Root, typeName: string, value: unknown, path = '$'): string[] {
  const problems: string[] = [];
  const type = root.lookupType(typeName);
  checkMessage(root, type, value, path, problems);
  return problems;
}

function checkMessage(root: Root, type: Type, value: unknown, path: string, problems: string[]): void {
  const wkt = WKT_CHECKS[type.fullName];
  if (wkt !== undefined) {
    const problem = wkt(value);
    if (problem !== null) problems.push(`${path}: ${type.fullName.slice(1)} must be ${problem}`);
    return;
  }
  if (type.fullName === '.google.protobuf.Any') return checkAny(root, value, path, problems);
  if (!isObject(value)) {
    problems.push(`${path}: ${type.fullName.slice(1)} must be an object, got ${describe(value)}`);
    return;
  }
  const byName = fieldIndex(type);
  const oneofSet = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    const at = `${path}.${key}`;
    const field = byName.get(key);
    if (field === undefined) {
      problems.push(`${at}: unknown field of ${type.fullName.slice(1)}${suggest(key, byName)}`);
      continue;
    }
    const other = seen.get(field.name);
    if (other !== undefined) problems.push(`${at}: field ${field.name} is also set as ${other}`);
    seen.set(field.name, key);
    if (field.options?.['deprecated'] === true) problems.push(`${at}: deprecated field of ${type.fullName.slice(1)}`);
    if (field.partOf !== null) {
      const first = oneofSet.get(field.partOf.name);
      if (first !== undefined) problems.push(`${at}: oneof ${field.partOf.name} already set by ${first}`);
      else oneofSet.set(field.partOf.name, key);
    }
    checkField(root, field, v, at, problems);
  }
}

function checkAny(root: Root, value: unknown, path: string, problems: string[]): void {
  if (!isObject(value)) {
    problems.push(`${path}: google.protobuf.Any must be an object with "@type"`);
    return;
  }
  const url = value['@type'];
  if (typeof url !== 'string' || !url.startsWith(TYPE_URL_PREFIX)) {
    problems.push(`${path}["@type"]: must be "${TYPE_URL_PREFIX}<message>", got ${describe(url)}`);
    return;
  }
  const name = url.slice(TYPE_URL_PREFIX.length);
  const target = lookupMessage(root, name);
  if (target === null) {
    problems.push(`${path}["@type"]: ${name} is not a message of the exported Envoy protos`);
    return;
  }
  const { '@type': _type, ...rest } = value;
  // An Any holding a well-known type with a special JSON form carries it in "value".
  if (WKT_CHECKS[target.fullName] !== undefined) checkMessage(root, target, rest['value'], `${path}.value`, problems);
  else checkMessage(root, target, rest, path, problems);
}

function checkField(root: Root, field: FieldBase, value: unknown, path: string, problems: string[]): void {
  if (value === null) {
    if (field.resolvedType?.fullName !== '.google.protobuf.Value') problems.push(`${path}: null (leave the field out instead)`);
    return;
  }
  if (isMapField(field)) {
    if (!isObject(value)) {
      problems.push(`${path}: map<${field.keyType}, ${field.type}> must be an object, got ${describe(value)}`);
      return;
    }
    for (const [k, v] of Object.entries(value)) checkSingle(root, field, v, `${path}[${JSON.stringify(k)}]`, problems);
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: repeated ${field.type} must be a list, got ${describe(value)}`);
      return;
    }
    value.forEach((v: unknown, i: number) => checkSingle(root, field, v, `${path}[${i}]`, problems));
    return;
  }
  checkSingle(root, field, value, path, problems);
}

function checkSingle(root: Root, field: FieldBase, value: unknown, path: string, problems: string[]): void {
  const resolved = field.resolvedType;
  if (resolved === null) {
    const problem = scalarProblem(field.type, value);
    if (problem !== null) problems.push(`${path}: ${problem}`);
  } else if (isEnum(resolved)) {
    checkEnum(resolved, value, path, problems);
  } else if (isType(resolved)) {
    checkMessage(root, resolved, value, path, problems);
  }
}

function checkEnum(e: Enum, value: unknown, path: string, problems: string[]): void {
  const names = Object.keys(e.values);
  let name: string | undefined;
  if (typeof value === 'string') name = names.includes(value) ? value : undefined;
  else if (typeof value === 'number') name = e.valuesById[value];
  if (name === undefined) {
    problems.push(`${path}: ${describe(value)} is not a value of enum ${e.fullName.slice(1)} (${names.join(', ')})`);
    return;
  }
  if (e.valuesOptions?.[name]?.['deprecated'] === true) problems.push(`${path}: ${name} is a deprecated value of ${e.fullName.slice(1)}`);
}

/** null when `value` is valid proto JSON for scalar `type`; else what is wrong. */
function scalarProblem(type: string, value: unknown): string | null {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? null : `string expected, got ${describe(value)}`;
    case 'bytes':
      return typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value) ? null : `base64 bytes expected, got ${describe(value)}`;
    case 'bool':
      return typeof value === 'boolean' ? null : `true or false expected, got ${describe(value)}`;
    case 'double': case 'float':
      return typeof value === 'number' ? null : `number expected, got ${describe(value)}`;
    case 'int32': case 'sint32': case 'sfixed32': case 'int64': case 'sint64': case 'sfixed64':
      return isInteger(value, true) ? null : `integer expected, got ${describe(value)}`;
    case 'uint32': case 'fixed32': case 'uint64': case 'fixed64':
      return isInteger(value, false) ? null : `non-negative integer expected, got ${describe(value)}`;
    default:
      return `unknown scalar type ${type}`;
  }
}

function isInteger(value: unknown, signed: boolean): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && (signed || value >= 0);
  return typeof value === 'string' && (signed ? /^-?\d+$/ : /^\d+$/).test(value);
}

const indexCache = new WeakMap<Type, Map<string, FieldBase>>();

/** A message's fields by proto name and by JSON name (lowerCamelCase unless `json_name` says otherwise). */
function fieldIndex(type: Type): Map<string, FieldBase> {
  let index = indexCache.get(type);
  if (index === undefined) {
    index = new Map();
    for (const field of type.fieldsArray) {
      index.set(field.name, field);
      const jsonName = field.options?.['json_name'];
      index.set(typeof jsonName === 'string' ? jsonName : field.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()), field);
    }
    indexCache.set(type, index);
  }
  return index;
}

function lookupMessage(root: Root, name: string): Type | null {
  const found: ReflectionObject | null = root.lookup(name);
  return found !== null && isType(found) ? found : null;
}

function suggest(key: string, byName: Map<string, FieldBase>): string {
  const norm = (s: string): string => s.replace(/_/g, '').toLowerCase();
  const close = [...new Set([...byName.values()].map((f) => f.name))].filter((n) => norm(n) === norm(key) || distance(norm(n), norm(key)) <= 2);
  return close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_v, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

function isMapField(field: FieldBase): field is MapField {
  return field.map;
}
function isType(o: ReflectionObject): o is Type {
  return o instanceof protobuf.Type;
}
function isEnum(o: ReflectionObject): o is Enum {
  return o instanceof protobuf.Enum;
}
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
