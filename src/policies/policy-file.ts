import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { LineCounter, parseDocument } from 'yaml';
import type {
  CredentialLocationsConfig, IntrospectionEndpointConfig, JwtIssuerConfig, PolicyConfig, RouteConfig, RouteMatchConfig,
} from '../config/policy-types.js';
import type { AuthMethod } from '../credentials/credential-type.js';
import { IDENTITY_HEADER_NAMES } from '../pipeline/identity-headers.js';
import type { AuthMode } from './route-policy.js';

/**
 * The policy file (YAML) → a validated, deeply frozen `PolicyConfig`. The schema is the one in the
 * doc comment of `config/policy-types.ts`; `docs/policy.md` is the annotated example.
 *
 * Validation collects every problem with its path (`routes[3].match.path.template: …`) and throws
 * one `PolicyError`; nothing is coerced to a default. Omitted optional keys take their documented
 * defaults.
 */

/** A policy file that cannot be used. `problems` lists every problem found, each with its path. */
export class PolicyError extends Error {
  readonly problems: readonly string[];
  readonly file: string | null;
  constructor(problems: readonly string[], file: string | null = null) {
    super(`invalid policy file${file === null ? '' : ` ${file}`}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'PolicyError';
    this.problems = Object.freeze([...problems]);
    this.file = file;
  }
}

/** Credential types a route may list, in no particular order (the route gives the order). */
export const CREDENTIAL_TYPES: readonly AuthMethod[] = Object.freeze(['key-auth', 'basic-auth', 'jwt', 'oauth2', 'mtls']);

/** The only `version:` this parser reads. */
export const POLICY_FILE_VERSION = 1;

/** A template has at most this many segments (keeps its precedence rank exact in a double). */
export const MAX_TEMPLATE_SEGMENTS = 32;

export const DEFAULT_CREDENTIAL_LOCATIONS: CredentialLocationsConfig = deepFreeze({
  keyAuth: { headers: ['x-api-key', 'apikey'], query: ['apikey'], bearer: true },
  basicAuth: { headers: ['authorization', 'proxy-authorization'] },
});

export interface ParsePolicyOptions {
  /** Where `introspection.endpoints[].client_secret_env` is read; `process.env` by default. */
  readonly env?: NodeJS.ProcessEnv;
  /** File name for the error message. */
  readonly file?: string | null;
}

/** Parses and validates a policy file's text. Throws PolicyError listing every problem. */
export function parsePolicy(text: string, options: ParsePolicyOptions = {}): PolicyConfig {
  const file = options.file ?? null;
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new PolicyError(doc.errors.map((e) => {
      const pos = lines.linePos(e.pos[0]);
      return `line ${pos.line}, column ${pos.col}: YAML: ${firstLine(e.message)}`;
    }), file);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new PolicyError([`YAML: ${err instanceof Error ? firstLine(err.message) : String(err)}`], file);
  }
  const p = new Problems();
  const config = readPolicy(p, raw, options.env ?? process.env, digestOf(text));
  if (p.list.length > 0 || config === null) throw new PolicyError(p.list, file);
  return deepFreeze(config);
}

/** The policy in force without a policy file: every request needs a valid API key (`DEFAULT_ROUTE`). */
export function builtinPolicy(): PolicyConfig {
  return deepFreeze({
    version: POLICY_FILE_VERSION,
    digest: 'builtin',
    defaultRoute: {
      name: 'default',
      match: { hosts: [], methods: [], path: null },
      auth: 'required',
      credentials: ['key-auth'],
      allowRoles: [],
      denyRoles: [],
      requiredScopes: { mode: 'all', scopes: [] },
      failureMode: 'closed',
      denyAll: false,
      headerRenames: {},
    },
    routes: [],
    credentials: DEFAULT_CREDENTIAL_LOCATIONS,
    jwtIssuers: [],
    introspection: [],
    anonymousConsumer: null,
  } satisfies PolicyConfig);
}

/** The `digest` of a policy file's text: the first 16 hex digits of its SHA-256. */
export function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// Paths and hosts: the grammar the matcher (route-table.ts) relies on.

/** A parsed `template`: one entry per segment, a literal string or `null` for a `{param}`. */
export interface PathTemplate {
  readonly segments: readonly (string | null)[];
  readonly params: readonly string[];
}

const PARAM = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Parses a path template; returns the reason as a string when it is not valid. */
export function parsePathTemplate(value: string): PathTemplate | string {
  const base = checkPathValue(value, 'template');
  if (base !== null) return base;
  const parts = value.slice(1).split('/');
  if (parts.length > MAX_TEMPLATE_SEGMENTS) return `has ${parts.length} segments; at most ${MAX_TEMPLATE_SEGMENTS}`;
  const segments: (string | null)[] = [];
  const params: string[] = [];
  for (const [i, part] of parts.entries()) {
    if (!part.includes('{') && !part.includes('}')) { segments.push(part); continue; }
    const m = PARAM.exec(part);
    if (m === null || m[1] === undefined) {
      return `segment ${i + 1} ${JSON.stringify(part)}: a parameter is a whole segment named like {id} (letters, digits, _)`;
    }
    if (params.includes(m[1])) return `parameter {${m[1]}} appears twice`;
    params.push(m[1]);
    segments.push(null);
  }
  if (params.length === 0) return 'has no {parameter}: use exact';
  return { segments, params };
}

/** The segments of a request or pattern path: `/` → `['']`, `/a/` → `['a', '']`. */
export function pathSegments(path: string): string[] {
  return path.slice(1).split('/');
}

/**
 * Whether keygate will match a request path at all. A path whose meaning depends on how the
 * upstream normalises it — `//`, a `.` or `..` segment (also as `%2e`), an encoded `/` or `\`
 * (`%2f`, `%5c`), a raw `\`, or no leading `/` — is refused, because the route keygate picked and
 * the resource the upstream serves could differ. Envoy with `normalize_path`, `merge_slashes` and
 * `path_with_escaped_slashes_action` never sends one. Percent-encoding is otherwise not decoded.
 */
export function isCanonicalPath(path: string): boolean {
  if (path.charCodeAt(0) !== 47 /* / */) return false;
  if (path.includes('//') || path.includes('\\')) return false;
  const pct = path.includes('%');
  if (pct) {
    const lower = path.toLowerCase();
    if (lower.includes('%2f') || lower.includes('%5c')) return false;
  }
  if (pct || path.includes('/.')) {
    for (const seg of pathSegments(path)) {
      const s = pct ? seg.toLowerCase().replaceAll('%2e', '.') : seg;
      if (s === '.' || s === '..') return false;
    }
  }
  return true;
}

function checkPathValue(value: string, kind: 'exact' | 'prefix' | 'template'): string | null {
  if (!value.startsWith('/')) return 'must start with /';
  if (/[\s\x00-\x1f\x7f?#]/.test(value)) return 'must not contain whitespace, control characters, ? or # (the query is not matched)';
  if (kind !== 'template' && (value.includes('{') || value.includes('}'))) return 'contains { or }: parameters need a template';
  if (!isCanonicalPath(value)) {
    return 'contains //, a . or .. segment, \\ or an encoded / \\ . segment: such request paths are refused, so this can never match';
  }
  return null;
}

const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Validates one `hosts` entry (already lower-cased); returns the reason when it is not valid. */
export function checkHostPattern(host: string): string | null {
  if (host === '') return 'is empty';
  if (host === '*') return 'is not a host pattern: leave hosts out to match any host';
  if (host.startsWith('[')) {
    const m = /^\[([0-9a-f:.]+)\](:\d+)?$/.exec(host);
    if (m === null || m[1] === undefined || isIP(m[1]) !== 6) return 'is not a bracketed IPv6 address';
    if (m[2] !== undefined) return 'takes no port: the request port is ignored when matching';
    return null;
  }
  if (/:\d*$/.test(host)) return 'takes no port: the request port is ignored when matching';
  let name = host;
  if (host.startsWith('*.')) {
    name = host.slice(2);
    if (isIP(name) !== 0) return 'a wildcard needs a domain name, not an IP address';
  }
  if (name.includes('*')) return 'a wildcard is only allowed as the whole first label: *.example.com';
  if (name.endsWith('.')) return 'must not end with a dot';
  if (name.length > 253) return 'is longer than 253 characters';
  for (const label of name.split('.')) {
    if (!HOST_LABEL.test(label)) return `label ${JSON.stringify(label)} is not a DNS label (a-z, 0-9, -, _; 1-63 characters)`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Reading the document.

class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(path === '' ? message : `${path}: ${message}`);
  }
}

type YamlMap = Record<string, unknown>;

const TOP_KEYS = ['version', 'default', 'routes', 'credentials', 'jwt', 'introspection', 'anonymous'] as const;
const RULE_KEYS = ['deny', 'auth', 'credentials', 'allow_roles', 'deny_roles', 'required_scopes', 'failure_mode', 'headers'] as const;
const ROUTE_KEYS = ['name', 'match', ...RULE_KEYS] as const;
const MATCH_KEYS = ['hosts', 'methods', 'path'] as const;
const PATH_KEYS = ['exact', 'prefix', 'template'] as const;
const SCOPE_KEYS = ['all', 'any'] as const;
const KEY_AUTH_KEYS = ['headers', 'query', 'bearer'] as const;
const ISSUER_KEYS = [
  'name', 'issuer', 'audiences', 'jwks_url', 'static_keys', 'algorithms', 'leeway_seconds', 'subject_claim',
  'lookup_prefix', 'consumer_optional', 'roles_claim',
] as const;
const ENDPOINT_KEYS = [
  'name', 'url', 'client_id', 'client_secret_env', 'cache_ttl_seconds', 'negative_ttl_seconds', 'timeout_ms',
  'consumer_optional',
] as const;
const AUTH_MODES: readonly AuthMode[] = ['required', 'optional', 'anonymous'];
const JWT_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512',
] as const;
const ROUTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const METHOD = /^[A-Z][A-Z_-]*$/;

/** What the tie check needs to know about a parsed route. */
interface Shape {
  readonly index: number;
  readonly name: string;
  readonly hosts: readonly string[];
  readonly pathKey: string;
  readonly methods: readonly string[];
}

/** What cross-checks of routes need from the rest of the file. */
interface Context {
  readonly jwt: boolean;
  readonly introspection: boolean;
  readonly anonymous: boolean;
}

function readPolicy(p: Problems, raw: unknown, env: NodeJS.ProcessEnv, digest: string): PolicyConfig | null {
  if (raw === null || raw === undefined) {
    p.add('', 'the file is empty: it needs at least `version: 1`');
    return null;
  }
  const top = mapping(p, '', raw, TOP_KEYS, '(top level)');
  if (top === null) return null;
  if (top.version === undefined) p.add('version', `is required (version: ${POLICY_FILE_VERSION})`);
  else if (top.version !== POLICY_FILE_VERSION) p.add('version', `must be ${POLICY_FILE_VERSION}, got ${describe(top.version)}`);

  const credentials = readLocations(p, top.credentials);
  const jwtIssuers = readJwt(p, top.jwt);
  const introspection = readIntrospection(p, top.introspection, env);
  let anonymousConsumer: string | null = null;
  if (top.anonymous !== undefined) {
    const anon = mapping(p, 'anonymous', top.anonymous, ['consumer']);
    if (anon !== null) anonymousConsumer = str(p, 'anonymous.consumer', anon.consumer, true);
  }
  const ctx: Context = { jwt: jwtIssuers.length > 0, introspection: introspection.length > 0, anonymous: anonymousConsumer !== null };

  const routes: RouteConfig[] = [];
  const shapes: Shape[] = [];
  if (top.routes !== undefined && top.routes !== null) {
    if (!Array.isArray(top.routes)) p.add('routes', `must be a list, got ${describe(top.routes)}`);
    else {
      const seen = new Map<string, number>();
      for (const [i, item] of top.routes.entries()) {
        const path = `routes[${i}]`;
        const m = mapping(p, path, item, ROUTE_KEYS);
        if (m === null) continue;
        const name = str(p, `${path}.name`, m.name, true);
        if (name !== null) {
          if (!ROUTE_NAME.test(name)) p.add(`${path}.name`, `${JSON.stringify(name)} must be 1-128 characters of A-Z a-z 0-9 . _ : - (starting with a letter or digit)`);
          else if (name === 'default') p.add(`${path}.name`, '"default" is reserved for the default route');
          const first = seen.get(name);
          if (first !== undefined) p.add(`${path}.name`, `duplicate route name ${JSON.stringify(name)} (also routes[${first}])`);
          else seen.set(name, i);
        }
        const match = readMatch(p, `${path}.match`, m.match);
        const rule = readRule(p, path, m, ctx);
        if (name === null || match === null || rule === null) continue;
        routes.push({ name, match: match.config, ...rule });
        shapes.push({ index: i, name, hosts: match.config.hosts, pathKey: match.pathKey, methods: match.config.methods });
      }
    }
  }
  findTies(p, shapes);

  let defaultRoute: RouteConfig | null;
  if (top.default === undefined || top.default === null) {
    defaultRoute = { ...DENY_RULE, name: 'default', match: ANY_MATCH };
  } else {
    const m = mapping(p, 'default', top.default, RULE_KEYS);
    const rule = m === null ? null : readRule(p, 'default', m, ctx);
    defaultRoute = rule === null ? null : { name: 'default', match: ANY_MATCH, ...rule };
  }
  if (defaultRoute === null) return null;

  return {
    version: POLICY_FILE_VERSION,
    digest,
    defaultRoute,
    routes,
    credentials,
    jwtIssuers,
    introspection,
    anonymousConsumer,
  };
}

const ANY_MATCH: RouteMatchConfig = { hosts: [], methods: [], path: null };

type Rule = Omit<RouteConfig, 'name' | 'match'>;

const DENY_RULE: Rule = {
  auth: 'required',
  credentials: [],
  allowRoles: [],
  denyRoles: [],
  requiredScopes: { mode: 'all', scopes: [] },
  failureMode: 'closed',
  denyAll: true,
  headerRenames: {},
};

function readMatch(p: Problems, path: string, raw: unknown): { config: RouteMatchConfig; pathKey: string } | null {
  if (raw === undefined) {
    p.add(path, 'is required (hosts, methods and/or path; use `default` for a catch-all)');
    return null;
  }
  const m = mapping(p, path, raw, MATCH_KEYS);
  if (m === null) return null;
  let ok = true;
  const hosts = strList(p, `${path}.hosts`, m.hosts, (value, at) => {
    const host = value.toLowerCase();
    const why = checkHostPattern(host);
    if (why !== null) { p.add(at, `${JSON.stringify(value)} ${why}`); ok = false; }
    return host;
  });
  const methods = strList(p, `${path}.methods`, m.methods, (value, at) => {
    if (!METHOD.test(value)) { p.add(at, `${JSON.stringify(value)} is not an upper-case HTTP method (GET, POST, …)`); ok = false; }
    return value;
  });
  let pathConfig: RouteMatchConfig['path'] = null;
  let pathKey = 'none';
  if (m.path !== undefined) {
    const pm = mapping(p, `${path}.path`, m.path, PATH_KEYS);
    if (pm === null) ok = false;
    else {
      const given = PATH_KEYS.filter((k) => pm[k] !== undefined);
      if (given.length !== 1) {
        p.add(`${path}.path`, `give exactly one of exact, prefix, template (got ${given.length === 0 ? 'none' : given.join(', ')})`);
        ok = false;
      } else {
        const kind = given[0] ?? 'exact';
        const value = str(p, `${path}.path.${kind}`, pm[kind], true);
        if (value === null) ok = false;
        else if (kind === 'template') {
          const t = parsePathTemplate(value);
          if (typeof t === 'string') { p.add(`${path}.path.template`, `${JSON.stringify(value)} ${t}`); ok = false; }
          else {
            pathConfig = { kind, value };
            pathKey = `template:/${t.segments.map((s) => s ?? '{}').join('/')}`;
          }
        } else {
          const why = checkPathValue(value, kind);
          if (why !== null) { p.add(`${path}.path.${kind}`, `${JSON.stringify(value)} ${why}`); ok = false; }
          else {
            pathConfig = { kind, value };
            pathKey = `${kind}:${value}`;
          }
        }
      }
    }
  }
  if (ok && hosts.length === 0 && methods.length === 0 && m.path === undefined) {
    p.add(path, 'matches every request: name at least one of hosts, methods, path (use `default` for a catch-all)');
    ok = false;
  }
  return ok ? { config: { hosts, methods, path: pathConfig }, pathKey } : null;
}

/** The settings shared by routes and `default`. Reports problems; null when the rule is unusable. */
function readRule(p: Problems, path: string, m: YamlMap, ctx: Context): Rule | null {
  const before = p.list.length;
  const deny = bool(p, `${path}.deny`, m.deny, false);
  if (deny) {
    for (const key of Object.keys(m)) {
      if (key !== 'name' && key !== 'match' && key !== 'deny') p.add(`${path}.${key}`, 'a route with deny: true takes no other settings');
    }
    return p.list.length === before ? DENY_RULE : null;
  }
  const auth = oneOf(p, `${path}.auth`, m.auth, AUTH_MODES, 'required');
  if (auth === 'anonymous' && !ctx.anonymous) p.add(`${path}.auth`, 'anonymous needs the anonymous consumer: set `anonymous: { consumer: … }` at the top level');
  const credentials = strList(p, `${path}.credentials`, m.credentials, (value, at) => {
    if (!(CREDENTIAL_TYPES as readonly string[]).includes(value)) {
      const hint = value === 'anonymous' ? ' (anonymous access is `auth: anonymous`)' : '';
      p.add(at, `unknown credential type ${JSON.stringify(value)}; known: ${CREDENTIAL_TYPES.join(', ')}${hint}`);
    } else if (value === 'jwt' && !ctx.jwt) p.add(at, 'jwt needs at least one issuer under jwt.issuers');
    else if (value === 'oauth2' && !ctx.introspection) p.add(at, 'oauth2 needs at least one endpoint under introspection.endpoints');
    return value as AuthMethod;
  });
  if (auth === 'required' && credentials.length === 0) {
    p.add(`${path}.credentials`, 'a route with auth: required needs at least one credential type');
  }
  const allowRoles = strList(p, `${path}.allow_roles`, m.allow_roles);
  const denyRoles = strList(p, `${path}.deny_roles`, m.deny_roles);
  for (const role of denyRoles) {
    if (allowRoles.includes(role)) p.add(`${path}.deny_roles`, `${JSON.stringify(role)} is also in allow_roles: a consumer with it is always refused`);
  }
  if (allowRoles.length > 0 && allowRoles.every((r) => denyRoles.includes(r))) {
    p.add(`${path}.allow_roles`, 'every allowed role is also denied: the route can never allow a request');
  }
  let requiredScopes: Rule['requiredScopes'] = { mode: 'all', scopes: [] };
  if (m.required_scopes !== undefined) {
    const at = `${path}.required_scopes`;
    const sm = mapping(p, at, m.required_scopes, SCOPE_KEYS);
    if (sm !== null) {
      const given = SCOPE_KEYS.filter((k) => sm[k] !== undefined);
      if (given.length !== 1) p.add(at, `give exactly one of all, any (got ${given.length === 0 ? 'none' : given.join(', ')})`);
      else {
        const mode = given[0] ?? 'all';
        const scopes = strList(p, `${at}.${mode}`, sm[mode]);
        if (scopes.length === 0 && Array.isArray(sm[mode])) p.add(`${at}.${mode}`, 'list at least one scope, or leave required_scopes out');
        requiredScopes = { mode, scopes };
      }
    }
  }
  const failureMode = oneOf(p, `${path}.failure_mode`, m.failure_mode, ['closed', 'open'] as const, 'closed');
  const headerRenames: Record<string, string> = {};
  if (m.headers !== undefined) {
    const hm = mapping(p, `${path}.headers`, m.headers, IDENTITY_HEADER_NAMES);
    if (hm !== null) {
      const used = new Map<string, string>();
      for (const [from, value] of Object.entries(hm)) {
        if (!IDENTITY_HEADER_NAMES.includes(from)) continue;
        const at = `${path}.headers.${from}`;
        const to = str(p, at, value, true);
        if (to === null) continue;
        const lower = to.toLowerCase();
        if (!HEADER_NAME.test(lower)) p.add(at, `${JSON.stringify(to)} is not a header name`);
        else if (IDENTITY_HEADER_NAMES.includes(lower) && lower !== from) p.add(at, `${JSON.stringify(to)} is another identity header`);
        else if (used.has(lower)) p.add(at, `${JSON.stringify(to)} is already used for ${used.get(lower) ?? ''}`);
        else { used.set(lower, from); headerRenames[from] = lower; }
      }
    }
  }
  if (p.list.length !== before) return null;
  return { auth, credentials, allowRoles, denyRoles, requiredScopes, failureMode, denyAll: false, headerRenames };
}

/**
 * Two routes tie when neither is more specific and one request can match both: the same host
 * pattern, the same path pattern (template parameter names aside), and overlapping methods (both
 * any, or a method in common). The precedence order cannot choose, so the file is rejected.
 */
function findTies(p: Problems, shapes: readonly Shape[]): void {
  const groups = new Map<string, Shape[]>();
  for (const shape of shapes) {
    for (const host of shape.hosts.length === 0 ? ['(any host)'] : shape.hosts) {
      const key = `${host}\n${shape.pathKey}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [shape]);
      else group.push(shape);
    }
  }
  const reported = new Set<string>();
  for (const [key, group] of groups) {
    if (group.length < 2) continue;
    const [host = '', pathKey = ''] = key.split('\n');
    for (let j = 1; j < group.length; j++) {
      const b = group[j];
      if (b === undefined) continue;
      for (let i = 0; i < j; i++) {
        const a = group[i];
        if (a === undefined || a.index === b.index) continue;
        const common = a.methods.length === 0 && b.methods.length === 0 ? 'any'
          : a.methods.length > 0 && b.methods.length > 0 ? a.methods.filter((x) => b.methods.includes(x)).join(', ') : '';
        if (common === '') continue;
        const pair = `${a.index}/${b.index}`;
        if (reported.has(pair)) continue;
        reported.add(pair);
        p.add(`routes[${b.index}]`, `ties with routes[${a.index}] (${JSON.stringify(a.name)}): same host ${host}, same path ${pathKey.replace(':', ' ')}, methods ${common}; neither is more specific`);
      }
    }
  }
}

