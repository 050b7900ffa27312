import type { Decision } from '../pipeline/decision.js';
import { denialBody, denialHeaders, REASON_HEADER, upstreamHeaders } from '../pipeline/identity-headers.js';
import { publicReason } from '../pipeline/reason-codes.js';
import type { CheckResponseModel, MetadataValue } from './check-response-model.js';

/** gRPC status codes used in `CheckResponse.status`. */
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

/** Maps a decision to Envoy's `CheckResponse` (as the encoder's model). */
export function toCheckResponse(decision: Decision, requestId: string): CheckResponseModel {
  const metadata: Record<string, MetadataValue> = {};
  if (decision.route !== null) metadata.route = decision.route.name;
  const identity = decision.identity;
  if (identity !== null) {
    metadata.consumer_id = identity.record.consumerId;
    metadata.consumer_username = identity.record.username;
    metadata.consumer_roles = identity.record.roles;
    metadata.credential_id = identity.record.credentialId;
    metadata.auth_method = identity.method;
  }
  if (decision.kind === 'allow') {
    const headers = upstreamHeaders(decision);
    const responseHeadersToAdd: Array<readonly [string, string]> = [];
    if (decision.degraded !== null) {
      metadata.degraded = decision.degraded;
      responseHeadersToAdd.push([REASON_HEADER, decision.degraded]);
    }
    return {
      kind: 'ok',
      headersToSet: headers.set,
      headersToRemove: headers.remove,
      queryParametersToRemove: decision.carrier.queryParameters,
      responseHeadersToAdd,
      dynamicMetadata: metadata,
    };
  }
  metadata.reason = decision.reason;
  const grpcCode = decision.status === 401 ? GRPC_UNAUTHENTICATED : decision.status === 403 ? GRPC_PERMISSION_DENIED : GRPC_UNAVAILABLE;
  return {
    kind: 'denied',
    grpcCode,
    message: publicReason(decision.reason),
    httpStatus: decision.status,
    headers: denialHeaders(decision),
    body: denialBody(decision, requestId),
    dynamicMetadata: metadata,
  };
}

