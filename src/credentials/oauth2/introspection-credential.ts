import { createHash } from 'node:crypto';
import type { CheckInput } from '../../pipeline/check-input.js';
import { Reason } from '../../pipeline/reason-codes.js';
import type { ReasonCode } from '../../pipeline/reason-codes.js';
import type { CredentialRecord } from '../../cache/credential-record.js';
import { StoreUnavailableError } from '../../cache/credential-resolver.js';
import type { IntrospectionEndpointConfig } from '../../config/policy-types.js';
import { ABSENT, AUTHORIZATION_CARRIER, hashedCacheKey, identifyToken } from '../credential-type.js';
import type { TokenPrincipal } from '../credential-type.js';
import type { CredentialType, Extraction, Verification, VerifyContext } from '../credential-type.js';
import { bearerShape, describeError } from '../jwt/jwt-credential.js';
import { API_KEY_PREFIX } from '../key-auth/api-key-credential.js';
import { authorizationParam, hasControlCharacter, isObject, isVisibleAscii, rememberBounded } from '../request-parts.js';

/** Longest opaque token accepted from a request. */
export const MAX_OPAQUE_TOKEN_LENGTH = 4096;
/** Bound of remembered active tokens; inactive ones get a quarter of it on top. */
export const DEFAULT_INTROSPECTION_MAX_ENTRIES = 10_000;
/** A principal longer than this (UTF-16 units) is refused: it becomes a lookup and an identity header. */
const MAX_PRINCIPAL_LENGTH = 255;


/** An opaque Bearer token as presented. */
export interface PresentedToken {
  readonly token: string;
}

export interface IntrospectionCredentialOptions {
  /** The first endpoint is used; the others are refused at construction (one authority per deployment). */
  readonly endpoints: readonly IntrospectionEndpointConfig[];
  /** Clock of the introspection cache (epoch ms); `exp` is checked at `VerifyContext.now`. */
  readonly now?: () => number;
  /** Default {@link DEFAULT_INTROSPECTION_MAX_ENTRIES}. */
  readonly maxEntries?: number;
}

/** An active token, remembered by SHA-256 of the token. */
interface ActiveToken extends TokenPrincipal {
  readonly kind: 'active';
  /** `exp * 1000`, 0 when the endpoint gave none. */
  readonly expiresAtMs: number;
  /** Cache expiry on the `now` option's clock. */
  readonly until: number;
  readonly tokenOnly: CredentialRecord | null;
}

/** A token the endpoint refused (inactive, expired, not an access token), remembered for `negative_ttl_seconds`. */
interface RefusedToken {
  readonly kind: 'refused';
  readonly reason: ReasonCode;
  readonly until: number;
}

/** What one introspection concluded: a token to identify, or a verification already decided. */
type Outcome = ActiveToken | { readonly kind: 'decided'; readonly verification: Verification };

/**
 * `oauth2`: an opaque access token as `Authorization: Bearer <token>` (not JWT-shaped, not `kg_…`),
 * checked by RFC 7662 introspection at the configured endpoint (POST form, HTTP Basic client
 * authentication with client_id and secret form-urlencoded as RFC 6749 §2.3.1 requires).
 *
 * `active: false` is `token_inactive`; an active token past its `exp` is `token_expired`; one the
 * endpoint marks as a refresh token is `token_claim_invalid`. Its `client_id` (else `sub`) names a
 * stored credential of type `oauth2` (`lookup` = that value) through the resolver on every request;
 * without one it is a token-only principal when the endpoint has `consumer_optional`, else
 * `unknown_credential`. Scopes come from the response's `scope`.
 *
 * Answers are cached by SHA-256 of the token: active ones for min(exp − now, cache_ttl_seconds),
 * refusals for negative_ttl_seconds, both bounded; one introspection per token at a time. An
 * endpoint that cannot answer — network error, timeout, any status but 200 (a 401 included: keygate's
 * own client credentials are refused, which says nothing about the token), a body that is not a
 * JSON object with a boolean `active` — is an outage: not cached, and the route's failure rule applies.
 */
export class IntrospectionCredential implements CredentialType<PresentedToken> {
  readonly name = 'oauth2' as const;
  readonly challenge = 'Bearer realm="keygate"';
  readonly #endpoint: IntrospectionEndpointConfig;
  readonly #authorization: string;
  readonly #now: () => number;
  readonly #maxActive: number;
  readonly #maxRefused: number;
  readonly #active = new Map<string, ActiveToken>();
  readonly #refused = new Map<string, RefusedToken>();
  readonly #inflight = new Map<string, Promise<Outcome>>();

