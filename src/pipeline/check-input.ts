/**
 * What the decision needs to know about one request, independent of how it arrived (Envoy gRPC
 * `CheckRequest`, or the HTTP forward-auth adapter). Adapters build it; the pipeline reads it.
 */
export interface CheckInput {
  /** HTTP method, upper case (`GET`). Empty when the adapter did not see one. */
  readonly method: string;
  /** Host / :authority, lower case, without a trailing dot. Port kept as sent. */
  readonly host: string;
  /** Path without the query string, as sent (not decoded). */
  readonly path: string;
  /** Raw query string without the leading `?`; empty when absent. */
  readonly query: string;
  /** One request header by lower-case name; `undefined` when absent. */
  header(name: string): string | undefined;
  /** `x-request-id` as Envoy forwarded it, else Envoy's request id attribute, else ''. */
  readonly requestId: string;
  /** Peer identity Envoy reports (`attributes.source.principal`, SPIFFE URI for Istio mTLS); ''. */
  readonly sourcePrincipal: string;
  /** URL-encoded PEM of the peer certificate when Envoy's `include_peer_certificate` is on; ''. */
  readonly sourceCertificate: string;
  /** Per-route `context_extensions` from Envoy config (Istio cannot set these). */
  readonly contextExtensions: Readonly<Record<string, string>>;
}
