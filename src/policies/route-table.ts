import type { PolicyConfig, RouteConfig } from '../config/policy-types.js';
import type { Logger } from '../observability/logger.js';
import type { CheckInput } from '../pipeline/check-input.js';
import { isCanonicalPath, parsePathTemplate, pathSegments } from './policy-file.js';
import type { RouteMatcher, RoutePolicy } from './route-policy.js';

/**
 * The policy file's routes compiled into an immutable matcher. A reload compiles a new table and
 * swaps one reference; a table never changes after construction.
 *
 * Precedence — most specific wins, in this total order (first key decides, then the next):
 *   1. host: exact host > `*.suffix` wildcard (longer suffix first) > any host;
 *   2. path: exact > template (more literal segments, then more segments, then the first
 *      literal further left) > prefix (longer first) > no path;
 *   3. methods: listed methods > any method.
 * Two routes equal on all three that can match one request are a load error (see policy-file.ts),
 * so at most one route is ever the answer.
 *
 * Lookup cost does not grow with the number of routes: host index (exact map, wildcard map walked
 * label by label, any-host bucket) → per host bucket an exact-path map, a segment trie for
 * templates (literal children map + one parameter child) and a literal trie for prefixes →
 * methods checked last on the few candidates left.
 */

/** `context_extensions` key naming a route; it wins over matching. */
export const ROUTE_EXTENSION_KEY = 'keygate_route';

/** The route for a request path keygate refuses to match (see `isCanonicalPath`): denied (403 no_route). */
export const NON_CANONICAL_PATH_ROUTE: RoutePolicy = Object.freeze({
  name: 'non_canonical_path',
  auth: 'required',
  credentials: Object.freeze([]),
  allowRoles: Object.freeze([]),
  denyRoles: Object.freeze([]),
  requiredScopes: Object.freeze({ mode: 'all', scopes: Object.freeze([]) }),
  failureMode: 'closed',
  denyAll: true,
  headerRenames: Object.freeze({}),
});

/** A parsed route as the pipeline sees it (1:1, frozen). */
export function toRoutePolicy(route: RouteConfig): RoutePolicy {
  return Object.freeze({
    name: route.name,
    auth: route.auth,
    credentials: Object.freeze([...route.credentials]),
    allowRoles: Object.freeze([...route.allowRoles]),
    denyRoles: Object.freeze([...route.denyRoles]),
    requiredScopes: Object.freeze({ mode: route.requiredScopes.mode, scopes: Object.freeze([...route.requiredScopes.scopes]) }),
    failureMode: route.failureMode,
    denyAll: route.denyAll,
    headerRenames: Object.freeze({ ...route.headerRenames }),
  });
}

/**
 * The host part of `:authority` as routes see it: lower case, no `:port`, no trailing dot.
 * `[v6]:port` keeps its brackets; an unbracketed IPv6 address is left as it is.
 */
export function normaliseHost(host: string): string {
  let h = host;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    if (end !== -1) h = h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1 && h.indexOf(':', colon + 1) === -1) h = h.slice(0, colon);
  }
  if (h.charCodeAt(h.length - 1) === 46 /* . */) h = h.slice(0, -1);
  return h.toLowerCase();
}

export interface RouteTableOptions {
  /** For the debug line when `keygate_route` names no route. */
  readonly logger?: Logger;
}

/** One route in a bucket: its policy and methods (null = any). */
interface Candidate {
  readonly policy: RoutePolicy;
  readonly methods: ReadonlySet<string> | null;
}

/** Template routes ending at a trie node: all share one path shape, so one rank. */
interface TemplateEnd {
  readonly rank: number;
  readonly candidates: Candidate[];
}

interface PrefixEntry {
  /** The prefix's text after its last `/`, compared with the start of the next request segment. */
  readonly partial: string;
  readonly candidates: Candidate[];
}

class TrieNode {
  literal: Map<string, TrieNode> | null = null;
  param: TrieNode | null = null;
  template: TemplateEnd | null = null;
  /** Longest partial first. */
  prefixes: PrefixEntry[] | null = null;

  child(segment: string): TrieNode {
    this.literal ??= new Map();
    let next = this.literal.get(segment);
    if (next === undefined) {
      next = new TrieNode();
      this.literal.set(segment, next);
    }
    return next;
  }
}

/** The routes of one host pattern, indexed by path. */
class PathIndex {
  readonly exact = new Map<string, Candidate[]>();
  templates: TrieNode | null = null;
  prefixes: TrieNode | null = null;
  readonly none: Candidate[] = [];

