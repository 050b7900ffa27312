
import { sql } from 'kysely';
import type { Kysely, Transaction } from 'kysely';
import type { CredentialRegistry } from '../credentials/registry.js';
import type { ConsumerRow, CredentialRow, Database } from '../store/schema.js';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import type { SecretHasher } from '../credentials/secret-hasher.js';
import { exportNdjson } from './export.js';
import type { ExportSummary } from './export.js';
import { importKong } from './import/kong-import.js';
import { importNdjson } from './import/ndjson-import.js';
import type { ImportProgress, ImportReport } from './import/import-report.js';
import { NAME_PATTERN, ROLE_PATTERN } from './names.js';
import { OperationError } from './operation-error.js';

/** A consumer as the admin API and CLI show it. */
export interface ConsumerView {
  readonly id: string;
  readonly username: string;
  readonly custom_id: string | null;
  readonly status: 'active' | 'suspended';
  readonly roles: readonly string[];
  readonly metadata: Record<string, unknown>;
  readonly created_at: string;
  readonly updated_at: string;
}

/** A credential as shown: never its secret or hash. */
export interface CredentialView {
  readonly id: string;
  readonly consumer_id: string;
  readonly type: string;
  readonly display_prefix: string | null;
  readonly scopes: readonly string[];
  readonly set_name: string | null;
  readonly not_before: string | null;
  readonly expires_at: string | null;
  readonly revoked_at: string | null;
  readonly rotated_from: string | null;
  readonly created_at: string;
}

/** A new credential with its secret: the only time the secret is ever shown. */
export interface IssuedCredentialView {
  readonly credential: CredentialView;
  /** The API key (key-auth). */
  readonly key?: string;
  /** The key id (basic-auth): `Authorization: Basic base64(key_id:secret)`. */
  readonly key_id?: string;
  /** The generated secret (basic-auth). */
  readonly secret?: string;
}

/** Credential types whose `lookup` the operator names (nothing secret is issued). */
const NAMED_TYPES: Readonly<Record<string, string>> = { mtls: 'SPIFFE id', jwt: 'token subject', oauth2: 'client id' };

export interface NewConsumer {
  readonly username: string;
  readonly custom_id?: string | null;
  readonly roles?: readonly string[];
  readonly metadata?: Record<string, unknown>;
}

export interface ConsumerPatch {
  readonly custom_id?: string | null;
  readonly roles?: readonly string[];
  readonly status?: 'active' | 'suspended';
  readonly metadata?: Record<string, unknown>;
}

export interface NewCredential {
  readonly type: string;
  /** For `mtls` the SPIFFE id, for `jwt` the token subject, for `oauth2` the client id. */
  readonly lookup?: string;
  readonly scopes?: readonly string[];
  readonly set_name?: string | null;
  readonly ttl_seconds?: number | null;
  readonly not_before?: string | null;
  readonly expires_at?: string | null;
}

export interface Page<T> {
  readonly data: readonly T[];
  /** Pass as `after` for the next page; null on the last page. */
  readonly next: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_LIST = 1000;

/**
 * What operators do to consumers and credentials. Each operation is one transaction that also
 * writes its audit row; the database triggers record the change for every replica's cache.
 * Shared by the admin API and the CLI's direct mode.
 */
export class KeygateOperations {
  readonly #db: Kysely<Database>;
  readonly #registry: CredentialRegistry;
  readonly #hasher: SecretHasher;
  readonly #pool: pg.Pool | null;

  constructor(options: { db: Kysely<Database>; registry: CredentialRegistry; hasher: SecretHasher; pool?: pg.Pool | null }) {
    this.#db = options.db;
    this.#registry = options.registry;
    this.#hasher = options.hasher;
    this.#pool = options.pool ?? null;
  }

