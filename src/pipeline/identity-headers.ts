import type { Identity } from '../credentials/credential-type.js';
import type { RoutePolicy } from '../policies/route-policy.js';
import type { Allow, Deny } from './decision.js';
import { publicReason } from './reason-codes.js';

/**
 * The identity headers keygate owns on every answer: each is either set (with append: false) or
 * removed, so a client can never smuggle one upstream.
 */
export const IdentityHeader = {
  consumerId: 'x-consumer-id',
  username: 'x-consumer-username',
  customId: 'x-consumer-custom-id',
  roles: 'x-consumer-roles',
  credentialId: 'x-credential-id',
  authMethod: 'x-auth-method',
  anonymous: 'x-anonymous-consumer',
} as const;

export const IDENTITY_HEADER_NAMES: readonly string[] = Object.freeze(Object.values(IdentityHeader));

/** The header carrying the reason of a denial (and of a degraded allow). */
export const REASON_HEADER = 'x-keygate-reason';

export interface UpstreamHeaders {
  readonly set: Array<readonly [string, string]>;
  readonly remove: string[];
}

/**
 * Headers for an allowed request: identity headers set from the consumer, the others removed,
 * and the credential's own headers removed. A name is never both set and removed (Envoy applies
 * removals after sets).
 */
export function upstreamHeaders(decision: Allow): UpstreamHeaders {
  const set: Array<readonly [string, string]> = [];
  const identity = decision.identity;
  const renames = decision.route.headerRenames;
  if (identity !== null) addIdentity(set, identity, renames);
  const remove: string[] = [];
  for (const name of ownedHeaders(decision.route)) {
    if (!set.some(([n]) => n === name)) remove.push(name);
  }
  for (const name of decision.carrier.headers) {
    if (!remove.includes(name) && !set.some(([n]) => n === name)) remove.push(name);
  }
  return { set, remove };
}

function addIdentity(set: Array<readonly [string, string]>, identity: Identity, renames: Readonly<Record<string, string>>): void {
  const r = identity.record;
  const put = (name: string, value: string): void => { set.push([renames[name] ?? name, value]); };
  put(IdentityHeader.consumerId, r.consumerId);
  put(IdentityHeader.username, r.username);
  if (r.customId !== null && r.customId !== '') put(IdentityHeader.customId, r.customId);
  if (r.roles.length > 0) put(IdentityHeader.roles, r.roles.join(','));
  put(IdentityHeader.credentialId, r.credentialId);
  put(IdentityHeader.authMethod, identity.method);
  if (identity.method === 'anonymous') put(IdentityHeader.anonymous, 'true');
}

const owned = new WeakMap<RoutePolicy, readonly string[]>();
/** Every header name keygate owns on a route: the identity headers and their renames. */
function ownedHeaders(route: RoutePolicy): readonly string[] {
  let names = owned.get(route);
  if (names === undefined) {
    names = [...new Set([...IDENTITY_HEADER_NAMES, ...Object.values(route.headerRenames)])];
    owned.set(route, names);
  }
  return names;
}

const MESSAGES: Readonly<Record<number, string>> = {
  401: 'Invalid authentication credentials',
  403: 'You are not allowed to call this route',
  503: 'Authorization is temporarily unavailable',
};

/** The JSON body of a denial: the same generic text for every invalid credential. */
export function denialBody(decision: Deny, requestId: string): string {
  const error = publicReason(decision.reason);
  const message = error === 'missing_credentials' ? 'No credentials found in the request' : MESSAGES[decision.status] ?? 'Denied';
  return JSON.stringify({ error, message, request_id: requestId });
}

/** Headers sent to the client with a denial. */
export function denialHeaders(decision: Deny): Array<readonly [string, string]> {
  const headers: Array<readonly [string, string]> = [
    ['content-type', 'application/json'],
    [REASON_HEADER, publicReason(decision.reason)],
  ];
  if (decision.challenges.length > 0) headers.push(['www-authenticate', decision.challenges.join(', ')]);
  if (decision.status === 503) headers.push(['retry-after', '1']);
  return headers;
}
