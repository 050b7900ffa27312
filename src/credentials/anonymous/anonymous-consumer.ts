import { Reason } from '../../pipeline/reason-codes.js';
import type { Verification, VerifyContext } from '../credential-type.js';
import { hashedCacheKey, whenFound } from '../credential-type.js';

/** The pseudo credential type under which the anonymous consumer is cached and invalidated. */
export const ANONYMOUS_TYPE = 'anonymous';

/**
 * The consumer a route of `auth: anonymous` uses when the request presents no credential (Kong's
 * `anonymous` option). It is an ordinary consumer, looked up by username through the same caches,
 * so suspending it takes effect like any other change. A request that presents an invalid
 * credential is still refused: there is no silent downgrade to anonymous.
 */
export class AnonymousConsumer {
  readonly username: string;
  readonly #key: Buffer;

  constructor(username: string) {
    this.username = username;
    this.#key = hashedCacheKey(ANONYMOUS_TYPE, username);
  }

  identify(ctx: VerifyContext): Verification | Promise<Verification> {
    return whenFound(ctx.resolver.find(this.#key, ANONYMOUS_TYPE, this.username), (record): Verification =>
      (record === null ? { ok: false, reason: Reason.anonymous_consumer_missing } : { ok: true, identity: { method: 'anonymous', record, scopes: [] } }));
  }
}
