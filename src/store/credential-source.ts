import type { Kysely } from 'kysely';
import type { CredentialRecord } from '../cache/credential-record.js';
import type { CredentialSource } from '../cache/credential-resolver.js';
import { ANONYMOUS_TYPE } from '../credentials/anonymous/anonymous-consumer.js';
import type { Database } from './schema.js';

/** L3: reads one credential with its consumer, in the form the caches keep. */
export class PostgresCredentialSource implements CredentialSource {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async load(type: string, lookup: string): Promise<CredentialRecord | null> {
    if (type === ANONYMOUS_TYPE) return this.#loadAnonymous(lookup);
    const row = await this.#db
      .selectFrom('credentials as cr')
      .innerJoin('consumers as co', 'co.id', 'cr.consumer_id')
      .select([
        'cr.id as credential_id', 'cr.type', 'cr.secret_hash', 'cr.hash_algorithm', 'cr.scopes', 'cr.not_before', 'cr.expires_at', 'cr.revoked_at',
        'co.id as consumer_id', 'co.username', 'co.custom_id', 'co.status', 'co.roles',
      ])
      .where('cr.type', '=', type)
      .where('cr.lookup', '=', lookup)
      .executeTakeFirst();
    if (row === undefined) return null;
    return {
      credentialId: row.credential_id,
      consumerId: row.consumer_id,
      username: row.username,
      customId: row.custom_id,
      roles: row.roles,
      scopes: row.scopes,
      type: row.type,
      consumerSuspended: row.status !== 'active',
      revoked: row.revoked_at !== null,
      notBefore: row.not_before === null ? 0 : new Date(row.not_before).getTime(),
      expiresAt: row.expires_at === null ? 0 : new Date(row.expires_at).getTime(),
      secretHash: row.hash_algorithm === 'hmac-sha256' && row.secret_hash !== null ? Buffer.from(row.secret_hash, 'hex') : null,
    };
  }

  /** The anonymous consumer, by username, as a record of the `anonymous` pseudo type. */
  async #loadAnonymous(username: string): Promise<CredentialRecord | null> {
    const row = await this.#db.selectFrom('consumers').select(['id', 'username', 'custom_id', 'status', 'roles'])
      .where('username', '=', username).executeTakeFirst();
    if (row === undefined) return null;
    return {
      credentialId: row.id, consumerId: row.id, username: row.username, customId: row.custom_id, roles: row.roles, scopes: [],
      type: ANONYMOUS_TYPE, consumerSuspended: row.status !== 'active', revoked: false, notBefore: 0, expiresAt: 0, secretHash: null,
    };
  }
}
