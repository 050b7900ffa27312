import { finished } from 'node:stream/promises';
import { CompiledQuery } from 'kysely';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../../store/schema.js';
import type { BatchOutcome, ImportIssue } from './import-report.js';
import type { StagedConsumer, StagedCredential } from './import-record.js';
import { uuid7Generator } from './uuid7.js';

/** One statement's answer, whichever driver ran it. */
interface SqlResult {
  readonly rows: ReadonlyArray<Record<string, unknown>>;
  readonly rowCount: number;
}

/** The connection a batch runs on, inside its transaction. */
interface BatchConnection {
  /** Runs parameter-free statements in order (in one round trip where the driver can). */
  script(statements: readonly string[]): Promise<SqlResult[]>;
  query(text: string, params: readonly unknown[]): Promise<SqlResult>;
  /** Appends COPY text-format rows to a table; null where COPY is not available (PGlite, kysely only). */
  readonly copy: ((table: string, columns: readonly string[], text: string) => Promise<void>) | null;
}

const CONSUMER_STAGE = 'keygate_import_consumers';
const CREDENTIAL_STAGE = 'keygate_import_credentials';
const CONSUMER_COLUMNS = ['line', 'id', 'id_given', 'username', 'custom_id_given', 'custom_id', 'roles', 'metadata'] as const;
const CREDENTIAL_COLUMNS = [
  'line', 'label', 'id', 'consumer_id', 'type', 'lookup', 'display_prefix', 'secret_hash', 'hash_algorithm', 'scopes', 'set_name', 'not_before', 'expires_at',
] as const;

/**
 * The staging tables (temp: no WAL, private to the session). With COPY they are made once per
 * import, filled by COPY and truncated by the batch's last statement; without, made in each
 * batch's transaction and dropped at its commit (a kysely pool may hand each batch another
 * connection).
 */
function createStages(onCommit: 'PRESERVE ROWS' | 'DROP'): string[] {
  return [
    `CREATE TEMP TABLE ${CONSUMER_STAGE} (
       line int NOT NULL, id uuid NOT NULL, id_given boolean NOT NULL, username text NOT NULL,
       custom_id_given boolean NOT NULL, custom_id text, roles text[], metadata jsonb, existing_id uuid, rejected text
     ) ON COMMIT ${onCommit}`,
    `CREATE TEMP TABLE ${CREDENTIAL_STAGE} (
       line int NOT NULL, label text NOT NULL, id uuid NOT NULL, consumer_id uuid NOT NULL, type text NOT NULL, lookup text NOT NULL,
       display_prefix text, secret_hash text, hash_algorithm text, scopes text[] NOT NULL, set_name text,
       not_before timestamptz, expires_at timestamptz
     ) ON COMMIT ${onCommit}`,
  ];
}

/**
 * What a batch does once staged, in order (one round trip on the COPY path); `STEP_*` below
 * index the results.
 *
 * 0.   No JIT: it would compile these statements anew for every batch (their estimated cost is high).
 * 1.   Insert the consumers that are new: `ON CONFLICT DO NOTHING` (no target) skips a row that
 *      collides on any unique column (username, custom_id, id); the inserted ones leave the stage,
 *      so a first import does no more work than the insert itself.
 * 2-9. Hash and merge joins are off while the stage is joined with `consumers`: the staging
 *      table has no statistics, and a hash join would read all of `consumers` in every batch; a
 *      nested loop probes an index of `consumers` once per remaining row.
 * 4.   For the rows left, find the consumer with that username and merge what the input leaves
 *      out (`null`) with what is stored.
 * 5.   Reject those whose custom_id another consumer holds (a scalar subquery: an index probe per
 *      row, whatever the planner thinks of the staging table's size).
 * 6.   Reject those still unexplained: new usernames whose given id (a Kong consumer id) another
 *      consumer holds (or, rarely, a consumer created concurrently).
 * 7.   Update existing consumers, only those where a field differs, so a re-run neither bumps
 *      `updated_at` nor wakes the change feed. `status` is never imported.
 * 10.  Drop the staged credentials of rejected consumers.
 * 11.  Point the credentials of existing consumers at them.
 * 12.  Insert credentials. One that exists (same type and lookup) is left exactly as it is: an
 *      import never re-activates a revoked or expired credential nor changes a secret. Those not
 *      inserted are probed (only they: the MATERIALIZED fence keeps the planner from probing
 *      every row) and those that belong to *another* consumer come back as conflicts.
 */
