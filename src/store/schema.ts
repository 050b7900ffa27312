import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** kysely's view of keygate's PostgreSQL schema (created by `migrations.ts`). */
export interface Database {
  consumers: ConsumersTable;
  credentials: CredentialsTable;
  audit_log: AuditLogTable;
  changes: ChangesTable;
  idempotency_keys: IdempotencyKeysTable;
}

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type ConsumerStatus = 'active' | 'suspended';

export interface ConsumersTable {
  id: Generated<string>;
  username: string;
  custom_id: string | null;
  status: ColumnType<ConsumerStatus, ConsumerStatus | undefined, ConsumerStatus>;
  roles: ColumnType<string[], string[] | undefined, string[]>;
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface CredentialsTable {
  id: Generated<string>;
  consumer_id: string;
  /** Credential type name, as registered (`key-auth`, `basic-auth`, `jwt`, `mtls`). */
  type: string;
  /** What identifies it, unique per type: hex HMAC of an API key, a basic key_id, a JWT subject, a SPIFFE id. */
  lookup: string;
  /** A short, non-secret prefix shown to operators (`kg_AbCd…`). */
  display_prefix: string | null;
  /** Hash of the secret (never the secret), null when `lookup` is itself the hash. */
  secret_hash: string | null;
  /** `hmac-sha256`, or a legacy/slow scheme for imported secrets. */
  hash_algorithm: string | null;
  scopes: ColumnType<string[], string[] | undefined, string[]>;
  set_name: string | null;
  not_before: NullableTimestamp;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  rotated_from: string | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface AuditLogTable {
  id: Generated<string>;
  at: Generated<Date>;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: ColumnType<unknown, string | null | undefined, string | null>;
  after: ColumnType<unknown, string | null | undefined, string | null>;
}

/** The outbox of the change feed: one row per credential whose cached form may be stale. */
export interface ChangesTable {
  id: Generated<string>;
  at: Generated<Date>;
  type: string;
  lookup: string;
}

export interface IdempotencyKeysTable {
  key: string;
  operation: string;
  response: ColumnType<unknown, string, string>;
  created_at: Generated<Date>;
}

export type ConsumerRow = Selectable<ConsumersTable>;
export type NewConsumerRow = Insertable<ConsumersTable>;
export type ConsumerUpdate = Updateable<ConsumersTable>;
export type CredentialRow = Selectable<CredentialsTable>;
export type NewCredentialRow = Insertable<CredentialsTable>;