function readLocations(p: Problems, raw: unknown): CredentialLocationsConfig {
  if (raw === undefined || raw === null) return DEFAULT_CREDENTIAL_LOCATIONS;
  const m = mapping(p, 'credentials', raw, ['key-auth', 'basic-auth']);
  if (m === null) return DEFAULT_CREDENTIAL_LOCATIONS;
  const defaults = DEFAULT_CREDENTIAL_LOCATIONS;
  let keyAuth = defaults.keyAuth;
  if (m['key-auth'] !== undefined) {
    const k = mapping(p, 'credentials.key-auth', m['key-auth'], KEY_AUTH_KEYS);
    if (k !== null) {
      keyAuth = {
        headers: k.headers === undefined ? defaults.keyAuth.headers : headerList(p, 'credentials.key-auth.headers', k.headers),
        query: k.query === undefined ? defaults.keyAuth.query : strList(p, 'credentials.key-auth.query', k.query),
        bearer: bool(p, 'credentials.key-auth.bearer', k.bearer, defaults.keyAuth.bearer),
      };
      if (keyAuth.headers.length === 0 && keyAuth.query.length === 0 && !keyAuth.bearer) {
        p.add('credentials.key-auth', 'no headers, no query parameters and bearer: false leave nowhere to present a key');
      }
    }
  }
  let basicAuth = defaults.basicAuth;
  if (m['basic-auth'] !== undefined) {
    const b = mapping(p, 'credentials.basic-auth', m['basic-auth'], ['headers']);
    if (b !== null && b.headers !== undefined) {
      basicAuth = { headers: headerList(p, 'credentials.basic-auth.headers', b.headers) };
      if (basicAuth.headers.length === 0) p.add('credentials.basic-auth.headers', 'list at least one header');
    }
  }
  return { keyAuth, basicAuth };
}

