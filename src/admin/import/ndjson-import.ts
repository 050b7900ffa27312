import type { Readable } from 'node:stream';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { ImportReportBuilder } from './import-report.js';
import type { ImportReport, ImportTarget } from './import-report.js';
import { RecordError, stageRecord } from './import-record.js';
import type { StagedConsumer } from './import-record.js';
import { ImportWriter, auditImport } from './import-writer.js';

export const DEFAULT_IMPORT_BATCH_SIZE = 10_000;
/** Input is parsed in slices of this size, with a turn of the event loop between them. */
const SLICE_BYTES = 8 * 1024;
/** Longest line accepted; a longer one is rejected without being held in memory. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

export interface NdjsonImportOptions extends ImportTarget {
  /** NDJSON, UTF-8: one consumer per line. Read as a stream; never held whole. */
  readonly input: Readable;
  readonly maxLineBytes?: number;
}

/**
 * Imports consumers and credentials from NDJSON, one consumer per line:
 *
 * ```json
 * {"username":"m-000001","custom_id":"merchant-1","roles":["payments:read"],"metadata":{"tier":"gold"},
 *  "credentials":[{"type":"key-auth","key":"kg_…"},{"type":"basic-auth","key_id":"kgk_…","secret":"…"}]}
 * ```
 *
 * Credentials: `key-auth` with `key` (plain, hashed here with the server pepper) or `key_hash`
 * (hex HMAC-SHA-256 under the same pepper); `basic-auth` with `key_id` and `secret` or
 * `secret_hash`; `mtls` / `jwt` / `oauth2` with `lookup`. Each may carry `scopes`, `set_name`,
 * `expires_at`, `not_before`. Only hashes reach the database; no secret is ever logged or echoed
 * in a rejection reason.
 *
 * Semantics (re-running a file is idempotent):
 * - consumers upsert by username; a field the line gives (`custom_id`, `roles`, `metadata`) is set
 *   (`"custom_id": null` clears it), a field it leaves out keeps its stored value; `status` is never
 *   changed; an unchanged consumer is not written at all (no `updated_at` bump, no change event);
 * - a credential that exists (same type and lookup) for the same consumer is skipped and left as it
 *   is: an import never un-revokes, re-dates or re-secrets a credential (revoke or rotate through
 *   the API instead). One that belongs to another consumer, or that an earlier line of the file
 *   already gave, is not imported and is reported under `rejected` (`credentials[i]: …`) while the
 *   rest of its line imports;
 * - a bad line (not JSON, no username, a bad name, role or time, an unknown field or credential
 *   type, a custom_id held by another consumer, a username an earlier line gave) is rejected whole,
 *   with its line number and reason; the import goes on.
 *
 * Each batch commits on its own: if the import stops half-way (an outage), the committed batches
 * stay and running the same file again completes it. One audit row records every import.
 *
 * Memory: two batches (the one parsed while the other is written), plus the usernames seen, for
 * exact duplicate detection across the whole file: about 60 bytes per consumer (60 MB for a
 * million). Never the file.
 */
