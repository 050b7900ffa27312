import { createHash } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { FetchImplementation, JWK, JWSAlgorithm, JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { CheckInput } from '../../pipeline/check-input.js';
import { Reason } from '../../pipeline/reason-codes.js';
import type { CredentialRecord } from '../../cache/credential-record.js';
import { StoreUnavailableError } from '../../cache/credential-resolver.js';
import type { JwtIssuerConfig } from '../../config/policy-types.js';
import { ABSENT, AUTHORIZATION_CARRIER, hashedCacheKey, identifyToken } from '../credential-type.js';
import type { TokenPrincipal } from '../credential-type.js';
import type { CredentialType, Extraction, Verification, VerifyContext } from '../credential-type.js';
import { API_KEY_PREFIX } from '../key-auth/api-key-credential.js';
import { authorizationParam, hasControlCharacter, isObject, rememberBounded } from '../request-parts.js';

/** Longest JWT accepted from a request. */
export const MAX_JWT_LENGTH = 8192;
/** How long a verified token is remembered at most (also bounded by its `exp`). */
export const DEFAULT_VERIFIED_TTL_MS = 5 * 60_000;
export const DEFAULT_VERIFIED_MAX_ENTRIES = 10_000;
export const DEFAULT_JWKS_FETCH_TIMEOUT_MS = 2_000;
/** After a JWKS refresh, an unknown `kid` triggers the next fetch only after this long (jose `cooldownDuration`). */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** A JWKS is re-fetched when this old (jose `cacheMaxAge`): how long a removed key keeps verifying. */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** After a failed JWKS fetch, further fetches of that URL fail at once for this long (no retry storm). */
const JWKS_FAILURE_BACKOFF_MS = 1_000;
/**
 * When a JWKS re-fetch fails (IdP down, 5xx, timeout), the last good set keeps verifying for this
 * long after it was fetched, instead of turning every new token into an outage. Keys cannot be
 * withdrawn while the IdP cannot be reached anyway; the bound keeps a blocked IdP from pinning an
 * old key forever.
 */
const DEFAULT_JWKS_STALE_IF_ERROR_MS = 6 * 3_600_000;
/** A subject longer than this (UTF-16 units) is refused: it becomes a lookup and an identity header. */
const MAX_SUBJECT_LENGTH = 255;


const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
]);
const SYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** What a Bearer token looks like, by shape alone. */
export type BearerShape = 'jwt' | 'malformed' | 'opaque';

/**
 * Tells a JWT from an opaque token without decoding it, so `jwt` and `oauth2` never both claim a
 * token. `jwt`: three base64url segments (header and payload non-empty), at most
 * {@link MAX_JWT_LENGTH}. `malformed`: meant as a JWT but broken — exactly two dots with other
 * characters or empty parts, over-long, or `eyJ…` (a JSON header) with dots but not three parts
 * (truncated, or a JWE). `opaque`: anything else (no dot, or one dot as in `ya29.…`).
 */
export function bearerShape(token: string): BearerShape {
  const first = token.indexOf('.');
  if (first === -1) return 'opaque';
  const second = token.indexOf('.', first + 1);
  const twoDots = second !== -1 && token.indexOf('.', second + 1) === -1;
  if (!twoDots) return token.startsWith('eyJ') ? 'malformed' : 'opaque';
  if (token.length > MAX_JWT_LENGTH) return 'malformed';
  return JWT_SHAPE.test(token) ? 'jwt' : 'malformed';
}

/** A JWT as presented. */
export interface PresentedJwt {
  readonly token: string;
}