const BATCH_STEPS = [
  'SET LOCAL jit = off',
  `WITH ins AS (
     INSERT INTO consumers (id, username, custom_id, roles, metadata)
     SELECT id, username, custom_id, COALESCE(roles, '{}'), COALESCE(metadata, '{}') FROM ${CONSUMER_STAGE}
     ON CONFLICT DO NOTHING
     RETURNING id
   )
   DELETE FROM ${CONSUMER_STAGE} s USING ins WHERE s.id = ins.id`,
  'SET LOCAL enable_hashjoin = off',
  'SET LOCAL enable_mergejoin = off',
  `UPDATE ${CONSUMER_STAGE} s SET existing_id = c.id,
     custom_id = CASE WHEN s.custom_id_given THEN s.custom_id ELSE c.custom_id END,
     roles = COALESCE(s.roles, c.roles),
     metadata = COALESCE(s.metadata, c.metadata)
   FROM consumers c WHERE c.username = s.username`,
  `UPDATE ${CONSUMER_STAGE} s SET rejected = 'custom_id belongs to another consumer'
   WHERE s.custom_id IS NOT NULL
     AND (SELECT c.id FROM consumers c WHERE c.custom_id = s.custom_id) <> COALESCE(s.existing_id, s.id)
   RETURNING s.line, s.rejected`,
  `UPDATE ${CONSUMER_STAGE} s SET rejected = CASE WHEN s.id_given
       THEN 'the consumer id belongs to a consumer with another username'
       ELSE 'the consumer was created by someone else during the import; run it again' END
   WHERE s.existing_id IS NULL AND s.rejected IS NULL
   RETURNING s.line, s.rejected`,
  `UPDATE consumers c SET custom_id = s.custom_id, roles = s.roles, metadata = s.metadata, updated_at = now()
   FROM ${CONSUMER_STAGE} s
   WHERE c.id = s.existing_id AND s.rejected IS NULL
     AND (c.custom_id, c.roles, c.metadata) IS DISTINCT FROM (s.custom_id, s.roles, s.metadata)`,
  'SET LOCAL enable_hashjoin TO DEFAULT',
  'SET LOCAL enable_mergejoin TO DEFAULT',
  `DELETE FROM ${CREDENTIAL_STAGE} k USING ${CONSUMER_STAGE} s WHERE s.id = k.consumer_id AND s.rejected IS NOT NULL`,
  `UPDATE ${CREDENTIAL_STAGE} k SET consumer_id = s.existing_id
   FROM ${CONSUMER_STAGE} s WHERE s.id = k.consumer_id AND s.existing_id IS NOT NULL`,
  `WITH ins AS (
     INSERT INTO credentials (id, consumer_id, type, lookup, display_prefix, secret_hash, hash_algorithm, scopes, set_name, not_before, expires_at)
     SELECT id, consumer_id, type, lookup, display_prefix, secret_hash, hash_algorithm, scopes, set_name, not_before, expires_at FROM ${CREDENTIAL_STAGE}
     ON CONFLICT (type, lookup) DO NOTHING
     RETURNING id
   ), skipped AS MATERIALIZED (
     SELECT k.line, k.label, k.type, k.lookup, k.consumer_id FROM ${CREDENTIAL_STAGE} k
     WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = k.id)
   )
   SELECT (SELECT count(*) FROM ins)::int AS inserted,
     COALESCE((
       SELECT json_agg(json_build_array(k.line, k.label, k.type)) FROM skipped k
       WHERE (SELECT cr.consumer_id FROM credentials cr WHERE cr.type = k.type AND cr.lookup = k.lookup) IS DISTINCT FROM k.consumer_id
     ), '[]'::json) AS conflicts`,
] as const;
const STEP_INSERT_CONSUMERS = 1;
const STEP_CUSTOM_ID_TAKEN = 5;
const STEP_UNEXPLAINED = 6;
const STEP_UPDATE_CONSUMERS = 7;
const STEP_ORPHANS = 10;
const STEP_CREDENTIALS = 12;
/** Ends a batch on the COPY path (whose staging tables outlive the transaction). */
const EMPTY_STAGES = `TRUNCATE ${CONSUMER_STAGE}, ${CREDENTIAL_STAGE}`;

