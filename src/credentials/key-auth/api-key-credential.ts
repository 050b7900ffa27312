import type { CheckInput } from '../../pipeline/check-input.js';
import { Reason } from '../../pipeline/reason-codes.js';
import type { CredentialRecord } from '../../cache/credential-record.js';
import { ABSENT, AUTHORIZATION_CARRIER, carrier, whenFound } from '../credential-type.js';
import type { CredentialCarrier, CredentialType, Extraction, Verification, VerifyContext } from '../credential-type.js';
import { authorizationParam, isVisibleAscii, queryParam } from '../request-parts.js';
import { randomToken } from '../secret-hasher.js';
import type { SecretHasher } from '../secret-hasher.js';

/** Prefix of every key keygate issues; also how a Bearer token is told apart from a JWT. */
export const API_KEY_PREFIX = 'kg_';
/** Longest key accepted from a request (imported keys may be longer than keygate's own). */
export const MAX_API_KEY_LENGTH = 512;

export interface ApiKeyLocations {
  /** Header names looked at, in order (lower case). */
  readonly headers: readonly string[];
  /** Query parameter names looked at, in order. */
  readonly queryParameters: readonly string[];
  /** Accept `Authorization: Bearer kg_…`. */
  readonly bearer: boolean;
}

export const DEFAULT_API_KEY_LOCATIONS: ApiKeyLocations = Object.freeze({
  headers: Object.freeze(['x-api-key', 'apikey']),
  queryParameters: Object.freeze(['apikey']),
  bearer: true,
});

/** A key as presented, hashed once at extraction. */
export interface PresentedApiKey {
  readonly digest: Buffer;
}

/** An API key as issued: shown once, stored only as its HMAC. */
export interface IssuedApiKey {
  readonly key: string;
  readonly lookup: string;
  readonly displayPrefix: string;
}

/**
 * `key-auth`: an opaque API key (`kg_` + 192 random bits) in a header, the query, or a Bearer
 * token. Stored and looked up as HMAC-SHA-256(pepper, key); the in-process cache compares all 32
 * bytes of that digest in constant time.
 */
export class ApiKeyCredential implements CredentialType<PresentedApiKey> {
  readonly name = 'key-auth' as const;
  readonly challenge = 'Key realm="keygate"';
  readonly #hasher: SecretHasher;
  readonly #locations: ApiKeyLocations;
  readonly #headerCarriers: ReadonlyArray<readonly [string, CredentialCarrier]>;
  readonly #queryCarriers: ReadonlyArray<readonly [string, CredentialCarrier]>;

  constructor(options: { hasher: SecretHasher; locations?: ApiKeyLocations }) {
    this.#hasher = options.hasher;
    this.#locations = options.locations ?? DEFAULT_API_KEY_LOCATIONS;
    this.#headerCarriers = this.#locations.headers.map((name) => [name, carrier([name])] as const);
    this.#queryCarriers = this.#locations.queryParameters.map((name) => [name, carrier([], [name])] as const);
  }

  extract(input: CheckInput): Extraction<PresentedApiKey> {
    for (const [name, from] of this.#headerCarriers) {
      const value = input.header(name);
      if (value !== undefined) return this.#found(value.trim(), from);
    }
    for (const [name, from] of this.#queryCarriers) {
      const value = queryParam(input.query, name);
      if (value === null) return { kind: 'malformed', detail: `query parameter ${name} is not valid URL encoding`, carrier: from };
      if (value !== undefined) return this.#found(value, from);
    }
    if (this.#locations.bearer) {
      const token = authorizationParam(input.header('authorization'), 'Bearer');
      if (token !== undefined && token.startsWith(API_KEY_PREFIX)) return this.#found(token, AUTHORIZATION_CARRIER);
    }
    return ABSENT;
  }

  verify(presented: PresentedApiKey, ctx: VerifyContext): Verification | Promise<Verification> {
    // The digest is the cache key; its hex is the stored lookup (only needed on an L1 miss).
    const found = ctx.resolver.cached(presented.digest);
    if (found.kind === 'hit') return this.#identify(found.record);
    return whenFound(ctx.resolver.find(presented.digest, this.name, presented.digest.toString('hex')), (record): Verification =>
      (record === null ? { ok: false, reason: Reason.unknown_credential } : this.#identify(record)));
  }

  cacheKey(lookup: string): Buffer {
    return Buffer.from(lookup, 'hex');
  }

  /** A new key for a consumer: returned once, stored as `lookup` (its HMAC) only. */
  issue(): IssuedApiKey {
    const key = API_KEY_PREFIX + randomToken(24);
    return { key, lookup: this.#hasher.hash(key), displayPrefix: key.slice(0, API_KEY_PREFIX.length + 6) };
  }

  /** The stored `lookup` of a key given in plain text (import of existing keys). */
  lookupOf(key: string): string {
    return this.#hasher.hash(key);
  }

  #found(value: string, carrier: CredentialCarrier): Extraction<PresentedApiKey> {
    if (value.length === 0) return { kind: 'malformed', detail: 'empty API key', carrier };
    if (value.length > MAX_API_KEY_LENGTH) return { kind: 'malformed', detail: `API key longer than ${MAX_API_KEY_LENGTH} characters`, carrier };
    if (!isVisibleAscii(value)) return { kind: 'malformed', detail: 'API key has characters outside visible ASCII', carrier };
    return { kind: 'found', presented: { digest: this.#hasher.digest(value) }, carrier };
  }

  #identify(record: CredentialRecord): Verification {
    return { ok: true, identity: { method: this.name, record, scopes: record.scopes } };
  }
}
