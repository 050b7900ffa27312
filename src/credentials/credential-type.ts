import { createHash } from 'node:crypto';
import type { CheckInput } from '../pipeline/check-input.js';
import { Reason } from '../pipeline/reason-codes.js';
import type { ReasonCode } from '../pipeline/reason-codes.js';
import type { CredentialRecord } from '../cache/credential-record.js';
import type { CredentialResolver } from '../cache/credential-resolver.js';

/** The value of `x-auth-method`: which kind of credential authenticated the request. */
export type AuthMethod = 'key-auth' | 'basic-auth' | 'jwt' | 'oauth2' | 'mtls' | 'anonymous';

/** Where a credential was found, so the response can strip it before the request goes upstream. */
export interface CredentialCarrier {
  /** Lower-case request header names that carried the credential. */
  readonly headers: readonly string[];
  /** Query parameter names that carried the credential. */
  readonly queryParameters: readonly string[];
}

/** The result of looking for a credential of one type in a request. */
export type Extraction<P> =
  | { readonly kind: 'absent' }
  | { readonly kind: 'found'; readonly presented: P; readonly carrier: CredentialCarrier }
  | { readonly kind: 'malformed'; readonly detail: string; readonly carrier: CredentialCarrier };

/** The shared "no credential of this type here" answer (no allocation per request). */
export const ABSENT: Extraction<never> = Object.freeze({ kind: 'absent' });

/** A frozen carrier: the credential came in these headers / query parameters. */
export function carrier(headers: readonly string[], queryParameters: readonly string[] = []): CredentialCarrier {
  return Object.freeze({ headers: Object.freeze([...headers]), queryParameters: Object.freeze([...queryParameters]) });
}

/** Nothing to strip (mTLS identity, anonymous, no credential). */
export const NO_CARRIER: CredentialCarrier = carrier([]);
/** The `Authorization` header carried it (Bearer tokens). */
export const AUTHORIZATION_CARRIER: CredentialCarrier = carrier(['authorization']);

/** Who the request is, once a credential has been verified. */
export interface Identity {
  readonly method: AuthMethod;
  readonly record: CredentialRecord;
  /** Scopes granted to this request (the credential's, or the token's for JWT/OAuth2). */
  readonly scopes: readonly string[];
}

export type Verification =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly reason: ReasonCode; readonly outage?: Error };

/** What a credential type may use while verifying. */
export interface VerifyContext {
  readonly resolver: CredentialResolver;
  /** Epoch ms of this decision. */
  readonly now: number;
}

/**
 * One kind of credential: how to find it in a request and how to check it. Built-ins are listed
 * in `registry.ts`; `key-auth/api-key-credential.ts` is the example to follow.
 */
export interface CredentialType<P = unknown> {
  readonly name: AuthMethod;
  /** The `WWW-Authenticate` challenge sent with a 401 on a route that accepts this type. */
  readonly challenge: string;
  /** Finds the credential in the request, without I/O. */
  extract(input: CheckInput): Extraction<P>;
  /** Identifies the caller; synchronous when the answer is in the in-process cache. */
  verify(presented: P, ctx: VerifyContext): Verification | Promise<Verification>;
  /** The 32-byte cache key of a stored credential of this type, from its `lookup` column. */
  cacheKey(lookup: string): Buffer;
}

/** Applies `f` to a value that may still be loading, without a promise when it is already here. */
export function whenFound<T, R>(value: T | Promise<T>, f: (v: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(f) : f(value);
}

/** A verified bearer token (JWT or introspected) and the consumer credential it may name. */
export interface TokenPrincipal {
  /** Cache key of the stored credential named by the token (`cacheKey(lookup)`). */
  readonly consumerKey: Buffer;
  /** Its `lookup`: the token's subject / client id (with the issuer's prefix). */
  readonly lookup: string;
  readonly scopes: readonly string[];
  /** The principal to use when no consumer credential exists and the issuer allows that; else null. */
  readonly tokenOnly: CredentialRecord | null;
}

/** The consumer a token names (through the caches), or its token-only principal, or a denial. */
export function identifyToken(method: AuthMethod, token: TokenPrincipal, ctx: VerifyContext): Verification | Promise<Verification> {
  return whenFound(ctx.resolver.find(token.consumerKey, method, token.lookup), (record): Verification => {
    const found = record ?? token.tokenOnly;
    return found === null ? { ok: false, reason: Reason.unknown_credential } : { ok: true, identity: { method, record: found, scopes: token.scopes } };
  });
}

/** Default cache key: SHA-256 of `type`, NUL, `lookup`. */
export function hashedCacheKey(type: string, lookup: string): Buffer {
  return createHash('sha256').update(type).update('\0').update(lookup).digest();
}

/**
 * The cache key of any stored credential, from its `(type, lookup)` columns alone — what the
 * change feed evicts, whatever the policy configures. `key-auth` lookups are already a 32-byte
 * HMAC (hex); every other type hashes its lookup. Each type's `cacheKey` must agree with this.
 */
export function storedCacheKey(type: string, lookup: string): Buffer | null {
  if (type === 'key-auth') return /^[0-9a-f]{64}$/.test(lookup) ? Buffer.from(lookup, 'hex') : null;
  return hashedCacheKey(type, lookup);
}