function readJwt(p: Problems, raw: unknown): JwtIssuerConfig[] {
  if (raw === undefined || raw === null) return [];
  const m = mapping(p, 'jwt', raw, ['issuers']);
  if (m === null || m.issuers === undefined) return [];
  if (!Array.isArray(m.issuers)) { p.add('jwt.issuers', `must be a list, got ${describe(m.issuers)}`); return []; }
  const out: JwtIssuerConfig[] = [];
  const names = new Map<string, number>();
  const issuers = new Map<string, number>();
  for (const [i, item] of m.issuers.entries()) {
    const path = `jwt.issuers[${i}]`;
    const before = p.list.length;
    const im = mapping(p, path, item, ISSUER_KEYS);
    if (im === null) continue;
    const name = str(p, `${path}.name`, im.name, true);
    if (name !== null) unique(p, `${path}.name`, name, names, i, 'jwt.issuers', 'issuer name');
    const issuer = str(p, `${path}.issuer`, im.issuer, true);
    if (issuer !== null) unique(p, `${path}.issuer`, issuer, issuers, i, 'jwt.issuers', 'issuer');
    const audiences = strList(p, `${path}.audiences`, im.audiences);
    if (audiences.length === 0) p.add(`${path}.audiences`, 'list at least one audience (a token for any audience would be accepted)');
    const algorithms = strList(p, `${path}.algorithms`, im.algorithms, (value, at) => {
      if (!(JWT_ALGORITHMS as readonly string[]).includes(value)) p.add(at, `${JSON.stringify(value)} is not a supported algorithm (${JWT_ALGORITHMS.join(', ')})`);
      return value;
    });
    if (algorithms.length === 0 && im.algorithms === undefined) p.add(`${path}.algorithms`, 'is required (for example [RS256])');
    const hmac = algorithms.some((a) => a.startsWith('HS'));
    if (hmac && algorithms.some((a) => !a.startsWith('HS'))) p.add(`${path}.algorithms`, 'do not mix HMAC (HS*) and public-key algorithms in one issuer');
    const jwksUrl = im.jwks_url === undefined ? null : url(p, `${path}.jwks_url`, im.jwks_url);
    const staticKeys: Record<string, unknown>[] = [];
    if (im.static_keys !== undefined) {
      if (!Array.isArray(im.static_keys)) p.add(`${path}.static_keys`, `must be a list of JWKs, got ${describe(im.static_keys)}`);
      else {
        if (im.static_keys.length === 0) p.add(`${path}.static_keys`, 'list at least one key');
        for (const [k, key] of im.static_keys.entries()) {
          const at = `${path}.static_keys[${k}]`;
          if (!isMap(key)) { p.add(at, `must be a JWK (a mapping), got ${describe(key)}`); continue; }
          const kty = key.kty;
          if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP' && kty !== 'oct') { p.add(`${at}.kty`, `must be RSA, EC, OKP or oct, got ${describe(kty)}`); continue; }
          if (kty !== 'oct' && key.d !== undefined) p.add(at, 'is a private key: give the public key only');
          if (kty === 'oct' && !hmac) p.add(at, 'an oct (shared secret) key needs an HS* algorithm');
          if (kty !== 'oct' && hmac) p.add(at, 'HS* algorithms need oct keys');
          staticKeys.push(key);
        }
      }
    }
    if ((jwksUrl === null) === (im.static_keys === undefined)) p.add(path, 'give exactly one of jwks_url, static_keys');
    if (hmac && jwksUrl !== null) p.add(`${path}.jwks_url`, 'HS* algorithms need static oct keys, not a JWKS URL');
    const leewaySeconds = int(p, `${path}.leeway_seconds`, im.leeway_seconds, 0, 300, 30);
    const subjectClaim = oneOf(p, `${path}.subject_claim`, im.subject_claim, ['sub', 'client_id'] as const, 'sub');
    const lookupPrefix = im.lookup_prefix === undefined ? '' : str(p, `${path}.lookup_prefix`, im.lookup_prefix, true) ?? '';
    if (lookupPrefix.length > 64 || /[\u0000-\u001f\u007f]/.test(lookupPrefix)) p.add(`${path}.lookup_prefix`, 'must be at most 64 characters without control characters');
    const samePrefix = out.find((o) => o.lookupPrefix === lookupPrefix);
    if (samePrefix !== undefined) {
      p.add(`${path}.lookup_prefix`, `issuer ${samePrefix.name} has the same lookup_prefix ${JSON.stringify(lookupPrefix)}: a subject of one would name the other's consumers; give each issuer its own prefix`);
    }
    const consumerOptional = bool(p, `${path}.consumer_optional`, im.consumer_optional, false);
    const rolesClaim = im.roles_claim === undefined ? null : str(p, `${path}.roles_claim`, im.roles_claim, true);
    if (rolesClaim !== null && !consumerOptional) p.add(`${path}.roles_claim`, 'only applies with consumer_optional: true');
    if (p.list.length !== before || name === null || issuer === null) continue;
    out.push({ name, issuer, audiences, jwksUrl, staticKeys, algorithms, leewaySeconds, subjectClaim, lookupPrefix, consumerOptional, rolesClaim });
  }
  return out;
}

