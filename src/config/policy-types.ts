import type { RoutePolicy } from '../policies/route-policy.js';

/**
 * The policy file (`KEYGATE_CONFIG`, YAML) after parsing and validation: what every module
 * configured by it receives. Immutable; a reload builds a new one.
 *
 * ```yaml
 * version: 1
 * default: { auth: required, credentials: [key-auth] }   # or { deny: true }
 * routes:
 *   - name: payments-read
 *     match: { hosts: ["api.example.com", "*.example.com"], methods: [GET], path: { template: "/v1/payments/{id}" } }
 *     auth: required
 *     credentials: [key-auth, jwt]
 *     allow_roles: [payments:read]
 *     deny_roles: [suspended-merchant]
 *     required_scopes: { all: [payments.read] }          # or { any: [...] }
 *     failure_mode: closed                               # or open
 *     headers: { x-consumer-id: x-merchant-id }          # optional identity-header renames
 *   - name: internal
 *     match: { path: { prefix: "/internal/" } }
 *     deny: true                                         # refuse outright (also valid as `default`)
 * credentials:
 *   key-auth: { headers: [x-api-key, apikey], query: [apikey], bearer: true }
 *   basic-auth: { headers: [authorization, proxy-authorization] }
 * jwt:
 *   issuers:
 *     - name: auth0
 *       issuer: https://tenant.example.com/
 *       audiences: [payments-api]
 *       jwks_url: https://tenant.example.com/.well-known/jwks.json   # or static_keys: [ {jwk} ... ]
 *       algorithms: [RS256, ES256]
 *       leeway_seconds: 30
 *       subject_claim: sub              # or client_id
 *       consumer_optional: false
 *       roles_claim: roles              # when consumer_optional
 * introspection:
 *   endpoints:
 *     - name: hydra
 *       url: https://auth.example.com/oauth2/introspect
 *       client_id: keygate
 *       client_secret_env: KEYGATE_INTROSPECTION_SECRET
 *       cache_ttl_seconds: 60
 *       negative_ttl_seconds: 5
 *       timeout_ms: 500
 *       consumer_optional: false       # a client_id/sub with no oauth2 credential is a token-only principal
 * anonymous: { consumer: anonymous }   # username of the anonymous consumer
 * ```
 */
export interface PolicyConfig {
  readonly version: number;
  /** A hash of the file's content: the loaded policy's version in metrics and logs. */
  readonly digest: string;
  readonly defaultRoute: RouteConfig;
  readonly routes: readonly RouteConfig[];
  readonly credentials: CredentialLocationsConfig;
  readonly jwtIssuers: readonly JwtIssuerConfig[];
  readonly introspection: readonly IntrospectionEndpointConfig[];
  /** Username of the consumer used on `anonymous` routes when no credential is presented. */
  readonly anonymousConsumer: string | null;
}

export interface RouteMatchConfig {
  /** Exact hosts or `*.suffix` wildcards; empty = any host. */
  readonly hosts: readonly string[];
  /** Upper-case methods; empty = any. */
  readonly methods: readonly string[];
  readonly path: { readonly kind: 'exact' | 'prefix' | 'template'; readonly value: string } | null;
}

/**
 * A route as parsed: what the pipeline sees (`RoutePolicy`; `headers:` in YAML is
 * `headerRenames`) plus how it is matched.
 */
export interface RouteConfig extends RoutePolicy {
  readonly match: RouteMatchConfig;
}

export interface CredentialLocationsConfig {
  readonly keyAuth: { readonly headers: readonly string[]; readonly query: readonly string[]; readonly bearer: boolean };
  readonly basicAuth: { readonly headers: readonly string[] };
}

export interface JwtIssuerConfig {
  readonly name: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly jwksUrl: string | null;
  /** JWKs given inline (public keys; or `oct` keys for HS* when explicitly allowed). */
  readonly staticKeys: readonly Record<string, unknown>[];
  readonly algorithms: readonly string[];
  readonly leewaySeconds: number;
  /** Which claim names the consumer credential (`lookup` of a `jwt` credential): `sub` or `client_id`. */
  readonly subjectClaim: string;
  /**
   * Put before the subject to form the `jwt` credential's lookup (`partners:` + `sub`), so that
   * issuers do not share a subject namespace; '' by default. Issuers must not share a prefix.
   */
  readonly lookupPrefix: string;
  /** Allow a token whose subject has no consumer, as a token-only principal. */
  readonly consumerOptional: boolean;
  /** Claim whose value (array or space/comma string) gives roles to a token-only principal. */
  readonly rolesClaim: string | null;
}

export interface IntrospectionEndpointConfig {
  readonly name: string;
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly cacheTtlSeconds: number;
  readonly negativeTtlSeconds: number;
  readonly timeoutMs: number;
  /** Allow an active token whose `client_id` (else `sub`) has no `oauth2` credential, as a token-only principal. */
  readonly consumerOptional: boolean;
}
