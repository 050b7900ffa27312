import type { CredentialRecord } from '../cache/credential-record.js';
import { StoreUnavailableError } from '../cache/credential-resolver.js';
import type { CredentialResolver } from '../cache/credential-resolver.js';
import { ABSENT } from '../credentials/credential-type.js';
import type { CredentialCarrier, CredentialType, Extraction, Identity, Verification } from '../credentials/credential-type.js';
import type { AnonymousConsumer } from '../credentials/anonymous/anonymous-consumer.js';
import type { CredentialRegistry } from '../credentials/registry.js';
import type { RouteMatcher, RoutePolicy } from '../policies/route-policy.js';
import type { CheckInput } from './check-input.js';
import type { Decision, Deny } from './decision.js';
import { NO_CARRIER } from './decision.js';
import { Reason } from './reason-codes.js';
import type { ReasonCode } from './reason-codes.js';

export interface CheckPipelineOptions {
  /** The current route table; read on every request so a reload takes effect at once. */
  readonly routes: () => RouteMatcher;
  /** The credential types in force; read on every request (the policy may reconfigure them). */
  readonly registry: () => CredentialRegistry;
  readonly resolver: CredentialResolver;
  /** The anonymous consumer for `auth: anonymous` routes; null when none is configured. */
  readonly anonymous?: () => AnonymousConsumer | null;
  /** Epoch ms clock. */
  readonly now?: () => number;
}

/**
 * The decision for one request: route → extract → identify → lifecycle → authorize. Returns a
 * Decision; throws only for an unexpected fault (the transport turns that into a denial).
 * Synchronous when everything needed is in the in-process cache.
 */
export class CheckPipeline {
  readonly #routes: () => RouteMatcher;
  readonly #registry: () => CredentialRegistry;
  readonly #resolver: CredentialResolver;
  readonly #now: () => number;
  readonly #anonymous: () => AnonymousConsumer | null;
  readonly #challengeCache = new WeakMap<RoutePolicy, readonly string[]>();

  constructor(options: CheckPipelineOptions) {
    this.#routes = options.routes;
    this.#registry = options.registry;
    this.#resolver = options.resolver;
    this.#now = options.now ?? Date.now;
    this.#anonymous = options.anonymous ?? (() => null);
  }