function readIntrospection(p: Problems, raw: unknown, env: NodeJS.ProcessEnv): IntrospectionEndpointConfig[] {
  if (raw === undefined || raw === null) return [];
  const m = mapping(p, 'introspection', raw, ['endpoints']);
  if (m === null || m.endpoints === undefined) return [];
  if (!Array.isArray(m.endpoints)) { p.add('introspection.endpoints', `must be a list, got ${describe(m.endpoints)}`); return []; }
  const out: IntrospectionEndpointConfig[] = [];
  const names = new Map<string, number>();
  for (const [i, item] of m.endpoints.entries()) {
    const path = `introspection.endpoints[${i}]`;
    const before = p.list.length;
    const em = mapping(p, path, item, ENDPOINT_KEYS);
    if (em === null) continue;
    const name = str(p, `${path}.name`, em.name, true);
    if (name !== null) unique(p, `${path}.name`, name, names, i, 'introspection.endpoints', 'endpoint name');
    const endpoint = url(p, `${path}.url`, em.url);
    const clientId = str(p, `${path}.client_id`, em.client_id, true);
    const secretEnv = str(p, `${path}.client_secret_env`, em.client_secret_env, true);
    let clientSecret: string | null = null;
    if (secretEnv !== null) {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(secretEnv)) p.add(`${path}.client_secret_env`, `${JSON.stringify(secretEnv)} is not an environment variable name (A-Z, 0-9, _)`);
      else {
        const value = env[secretEnv];
        if (value === undefined || value === '') p.add(`${path}.client_secret_env`, `environment variable ${secretEnv} is not set`);
        else clientSecret = value;
      }
    }
    const cacheTtlSeconds = int(p, `${path}.cache_ttl_seconds`, em.cache_ttl_seconds, 1, 86_400, 60);
    const negativeTtlSeconds = int(p, `${path}.negative_ttl_seconds`, em.negative_ttl_seconds, 0, 3_600, 5);
    const timeoutMs = int(p, `${path}.timeout_ms`, em.timeout_ms, 1, 60_000, 500);
    const consumerOptional = bool(p, `${path}.consumer_optional`, em.consumer_optional, false);
    if (p.list.length !== before || name === null || endpoint === null || clientId === null || clientSecret === null) continue;
    out.push({ name, url: endpoint, clientId, clientSecret, cacheTtlSeconds, negativeTtlSeconds, timeoutMs, consumerOptional });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Small typed readers: each reports its own problem and returns a usable value.

function isMap(v: unknown): v is YamlMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mapping(p: Problems, path: string, v: unknown, keys: readonly string[], label = ''): YamlMap | null {
  if (!isMap(v)) {
    p.add(path || label, `must be a mapping, got ${describe(v)}`);
    return null;
  }
  for (const key of Object.keys(v)) {
    if (keys.includes(key)) continue;
    const near = nearest(key, keys);
    p.add(path === '' ? key : `${path}.${key}`, `unknown key${near === null ? '' : ` (did you mean ${near}?)`}; expected one of: ${keys.join(', ')}`);
  }
  return v;
}

function str(p: Problems, path: string, v: unknown, required: boolean): string | null {
  if (v === undefined) {
    if (required) p.add(path, 'is required');
    return null;
  }
  if (typeof v !== 'string' || v === '') {
    p.add(path, `must be a non-empty string, got ${describe(v)}`);
    return null;
  }
  return v;
}

/** A list of distinct non-empty strings; `map` may check and rewrite each. Absent = empty. */
function strList<T extends string = string>(p: Problems, path: string, v: unknown, map?: (value: string, path: string) => T): T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.add(path, `must be a list, got ${describe(v)}`);
    return [];
  }
  const out: T[] = [];
  for (const [i, item] of v.entries()) {
    const at = `${path}[${i}]`;
    if (typeof item !== 'string' || item === '') { p.add(at, `must be a non-empty string, got ${describe(item)}`); continue; }
    const value = map === undefined ? (item as T) : map(item, at);
    if (out.includes(value)) { p.add(at, `duplicate ${JSON.stringify(item)}`); continue; }
    out.push(value);
  }
  return out;
}