/**
 * Writes batches of staged consumers, each in one transaction: COPY (or, without a `pg` pool, one
 * multi-row INSERT per table) into temp staging tables, then set-based statements into
 * `consumers` and `credentials`. The change-feed triggers fire once per statement.
 */
export class ImportWriter {
  readonly #db: Kysely<Database>;
  readonly #client: pg.PoolClient | null;
  readonly #newId = uuid7Generator();

  private constructor(db: Kysely<Database>, client: pg.PoolClient | null) {
    this.#db = db;
    this.#client = client;
  }

  /** With a `pg` pool, holds one of its connections (for COPY) until {@link close}. */
  static async open(options: { db: Kysely<Database>; pg?: pg.Pool | null }): Promise<ImportWriter> {
    if (options.pg === undefined || options.pg === null) return new ImportWriter(options.db, null);
    const client = await options.pg.connect();
    try {
      await client.query(`DROP TABLE IF EXISTS pg_temp.${CONSUMER_STAGE}, pg_temp.${CREDENTIAL_STAGE}`);
      for (const ddl of createStages('PRESERVE ROWS')) await client.query(ddl);
    } catch (err) {
      client.release(err instanceof Error ? err : true);
      throw err;
    }
    return new ImportWriter(options.db, client);
  }

  get usesCopy(): boolean {
    return this.#client !== null;
  }

  async close(): Promise<void> {
    const client = this.#client;
    if (client === null) return;
    // The connection goes back to the pool: leave nothing of the import on it.
    const dropped = await client.query(`DROP TABLE IF EXISTS pg_temp.${CONSUMER_STAGE}, pg_temp.${CREDENTIAL_STAGE}`).then(() => true, () => false);
    client.release(dropped ? undefined : true);
  }

  /** Writes one batch (usernames unique within it) in one transaction. */
  async write(batch: readonly StagedConsumer[]): Promise<BatchOutcome> {
    if (batch.length === 0) return { consumersInserted: 0, consumersUpdated: 0, consumersUnchanged: 0, credentialsInserted: 0, credentialsSkipped: 0, rejected: [] };
    const rows = this.#assignIds(batch);
    const client = this.#client;
    if (client === null) {
      return this.#db.transaction().execute(async (trx) => {
        const query = async (text: string, params: readonly unknown[] = []): Promise<SqlResult> => {
          const r = await trx.executeQuery(CompiledQuery.raw(text, [...params]));
          return { rows: r.rows as ReadonlyArray<Record<string, unknown>>, rowCount: Number(r.numAffectedRows ?? BigInt(r.rows.length)) };
        };
        for (const ddl of createStages('DROP')) await query(ddl);
        return writeBatch({
          copy: null,
          query,
          async script(statements) {
            const results: SqlResult[] = [];
            for (const statement of statements) results.push(await query(statement));
            return results;
          },
        }, rows);
      });
    }
    const conn: BatchConnection = {
      async query(text, params) {
        const r = await client.query(text, [...params]);
        return { rows: r.rows as ReadonlyArray<Record<string, unknown>>, rowCount: r.rowCount ?? 0 };
      },
      async script(statements) {
        // Simple query protocol: several statements, one round trip, one result each, one
        // implicit transaction.
        const r = (await client.query([...statements, EMPTY_STAGES].join(';\n'))) as unknown as pg.QueryResult | pg.QueryResult[];
        return (Array.isArray(r) ? r : [r]).map((x) => ({ rows: x.rows as ReadonlyArray<Record<string, unknown>>, rowCount: x.rowCount ?? 0 }));
      },
      async copy(table, columns, text) {
        const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
        stream.end(Buffer.from(text, 'utf8'));
        await finished(stream);
      },
    };
    // COPY into the staging tables (private to this session) needs no transaction; the statements
    // that change keygate's tables go as one multi-statement query, which PostgreSQL runs as one
    // transaction: all of the batch or none of it.
    return writeBatch(conn, rows);
  }

  #assignIds(batch: readonly StagedConsumer[]): StagedBatch {
    const consumers: ConsumerRow[] = [];
    const credentials: CredentialRow[] = [];
    for (const c of batch) {
      const id = c.id ?? this.#newId();
      consumers.push({ c, id });
      for (const k of c.credentials) credentials.push({ k, id: this.#newId(), consumerId: id });
    }
    return { consumers, credentials };
  }
}

