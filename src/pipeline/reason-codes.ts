/**
 * Why a request was denied (or let through degraded). Stable snake_case values, reused as the
 * `x-keygate-reason` header, the `reason` metric label and the decision log's `reason` field.
 */
export const Reason = {
  /** No credential of an allowed type was presented on a route that requires one. */
  missing_credentials: 'missing_credentials',
  /** A credential was presented but is not well-formed (bad base64, oversized, not a token). */
  malformed_credentials: 'malformed_credentials',
  /** No credential with this key / id exists (told to the client as invalid_credentials). */
  unknown_credential: 'unknown_credential',
  /** The credential exists but the secret does not match (told to the client as invalid_credentials). */
  wrong_secret: 'wrong_secret',
  /** The credential is past its `expires_at` (told to the client as invalid_credentials). */
  credential_expired: 'credential_expired',
  /** The credential's `not_before` is in the future (told to the client as invalid_credentials). */
  credential_not_yet_valid: 'credential_not_yet_valid',
  /** The credential was revoked (told to the client as invalid_credentials). */
  credential_revoked: 'credential_revoked',
  /** The consumer is suspended (told to the client as invalid_credentials). */
  consumer_suspended: 'consumer_suspended',
  /** A token's signature, key or structure does not verify (told to the client as invalid_credentials). */
  token_invalid: 'token_invalid',
  /** A token's `exp` has passed, leeway included (told to the client as invalid_credentials). */
  token_expired: 'token_expired',
  /** A token's `nbf` is in the future, leeway included (told to the client as invalid_credentials). */
  token_not_yet_valid: 'token_not_yet_valid',
  /** A token's `aud`, a required claim (`exp`, subject) or its use is wrong or missing (told to the client as invalid_credentials). */
  token_claim_invalid: 'token_claim_invalid',
  /** A token's header `alg` is not in its issuer's allow-list, `none` included (told to the client as invalid_credentials). */
  token_algorithm_not_allowed: 'token_algorithm_not_allowed',
  /** A JWT's `iss` names no configured issuer (told to the client as invalid_credentials). */
  issuer_unknown: 'issuer_unknown',
  /** The introspection endpoint says the token is not active (told to the client as invalid_credentials). */
  token_inactive: 'token_inactive',
  /** The generic answer to the client for every reason above from unknown_credential on. */
  invalid_credentials: 'invalid_credentials',
  /** Authenticated, but no role of the consumer is allowed on this route. */
  role_not_allowed: 'role_not_allowed',
  /** Authenticated, but a role of the consumer is denied on this route. */
  role_denied: 'role_denied',
  /** Authenticated, but the credential lacks a scope the route requires. */
  insufficient_scope: 'insufficient_scope',
  /** Authenticated with a credential type this route does not accept. */
  credential_type_not_allowed: 'credential_type_not_allowed',
  /** The route allows anonymous access but the configured anonymous consumer does not exist. */
  anonymous_consumer_missing: 'anonymous_consumer_missing',
  /** No route matched and the default route denies. */
  no_route: 'no_route',
  /** The store (L2/L3) could not answer and the entry was not cached: the route's failure rule applied. */
  store_unavailable: 'store_unavailable',
  /** The request could not be decoded or something unexpected failed inside keygate. */
  internal_error: 'internal_error',
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];

/** What the client is told for a reason: the credential-specific ones collapse to one generic answer. */
export function publicReason(reason: ReasonCode): ReasonCode {
  switch (reason) {
    case Reason.unknown_credential:
    case Reason.wrong_secret:
    case Reason.credential_expired:
    case Reason.credential_not_yet_valid:
    case Reason.credential_revoked:
    case Reason.consumer_suspended:
    case Reason.token_invalid:
    case Reason.token_expired:
    case Reason.token_not_yet_valid:
    case Reason.token_claim_invalid:
    case Reason.token_algorithm_not_allowed:
    case Reason.issuer_unknown:
    case Reason.token_inactive:
      return Reason.invalid_credentials;
    default:
      return reason;
  }
}
