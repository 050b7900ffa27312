/**
 * The `envoy.service.auth.v3.CheckResponse` keygate sends, as a plain model that the encoder
 * turns into protobuf bytes. Only the fields keygate uses are modelled.
 *
 * Header mutation rules (Envoy `ext_authz_grpc_impl.cc`, see docs/architecture.md):
 * - every header in `headersToSet` is encoded with an explicit `append: {value: false}` so Envoy
 *   overwrites a client's spoofed value instead of adding a second one;
 * - Envoy applies `headersToRemove` after the sets, so a name must never be in both lists.
 */
export type MetadataValue = string | number | boolean | readonly string[];

export interface OkCheckResponse {
  readonly kind: 'ok';
  /** Request headers to set on the upstream request (append: false). */
  readonly headersToSet: ReadonlyArray<readonly [name: string, value: string]>;
  /** Request header names to remove before the request goes upstream. */
  readonly headersToRemove: readonly string[];
  /** Query parameter names to remove (`ok_response.query_parameters_to_remove`). */
  readonly queryParametersToRemove: readonly string[];
  /** Response headers added to the downstream response (`response_headers_to_add`). */
  readonly responseHeadersToAdd: ReadonlyArray<readonly [name: string, value: string]>;
  /** `dynamic_metadata` (a google.protobuf.Struct of flat fields). */
  readonly dynamicMetadata: Readonly<Record<string, MetadataValue>>;
}

export interface DeniedCheckResponse {
  readonly kind: 'denied';
  /** gRPC status code put in `status.code`: 16 UNAUTHENTICATED, 7 PERMISSION_DENIED, 14 UNAVAILABLE. */
  readonly grpcCode: number;
  /** `status.message`. */
  readonly message: string;
  /** HTTP status Envoy sends to the client (`denied_response.status.code`). */
  readonly httpStatus: number;
  /** Headers on the denial sent to the client (`denied_response.headers`, append: false). */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** Response body (`denied_response.body`). */
  readonly body: string;
  readonly dynamicMetadata: Readonly<Record<string, MetadataValue>>;
}

export type CheckResponseModel = OkCheckResponse | DeniedCheckResponse;