interface ConsumerRow { readonly c: StagedConsumer; readonly id: string }
interface CredentialRow { readonly k: StagedCredential; readonly id: string; readonly consumerId: string }
interface StagedBatch { readonly consumers: readonly ConsumerRow[]; readonly credentials: readonly CredentialRow[] }

async function writeBatch(conn: BatchConnection, batch: StagedBatch): Promise<BatchOutcome> {
  await stage(conn, batch);
  const results = await conn.script(BATCH_STEPS);
  const result = (i: number): SqlResult => results[i] ?? { rows: [], rowCount: 0 };
  const rejected: ImportIssue[] = [];
  for (const step of [STEP_CUSTOM_ID_TAKEN, STEP_UNEXPLAINED]) {
    for (const row of result(step).rows) rejected.push({ line: Number(row.line), reason: String(row.rejected) });
  }
  const consumersRejected = rejected.length;
  const consumersInserted = result(STEP_INSERT_CONSUMERS).rowCount;
  const consumersUpdated = result(STEP_UPDATE_CONSUMERS).rowCount;
  const stagedCredentials = batch.credentials.length - result(STEP_ORPHANS).rowCount;
  const ins = result(STEP_CREDENTIALS).rows[0] ?? {};
  const credentialsInserted = Number(ins.inserted ?? 0);
  const raw = typeof ins.conflicts === 'string' ? JSON.parse(ins.conflicts) as unknown : ins.conflicts;
  const conflicts = Array.isArray(raw) ? raw as unknown[] : [];
  for (const c of conflicts) {
    const [line, label, type] = Array.isArray(c) ? c as [unknown, unknown, unknown] : [0, '', ''];
    rejected.push({ line: Number(line), reason: `${String(label)}: this ${String(type)} credential belongs to another consumer; not imported` });
  }
  return {
    consumersInserted,
    consumersUpdated,
    consumersUnchanged: batch.consumers.length - consumersRejected - consumersInserted - consumersUpdated,
    credentialsInserted,
    credentialsSkipped: stagedCredentials - credentialsInserted - conflicts.length,
    rejected,
  };
}

