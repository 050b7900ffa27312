import type { CredentialCarrier, Identity } from '../credentials/credential-type.js';
import type { RoutePolicy } from '../policies/route-policy.js';
import type { ReasonCode } from './reason-codes.js';

/** The request may pass. `identity` is null on an `optional` route without credentials, or fail-open. */
export interface Allow {
  readonly kind: 'allow';
  readonly route: RoutePolicy;
  readonly identity: Identity | null;
  /** The credential's location in the request: stripped before the request goes upstream. */
  readonly carrier: CredentialCarrier;
  /** Set when the request passes without the usual checks (fail-open on an outage). */
  readonly degraded: ReasonCode | null;
}

/** The request is refused. A denial is a value: the pipeline never throws for one. */
export interface Deny {
  readonly kind: 'deny';
  readonly route: RoutePolicy | null;
  /** 401 authentication failed, 403 authenticated but not allowed, 503 store unavailable. */
  readonly status: 401 | 403 | 503;
  /** The precise reason (logs, metrics, dynamic metadata); the client sees `publicReason(reason)`. */
  readonly reason: ReasonCode;
  /** `WWW-Authenticate` challenges for a 401. */
  readonly challenges: readonly string[];
  /** Who was identified before a 403; null for 401/503. */
  readonly identity: Identity | null;
}

export type Decision = Allow | Deny;

export { NO_CARRIER } from '../credentials/credential-type.js';