export interface JwtCredentialOptions {
  readonly issuers: readonly JwtIssuerConfig[];
  /** JWKS fetch timeout; default {@link DEFAULT_JWKS_FETCH_TIMEOUT_MS}. */
  readonly fetchTimeoutMs?: number;
  /** Clock of the verified-token cache (epoch ms); claims are checked at `VerifyContext.now`. */
  readonly now?: () => number;
  /** Default {@link DEFAULT_JWKS_COOLDOWN_MS}. */
  readonly jwksCooldownMs?: number;
  /** Default {@link DEFAULT_JWKS_CACHE_MAX_AGE_MS}. */
  readonly jwksCacheMaxAgeMs?: number;
  /** How long after its fetch the last good JWKS still verifies while re-fetching fails (default 6 h; 0 = never). */
  readonly jwksStaleIfErrorMs?: number;
  /** Default {@link DEFAULT_VERIFIED_TTL_MS}; 0 turns the verified-token cache off. */
  readonly verifiedTtlMs?: number;
  /** Default {@link DEFAULT_VERIFIED_MAX_ENTRIES}. */
  readonly verifiedMaxEntries?: number;
}

/** The JWKS URL could not be read (network, timeout, non-200, not a JWK set): an outage, not a bad token. */
class JwksUnavailableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'JwksUnavailableError';
  }
}

/** One configured issuer, its effective algorithms and key source. */
class Issuer {
  readonly config: JwtIssuerConfig;
  readonly algorithms: readonly JWSAlgorithm[];
  readonly keys: JWTVerifyGetKey;
  /** jwtVerify's options but `currentDate`, built once. */
  readonly verifyOptions: Readonly<JWTVerifyOptions>;
  /** Bumped when the fetched JWKS differs from the previous one: verified tokens of older epochs are re-verified. */
  epoch = 0;
  readonly #remote: boolean;
  readonly #cacheMaxAgeMs: number;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #failedAt = Number.NEGATIVE_INFINITY;
  #lastFailure: JwksUnavailableError | null = null;
  #lastBody = '';
  readonly #staleIfErrorMs: number;

  constructor(config: JwtIssuerConfig, algorithms: readonly JWSAlgorithm[], jwks: { timeoutMs: number; cooldownMs: number; cacheMaxAgeMs: number; staleIfErrorMs: number }) {
    this.config = config;
    this.algorithms = algorithms;
    this.verifyOptions = Object.freeze({
      issuer: config.issuer,
      audience: [...config.audiences],
      algorithms: [...algorithms],
      clockTolerance: config.leewaySeconds,
      requiredClaims: ['exp'],
    });
    this.#cacheMaxAgeMs = jwks.cacheMaxAgeMs;
    this.#staleIfErrorMs = jwks.staleIfErrorMs;
    if (config.jwksUrl !== null) {
      this.#remote = true;
      this.keys = createRemoteJWKSet(new URL(config.jwksUrl), {
        timeoutDuration: jwks.timeoutMs,
        cooldownDuration: jwks.cooldownMs,
        cacheMaxAge: jwks.cacheMaxAgeMs,
        [customFetch]: this.#fetchJwks,
      });
    } else {
      this.#remote = false;
      const keys = config.staticKeys as unknown as JWK[];
      this.keys = keys.every((k) => k.kty === 'oct') ? secretKeys(keys) : createLocalJWKSet({ keys });
    }
  }

  /** False once the fetched JWKS is as old as jose's `cacheMaxAge`: the next verification re-fetches it. */
  keysFresh(): boolean {
    return !this.#remote || Date.now() < this.#fetchedAt + this.#cacheMaxAgeMs;
  }