  /** Streams an NDJSON import (see `import/ndjson-import.ts`); COPY when on PostgreSQL. */
  importNdjson(input: Readable, actor: string, onProgress?: ImportProgress): Promise<ImportReport> {
    return importNdjson({ db: this.#db, pg: this.#pool, hasher: this.#hasher, input, actor, onProgress });
  }

  /** Every consumer and live credential as import-format NDJSON (hashes only). */
  exportNdjson(write: (line: string) => Promise<void> | void): Promise<ExportSummary> {
    return exportNdjson(this.#db, write);
  }

  /** Imports a Kong declarative export (decK / `kong config db_export`, YAML or JSON). */
  importKong(text: string, actor: string, onProgress?: ImportProgress): Promise<ImportReport> {
    return importKong({ db: this.#db, pg: this.#pool, hasher: this.#hasher, text, actor, onProgress });
  }

  /** True when the store answers a trivial query. */
  async ping(): Promise<boolean> {
    try {
      await sql`SELECT 1`.execute(this.#db);
      return true;
    } catch {
      return false;
    }
  }

  /** A response saved for an `Idempotency-Key`, or null. Keys older than 24 h are ignored. */
  async findIdempotent(operation: string, key: string): Promise<{ status: number; body: unknown } | null> {
    const row = await this.#db.selectFrom('idempotency_keys').select(['response'])
      .where('operation', '=', operation).where('key', '=', key)
      .where('created_at', '>', new Date(Date.now() - 86_400_000)).executeTakeFirst();
    return row === undefined ? null : (row.response as { status: number; body: unknown });
  }

  /** Saves the response to a create under its `Idempotency-Key` (secrets already removed). */
  async saveIdempotent(operation: string, key: string, response: { status: number; body: unknown }): Promise<void> {
    await this.#db.deleteFrom('idempotency_keys').where('operation', '=', operation).where('key', '=', key)
      .where('created_at', '<=', new Date(Date.now() - 86_400_000)).execute();
    await this.#db.insertInto('idempotency_keys').values({ operation, key, response: JSON.stringify(response) })
      .onConflict((oc) => oc.columns(['operation', 'key']).doNothing()).execute();
  }

  async createConsumer(input: NewConsumer, actor: string): Promise<ConsumerView> {
    checkName(input.username, 'username');
    if (input.custom_id !== undefined && input.custom_id !== null) checkName(input.custom_id, 'custom_id');
    const roles = checkList(input.roles ?? [], 'roles');
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .insertInto('consumers')
        .values({ username: input.username, custom_id: input.custom_id ?? null, roles, metadata: JSON.stringify(input.metadata ?? {}) })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch(uniqueViolation('a consumer with this username or custom_id exists', 'username'));
      const view = consumerView(row);
      await audit(tx, actor, 'consumer.create', 'consumer', row.id, null, view);
      return view;
    });
  }

  async getConsumer(ref: string): Promise<ConsumerView> {
    return consumerView(await findConsumer(this.#db, ref));
  }

  async listConsumers(options: { after?: string | null; limit?: number }): Promise<Page<ConsumerView>> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), MAX_LIST);
    let q = this.#db.selectFrom('consumers').selectAll().orderBy('id').limit(limit + 1);
    if (options.after !== undefined && options.after !== null) {
      if (!UUID.test(options.after)) throw new OperationError('invalid_request', 'after must be a consumer id', 'after');
      q = q.where('id', '>', options.after);
    }
    const rows = await q.execute();
    const page = rows.slice(0, limit).map(consumerView);
    return { data: page, next: rows.length > limit ? page[page.length - 1]?.id ?? null : null };
  }

  async updateConsumer(ref: string, patch: ConsumerPatch, actor: string): Promise<ConsumerView> {
    const values: Record<string, unknown> = {};
    if (patch.custom_id !== undefined) {
      if (patch.custom_id !== null) checkName(patch.custom_id, 'custom_id');
      values.custom_id = patch.custom_id;
    }
    if (patch.roles !== undefined) values.roles = checkList(patch.roles, 'roles');
    if (patch.status !== undefined) {
      if (patch.status !== 'active' && patch.status !== 'suspended') throw new OperationError('invalid_request', 'status must be active or suspended', 'status');
      values.status = patch.status;
    }
    if (patch.metadata !== undefined) values.metadata = JSON.stringify(patch.metadata);
    return this.#db.transaction().execute(async (tx) => {
      const before = await findConsumer(tx, ref, true);
      if (Object.keys(values).length === 0) return consumerView(before);
      const row = await tx
        .updateTable('consumers')
        .set({ ...values, updated_at: new Date() })
        .where('id', '=', before.id)
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch(uniqueViolation('a consumer with this custom_id exists', 'custom_id'));
      const view = consumerView(row);
      await audit(tx, actor, 'consumer.update', 'consumer', row.id, consumerView(before), view);
      return view;
    });
  }

  async deleteConsumer(ref: string, actor: string): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      const before = await findConsumer(tx, ref, true);
      await tx.deleteFrom('consumers').where('id', '=', before.id).execute();
      await audit(tx, actor, 'consumer.delete', 'consumer', before.id, consumerView(before), null);
    });
  }

  async createCredential(ref: string, input: NewCredential, actor: string): Promise<IssuedCredentialView> {
    const scopes = checkList(input.scopes ?? [], 'scopes');
    if (input.set_name !== undefined && input.set_name !== null) checkName(input.set_name, 'set_name');
    const notBefore = optionalTime(input.not_before, 'not_before');
    let expiresAt = optionalTime(input.expires_at, 'expires_at');
    if (input.ttl_seconds !== undefined && input.ttl_seconds !== null) {
      if (!Number.isInteger(input.ttl_seconds) || input.ttl_seconds <= 0) throw new OperationError('invalid_request', 'ttl_seconds must be a positive whole number', 'ttl_seconds');
      if (expiresAt !== null) throw new OperationError('invalid_request', 'give ttl_seconds or expires_at, not both', 'ttl_seconds');
      expiresAt = new Date(Date.now() + input.ttl_seconds * 1000);
    }
    const issued = this.#issue(input);
    return this.#db.transaction().execute(async (tx) => {
      const consumer = await findConsumer(tx, ref);
      const row = await tx
        .insertInto('credentials')
        .values({
          consumer_id: consumer.id, type: input.type, lookup: issued.lookup, display_prefix: issued.displayPrefix,
          secret_hash: issued.secretHash, hash_algorithm: issued.hashAlgorithm, scopes, set_name: input.set_name ?? null,
          not_before: notBefore, expires_at: expiresAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
        .catch(uniqueViolation(`a ${input.type} credential with this ${NAMED_TYPES[input.type] ?? 'lookup'} exists`, 'lookup'));
      const view = credentialView(row);
      await audit(tx, actor, 'credential.create', 'credential', row.id, null, view);
      return { credential: view, ...issued.shown };
    });
  }

  /**
   * Rotates a credential: a new secret for the same consumer, scopes, set and validity; the old
   * one expires after `graceSeconds` (never later than it would have anyway).
   */
  async rotateCredential(id: string, graceSeconds: number, actor: string): Promise<IssuedCredentialView> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 365 * 86400) {
      throw new OperationError('invalid_request', 'grace_seconds must be a whole number from 0 to 31536000', 'grace_seconds');
    }
    return this.#db.transaction().execute(async (tx) => {
      const old = await findCredential(tx, id);
      if (old.revoked_at !== null) throw new OperationError('invalid_request', 'a revoked credential cannot be rotated', 'id');
      if (old.type !== 'key-auth' && old.type !== 'basic-auth') {
        throw new OperationError('invalid_request', `a ${old.type} credential has no secret to rotate`, 'id');
      }
      const issued = this.#issue({ type: old.type });
      const row = await tx.insertInto('credentials').values({
        consumer_id: old.consumer_id, type: old.type, lookup: issued.lookup, display_prefix: issued.displayPrefix,
        secret_hash: issued.secretHash, hash_algorithm: issued.hashAlgorithm, scopes: old.scopes, set_name: old.set_name,
        not_before: old.not_before, expires_at: old.expires_at, rotated_from: old.id,
      }).returningAll().executeTakeFirstOrThrow();
      const graceEnd = new Date(Date.now() + graceSeconds * 1000);
      const oldExpiry = old.expires_at === null ? null : new Date(old.expires_at);
      const expiresAt = oldExpiry !== null && oldExpiry < graceEnd ? oldExpiry : graceEnd;
      const oldAfter = await tx.updateTable('credentials').set({ expires_at: expiresAt, updated_at: new Date() })
        .where('id', '=', old.id).returningAll().executeTakeFirstOrThrow();
      const view = credentialView(row);
      await audit(tx, actor, 'credential.rotate', 'credential', old.id, credentialView(old), { old: credentialView(oldAfter), new: view });
      return { credential: view, ...issued.shown };
    });
  }

  /**
   * Sets `expires_at` of every live credential in the set to now + `inSeconds` (or keeps an
   * earlier expiry): one statement, whatever the set's size; the triggers invalidate every member.
   */
  async expireSet(name: string, inSeconds: number, actor: string): Promise<{ set_name: string; expires_at: string; updated: number }> {
    checkName(name, 'set_name');
    if (!Number.isInteger(inSeconds) || inSeconds < 0 || inSeconds > 10 * 365 * 86400) {
      throw new OperationError('invalid_request', 'in_seconds must be a whole number from 0 to 315360000', 'in_seconds');
    }
    const at = new Date(Date.now() + inSeconds * 1000);
    return this.#db.transaction().execute(async (tx) => {
      const result = await tx.updateTable('credentials')
        .set({ expires_at: sql<Date>`LEAST(COALESCE(expires_at, 'infinity'::timestamptz), ${at}::timestamptz)`, updated_at: new Date() })
        .where('set_name', '=', name).where('revoked_at', 'is', null)
        .executeTakeFirst();
      const updated = Number(result.numUpdatedRows);
      const summary = { set_name: name, expires_at: at.toISOString(), updated };
      await audit(tx, actor, 'credential_set.expire', 'credential_set', name, null, summary);
      return summary;
    });
  }

  #issue(input: NewCredential): { lookup: string; displayPrefix: string | null; secretHash: string | null; hashAlgorithm: string | null; shown: { key?: string; key_id?: string; secret?: string } } {
    switch (input.type) {
      case 'key-auth': {
        if (input.lookup !== undefined) throw new OperationError('invalid_request', 'key-auth keys are generated; lookup is not accepted', 'lookup');
        const k = this.#registry.keyAuth.issue();
        return { lookup: k.lookup, displayPrefix: k.displayPrefix, secretHash: null, hashAlgorithm: 'hmac-sha256', shown: { key: k.key } };
      }
      case 'basic-auth': {
        if (input.lookup !== undefined) throw new OperationError('invalid_request', 'basic-auth key ids are generated; lookup is not accepted', 'lookup');
        const b = this.#registry.basicAuth.issue();
        return { lookup: b.keyId, displayPrefix: b.keyId, secretHash: b.secretHash, hashAlgorithm: 'hmac-sha256', shown: { key_id: b.keyId, secret: b.secret } };
      }
      default: {
        const what = NAMED_TYPES[input.type];
        if (what === undefined) throw new OperationError('invalid_request', `unknown credential type ${JSON.stringify(input.type)} (key-auth, basic-auth, jwt, oauth2, mtls)`, 'type');
        const lookup = input.lookup;
        if (typeof lookup !== 'string' || lookup.length === 0 || lookup.length > 2048 || /[\u0000-\u001f]/.test(lookup)) {
          throw new OperationError('invalid_request', `a ${input.type} credential needs lookup: the ${what}`, 'lookup');
        }
        return { lookup, displayPrefix: lookup.slice(0, 64), secretHash: null, hashAlgorithm: null, shown: {} };
      }
    }
  }

  async listCredentials(ref: string): Promise<readonly CredentialView[]> {
    const consumer = await findConsumer(this.#db, ref);
    const rows = await this.#db.selectFrom('credentials').selectAll().where('consumer_id', '=', consumer.id).orderBy('created_at').execute();
    return rows.map(credentialView);
  }

  async revokeCredential(id: string, actor: string): Promise<CredentialView> {
    return this.#db.transaction().execute(async (tx) => {
      const before = await findCredential(tx, id);
      if (before.revoked_at !== null) return credentialView(before);
      const row = await tx.updateTable('credentials').set({ revoked_at: new Date(), updated_at: new Date() })
        .where('id', '=', before.id).returningAll().executeTakeFirstOrThrow();
      const view = credentialView(row);
      await audit(tx, actor, 'credential.revoke', 'credential', row.id, credentialView(before), view);
      return view;
    });
  }
}

