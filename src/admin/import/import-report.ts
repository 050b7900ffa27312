import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { SecretHasher } from '../../credentials/secret-hasher.js';
import type { Database } from '../../store/schema.js';

/** One problem found in the input: where it is and why it was not imported. Never holds a secret. */
export interface ImportIssue {
  /** 1-based line of the input (NDJSON: the record's line; Kong: where the entity starts). */
  readonly line: number;
  readonly reason: string;
}

/** Called after each committed batch (and once at the end). */
export type ImportProgress = (linesDone: number, bytesRead: number) => void;

/** What every importer writes into, and how. */
export interface ImportTarget {
  readonly db: Kysely<Database>;
  /**
   * A `pg` pool on the same database, for COPY (one of its connections is held for the import).
   * Without it (PGlite, or a caller that has only kysely) each batch is one multi-row INSERT per
   * staging table: slower, same result.
   */
  readonly pg?: pg.Pool | null;
  readonly hasher: SecretHasher;
  /** Who is importing, for the audit row (`admin`, `admin-token`, `cli:<user>`). */
  readonly actor: string;
  /** What is imported (a file name), for the audit row. */
  readonly source?: string | null;
  /** Records per transaction. Default 10,000. */
  readonly batchSize?: number;
  readonly onProgress?: ImportProgress;
}

/** How many rejections (and, separately, warnings) a report lists; the counts are exact. */
export const MAX_LISTED_ISSUES = 1000;

/** Counts of one written batch (see `ImportWriter.write`), and of a whole import. */
export interface BatchOutcome {
  /** New consumers. */
  readonly consumersInserted: number;
  /** Existing consumers (same username) whose custom_id, roles or metadata changed. */
  readonly consumersUpdated: number;
  /** Existing consumers the input describes exactly as they are. */
  readonly consumersUnchanged: number;
  readonly credentialsInserted: number;
  /** Credentials that already existed for the same consumer (left exactly as they are). */
  readonly credentialsSkipped: number;
  /**
   * Records or credentials not imported, in input order (a report lists at most
   * {@link MAX_LISTED_ISSUES}). A rejected record imports nothing; an issue whose reason starts with
   * `credentials[i]` (NDJSON) or names one Kong credential leaves the rest of its consumer imported.
   */
  readonly rejected: readonly ImportIssue[];
}

/**
 * What an import did. Re-running the same input reports `consumersInserted: 0`,
 * `consumersUpdated: 0`, `credentialsInserted: 0` and the same rejections.
 */
export interface ImportReport extends BatchOutcome {
  /** NDJSON: lines read (blank ones included). Kong: consumer entries read. */
  readonly lines: number;
  readonly bytesRead: number;
  /** All rejections, listed or not. */
  readonly rejectedCount: number;
  /** Imported, but with something the operator must know (Kong: JWT secrets are not imported). */
  readonly warnings: readonly ImportIssue[];
  readonly warningCount: number;
  readonly seconds: number;
}

/** Accumulates counts and issues while an import runs. */
export class ImportReportBuilder {
  lines = 0;
  bytesRead = 0;
  #consumersInserted = 0;
  #consumersUpdated = 0;
  #consumersUnchanged = 0;
  #credentialsInserted = 0;
  #credentialsSkipped = 0;
  readonly #rejected: ImportIssue[] = [];
  #rejectedCount = 0;
  readonly #warnings: ImportIssue[] = [];
  #warningCount = 0;
  readonly #started = performance.now();

  reject(line: number, reason: string): void {
    this.#rejectedCount++;
    if (this.#rejected.length < MAX_LISTED_ISSUES) this.#rejected.push({ line, reason });
  }

  warn(line: number, reason: string): void {
    this.#warningCount++;
    if (this.#warnings.length < MAX_LISTED_ISSUES) this.#warnings.push({ line, reason });
  }

  add(outcome: BatchOutcome): void {
    this.#consumersInserted += outcome.consumersInserted;
    this.#consumersUpdated += outcome.consumersUpdated;
    this.#consumersUnchanged += outcome.consumersUnchanged;
    this.#credentialsInserted += outcome.credentialsInserted;
    this.#credentialsSkipped += outcome.credentialsSkipped;
    for (const issue of outcome.rejected) this.reject(issue.line, issue.reason);
  }

  /** The report so far; issues sorted by line (batches and checks find them out of order). */
  build(): ImportReport {
    const byLine = (a: ImportIssue, b: ImportIssue): number => a.line - b.line;
    return {
      lines: this.lines,
      bytesRead: this.bytesRead,
      consumersInserted: this.#consumersInserted,
      consumersUpdated: this.#consumersUpdated,
      consumersUnchanged: this.#consumersUnchanged,
      credentialsInserted: this.#credentialsInserted,
      credentialsSkipped: this.#credentialsSkipped,
      rejected: [...this.#rejected].sort(byLine),
      rejectedCount: this.#rejectedCount,
      warnings: [...this.#warnings].sort(byLine),
      warningCount: this.#warningCount,
      seconds: Math.round(performance.now() - this.#started) / 1000,
    };
  }

  /** The counts alone, for the audit row. */
  summary(): Record<string, number> {
    const r = this.build();
    return {
      lines: r.lines, bytes_read: r.bytesRead, consumers_inserted: r.consumersInserted, consumers_updated: r.consumersUpdated,
      consumers_unchanged: r.consumersUnchanged, credentials_inserted: r.credentialsInserted, credentials_skipped: r.credentialsSkipped,
      rejected: r.rejectedCount, warnings: r.warningCount, seconds: r.seconds,
    };
  }
}