  /** jose's fetch, made strict: every way of not getting a JWK set becomes a JwksUnavailableError. */
  readonly #fetchJwks: FetchImplementation = async (url, init) => {
    if (Date.now() < this.#failedAt + JWKS_FAILURE_BACKOFF_MS && this.#lastFailure !== null) return this.#staleOr(this.#lastFailure);
    try {
      const body = await readJwks(this.config.name, url, init);
      if (body !== this.#lastBody) {
        // The first set replaces nothing: no verification can have used an older one.
        if (this.#lastBody !== '') this.epoch++;
        this.#lastBody = body;
      }
      this.#fetchedAt = Date.now();
      this.#lastFailure = null;
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      const failure = err instanceof JwksUnavailableError ? err : new JwksUnavailableError(`JWKS of issuer ${this.config.name}: ${describeError(err)}`, err);
      this.#failedAt = Date.now();
      this.#lastFailure = failure;
      return this.#staleOr(failure);
    }
  };

  /** The last good key set while it is within the stale-if-error bound; else the failure. */
  #staleOr(failure: JwksUnavailableError): Response {
    if (this.#lastBody === '' || Date.now() >= this.#fetchedAt + this.#staleIfErrorMs) throw failure;
    return new Response(this.#lastBody, { status: 200, headers: { 'content-type': 'application/json' } });
  }
}

async function readJwks(issuerName: string, url: string, init: Parameters<FetchImplementation>[1]): Promise<string> {
  const res = await fetch(url, init);
  const body = await res.text();
  if (res.status !== 200) throw new JwksUnavailableError(`JWKS of issuer ${issuerName} answered HTTP ${res.status}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new JwksUnavailableError(`JWKS of issuer ${issuerName} is not JSON`);
  }
  const keys = isObject(parsed) ? parsed.keys : undefined;
  if (!Array.isArray(keys) || !keys.every(isObject)) throw new JwksUnavailableError(`JWKS of issuer ${issuerName} is not a JWK set`);
  return body;
}

/** Key resolver for `oct` static keys (jose's local JWK sets hold public keys only): by `kid`, else the only key. */
function secretKeys(keys: readonly JWK[]): JWTVerifyGetKey {
  const secrets = keys.map((k) => ({ kid: k.kid, alg: k.alg, secret: new Uint8Array(Buffer.from(k.k ?? '', 'base64url')) }));
  return (header) => {
    const candidates = secrets.filter((s) => (header.kid === undefined || s.kid === header.kid) && (s.alg === undefined || s.alg === header.alg));
    const only = candidates.length === 1 ? candidates[0] : undefined;
    if (only === undefined) throw new errors.JWKSNoMatchingKey();
    return only.secret;
  };
}

/** A verified token, remembered by SHA-256 of the token. */
interface VerifiedToken extends TokenPrincipal {
  readonly issuer: Issuer;
  readonly epoch: number;
  /** The claim's value; `lookup` is the issuer's `lookup_prefix` + this. */
  readonly subject: string;
  /** `(exp + leeway) * 1000`: from then on the token is expired (same instant jose uses). */
  readonly expiresAtMs: number;
  /** Cache expiry on the `now` option's clock. */
  readonly until: number;
}

/**
 * `jwt`: a signed JWT as `Authorization: Bearer <a.b.c>`, verified with jose against the issuer its
 * (unverified) `iss` names: signature by the issuer's JWKS URL (jose's cache, cooldown and timeout)
 * or static keys, the issuer's algorithm allow-list (never `none`; an issuer with public keys never
 * accepts HS*), `iss`, `aud`, and `exp` (required) / `nbf` with the issuer's leeway.
 *
 * The subject claim then names a stored credential of type `jwt` (`lookup` = subject) through the
 * resolver, on every request, so revocation and suspension apply at once; the token's `scope` /
 * `scp` give the scopes. A subject without one is a token-only principal when the issuer has
 * `consumer_optional`, else `unknown_credential`.
 *
 * A successful verification is remembered for min(exp, 5 min) by SHA-256 of the token, bounded,
 * and forgotten early when the issuer's JWKS changes or is due for a refresh. A JWKS that cannot be
 * fetched is an outage (`store_unavailable`): the route's failure rule decides.
 */
export class JwtCredential implements CredentialType<PresentedJwt> {
  readonly name = 'jwt' as const;
  readonly challenge = 'Bearer realm="keygate"';
  readonly #issuers: ReadonlyMap<string, Issuer>;
  readonly #now: () => number;
  readonly #verifiedTtlMs: number;
  readonly #verifiedMaxEntries: number;
  readonly #verified = new Map<string, VerifiedToken>();

  /** Throws, listing every problem, when an issuer's configuration is unsafe or incomplete. */
  constructor(options: JwtCredentialOptions) {
    const problems: string[] = [];
    const jwks = {
      timeoutMs: positiveInteger(options.fetchTimeoutMs ?? DEFAULT_JWKS_FETCH_TIMEOUT_MS, 'fetchTimeoutMs', problems),
      cooldownMs: nonNegative(options.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS, 'jwksCooldownMs', problems),
      cacheMaxAgeMs: nonNegative(options.jwksCacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS, 'jwksCacheMaxAgeMs', problems),
      staleIfErrorMs: nonNegative(options.jwksStaleIfErrorMs ?? DEFAULT_JWKS_STALE_IF_ERROR_MS, 'jwksStaleIfErrorMs', problems),
    };
    this.#verifiedTtlMs = nonNegative(options.verifiedTtlMs ?? DEFAULT_VERIFIED_TTL_MS, 'verifiedTtlMs', problems);
    this.#verifiedMaxEntries = positiveInteger(options.verifiedMaxEntries ?? DEFAULT_VERIFIED_MAX_ENTRIES, 'verifiedMaxEntries', problems);
    const issuers = new Map<string, Issuer>();
    for (const config of options.issuers) {
      const algorithms = checkIssuer(config, problems);
      if (issuers.has(config.issuer)) problems.push(`jwt issuer ${config.name}: issuer ${config.issuer} is configured twice`);
      if (algorithms !== null) issuers.set(config.issuer, new Issuer(config, algorithms, jwks));
    }
    if (problems.length > 0) throw new Error(`invalid jwt configuration:\n  - ${problems.join('\n  - ')}`);
    this.#issuers = issuers;
    this.#now = options.now ?? Date.now;
  }

  extract(input: CheckInput): Extraction<PresentedJwt> {
    const token = authorizationParam(input.header('authorization'), 'Bearer');
    if (token === undefined || token.startsWith(API_KEY_PREFIX)) return ABSENT;
    switch (bearerShape(token)) {
      case 'jwt':
        return { kind: 'found', presented: { token }, carrier: AUTHORIZATION_CARRIER };
      case 'malformed':
        return { kind: 'malformed', detail: token.length > MAX_JWT_LENGTH ? `JWT longer than ${MAX_JWT_LENGTH} characters` : 'Bearer token is not a well-formed JWT', carrier: AUTHORIZATION_CARRIER };
      default:
        return ABSENT;
    }
  }

  verify(presented: PresentedJwt, ctx: VerifyContext): Verification | Promise<Verification> {
    const id = createHash('sha256').update(presented.token).digest('binary');
    const known = this.#verified.get(id);
    if (known !== undefined) {
      if (this.#now() < known.until && known.epoch === known.issuer.epoch && known.issuer.keysFresh()) {
        if (ctx.now >= known.expiresAtMs) return { ok: false, reason: Reason.token_expired };
        return this.#identify(known, ctx);
      }
      this.#verified.delete(id);
    }
    return this.#verifyToken(presented.token, id, ctx);
  }

  cacheKey(lookup: string): Buffer {
    return hashedCacheKey(this.name, lookup);
  }

  async #verifyToken(token: string, id: string, ctx: VerifyContext): Promise<Verification> {
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: Reason.malformed_credentials };
    }
    const issuer = typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
    if (issuer === undefined) return { ok: false, reason: Reason.issuer_unknown };
    if (typeof alg !== 'string' || !issuer.algorithms.includes(alg as JWSAlgorithm)) return { ok: false, reason: Reason.token_algorithm_not_allowed };

    const config = issuer.config;
    const epoch = issuer.epoch;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, { ...issuer.verifyOptions, currentDate: new Date(ctx.now) }));
    } catch (err) {
      return failure(err);
    }

    const subject = payload[config.subjectClaim];
    if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH || hasControlCharacter(subject)) {
      return { ok: false, reason: Reason.token_claim_invalid };
    }
    const expiresAtMs = ((payload.exp ?? 0) + config.leewaySeconds) * 1000;
    const scopes = tokenScopes(payload);
    const verified: VerifiedToken = {
      issuer,
      epoch,
      subject,
      lookup: config.lookupPrefix + subject,
      consumerKey: this.cacheKey(config.lookupPrefix + subject),
      scopes,
      expiresAtMs,
      until: this.#now() + Math.min(this.#verifiedTtlMs, expiresAtMs - ctx.now),
      tokenOnly: config.consumerOptional ? tokenOnlyRecord(payload, subject, scopes, config, id, expiresAtMs) : null,
    };
    // Not remembered when the JWKS changed meanwhile: which set verified it is unknown; the next request re-verifies.
    if (this.#verifiedTtlMs > 0 && epoch === issuer.epoch) rememberBounded(this.#verified, id, verified, this.#verifiedMaxEntries);
    return this.#identify(verified, ctx);
  }

  #identify(token: VerifiedToken, ctx: VerifyContext): Verification | Promise<Verification> {
    return identifyToken(this.name, token, ctx);
  }

}

/** A jose failure as a denial, or a JWKS outage. */
function failure(err: unknown): Verification {
  if (err instanceof JwksUnavailableError || err instanceof errors.JWKSTimeout) {
    return { ok: false, reason: Reason.store_unavailable, outage: new StoreUnavailableError(err) };
  }
  if (err instanceof errors.JWTExpired) return { ok: false, reason: Reason.token_expired };
  if (err instanceof errors.JWTClaimValidationFailed) {
    return { ok: false, reason: err.claim === 'nbf' ? Reason.token_not_yet_valid : Reason.token_claim_invalid };
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: Reason.token_algorithm_not_allowed };
  if (err instanceof errors.JOSEError) return { ok: false, reason: Reason.token_invalid };
  throw err;
}

/** Validates one issuer; returns its effective algorithms, or null (with problems noted). */
function checkIssuer(config: JwtIssuerConfig, problems: string[]): readonly JWSAlgorithm[] | null {
  const at = `jwt issuer ${config.name || '(unnamed)'}`;
  const before = problems.length;
  if (config.name.length === 0) problems.push(`${at}: name is empty`);
  if (config.issuer.length === 0) problems.push(`${at}: issuer is empty`);
  if (config.audiences.length === 0 || config.audiences.some((a) => a.length === 0)) problems.push(`${at}: audiences must list at least one non-empty audience`);
  if (!Number.isFinite(config.leewaySeconds) || config.leewaySeconds < 0) problems.push(`${at}: leeway_seconds must be a number >= 0`);
  if (config.subjectClaim.length === 0) problems.push(`${at}: subject_claim is empty`);

  const hasUrl = config.jwksUrl !== null;
  const hasKeys = config.staticKeys.length > 0;
  if (hasUrl === hasKeys) problems.push(`${at}: give exactly one of jwks_url and static_keys`);
  if (config.jwksUrl !== null) {
    let url: URL | null = null;
    try {
      url = new URL(config.jwksUrl);
    } catch {
      problems.push(`${at}: jwks_url is not a URL`);
    }
    if (url !== null && url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${at}: jwks_url must be http(s)`);
  }
  const symmetricKeys = hasKeys && config.staticKeys.every((k) => k.kty === 'oct');
  if (hasKeys && !symmetricKeys && config.staticKeys.some((k) => k.kty === 'oct')) problems.push(`${at}: static_keys mixes oct (HMAC) and public keys`);
  for (const [i, key] of config.staticKeys.entries()) {
    if (typeof key.kty !== 'string') problems.push(`${at}: static_keys[${i}] has no kty`);
    else if (key.kty === 'oct') {
      const k = typeof key.k === 'string' ? Buffer.from(key.k, 'base64url') : Buffer.alloc(0);
      if (k.length < 32) problems.push(`${at}: static_keys[${i}] (oct) must hold a secret of at least 32 bytes`);
    } else if (key.d !== undefined) {
      problems.push(`${at}: static_keys[${i}] is a private key; give the public key only`);
    }
  }

  if (config.algorithms.length === 0) problems.push(`${at}: algorithms is empty`);
  const algorithms: JWSAlgorithm[] = [];
  for (const alg of config.algorithms) {
    if (SYMMETRIC_ALGORITHMS.has(alg)) {
      if (!symmetricKeys) problems.push(`${at}: ${alg} (HMAC) is allowed only with static oct keys, never with a JWKS URL or public keys`);
      else algorithms.push(alg as JWSAlgorithm);
    } else if (ASYMMETRIC_ALGORITHMS.has(alg)) {
      if (symmetricKeys) problems.push(`${at}: ${alg} needs public keys, but static_keys holds oct (HMAC) keys`);
      else algorithms.push(alg as JWSAlgorithm);
    } else {
      problems.push(`${at}: algorithm ${JSON.stringify(alg)} is not supported${alg.toLowerCase() === 'none' ? ' (unsigned tokens are never accepted)' : ''}`);
    }
  }
  return problems.length === before ? Object.freeze(algorithms) : null;
}

/** Scopes from `scope` (space-separated) or `scp` (array or string). */
function tokenScopes(payload: JWTPayload): readonly string[] {
  return Object.freeze(listClaim(payload.scope !== undefined ? payload.scope : payload.scp, /\s+/));
}

/** A claim that is an array of strings or a delimited string, as a list of non-empty strings. */
function listClaim(value: unknown, separator: RegExp): string[] {
  if (typeof value === 'string') return value.split(separator).filter((s) => s.length > 0);
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [];
}

/** `name`, or a dotted path such as `realm_access.roles` when no top-level claim has that name. */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (name in payload || !name.includes('.')) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) value = isObject(value) ? value[part] : undefined;
  return value;
}

