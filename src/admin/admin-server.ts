import { closeHttp, listenHttp } from '../server/http-listen.js';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { OperationError } from './operation-error.js';
import type { KeygateOperations } from './operations.js';
import { openApiDocument } from './openapi.js';

const MAX_BODY_BYTES = 1024 * 1024;
/** A Kong declarative file is parsed whole: its size is bounded. */
const MAX_KONG_BYTES = 256 * 1024 * 1024;

export interface AdminServerOptions {
  readonly operations: KeygateOperations;
  readonly logger: Logger;
  /** Bearer token; null allows unauthenticated calls (the listener is then loopback-only). */
  readonly token: string | null;
}

type Handler = (ctx: RequestContext) => Promise<Reply>;
interface RequestContext {
  readonly idempotencyKey: string | null;
  /** The request body as a stream, for routes that stream it (import). */
  readonly stream: Readable | null;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly body: unknown;
  readonly actor: string;
}
interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly replayed?: boolean;
  /** A streamed NDJSON body instead of one JSON value. */
  readonly ndjson?: (write: (line: string) => Promise<void>) => Promise<unknown>;
}

/** Fields of a create response that are secrets: never stored for an idempotent replay. */
const SECRET_FIELDS = ['key', 'secret'];

/**
 * Runs a create once per `Idempotency-Key`: a repeat gets the first response again, with
 * `idempotent-replayed: true` — minus any secret, which keygate never stores.
 */
async function idempotent(ops: KeygateOperations, operation: string, c: RequestContext, run: () => Promise<Reply>): Promise<Reply> {
  if (c.idempotencyKey === null) return run();
  const saved = await ops.findIdempotent(operation, c.idempotencyKey);
  if (saved !== null) return { status: saved.status, body: saved.body, replayed: true };
  const reply = await run();
  let stored = reply.body;
  if (typeof stored === 'object' && stored !== null) {
    const copy: Record<string, unknown> = { ...(stored as Record<string, unknown>) };
    for (const f of SECRET_FIELDS) {
      if (f in copy) { delete copy[f]; copy.secret_not_shown_again = true; }
    }
    stored = copy;
  }
  await ops.saveIdempotent(operation, c.idempotencyKey, { status: reply.status, body: stored });
  return reply;
}

/** The admin REST API (JSON): consumers and their credentials. */
export class AdminServer {
  readonly #server: Server;
  readonly #routes: Array<{ method: string; path: string; pattern: RegExp; handler: Handler; stream?: boolean }>;
  readonly #log: Logger;
  readonly #tokenDigest: Buffer | null;
  readonly #operations: KeygateOperations;

  constructor(options: AdminServerOptions) {
    const ops = options.operations;
    this.#operations = ops;
    this.#log = options.logger.child({ module: 'admin' });
    this.#tokenDigest = options.token === null ? null : sha256(options.token);
    const routes: Array<{ method: string; path: string; handler: Handler; stream?: boolean }> = [
      { method: 'POST', path: '/consumers', handler: (c) => idempotent(ops, 'consumer.create', c, async () => ({ status: 201, body: await ops.createConsumer(fields(c.body, ['username', 'custom_id', 'roles', 'metadata']), c.actor) })) },
      { method: 'GET', path: '/consumers', handler: async (c) => ({ status: 200, body: await ops.listConsumers({ after: c.query.get('after'), limit: intParam(c.query, 'limit') }) }) },
      { method: 'GET', path: '/consumers/{ref}', handler: async (c) => ({ status: 200, body: await ops.getConsumer(p(c, 0)) }) },
      { method: 'PATCH', path: '/consumers/{ref}', handler: async (c) => ({ status: 200, body: await ops.updateConsumer(p(c, 0), fields(c.body, ['custom_id', 'roles', 'status', 'metadata']), c.actor) }) },
      { method: 'DELETE', path: '/consumers/{ref}', handler: async (c) => { await ops.deleteConsumer(p(c, 0), c.actor); return { status: 204 }; } },
      { method: 'POST', path: '/consumers/{ref}/credentials', handler: (c) => idempotent(ops, `credential.create:${p(c, 0)}`, c, async () => ({ status: 201, body: await ops.createCredential(p(c, 0), fields(c.body, ['type', 'lookup', 'scopes', 'set_name', 'ttl_seconds', 'not_before', 'expires_at']), c.actor) })) },
      { method: 'GET', path: '/consumers/{ref}/credentials', handler: async (c) => ({ status: 200, body: { data: await ops.listCredentials(p(c, 0)) } }) },
      { method: 'DELETE', path: '/credentials/{id}', handler: async (c) => ({ status: 200, body: await ops.revokeCredential(p(c, 0), c.actor) }) },
      { method: 'POST', path: '/credentials/{id}/rotate', handler: async (c) => ({ status: 201, body: await ops.rotateCredential(p(c, 0), num(fields<{ grace_seconds?: unknown }>(c.body, ['grace_seconds']).grace_seconds ?? 0, 'grace_seconds'), c.actor) }) },
      { method: 'POST', path: '/credential-sets/{name}/expire', handler: async (c) => ({ status: 200, body: await ops.expireSet(p(c, 0), num(fields<{ in_seconds?: unknown }>(c.body, ['in_seconds']).in_seconds, 'in_seconds'), c.actor) }) },
      { method: 'POST', path: '/import', stream: true, handler: async (c) => {
        const from = c.query.get('from') ?? 'ndjson';
        if (c.stream === null) throw new OperationError('invalid_request', 'no body');
        if (from === 'ndjson') return { status: 200, body: await ops.importNdjson(c.stream, c.actor) };
        if (from === 'kong') return { status: 200, body: await ops.importKong(await readText(c.stream, MAX_KONG_BYTES), c.actor) };
        throw new OperationError('invalid_request', 'from must be ndjson or kong', 'from');
      } },
      { method: 'GET', path: '/export', handler: async () => ({ status: 200, ndjson: (write) => ops.exportNdjson(write) }) },
      { method: 'GET', path: '/openapi.json', handler: async () => ({ status: 200, body: openApiDocument() }) },
    ];
    this.#routes = routes.map((r) => ({ ...r, pattern: templatePattern(r.path) }));
    this.#server = createServer((req, res) => { void this.#handle(req, res); });
  }

