import { closeHttp, listenHttp } from './http-listen.js';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { CheckService } from './check-service.js';
import { FORWARD_AUTH_PREFIX, handleForwardAuth } from './forward-auth.js';

export interface HttpServerOptions {
  /** True once the server started and the store answers. */
  readonly ready: () => boolean;
  readonly metrics: Registry;
  /** Serves HTTP ext_authz / forward-auth under `/authz`. */
  readonly check: CheckService;
}

/**
 * The HTTP port: forward-auth under `/authz/` (see forward-auth.ts), `/healthz` (process up),
 * `/readyz` (can decide), `/metrics` (Prometheus).
 */
export class HttpServer {
  readonly #server: Server;

  constructor(options: HttpServerOptions) {
    this.#server = createServer((req, res) => { void handle(req, res, options); });
    this.#server.keepAliveTimeout = 65_000;
  }

  listen(host: string, port: number): Promise<number> {
    return listenHttp(this.#server, host, port);
  }

  close(): Promise<void> {
    return closeHttp(this.#server);
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  if (path === FORWARD_AUTH_PREFIX || path.startsWith(`${FORWARD_AUTH_PREFIX}/`)) return handleForwardAuth(req, res, options.check);
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
  switch (path) {
    case '/healthz':
      return send(res, 200, 'text/plain', 'ok\n');
    case '/readyz':
      return options.ready() ? send(res, 200, 'text/plain', 'ready\n') : send(res, 503, 'text/plain', 'not ready\n');
    case '/metrics':
      try {
        return send(res, 200, options.metrics.contentType, await options.metrics.metrics());
      } catch {
        return send(res, 500, 'text/plain', 'metrics unavailable\n');
      }
    default:
      return send(res, 404, 'text/plain', 'not found\n');
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