/** The principal of a verified token whose subject has no consumer (never put in the L1 cache). */
function tokenOnlyRecord(payload: JWTPayload, subject: string, scopes: readonly string[], config: JwtIssuerConfig, tokenId: string, expiresAtMs: number): CredentialRecord {
  const jti = payload.jti;
  const credentialSuffix = typeof jti === 'string' && /^[A-Za-z0-9._~:-]{1,64}$/.test(jti) ? jti : Buffer.from(tokenId, 'latin1').toString('hex', 0, 16);
  return Object.freeze({
    credentialId: `jwt:${credentialSuffix}`,
    consumerId: subject,
    username: subject,
    customId: null,
    roles: Object.freeze(config.rolesClaim === null ? [] : listClaim(claimAt(payload, config.rolesClaim), /[\s,]+/)),
    scopes,
    type: 'jwt',
    consumerSuspended: false,
    revoked: false,
    notBefore: 0,
    expiresAt: expiresAtMs,
    secretHash: null,
  });
}


function positiveInteger(value: number, name: string, problems: string[]): number {
  if (!Number.isSafeInteger(value) || value < 1) problems.push(`${name} must be a positive integer`);
  return value;
}

function nonNegative(value: number, name: string, problems: string[]): number {
  if (!Number.isFinite(value) || value < 0) problems.push(`${name} must be a number >= 0`);
  return value;
}

/** A network error's message with its cause's code (ECONNREFUSED …), never a token. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause: unknown = err.cause;
  const code = isObject(cause) && typeof cause.code === 'string' ? ` (${cause.code})` : '';
  return `${err.name}: ${err.message}${code}`;
}
