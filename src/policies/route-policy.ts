import type { AuthMethod } from '../credentials/credential-type.js';
import type { CheckInput } from '../pipeline/check-input.js';

/** How a route treats authentication. */
export type AuthMode = 'required' | 'optional' | 'anonymous';

/** What one route demands. Compiled from the policy file; immutable. */
export interface RoutePolicy {
  readonly name: string;
  readonly auth: AuthMode;
  /** Accepted credential types, in the order they are looked for. */
  readonly credentials: readonly AuthMethod[];
  /** When non-empty, the consumer needs one of these roles. */
  readonly allowRoles: readonly string[];
  /** A consumer with any of these roles is refused. */
  readonly denyRoles: readonly string[];
  /** Scopes the credential must carry: `all` of them, or `any` one. */
  readonly requiredScopes: { readonly mode: 'all' | 'any'; readonly scopes: readonly string[] };
  /** When the store cannot answer and the entry is not cached: deny with 503 (`closed`) or allow unidentified (`open`). */
  readonly failureMode: 'closed' | 'open';
  /** When true, no request reaches this route (the default route when nothing else matches and no default is configured). */
  readonly denyAll: boolean;
  /** Identity headers sent under another name on this route (`x-consumer-id` → `x-merchant-id`). */
  readonly headerRenames: Readonly<Record<string, string>>;
}

/** Finds the policy for a request. `policies/route-table.ts` compiles the policy file into one. */
export interface RouteMatcher {
  match(input: CheckInput): RoutePolicy;
}

/** The policy keygate applies with no policy file: every request needs a valid API key. */
export const DEFAULT_ROUTE: RoutePolicy = Object.freeze({
  name: 'default',
  auth: 'required',
  credentials: Object.freeze(['key-auth']) as readonly AuthMethod[],
  allowRoles: Object.freeze([]) as readonly string[],
  denyRoles: Object.freeze([]) as readonly string[],
  requiredScopes: Object.freeze({ mode: 'all', scopes: Object.freeze([]) as readonly string[] }),
  failureMode: 'closed',
  denyAll: false,
  headerRenames: Object.freeze({}),
});