async function stage(conn: BatchConnection, batch: StagedBatch): Promise<void> {
  const { consumers, credentials } = batch;
  if (conn.copy !== null) {
    let text = '';
    for (const { c, id } of consumers) {
      text += `${c.line}\t${id}\t${c.id === null ? 'f' : 't'}\t${copyField(c.username)}\t${c.customIdGiven ? 't' : 'f'}\t${copyField(c.customId)}\t${c.roles === null ? '\\N' : arrayLiteral(c.roles)}\t${copyField(c.metadata)}\n`;
    }
    await conn.copy(CONSUMER_STAGE, CONSUMER_COLUMNS, text);
    if (credentials.length === 0) return;
    text = '';
    for (const { k, id, consumerId } of credentials) {
      text += `${k.line}\t${copyField(k.label)}\t${id}\t${consumerId}\t${copyField(k.type)}\t${copyField(k.lookup)}\t${copyField(k.displayPrefix)}\t${copyField(k.secretHash)}\t${copyField(k.hashAlgorithm)}\t${arrayLiteral(k.scopes)}\t${copyField(k.setName)}\t${copyField(k.notBefore)}\t${copyField(k.expiresAt)}\n`;
    }
    await conn.copy(CREDENTIAL_STAGE, CREDENTIAL_COLUMNS, text);
    return;
  }
  await conn.query(
    `INSERT INTO ${CONSUMER_STAGE} (${CONSUMER_COLUMNS.join(', ')})
     SELECT t.line, t.id::uuid, t.id_given, t.username, t.custom_id_given, t.custom_id, t.roles::text[], t.metadata::jsonb
     FROM unnest($1::int[], $2::text[], $3::bool[], $4::text[], $5::bool[], $6::text[], $7::text[], $8::text[])
       AS t(line, id, id_given, username, custom_id_given, custom_id, roles, metadata)`,
    [
      consumers.map((r) => r.c.line), consumers.map((r) => r.id), consumers.map((r) => r.c.id !== null), consumers.map((r) => r.c.username),
      consumers.map((r) => r.c.customIdGiven), consumers.map((r) => r.c.customId), consumers.map((r) => (r.c.roles === null ? null : arrayLiteral(r.c.roles))),
      consumers.map((r) => r.c.metadata),
    ],
  );
  if (credentials.length === 0) return;
  await conn.query(
    `INSERT INTO ${CREDENTIAL_STAGE} (${CREDENTIAL_COLUMNS.join(', ')})
     SELECT t.line, t.label, t.id::uuid, t.consumer_id::uuid, t.type, t.lookup, t.display_prefix, t.secret_hash, t.hash_algorithm, t.scopes::text[],
       t.set_name, t.not_before::timestamptz, t.expires_at::timestamptz
     FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
       AS t(line, label, id, consumer_id, type, lookup, display_prefix, secret_hash, hash_algorithm, scopes, set_name, not_before, expires_at)`,
    [
      credentials.map((r) => r.k.line), credentials.map((r) => r.k.label), credentials.map((r) => r.id), credentials.map((r) => r.consumerId),
      credentials.map((r) => r.k.type), credentials.map((r) => r.k.lookup), credentials.map((r) => r.k.displayPrefix), credentials.map((r) => r.k.secretHash),
      credentials.map((r) => r.k.hashAlgorithm), credentials.map((r) => arrayLiteral(r.k.scopes)), credentials.map((r) => r.k.setName),
      credentials.map((r) => r.k.notBefore), credentials.map((r) => r.k.expiresAt),
    ],
  );
}

const COPY_SPECIAL = /[\\\t\n\r]/;

/** A value in COPY's text format: `\N` for null, backslash, tab, newline and CR escaped. */
function copyField(value: string | null): string {
  if (value === null) return '\\N';
  if (!COPY_SPECIAL.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : '\\r'));
}

/**
 * A text[] literal. Every element is quoted (so a role named `NULL` stays a string); role and
 * scope names hold no quote, backslash or space, so nothing inside needs escaping.
 */
function arrayLiteral(items: readonly string[]): string {
  return items.length === 0 ? '{}' : `{"${items.join('","')}"}`;
}

/** One audit row for a whole import. */
export async function auditImport(db: Kysely<Database>, actor: string, action: string, source: string | null, after: Record<string, unknown>): Promise<void> {
  await db.insertInto('audit_log').values({
    actor, action, entity_type: 'import', entity_id: source, before: null, after: JSON.stringify(after),
  }).execute();
}