async function findConsumer(db: Kysely<Database> | Transaction<Database>, ref: string, forUpdate = false): Promise<ConsumerRow> {
  let q = db.selectFrom('consumers').selectAll();
  q = UUID.test(ref) ? q.where((eb) => eb.or([eb('id', '=', ref), eb('username', '=', ref)])) : q.where('username', '=', ref);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (row === undefined) throw new OperationError('not_found', `no consumer ${JSON.stringify(ref)}`);
  return row;
}

async function findCredential(db: Kysely<Database> | Transaction<Database>, id: string): Promise<CredentialRow> {
  if (!UUID.test(id)) throw new OperationError('not_found', `no credential ${JSON.stringify(id)}`);
  const row = await db.selectFrom('credentials').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (row === undefined) throw new OperationError('not_found', `no credential ${JSON.stringify(id)}`);
  return row;
}

async function audit(tx: Transaction<Database>, actor: string, action: string, entityType: string, entityId: string, before: unknown, after: unknown): Promise<void> {
  await tx.insertInto('audit_log').values({
    actor, action, entity_type: entityType, entity_id: entityId,
    before: before === null ? null : JSON.stringify(before),
    after: after === null ? null : JSON.stringify(after),
  }).execute();
}

function uniqueViolation(message: string, field: string): (err: unknown) => never {
  return (err: unknown) => {
    if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505') throw new OperationError('conflict', message, field);
    throw err;
  };
}

