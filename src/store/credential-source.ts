import type { Kysely } from 'kysely';
import type { CredentialRecord } from '../cache/credential-record.js';
import type { CredentialSource } from '../cache/credential-resolver.js';
import { ANONYMOUS_TYPE } from '../credentials/anonymous/anonymous-consumer.js';
import { LEGACY_ALGORITHMS, legacyFingerprint } from '../credentials/basic-auth/legacy-secrets.js';
import type { StoredSecret, StoredSecretSource } from '../credentials/basic-auth/legacy-secrets.js';
import type { Database } from './schema.js';

/** L3: reads one credential with its consumer, in the form the caches keep. */
function isLegacy(algorithm: string | null, hash: string | null): hash is string {
  return hash !== null && algorithm !== null && (LEGACY_ALGORITHMS as readonly string[]).includes(algorithm);
}

export class PostgresCredentialSource implements CredentialSource, StoredSecretSource {
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
      // A secret hashed by another scheme is marked in the type (`basic-auth:scrypt`) and kept as a
      // fingerprint only; basic-auth verifies it through LegacySecretVerifier.
      type: isLegacy(row.hash_algorithm, row.secret_hash) ? `${row.type}:${row.hash_algorithm ?? ''}` : row.type,
      consumerSuspended: row.status !== 'active',
      revoked: row.revoked_at !== null,
      notBefore: row.not_before === null ? 0 : new Date(row.not_before).getTime(),
      expiresAt: row.expires_at === null ? 0 : new Date(row.expires_at).getTime(),
      secretHash: row.secret_hash === null ? null
        : isLegacy(row.hash_algorithm, row.secret_hash) ? legacyFingerprint(row.secret_hash)
          : row.hash_algorithm === 'hmac-sha256' ? Buffer.from(row.secret_hash, 'hex') : null,
    };
  }

  /** The stored hash of one credential (for a legacy scheme's slow verification). */
  async loadSecret(credentialId: string): Promise<StoredSecret | null> {
    const row = await this.#db.selectFrom('credentials').select(['hash_algorithm', 'secret_hash'])
      .where('id', '=', credentialId).executeTakeFirst();
    if (row === undefined || row.secret_hash === null || row.hash_algorithm === null) return null;
    return { algorithm: row.hash_algorithm, hash: row.secret_hash };
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