  /** Throws, listing every problem, when the endpoint configuration is unusable. */
  constructor(options: IntrospectionCredentialOptions) {
    const problems: string[] = [];
    const endpoint = options.endpoints[0];
    if (endpoint === undefined) problems.push('introspection: no endpoint configured');
    if (options.endpoints.length > 1) problems.push('introspection: only one endpoint is supported; tokens carry no hint of which endpoint to ask');
    if (endpoint !== undefined) checkEndpoint(endpoint, problems);
    const maxEntries = options.maxEntries ?? DEFAULT_INTROSPECTION_MAX_ENTRIES;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) problems.push('introspection: maxEntries must be a positive integer');
    if (endpoint === undefined || problems.length > 0) throw new Error(`invalid introspection configuration:\n  - ${problems.join('\n  - ')}`);
    this.#endpoint = endpoint;
    this.#authorization = `Basic ${Buffer.from(`${formEncode(endpoint.clientId)}:${formEncode(endpoint.clientSecret)}`).toString('base64')}`;
    this.#now = options.now ?? Date.now;
    this.#maxActive = maxEntries;
    this.#maxRefused = Math.max(1, Math.floor(maxEntries / 4));
  }

  extract(input: CheckInput): Extraction<PresentedToken> {
    const token = authorizationParam(input.header('authorization'), 'Bearer');
    if (token === undefined || token.startsWith(API_KEY_PREFIX) || bearerShape(token) !== 'opaque') return ABSENT;
    if (token.length === 0) return { kind: 'malformed', detail: 'empty Bearer token', carrier: AUTHORIZATION_CARRIER };
    if (token.length > MAX_OPAQUE_TOKEN_LENGTH) return { kind: 'malformed', detail: `Bearer token longer than ${MAX_OPAQUE_TOKEN_LENGTH} characters`, carrier: AUTHORIZATION_CARRIER };
    if (!isVisibleAscii(token)) return { kind: 'malformed', detail: 'Bearer token has characters outside visible ASCII', carrier: AUTHORIZATION_CARRIER };
    return { kind: 'found', presented: { token }, carrier: AUTHORIZATION_CARRIER };
  }

  verify(presented: PresentedToken, ctx: VerifyContext): Verification | Promise<Verification> {
    const id = createHash('sha256').update(presented.token).digest('binary');
    const now = this.#now();
    const active = this.#active.get(id);
    if (active !== undefined) {
      if (now < active.until) {
        if (active.expiresAtMs !== 0 && ctx.now >= active.expiresAtMs) return { ok: false, reason: Reason.token_expired };
        return this.#identify(active, ctx);
      }
      this.#active.delete(id);
    }
    const refused = this.#refused.get(id);
    if (refused !== undefined) {
      if (now < refused.until) return { ok: false, reason: refused.reason };
      this.#refused.delete(id);
    }
    let pending = this.#inflight.get(id);
    if (pending === undefined) {
      const started = this.#introspect(presented.token, id, ctx.now).finally(() => {
        if (this.#inflight.get(id) === started) this.#inflight.delete(id);
      });
      this.#inflight.set(id, started);
      pending = started;
    }
    return pending.then((outcome) => (outcome.kind === 'active' ? this.#identify(outcome, ctx) : outcome.verification));
  }

  cacheKey(lookup: string): Buffer {
    return hashedCacheKey(this.name, lookup);
  }

  /** One RFC 7662 request and what it means; caches the answer unless it is an outage. */
  async #introspect(token: string, id: string, now: number): Promise<Outcome> {
    const endpoint = this.#endpoint;
    let status: number;
    let text: string;
    try {
      const res = await fetch(endpoint.url, {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(endpoint.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      return this.#outage(`did not answer: ${describeError(err)}`);
    }
    if (status !== 200) {
      const hint = status === 401 || status === 403 ? ' (keygate\'s client_id/client_secret were refused)' : '';
      return this.#outage(`answered HTTP ${status}${hint}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return this.#outage('answered with a body that is not JSON');
    }
    if (!isObject(body) || typeof body.active !== 'boolean') return this.#outage('answered without a boolean "active"');
    if (!body.active) return this.#refuse(id, Reason.token_inactive);

    const exp = body.exp;
    const nbf = body.nbf;
    if ((exp !== undefined && typeof exp !== 'number') || (nbf !== undefined && typeof nbf !== 'number')) {
      return this.#outage('answered with a non-numeric "exp" or "nbf"');
    }
    if (exp !== undefined && exp * 1000 <= now) return this.#refuse(id, Reason.token_expired);
    // Not cached: it becomes valid by itself.
    if (nbf !== undefined && nbf * 1000 > now) return { kind: 'decided', verification: { ok: false, reason: Reason.token_not_yet_valid } };
    if (isRefreshToken(body)) return this.#refuse(id, Reason.token_claim_invalid);

    const principal = typeof body.client_id === 'string' && body.client_id.length > 0 ? body.client_id : body.sub;
    if (typeof principal !== 'string' || principal.length === 0 || principal.length > MAX_PRINCIPAL_LENGTH || hasControlCharacter(principal)) {
      return this.#refuse(id, Reason.token_claim_invalid);
    }
    const expiresAtMs = exp === undefined ? 0 : exp * 1000;
    const scopes = Object.freeze(typeof body.scope === 'string' ? body.scope.split(/\s+/).filter((s) => s.length > 0) : []);
    const ttlMs = Math.min(endpoint.cacheTtlSeconds * 1000, exp === undefined ? Number.POSITIVE_INFINITY : expiresAtMs - now);
    const active: ActiveToken = {
      kind: 'active',
      // `client_id`, else `sub`: the `lookup` of the `oauth2` credential.
      lookup: principal,
      consumerKey: this.cacheKey(principal),
      scopes,
      expiresAtMs,
      until: this.#now() + ttlMs,
      tokenOnly: endpoint.consumerOptional ? tokenOnlyRecord(principal, scopes, id, expiresAtMs) : null,
    };
    if (ttlMs > 0) rememberBounded(this.#active, id, active, this.#maxActive);
    return active;
  }

  #refuse(id: string, reason: ReasonCode): Outcome {
    const ttlMs = this.#endpoint.negativeTtlSeconds * 1000;
    if (ttlMs > 0) rememberBounded(this.#refused, id, { kind: 'refused', reason, until: this.#now() + ttlMs }, this.#maxRefused);
    return { kind: 'decided', verification: { ok: false, reason } };
  }

  #outage(what: string): Outcome {
    const cause = new Error(`introspection endpoint ${this.#endpoint.name} ${what}`);
    return { kind: 'decided', verification: { ok: false, reason: Reason.store_unavailable, outage: new StoreUnavailableError(cause) } };
  }

  #identify(token: ActiveToken, ctx: VerifyContext): Verification | Promise<Verification> {
    return identifyToken(this.name, token, ctx);
  }
}

function checkEndpoint(endpoint: IntrospectionEndpointConfig, problems: string[]): void {
  const at = `introspection endpoint ${endpoint.name || '(unnamed)'}`;
  let url: URL | null = null;
  try {
    url = new URL(endpoint.url);
  } catch {
    problems.push(`${at}: url is not a URL`);
  }
  if (url !== null && url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${at}: url must be http(s)`);
  if (endpoint.clientId.length === 0) problems.push(`${at}: client_id is empty`);
  if (endpoint.clientSecret.length === 0) problems.push(`${at}: client secret is empty`);
  if (!Number.isFinite(endpoint.cacheTtlSeconds) || endpoint.cacheTtlSeconds < 0) problems.push(`${at}: cache_ttl_seconds must be a number >= 0`);
  if (!Number.isFinite(endpoint.negativeTtlSeconds) || endpoint.negativeTtlSeconds < 0) problems.push(`${at}: negative_ttl_seconds must be a number >= 0`);
  if (!Number.isSafeInteger(endpoint.timeoutMs) || endpoint.timeoutMs < 1) problems.push(`${at}: timeout_ms must be a positive integer`);
}

/** RFC 6749 §2.3.1 / Appendix B: application/x-www-form-urlencoded, as URLSearchParams writes it. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** True when the endpoint says this is a refresh token (Hydra `token_use`, Keycloak `typ`, or `token_type`). */
function isRefreshToken(body: Record<string, unknown>): boolean {
  for (const field of ['token_use', 'token_type', 'typ']) {
    const value = body[field];
    if (typeof value === 'string' && value.toLowerCase().includes('refresh')) return true;
  }
  return false;
}

/** The principal of an active token whose client has no consumer (never put in the L1 cache). */
function tokenOnlyRecord(principal: string, scopes: readonly string[], tokenId: string, expiresAtMs: number): CredentialRecord {
  return Object.freeze({
    credentialId: `oauth2:${Buffer.from(tokenId, 'binary').toString('hex', 0, 16)}`,
    consumerId: principal,
    username: principal,
    customId: null,
    roles: Object.freeze([]),
    scopes,
    type: 'oauth2',
    consumerSuspended: false,
    revoked: false,
    notBefore: 0,
    expiresAt: expiresAtMs,
    secretHash: null,
  });
}