  decide(input: CheckInput): Decision | Promise<Decision> {
    // 1. Route: which policy governs this host, method and path.
    const route = this.#routes().match(input);
    const registry = this.#registry();
    if (route.denyAll) return this.#deny(route, 403, Reason.no_route, null);

    // 2. Extract: the first credential of an accepted type, in the route's order. A credential of
    //    a type the route does not accept is still identified, then refused with 403.
    let type: CredentialType | undefined;
    let extraction: Extraction<unknown> = ABSENT;
    let accepted = true;
    for (const name of route.credentials) {
      const candidate = registry.get(name);
      if (candidate === undefined) continue;
      extraction = candidate.extract(input);
      if (extraction.kind !== 'absent') { type = candidate; break; }
    }
    if (type === undefined) {
      for (const name of registry.names()) {
        if (route.credentials.includes(name)) continue;
        const candidate = registry.get(name);
        if (candidate === undefined) continue;
        extraction = candidate.extract(input);
        if (extraction.kind !== 'absent') { type = candidate; accepted = false; break; }
      }
    }
    const now = this.#now();
    let verified: Verification | Promise<Verification>;
    let carrier = NO_CARRIER;
    if (type === undefined || extraction.kind === 'absent') {
      if (route.auth === 'required') return this.#deny(route, 401, Reason.missing_credentials, null);
      const anonymous = route.auth === 'anonymous' ? this.#anonymous() : null;
      if (anonymous === null) return { kind: 'allow', route, identity: null, carrier: NO_CARRIER, degraded: null };
      // 3a. Identify as the anonymous consumer: no credential was presented at all.
      try {
        verified = anonymous.identify({ resolver: this.#resolver, now });
      } catch (err) {
        return this.#outage(route, carrier, err);
      }
    } else if (extraction.kind === 'malformed') {
      return this.#deny(route, 401, Reason.malformed_credentials, null);
    } else {
      // 3. Identify: verify the credential (L1 → L2 → L3). An invalid one is refused even on an
      //    anonymous route: no silent downgrade.
      carrier = extraction.carrier;
      try {
        verified = type.verify(extraction.presented, { resolver: this.#resolver, now });
      } catch (err) {
        return this.#outage(route, carrier, err);
      }
    }
    if (verified instanceof Promise) {
      return verified.then(
        (v) => this.#conclude(route, carrier, v, accepted, now),
        (err: unknown) => this.#outage(route, carrier, err),
      );
    }
    return this.#conclude(route, carrier, verified, accepted, now);
  }

  #conclude(route: RoutePolicy, carrier: CredentialCarrier, verified: Verification, accepted: boolean, now: number): Decision {
    if (!verified.ok) {
      if (verified.outage !== undefined) return this.#outage(route, carrier, verified.outage);
      if (verified.reason === Reason.anonymous_consumer_missing) return this.#deny(route, 401, Reason.missing_credentials, null);
      return this.#deny(route, 401, verified.reason, null);
    }
    const identity = verified.identity;

    // 4. Lifecycle: revocation, suspension, expiry and not-before, checked on every request.
    const expired = lifecycleDenial(identity.record, now);
    if (expired !== null) return this.#deny(route, 401, expired, null);

    // 5. Authorize: credential type, roles and scopes against the route.
    if (!accepted) return this.#deny(route, 403, Reason.credential_type_not_allowed, identity);
    const refused = authorize(route, identity);
    if (refused !== null) return this.#deny(route, 403, refused, identity);

    // 6. Allow: the transport adds the identity headers and strips the credential.
    return { kind: 'allow', route, identity, carrier, degraded: null };
  }

  #deny(route: RoutePolicy, status: Deny['status'], reason: ReasonCode, identity: Identity | null): Deny {
    return { kind: 'deny', route, status, reason, challenges: status === 401 ? this.#challenges(route) : [], identity };
  }

  /** The `WWW-Authenticate` challenges of the route's credential types, once per route. */
  #challenges(route: RoutePolicy): readonly string[] {
    let challenges = this.#challengeCache.get(route);
    if (challenges === undefined) {
      const registry = this.#registry();
      challenges = [...new Set(route.credentials.map((name) => registry.get(name)?.challenge ?? '').filter((c) => c !== ''))];
      this.#challengeCache.set(route, challenges);
    }
    return challenges;
  }

  #outage(route: RoutePolicy, carrier: CredentialCarrier, err: unknown): Decision {
    if (!(err instanceof StoreUnavailableError)) throw err;
    if (route.failureMode === 'open') return { kind: 'allow', route, identity: null, carrier, degraded: Reason.store_unavailable };
    return this.#deny(route, 503, Reason.store_unavailable, null);
  }
}

/** Why a stored credential may not be used right now, or null. */
export function lifecycleDenial(record: CredentialRecord, now: number): ReasonCode | null {
  if (record.revoked) return Reason.credential_revoked;
  if (record.consumerSuspended) return Reason.consumer_suspended;
  if (record.expiresAt !== 0 && now >= record.expiresAt) return Reason.credential_expired;
  if (record.notBefore !== 0 && now < record.notBefore) return Reason.credential_not_yet_valid;
  return null;
}

/** Roles and scopes against the route; null when allowed. */
export function authorize(route: RoutePolicy, identity: Identity): ReasonCode | null {
  const roles = identity.record.roles;
  if (route.denyRoles.length > 0 && roles.some((r) => route.denyRoles.includes(r))) return Reason.role_denied;
  if (route.allowRoles.length > 0 && !roles.some((r) => route.allowRoles.includes(r))) return Reason.role_not_allowed;
  const required = route.requiredScopes;
  if (required.scopes.length > 0) {
    const has = (s: string): boolean => identity.scopes.includes(s);
    const ok = required.mode === 'all' ? required.scopes.every(has) : required.scopes.some(has);
    if (!ok) return Reason.insufficient_scope;
  }
  return null;
}