export async function importNdjson(options: NdjsonImportOptions): Promise<ImportReport> {
  const batchSize = options.batchSize ?? DEFAULT_IMPORT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new RangeError('batchSize must be a whole number from 1 to 100000');
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const report = new ImportReportBuilder();
  const writer = await ImportWriter.open({ db: options.db, pg: options.pg ?? null });
  /** First line of every username accepted so far. */
  const usernames = new Map<string, number>();
  let batch: StagedConsumer[] = [];
  // Within a batch: custom_ids and credentials must be unique (across batches the database checks).
  let batchCustomIds = new Map<string, number>();
  let batchCredentials = new Map<string, number>();
  let inflight: Promise<void> | null = null;
  let failure: unknown = null;

  /** Closes the batch being filled; the next one starts with fresh per-batch checks. */
  const takeBatch = (): StagedConsumer[] => {
    const current = batch;
    batch = [];
    batchCustomIds = new Map();
    batchCredentials = new Map();
    return current;
  };
  const flush = async (current: StagedConsumer[], linesDone: number, bytesRead: number): Promise<void> => {
    if (inflight !== null) await inflight;
    // The next batch is parsed while this one is written.
    const p = writer.write(current).then((outcome) => {
      report.add(outcome);
      options.onProgress?.(linesDone, bytesRead);
    });
    p.catch((err: unknown) => { failure ??= err; });
    inflight = p;
  };

  const accept = (text: string, line: number): void => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // V8's message quotes the input (it may hold a secret): keep only the position.
      const at = /at position (\d+)/.exec(err instanceof Error ? err.message : '');
      report.reject(line, at === null ? 'not valid JSON' : `not valid JSON (at character ${at[1] ?? ''})`);
      return;
    }
    let record: StagedConsumer;
    try {
      record = stageRecord(value, line, options.hasher);
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      report.reject(line, err.message);
      return;
    }
    const first = usernames.get(record.username);
    if (first !== undefined) {
      report.reject(line, `username ${record.username} is also on line ${first}`);
      return;
    }
    if (record.customId !== null) {
      const other = batchCustomIds.get(record.customId);
      if (other !== undefined) {
        report.reject(line, `custom_id ${record.customId} is also on line ${other}`);
        return;
      }
    }
    // A credential given twice is dropped (the consumer still imports), as the database does
    // with one that another batch already wrote.
    const credentials = record.credentials.filter((c) => {
      const key = `${c.type}\u0000${c.lookup}`;
      const other = batchCredentials.get(key);
      if (other !== undefined) {
        report.reject(line, `${c.label}: the same ${c.type} credential is also on line ${other}; not imported`);
        return false;
      }
      batchCredentials.set(key, line);
      return true;
    });
    usernames.set(record.username, line);
    if (record.customId !== null) batchCustomIds.set(record.customId, line);
    batch.push(credentials.length === record.credentials.length ? record : { ...record, credentials });
  };

  let lineNo = 0;
  let bytesRead = 0;
  const onLine = (text: string | null, bytes: number): void => {
    lineNo++;
    bytesRead += bytes;
    if (text === null) report.reject(lineNo, `longer than ${maxLineBytes} bytes`);
    else if (text.trim() !== '') accept(text, lineNo);
    if (batch.length >= batchSize) full.push({ batch: takeBatch(), lines: lineNo, bytes: bytesRead });
  };
  const full: Array<{ batch: StagedConsumer[]; lines: number; bytes: number }> = [];
  const splitter = new LineSplitter(maxLineBytes, onLine);
  try {
    for await (const chunk of options.input) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk as Buffer;
      for (let at = 0; at < buf.length; at += SLICE_BYTES) {
        splitter.push(at === 0 && buf.length <= SLICE_BYTES ? buf : buf.subarray(at, at + SLICE_BYTES));
        // Parsing is synchronous: let the batch being written get its socket events between slices.
        if (inflight !== null) await yieldToIo();
      }
      report.lines = lineNo;
      report.bytesRead = bytesRead;
      while (full.length > 0) {
        const next = full.shift();
        if (next !== undefined) await flush(next.batch, next.lines, next.bytes);
      }
      if (failure !== null) throw failure;
    }
    splitter.end();
    report.lines = lineNo;
    report.bytesRead = bytesRead;
    for (const next of full) await flush(next.batch, next.lines, next.bytes);
    await flush(takeBatch(), lineNo, bytesRead);
    await inflight;
    if (failure !== null) throw failure;
  } catch (err) {
    await (inflight as Promise<void> | null)?.catch(() => undefined);
    await writer.close();
    const reason = err instanceof Error ? err.message : String(err);
    await auditImport(options.db, options.actor, 'import.ndjson', options.source ?? null, { ...report.summary(), failed: reason }).catch(() => undefined);
    throw err;
  }
  await writer.close();
  await auditImport(options.db, options.actor, 'import.ndjson', options.source ?? null, { ...report.summary(), copy: writer.usesCopy });
  return report.build();
}

/**
 * Splits a byte stream into lines (LF or CRLF; a UTF-8 BOM at the start is dropped) and hands
 * each to `onLine` synchronously, with its size in bytes (newline included). It never holds more
 * than `maxBytes` of one line: a longer one is skipped and reported as `null` (readline would
 * buffer a line of any length).
 */
export class LineSplitter {
  readonly #maxBytes: number;
  readonly #onLine: (text: string | null, bytes: number) => void;
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** Bytes of the current line already dropped because it is too long; -1 while it is not. */
  #skipped = -1;
  #first = true;

  constructor(maxBytes: number, onLine: (text: string | null, bytes: number) => void) {
    this.#maxBytes = maxBytes;
    this.#onLine = onLine;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      if (this.#skipped === -1 && this.#partBytes + (end - start) > this.#maxBytes) {
        this.#skipped = this.#partBytes;
        this.#parts = [];
        this.#partBytes = 0;
      }
      if (this.#skipped !== -1) this.#skipped += end - start;
      else if (nl === -1 || this.#parts.length > 0) {
        if (end > start) this.#parts.push(chunk.subarray(start, end));
        this.#partBytes += end - start;
      }
      if (nl === -1) return;
      if (this.#skipped !== -1 || this.#parts.length > 0) this.#emit(null, 1);
      else this.#emit(chunk.subarray(start, end), 1);
      start = nl + 1;
    }
  }

  /** The last line, when the input does not end with a newline. */
  end(): void {
    if (this.#partBytes > 0 || this.#skipped > 0) this.#emit(null, 0);
  }

  #emit(whole: Buffer | null, newline: number): void {
    let text: string | null = null;
    let bytes: number;
    if (this.#skipped !== -1) {
      bytes = this.#skipped;
    } else {
      let buf = whole ?? (this.#parts.length === 1 ? this.#parts[0] ?? Buffer.alloc(0) : Buffer.concat(this.#parts));
      bytes = buf.length;
      if (this.#first && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
      const crlf = buf.length > 0 && buf[buf.length - 1] === 0x0d;
      text = buf.toString('utf8', 0, crlf ? buf.length - 1 : buf.length);
    }
    this.#first = false;
    this.#parts = [];
    this.#partBytes = 0;
    this.#skipped = -1;
    this.#onLine(text, bytes + newline);
  }
}