function headerList(p: Problems, path: string, v: unknown): string[] {
  return strList(p, path, v, (value, at) => {
    const lower = value.toLowerCase();
    if (!HEADER_NAME.test(lower)) p.add(at, `${JSON.stringify(value)} is not a header name`);
    return lower;
  });
}

function bool(p: Problems, path: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') {
    p.add(path, `must be true or false, got ${describe(v)}`);
    return fallback;
  }
  return v;
}

function int(p: Problems, path: string, v: unknown, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    p.add(path, `must be a whole number from ${min} to ${max}, got ${describe(v)}`);
    return fallback;
  }
  return v;
}

function oneOf<T extends string>(p: Problems, path: string, v: unknown, values: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    p.add(path, `must be one of ${values.join(', ')}, got ${describe(v)}`);
    return fallback;
  }
  return v as T;
}

function url(p: Problems, path: string, v: unknown): string | null {
  const s = str(p, path, v, true);
  if (s === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(s);
  } catch {
    p.add(path, `${JSON.stringify(s)} is not a URL`);
    return null;
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    p.add(path, `${JSON.stringify(s)} must be https (http only for a loopback host)`);
    return null;
  }
  return s;
}

function unique(p: Problems, path: string, value: string, seen: Map<string, number>, i: number, list: string, what: string): void {
  const first = seen.get(value);
  if (first !== undefined) p.add(path, `duplicate ${what} ${JSON.stringify(value)} (also ${list}[${first}])`);
  else seen.set(value, i);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}

/** The closest known key within edit distance 2, for "did you mean". */
function nearest(key: string, keys: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of keys) {
    const d = editDistance(key, candidate);
    if (d < bestDistance) { best = candidate; bestDistance = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