  add(route: RouteConfig, candidate: Candidate): void {
    const path = route.match.path;
    if (path === null) { this.none.push(candidate); return; }
    switch (path.kind) {
      case 'exact': {
        const list = this.exact.get(path.value);
        if (list === undefined) this.exact.set(path.value, [candidate]);
        else list.push(candidate);
        return;
      }
      case 'template': {
        const parsed = parsePathTemplate(path.value);
        if (typeof parsed === 'string') throw new Error(`route ${route.name}: ${parsed}`);
        let node = (this.templates ??= new TrieNode());
        let literals = 0;
        let mask = 0;
        for (const [i, segment] of parsed.segments.entries()) {
          if (segment === null) node = (node.param ??= new TrieNode());
          else { node = node.child(segment); literals++; mask += 2 ** (31 - i); }
        }
        // Templates that can match one request have as many segments as it has: the rank orders
        // them by literal count, then by where the literals are (further left wins).
        node.template ??= { rank: literals * 2 ** 32 + mask, candidates: [] };
        node.template.candidates.push(candidate);
        return;
      }
      case 'prefix': {
        const segments = pathSegments(path.value);
        const partial = segments.pop() ?? '';
        let node = (this.prefixes ??= new TrieNode());
        for (const segment of segments) node = node.child(segment);
        node.prefixes ??= [];
        let entry = node.prefixes.find((e) => e.partial === partial);
        if (entry === undefined) {
          entry = { partial, candidates: [] };
          node.prefixes.push(entry);
          node.prefixes.sort((a, b) => b.partial.length - a.partial.length);
        }
        entry.candidates.push(candidate);
        return;
      }
    }
  }

  /** Listed methods before any-method, each group in file order. */
  seal(): void {
    const order = (list: Candidate[]): void => {
      list.sort((a, b) => (a.methods === null ? 1 : 0) - (b.methods === null ? 1 : 0));
    };
    for (const list of this.exact.values()) order(list);
    order(this.none);
    const visit = (node: TrieNode | null): void => {
      if (node === null) return;
      if (node.template !== null) order(node.template.candidates);
      for (const entry of node.prefixes ?? []) order(entry.candidates);
      for (const child of node.literal?.values() ?? []) visit(child);
      visit(node.param);
    };
    visit(this.templates);
    visit(this.prefixes);
  }
}

function pick(candidates: readonly Candidate[], method: string): Candidate | null {
  for (const c of candidates) {
    if (c.methods === null || c.methods.has(method)) return c;
  }
  return null;
}

export class RouteTable implements RouteMatcher {
  readonly #default: RoutePolicy;
  readonly #byName: ReadonlyMap<string, RoutePolicy>;
  readonly #exactHosts = new Map<string, PathIndex>();
  readonly #wildcardHosts = new Map<string, PathIndex>();
  readonly #anyHost: PathIndex | null;
  readonly #log: Logger | null;
  // Scratch for one lookup (a lookup is synchronous, so one per table is enough): the template
  // search's best so far, and the request path's segments, split only when a trie needs them.
  #bestRank = -1;
  #best: Candidate | null = null;
  #segmentsOf = '';
  #segments: readonly string[] = EMPTY;

