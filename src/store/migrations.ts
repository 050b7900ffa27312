import { Migrator, sql } from 'kysely';
import type { Kysely, Migration, MigrationProvider, MigrationResultSet } from 'kysely';
import type { Database } from './schema.js';

/**
 * keygate's schema, in order. Migrations are code (not files found by scanning), so the compiled
 * package carries them and `keygate migrate` needs nothing else.
 */
const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_initial': {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        CREATE TABLE consumers (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          username text NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 255),
          custom_id text UNIQUE CHECK (custom_id IS NULL OR length(custom_id) BETWEEN 1 AND 255),
          status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
          roles text[] NOT NULL DEFAULT '{}',
          metadata jsonb NOT NULL DEFAULT '{}',
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
      await sql`
        CREATE TABLE credentials (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          consumer_id uuid NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
          type text NOT NULL,
          lookup text NOT NULL,
          display_prefix text,
          secret_hash text,
          hash_algorithm text,
          scopes text[] NOT NULL DEFAULT '{}',
          set_name text,
          not_before timestamptz,
          expires_at timestamptz,
          revoked_at timestamptz,
          rotated_from uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (type, lookup)
        )`.execute(db);
      await sql`CREATE INDEX credentials_consumer_id ON credentials (consumer_id)`.execute(db);
      await sql`CREATE INDEX credentials_set_name ON credentials (set_name) WHERE set_name IS NOT NULL`.execute(db);
      await sql`
        CREATE TABLE audit_log (
          id bigserial PRIMARY KEY,
          at timestamptz NOT NULL DEFAULT now(),
          actor text NOT NULL,
          action text NOT NULL,
          entity_type text NOT NULL,
          entity_id text,
          before jsonb,
          after jsonb
        )`.execute(db);
      await sql`
        CREATE TABLE idempotency_keys (
          key text NOT NULL,
          operation text NOT NULL,
          response jsonb NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (operation, key)
        )`.execute(db);
      // The change feed's outbox. Triggers (not application code) fill it, so a change made by
      // direct SQL reaches every replica's cache as surely as one made through keygate.
      await sql`
        CREATE TABLE changes (
          id bigserial PRIMARY KEY,
          at timestamptz NOT NULL DEFAULT now(),
          type text NOT NULL,
          lookup text NOT NULL
        )`.execute(db);
      await sql`
        CREATE FUNCTION keygate_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            INSERT INTO changes (type, lookup) SELECT type, lookup FROM new_rows;
          ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO changes (type, lookup) SELECT type, lookup FROM old_rows;
          ELSE
            INSERT INTO changes (type, lookup)
              SELECT type, lookup FROM old_rows UNION SELECT type, lookup FROM new_rows;
          END IF;
          PERFORM pg_notify('keygate_changes', '');
          RETURN NULL;
        END $$`.execute(db);
      await sql`
        CREATE TRIGGER credentials_changed_ins AFTER INSERT ON credentials
          REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION keygate_credentials_changed()`.execute(db);
      await sql`
        CREATE TRIGGER credentials_changed_upd AFTER UPDATE ON credentials
          REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION keygate_credentials_changed()`.execute(db);
      await sql`
        CREATE TRIGGER credentials_changed_del AFTER DELETE ON credentials
          REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION keygate_credentials_changed()`.execute(db);
      await sql`
        CREATE FUNCTION keygate_consumers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO changes (type, lookup)
            SELECT c.type, c.lookup FROM credentials c JOIN new_rows n ON n.id = c.consumer_id;
          PERFORM pg_notify('keygate_changes', '');
          RETURN NULL;
        END $$`.execute(db);
      await sql`
        CREATE TRIGGER consumers_changed_upd AFTER UPDATE ON consumers
          REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION keygate_consumers_changed()`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`DROP TABLE IF EXISTS changes, idempotency_keys, audit_log, credentials, consumers CASCADE`.execute(db);
      await sql`DROP FUNCTION IF EXISTS keygate_credentials_changed, keygate_consumers_changed`.execute(db);
    },
  },
  '0002_anonymous_consumer_changes': {
    // The anonymous consumer is cached by username under the `anonymous` pseudo type: any change
    // to a consumer (or its deletion) also invalidates that entry.
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        CREATE OR REPLACE FUNCTION keygate_consumers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' THEN
            INSERT INTO changes (type, lookup)
              SELECT c.type, c.lookup FROM credentials c JOIN new_rows n ON n.id = c.consumer_id;
            INSERT INTO changes (type, lookup)
              SELECT 'anonymous', username FROM old_rows UNION SELECT 'anonymous', username FROM new_rows;
          ELSE
            INSERT INTO changes (type, lookup) SELECT 'anonymous', username FROM old_rows;
          END IF;
          PERFORM pg_notify('keygate_changes', '');
          RETURN NULL;
        END $$`.execute(db);
      await sql`DROP TRIGGER consumers_changed_upd ON consumers`.execute(db);
      await sql`
        CREATE TRIGGER consumers_changed_upd AFTER UPDATE ON consumers
          REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION keygate_consumers_changed()`.execute(db);
      await sql`
        CREATE TRIGGER consumers_changed_del AFTER DELETE ON consumers
          REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION keygate_consumers_changed()`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`DROP TRIGGER IF EXISTS consumers_changed_del ON consumers`.execute(db);
    },
  },
};

class CodeMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...MIGRATIONS };
  }
}

/** Brings the schema to the latest version; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: new CodeMigrationProvider(), migrationTableName: 'keygate_migrations', migrationLockTableName: 'keygate_migrations_lock' });
  const result = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    throw new Error(`migration ${failed} failed: ${cause}`);
  }
  return result;
}