function checkName(value: unknown, field: string): void {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new OperationError('invalid_request', `${field} must be 1-255 characters of letters, digits and . _ @ : + -`, field);
  }
}

function checkList(values: unknown, field: string): string[] {
  if (!Array.isArray(values) || values.length > 64) throw new OperationError('invalid_request', `${field} must be a list of at most 64 names`, field);
  for (const v of values) {
    if (typeof v !== 'string' || !ROLE_PATTERN.test(v)) throw new OperationError('invalid_request', `${field}: ${JSON.stringify(v)} must be 1-128 characters of letters, digits and . _ : / -`, field);
  }
  return [...new Set(values as string[])];
}

function optionalTime(value: string | null | undefined, field: string): Date | null {
  if (value === undefined || value === null) return null;
  const d = new Date(value);
  if (typeof value !== 'string' || Number.isNaN(d.getTime())) throw new OperationError('invalid_request', `${field} must be an RFC 3339 time`, field);
  return d;
}

function iso(d: Date | string | null): string | null {
  return d === null ? null : new Date(d).toISOString();
}

export function consumerView(row: ConsumerRow): ConsumerView {
  return {
    id: row.id, username: row.username, custom_id: row.custom_id, status: row.status, roles: row.roles,
    metadata: row.metadata, created_at: iso(row.created_at) ?? '', updated_at: iso(row.updated_at) ?? '',
  };
}

export function credentialView(row: CredentialRow): CredentialView {
  return {
    id: row.id, consumer_id: row.consumer_id, type: row.type, display_prefix: row.display_prefix, scopes: row.scopes,
    set_name: row.set_name, not_before: iso(row.not_before), expires_at: iso(row.expires_at), revoked_at: iso(row.revoked_at),
    rotated_from: row.rotated_from, created_at: iso(row.created_at) ?? '',
  };
}