  constructor(config: Pick<PolicyConfig, 'routes' | 'defaultRoute'>, options: RouteTableOptions = {}) {
    this.#log = options.logger ?? null;
    this.#default = toRoutePolicy(config.defaultRoute);
    const byName = new Map<string, RoutePolicy>();
    let anyHost: PathIndex | null = null;
    const indexes: PathIndex[] = [];
    const bucket = (map: Map<string, PathIndex>, key: string): PathIndex => {
      let index = map.get(key);
      if (index === undefined) {
        index = new PathIndex();
        map.set(key, index);
        indexes.push(index);
      }
      return index;
    };
    for (const route of config.routes) {
      if (byName.has(route.name)) throw new Error(`route ${route.name} defined twice`);
      const policy = toRoutePolicy(route);
      byName.set(route.name, policy);
      const candidate: Candidate = { policy, methods: route.match.methods.length === 0 ? null : new Set(route.match.methods) };
      if (route.match.hosts.length === 0) {
        if (anyHost === null) { anyHost = new PathIndex(); indexes.push(anyHost); }
        anyHost.add(route, candidate);
      }
      for (const host of route.match.hosts) {
        const index = host.startsWith('*.') ? bucket(this.#wildcardHosts, host.slice(2)) : bucket(this.#exactHosts, host);
        index.add(route, candidate);
      }
    }
    for (const index of indexes) index.seal();
    this.#anyHost = anyHost;
    this.#byName = byName;
  }

  /** The route for requests no route matches (a deny route named `default` unless configured). */
  get defaultRoute(): RoutePolicy {
    return this.#default;
  }

  /** Number of routes, the default route not counted. */
  get size(): number {
    return this.#byName.size;
  }

  /** A route by name; `default` gives the default route. */
  route(name: string): RoutePolicy | undefined {
    return name === 'default' ? this.#default : this.#byName.get(name);
  }

  match(input: CheckInput): RoutePolicy {
    const named = input.contextExtensions[ROUTE_EXTENSION_KEY];
    if (named !== undefined && isCanonicalPath(input.path)) {
      const route = this.route(named);
      if (route !== undefined) return route;
      this.#log?.debug({ route: named }, 'context extension keygate_route names no route: using the default route');
      return this.#default;
    }
    return this.lookup(input.method, input.host, input.path);
  }

  /** Matching alone (no context extensions): method upper case, host as sent, path without query. */
  lookup(method: string, rawHost: string, path: string): RoutePolicy {
    if (!isCanonicalPath(path)) return NON_CANONICAL_PATH_ROUTE;
    this.#segmentsOf = '';
    const host = normaliseHost(rawHost);
    let found: Candidate | null = null;
    const exact = this.#exactHosts.get(host);
    if (exact !== undefined) found = this.#inIndex(exact, method, path);
    if (found === null && this.#wildcardHosts.size > 0) {
      // Longest suffix first; a wildcard needs at least one label before its suffix.
      for (let dot = host.indexOf('.', 1); dot !== -1 && found === null; dot = host.indexOf('.', dot + 1)) {
        const index = this.#wildcardHosts.get(host.slice(dot + 1));
        if (index !== undefined) found = this.#inIndex(index, method, path);
      }
    }
    if (found === null && this.#anyHost !== null) found = this.#inIndex(this.#anyHost, method, path);
    return found === null ? this.#default : found.policy;
  }

  /** The request path's segments, split once per lookup (`/` → `['']`, `/a/` → `['a', '']`). */
  #split(path: string): readonly string[] {
    if (this.#segmentsOf !== path) {
      this.#segments = splitSegments(path);
      this.#segmentsOf = path;
    }
    return this.#segments;
  }

  #inIndex(index: PathIndex, method: string, path: string): Candidate | null {
    if (index.exact.size > 0) {
      const list = index.exact.get(path);
      if (list !== undefined) {
        const c = pick(list, method);
        if (c !== null) return c;
      }
    }
    const segments = index.templates !== null || index.prefixes !== null ? this.#split(path) : EMPTY;
    if (index.templates !== null) {
      this.#bestRank = -1;
      this.#best = null;
      this.#searchTemplates(index.templates, segments, 0, method);
      const best = this.#best;
      this.#best = null;
      if (best !== null) return best;
    }
    if (index.prefixes !== null) {
      // Walk the literal trie along the path; a deeper prefix is longer, so the last hit wins.
      let found: Candidate | null = null;
      let node: TrieNode | undefined = index.prefixes;
      for (let i = 0; node !== undefined && i < segments.length; i++) {
        const segment = segments[i] ?? '';
        if (node.prefixes !== null) {
          for (const entry of node.prefixes) {
            if (!segment.startsWith(entry.partial)) continue;
            const c = pick(entry.candidates, method);
            if (c !== null) { found = c; break; }
          }
        }
        node = node.literal?.get(segment);
      }
      if (found !== null) return found;
    }
    return index.none.length > 0 ? pick(index.none, method) : null;
  }

  #searchTemplates(node: TrieNode, segments: readonly string[], i: number, method: string): void {
    const segment = segments[i];
    if (segment === undefined) {
      const end = node.template;
      if (end !== null && end.rank > this.#bestRank) {
        const c = pick(end.candidates, method);
        if (c !== null) { this.#bestRank = end.rank; this.#best = c; }
      }
      return;
    }
    if (node.literal !== null) {
      const next = node.literal.get(segment);
      if (next !== undefined) this.#searchTemplates(next, segments, i + 1, method);
    }
    if (node.param !== null && segment !== '') this.#searchTemplates(node.param, segments, i + 1, method);
  }
}

const EMPTY: readonly string[] = Object.freeze([]);

/** Same result as `pathSegments`, about twice as fast as `slice(1).split('/')` on V8. */
function splitSegments(path: string): string[] {
  const out: string[] = [];
  let start = 1;
  for (let slash = path.indexOf('/', 1); slash !== -1; slash = path.indexOf('/', start)) {
    out.push(path.slice(start, slash));
    start = slash + 1;
  }
  out.push(path.slice(start));
  return out;
}
