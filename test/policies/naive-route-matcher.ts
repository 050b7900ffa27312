import type { PolicyConfig } from '../../src/config/policy-types.js';
import type { CheckInput } from '../../src/pipeline/check-input.js';
import { isCanonicalPath, parsePathTemplate } from '../../src/policies/policy-file.js';
import { NON_CANONICAL_PATH_ROUTE, normaliseHost, ROUTE_EXTENSION_KEY, toRoutePolicy } from '../../src/policies/route-table.js';
import type { RouteMatcher, RoutePolicy } from '../../src/policies/route-policy.js';

/**
 * The reference matcher: every (host pattern, route) pair sorted once by the documented
 * precedence order, then a linear first-match scan. Written straight from docs/policy.md, sharing
 * no matching code with route-table.ts; the randomized test checks the two agree, and the bench
 * measures both.
 */
type HostRule = { readonly kind: 'exact'; readonly host: string } | { readonly kind: 'wildcard'; readonly suffix: string } | { readonly kind: 'any' };
type PathRule =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'template'; readonly segments: readonly (string | null)[] }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'none' };

interface Entry {
  readonly host: HostRule;
  readonly path: PathRule;
  readonly methods: readonly string[] | null;
  readonly policy: RoutePolicy;
  readonly order: number;
}

export class NaiveRouteMatcher implements RouteMatcher {
  readonly #entries: readonly Entry[];
  readonly #default: RoutePolicy;
  readonly #byName = new Map<string, RoutePolicy>();

  constructor(config: Pick<PolicyConfig, 'routes' | 'defaultRoute'>) {
    this.#default = toRoutePolicy(config.defaultRoute);
    const entries: Entry[] = [];
    for (const route of config.routes) {
      const policy = toRoutePolicy(route);
      this.#byName.set(route.name, policy);
      const p = route.match.path;
      let path: PathRule = { kind: 'none' };
      if (p?.kind === 'template') {
        const t = parsePathTemplate(p.value);
        if (typeof t === 'string') throw new Error(t);
        path = { kind: 'template', segments: t.segments };
      } else if (p?.kind === 'exact') path = { kind: 'exact', value: p.value };
      else if (p?.kind === 'prefix') path = { kind: 'prefix', value: p.value };
      const methods = route.match.methods.length === 0 ? null : route.match.methods;
      const hosts: HostRule[] = route.match.hosts.length === 0 ? [{ kind: 'any' }]
        : route.match.hosts.map((h) => (h.startsWith('*.') ? { kind: 'wildcard', suffix: h.slice(2) } : { kind: 'exact', host: h }));
      for (const host of hosts) entries.push({ host, path, methods, policy, order: entries.length });
    }
    entries.sort(compareEntries);
    this.#entries = entries;
  }

  match(input: CheckInput): RoutePolicy {
    if (!isCanonicalPath(input.path)) return NON_CANONICAL_PATH_ROUTE;
    const named = input.contextExtensions[ROUTE_EXTENSION_KEY];
    if (named !== undefined) return named === 'default' ? this.#default : this.#byName.get(named) ?? this.#default;
    return this.lookup(input.method, input.host, input.path);
  }

  lookup(method: string, rawHost: string, path: string): RoutePolicy {
    if (!isCanonicalPath(path)) return NON_CANONICAL_PATH_ROUTE;
    const host = normaliseHost(rawHost);
    for (const e of this.#entries) {
      if (hostMatches(e.host, host) && pathMatches(e.path, path) && (e.methods === null || e.methods.includes(method))) return e.policy;
    }
    return this.#default;
  }
}

function hostMatches(rule: HostRule, host: string): boolean {
  switch (rule.kind) {
    case 'any': return true;
    case 'exact': return rule.host === host;
    case 'wildcard': return host.length > rule.suffix.length + 1 && host.endsWith(`.${rule.suffix}`);
  }
}

function pathMatches(rule: PathRule, path: string): boolean {
  switch (rule.kind) {
    case 'none': return true;
    case 'exact': return path === rule.value;
    case 'prefix': return path.startsWith(rule.value);
    case 'template': {
      const parts = path.slice(1).split('/');
      if (parts.length !== rule.segments.length) return false;
      return rule.segments.every((s, i) => (s === null ? parts[i] !== '' : parts[i] === s));
    }
  }
}

/** Negative when `a` is more specific than `b`. */
function compareEntries(a: Entry, b: Entry): number {
  return compareHost(a.host, b.host) || comparePath(a.path, b.path) || methodRank(b) - methodRank(a) || a.order - b.order;
}

function compareHost(a: HostRule, b: HostRule): number {
  const rank = (h: HostRule): number => (h.kind === 'exact' ? 3 : h.kind === 'wildcard' ? 2 : 1);
  if (rank(a) !== rank(b)) return rank(b) - rank(a);
  if (a.kind === 'wildcard' && b.kind === 'wildcard') return b.suffix.length - a.suffix.length;
  return 0;
}

function comparePath(a: PathRule, b: PathRule): number {
  const rank = (p: PathRule): number => ({ exact: 4, template: 3, prefix: 2, none: 1 })[p.kind];
  if (rank(a) !== rank(b)) return rank(b) - rank(a);
  if (a.kind === 'template' && b.kind === 'template') {
    const literals = (t: readonly (string | null)[]): number => t.filter((s) => s !== null).length;
    const d = literals(b.segments) - literals(a.segments) || b.segments.length - a.segments.length;
    if (d !== 0) return d;
    for (let i = 0; i < a.segments.length; i++) {
      const al = a.segments[i] !== null;
      const bl = b.segments[i] !== null;
      if (al !== bl) return al ? -1 : 1;
    }
    return 0;
  }
  if (a.kind === 'prefix' && b.kind === 'prefix') return b.value.length - a.value.length;
  return 0;
}

function methodRank(e: Entry): number {
  return e.methods === null ? 0 : 1;
}