  /** `METHOD /path/{param}` of every route served. */
  routeKeys(): string[] {
    return this.#routes.map((r) => `${r.method} ${r.path}`);
  }

  listen(host: string, port: number): Promise<number> {
    return listenHttp(this.#server, host, port);
  }

  close(): Promise<void> {
    return closeHttp(this.#server);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    try {
      const actor = this.#authenticate(req);
      const path = url.pathname.replace(/\/+$/, '') || '/';
      let allowed = false;
      for (const route of this.#routes) {
        const m = route.pattern.exec(path);
        if (m === null) continue;
        allowed = true;
        if (route.method !== req.method) continue;
        const streamed = route.stream === true;
        const body = !streamed && (req.method === 'POST' || req.method === 'PATCH') ? await readJson(req) : undefined;
        const params = m.slice(1).map((s) => decodeURIComponent(s));
        const rawKey = req.headers['idempotency-key'];
        const idempotencyKey = typeof rawKey === 'string' && rawKey !== '' ? rawKey : null;
        if (idempotencyKey !== null && idempotencyKey.length > 255) throw new OperationError('invalid_request', 'Idempotency-Key is longer than 255 characters', 'Idempotency-Key');
        const reply = await route.handler({ params, query: url.searchParams, body, actor, idempotencyKey, stream: streamed ? req : null });
        if (reply.replayed === true) res.setHeader('idempotent-replayed', 'true');
        if (reply.ndjson !== undefined) return await streamNdjson(res, reply.status, reply.ndjson);
        return sendJson(res, reply.status, reply.body);
      }
      if (allowed) throw new OperationError('invalid_request', `method ${req.method ?? ''} not allowed on ${path}`);
      throw new OperationError('not_found', `no admin route ${path}`);
    } catch (err) {
      if (err instanceof OperationError) {
        // Let the client finish sending what it sends, so it can read the answer.
        if (!req.readableEnded) req.resume();
        return sendJson(res, err.status, { code: err.code, message: err.message, ...(err.field === null ? {} : { field: err.field }) });
      }
      // Not an operation error: if the store does not answer either, it is an outage (503).
      if (!(await this.#operations.ping())) {
        this.#log.error({ err: String(err) }, 'admin: store unavailable');
        return sendJson(res, 503, { code: 'store_unavailable', message: 'the store is unavailable' });
      }
      this.#log.error({ err: err instanceof Error ? err.stack : String(err), path: url.pathname }, 'admin: unexpected error');
      return sendJson(res, 500, { code: 'internal_error', message: 'internal error' });
    }
  }

  /** Who acts, for the audit log: the credential used, and on whose behalf a client says it acts. */
  #authenticate(req: IncomingMessage): string {
    const onBehalf = req.headers['x-keygate-actor'];
    const via = typeof onBehalf === 'string' && /^[\w.@:+-]{1,128}$/.test(onBehalf) ? ` (${onBehalf})` : '';
    return this.#checkToken(req) + via;
  }

  #checkToken(req: IncomingMessage): string {
    if (this.#tokenDigest === null) return 'admin';
    const header = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/i.exec(header);
    if (m?.[1] === undefined || !timingSafeEqual(sha256(m[1]), this.#tokenDigest)) {
      throw new OperationError('unauthorized', 'a valid admin bearer token is required');
    }
    return 'admin-token';
  }
}

/** `/consumers/{ref}` → a RegExp with one capture per `{param}` (one path segment each). */
function templatePattern(template: string): RegExp {
  const source = template.split('/').map((seg) => (/^\{\w+\}$/.test(seg) ? '([^/]+)' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
  return new RegExp(`^${source}$`);
}

function p(c: RequestContext, i: number): string {
  return c.params[i] ?? '';
}

function num(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new OperationError('invalid_request', `${field} must be a whole number`, field);
  return v;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^\d{1,7}$/.test(v)) throw new OperationError('invalid_request', `${name} must be a whole number`, name);
  return Number(v);
}

/** The body as an object with only `allowed` keys; an unknown key is a 400 naming it. */
function fields<T>(body: unknown, allowed: readonly string[]): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OperationError('invalid_request', 'the body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw new OperationError('invalid_request', `unknown field ${JSON.stringify(key)}`, key);
  }
  return body as T;
}

async function readText(stream: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) throw new OperationError('payload_too_large', `the body is larger than ${max} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new OperationError('payload_too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`);
  const text = await readText(req, MAX_BODY_BYTES);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new OperationError('invalid_request', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Streams lines, honouring back-pressure; a failure midway ends the stream without a last line. */
async function streamNdjson(res: ServerResponse, status: number, produce: (write: (line: string) => Promise<void>) => Promise<unknown>): Promise<void> {
  res.writeHead(status, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  try {
    await produce(async (line) => {
      if (!res.write(line)) await new Promise((resolve) => res.once('drain', resolve));
    });
    res.end();
  } catch {
    res.destroy();
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
