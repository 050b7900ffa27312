import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReadableStream } from 'node:stream/web';
import { OperationError } from '../admin/operation-error.js';
import type { ImportProgress, ImportReport } from '../admin/import/import-report.js';
import type { OperationErrorCodeName } from '../admin/operation-error.js';
import type { ConsumerPatch, ConsumerView, CredentialView, IssuedCredentialView, NewConsumer, NewCredential, Page } from '../admin/operations.js';

/** What the CLI does to consumers; served by the admin API or by the store directly. */
export interface OperationsClient {
  createConsumer(input: NewConsumer): Promise<ConsumerView>;
  getConsumer(ref: string): Promise<ConsumerView>;
  listConsumers(options: { after?: string | null; limit?: number }): Promise<Page<ConsumerView>>;
  updateConsumer(ref: string, patch: ConsumerPatch): Promise<ConsumerView>;
  deleteConsumer(ref: string): Promise<void>;
  createCredential(ref: string, input: NewCredential): Promise<IssuedCredentialView>;
  listCredentials(ref: string): Promise<readonly CredentialView[]>;
  revokeCredential(id: string): Promise<CredentialView>;
  rotateCredential(id: string, graceSeconds: number): Promise<IssuedCredentialView>;
  expireSet(name: string, inSeconds: number): Promise<{ set_name: string; expires_at: string; updated: number }>;
  importFile(path: string, from: 'ndjson' | 'kong', onProgress: ImportProgress): Promise<ImportReport>;
  exportTo(out: Writable): Promise<void>;
}

/** The admin API over HTTP. */
export class AdminClient implements OperationsClient {
  readonly #base: string;
  readonly #token: string | null;

  constructor(baseUrl: string, token: string | null) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  createConsumer(input: NewConsumer): Promise<ConsumerView> {
    return this.#call('POST', '/consumers', input);
  }
  getConsumer(ref: string): Promise<ConsumerView> {
    return this.#call('GET', `/consumers/${encodeURIComponent(ref)}`);
  }
  listConsumers(options: { after?: string | null; limit?: number }): Promise<Page<ConsumerView>> {
    const q = new URLSearchParams();
    if (options.after !== undefined && options.after !== null) q.set('after', options.after);
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    return this.#call('GET', `/consumers?${q.toString()}`);
  }
  updateConsumer(ref: string, patch: ConsumerPatch): Promise<ConsumerView> {
    return this.#call('PATCH', `/consumers/${encodeURIComponent(ref)}`, patch);
  }
  async deleteConsumer(ref: string): Promise<void> {
    await this.#call('DELETE', `/consumers/${encodeURIComponent(ref)}`);
  }
  createCredential(ref: string, input: NewCredential): Promise<IssuedCredentialView> {
    return this.#call('POST', `/consumers/${encodeURIComponent(ref)}/credentials`, input);
  }
  async listCredentials(ref: string): Promise<readonly CredentialView[]> {
    const page = await this.#call<{ data: CredentialView[] }>('GET', `/consumers/${encodeURIComponent(ref)}/credentials`);
    return page.data;
  }
  revokeCredential(id: string): Promise<CredentialView> {
    return this.#call('DELETE', `/credentials/${encodeURIComponent(id)}`);
  }
  rotateCredential(id: string, graceSeconds: number): Promise<IssuedCredentialView> {
    return this.#call('POST', `/credentials/${encodeURIComponent(id)}/rotate`, { grace_seconds: graceSeconds });
  }
  expireSet(name: string, inSeconds: number): Promise<{ set_name: string; expires_at: string; updated: number }> {
    return this.#call('POST', `/credential-sets/${encodeURIComponent(name)}/expire`, { in_seconds: inSeconds });
  }

  async importFile(path: string, from: 'ndjson' | 'kong', onProgress: ImportProgress): Promise<ImportReport> {
    const size = statSync(path).size;
    let sent = 0;
    const file = createReadStream(path);
    file.on('data', (chunk) => { sent += chunk.length; onProgress(0, Math.min(sent, size)); });
    return this.#call('POST', `/import?from=${from}`, Readable.toWeb(file) as ReadableStream, from === 'kong' ? 'application/yaml' : 'application/x-ndjson');
  }

  async exportTo(out: Writable): Promise<void> {
    const headers: Record<string, string> = { 'x-keygate-actor': `cli:${process.env.USER ?? 'unknown'}` };
    if (this.#token !== null) headers.authorization = `Bearer ${this.#token}`;
    const res = await fetch(`${this.#base}/export`, { headers });
    if (!res.ok || res.body === null) throw new Error(`export failed: HTTP ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as ReadableStream), out, { end: false });
  }

  async #call<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', 'x-keygate-actor': `cli:${process.env.USER ?? 'unknown'}` };
    if (body !== undefined) headers['content-type'] = contentType ?? 'application/json';
    if (this.#token !== null) headers.authorization = `Bearer ${this.#token}`;
    let res: Response;
    try {
      const payload = body === undefined ? undefined : body instanceof ReadableStream ? body : JSON.stringify(body);
      res = await fetch(this.#base + path, { method, headers, body: payload, ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (err) {
      throw new Error(`cannot reach the admin API at ${this.#base}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.text();
    const parsed: unknown = text === '' ? undefined : JSON.parse(text);
    if (!res.ok) {
      const e = (parsed ?? {}) as { code?: string; message?: string; field?: string };
      throw new OperationError((e.code ?? 'invalid_request') as OperationErrorCodeName, e.message ?? `HTTP ${res.status}`, e.field ?? null);
    }
    return parsed as T;
  }
}
