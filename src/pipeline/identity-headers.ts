import type { Identity } from '../credentials/credential-type.js';
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
  if (identity !== null) addIdentity(set, identity);
  const remove: string[] = [];
  for (const name of IDENTITY_HEADER_NAMES) {
    if (!set.some(([n]) => n === name)) remove.push(name);
  }
  for (const name of decision.carrier.headers) {
    if (!remove.includes(name) && !set.some(([n]) => n === name)) remove.push(name);
  }
  return { set, remove };
}

function addIdentity(set: Array<readonly [string, string]>, identity: Identity): void {
  const r = identity.record;
  set.push([IdentityHeader.consumerId, r.consumerId]);
  set.push([IdentityHeader.username, r.username]);
  if (r.customId !== null && r.customId !== '') set.push([IdentityHeader.customId, r.customId]);
  if (r.roles.length > 0) set.push([IdentityHeader.roles, r.roles.join(',')]);
  set.push([IdentityHeader.credentialId, r.credentialId]);
  set.push([IdentityHeader.authMethod, identity.method]);
  if (identity.method === 'anonymous') set.push([IdentityHeader.anonymous, 'true']);
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
