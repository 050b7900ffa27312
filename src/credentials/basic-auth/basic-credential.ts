import { timingSafeEqual } from 'node:crypto';
import type { CredentialRecord } from '../../cache/credential-record.js';
import { StoreUnavailableError } from '../../cache/credential-resolver.js';
import type { LegacySecretVerifier } from './legacy-secrets.js';
import type { CheckInput } from '../../pipeline/check-input.js';
import { Reason } from '../../pipeline/reason-codes.js';
import type { CredentialCarrier, CredentialType, Extraction, Verification, VerifyContext } from '../credential-type.js';
import { ABSENT, carrier as credentialCarrier, hashedCacheKey, whenFound } from '../credential-type.js';
import { authorizationParam } from '../request-parts.js';
import { randomToken } from '../secret-hasher.js';
import type { SecretHasher } from '../secret-hasher.js';

/** Prefix of the key ids keygate issues (the id is not secret; the secret is). */
export const BASIC_KEY_ID_PREFIX = 'kgk_';
/** Longest base64 text accepted after `Basic ` (decodes to ~768 bytes). */
const MAX_ENCODED_LENGTH = 1024;
const MAX_PART_LENGTH = 256;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface PresentedBasic {
  readonly keyId: string;
  readonly secret: string;
}

export interface IssuedBasic {
  readonly keyId: string;
  readonly secret: string;
  readonly secretHash: string;
}

/**
 * `basic-auth`: `Authorization: Basic base64(key_id:secret)` (or `Proxy-Authorization`), the way
 * Razorpay's API is called. `key_id` identifies the credential (`lookup`); the secret is kept as
 * HMAC-SHA-256(pepper, secret) and compared in constant time.
 */
export class BasicCredential implements CredentialType<PresentedBasic> {
  readonly name = 'basic-auth' as const;
  readonly challenge = 'Basic realm="keygate", charset="UTF-8"';
  readonly #hasher: SecretHasher;
  /** Each header looked at, with the carrier that strips it. */
  readonly #headers: ReadonlyArray<readonly [string, CredentialCarrier]>;
  readonly #legacy: LegacySecretVerifier | null;

  constructor(options: { hasher: SecretHasher; headers?: readonly string[]; legacy?: LegacySecretVerifier | null }) {
    this.#hasher = options.hasher;
    this.#headers = (options.headers ?? ['authorization', 'proxy-authorization']).map((name) => [name, credentialCarrier([name])] as const);
    this.#legacy = options.legacy ?? null;
  }

  extract(input: CheckInput): Extraction<PresentedBasic> {
    for (const [name, carrier] of this.#headers) {
      const encoded = authorizationParam(input.header(name), 'Basic');
      if (encoded === undefined) continue;
      if (encoded.length === 0 || encoded.length > MAX_ENCODED_LENGTH || !BASE64.test(encoded) || encoded.length % 4 === 1) {
        return { kind: 'malformed', detail: 'Basic credentials are not valid base64', carrier };
      }
      const decoded = Buffer.from(encoded, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) return { kind: 'malformed', detail: 'Basic credentials have no colon', carrier };
      const keyId = decoded.slice(0, colon);
      const secret = decoded.slice(colon + 1);
      if (keyId.length === 0 || secret.length === 0) return { kind: 'malformed', detail: 'Basic credentials have an empty part', carrier };
      if (keyId.length > MAX_PART_LENGTH || secret.length > MAX_PART_LENGTH) return { kind: 'malformed', detail: 'Basic credentials are too long', carrier };
      if (decoded.includes('\uFFFD')) return { kind: 'malformed', detail: 'Basic credentials are not UTF-8', carrier };
      return { kind: 'found', presented: { keyId, secret }, carrier };
    }
    return ABSENT;
  }

  verify(presented: PresentedBasic, ctx: VerifyContext): Verification | Promise<Verification> {
    return whenFound(ctx.resolver.find(this.cacheKey(presented.keyId), this.name, presented.keyId), (record) =>
      (record === null ? { ok: false, reason: Reason.unknown_credential } : this.#check(record, presented.secret)));
  }

  cacheKey(lookup: string): Buffer {
    return hashedCacheKey(this.name, lookup);
  }

  /** A new key id and secret: the secret is returned once and stored as its HMAC only. */
  issue(): IssuedBasic {
    const secret = randomToken(24);
    return { keyId: BASIC_KEY_ID_PREFIX + randomToken(12), secret, secretHash: this.#hasher.hash(secret) };
  }

  #check(record: CredentialRecord, secret: string): Verification | Promise<Verification> {
    if (record.type !== this.name) return this.#checkLegacy(record, secret);
    const stored = record.secretHash;
    // No usable hash (an imported scheme this build cannot verify) is a wrong secret, never a pass.
    const ok = stored !== null && stored.length === 32 && timingSafeEqual(stored, this.#hasher.digest(secret));
    if (!ok) return { ok: false, reason: Reason.wrong_secret };
    return { ok: true, identity: { method: this.name, record, scopes: record.scopes } };
  }

  /** An imported password under another hash scheme (`basic-auth:scrypt`, `basic-auth:kong-sha1`). */
  #checkLegacy(record: CredentialRecord, secret: string): Verification | Promise<Verification> {
    const legacy = this.#legacy;
    if (legacy === null) return { ok: false, reason: Reason.wrong_secret };
    const answer = (ok: boolean): Verification => (ok ? { ok: true, identity: { method: this.name, record, scopes: record.scopes } } : { ok: false, reason: Reason.wrong_secret });
    const known = legacy.remembered(record, secret);
    if (known !== undefined) return answer(known);
    return legacy.verify(record, secret).then(answer, (err: unknown) => ({ ok: false, reason: Reason.store_unavailable, outage: new StoreUnavailableError(err) }));
  }
}
