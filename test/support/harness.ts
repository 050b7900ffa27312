import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import type { Client, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import pg from 'pg';
import type { DestinationStream } from 'pino';
import { Keygate } from '../../src/app.js';
import { loadEnvConfig } from '../../src/config/env-config.js';
import { createLogger } from '../../src/observability/logger.js';

/** The PostgreSQL server the tests use (trust auth on this machine and in CI). */
export const PG_SERVER_URL = process.env.KEYGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.KEYGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/9';
export const TEST_PEPPER = 'test-pepper-0123456789abcdef0123456789abcdef';

/** A fresh database on the test server, dropped by `drop()`. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `keygate_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_SERVER_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_SERVER_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface CheckClient {
  check(request: object): Promise<CheckResponseObject>;
  health(service?: string): Promise<string>;
  close(): void;
}

/** CheckResponse as proto-loader decodes it with defaults off (absent fields stay absent). */
export interface CheckResponseObject {
  status?: { code?: number; message?: string };
  ok_response?: {
    headers?: Array<{ header?: { key?: string; value?: string }; append?: { value?: boolean } | null; append_action?: string }>;
    headers_to_remove?: string[];
    query_parameters_to_remove?: string[];
    response_headers_to_add?: Array<{ header?: { key?: string; value?: string } }>;
  };
  denied_response?: {
    status?: { code?: string };
    headers?: Array<{ header?: { key?: string; value?: string }; append?: { value?: boolean } | null }>;
    body?: string;
  };
  dynamic_metadata?: { fields?: Record<string, { stringValue?: string; listValue?: { values?: Array<{ stringValue?: string }> } }> };
  http_response?: string;
}

const PROTO_ROOT = new URL('../../proto/gen/', import.meta.url).pathname;

/** A real gRPC client (proto-loader + protobufjs: independent of keygate's own codec). */
export function checkClient(port: number): CheckClient {
  const def = loadSync(['envoy/service/auth/v3/external_auth.proto'], {
    includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true,
  });
  const healthDef = loadSync('health/v1/health.proto', {
    includeDirs: [new URL('../../node_modules/grpc-health-check/proto/', import.meta.url).pathname], keepCase: true, enums: String,
  });
  const pkg = loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: ServiceClientConstructor } } } } };
  const hpkg = loadPackageDefinition(healthDef) as unknown as { grpc: { health: { v1: { Health: ServiceClientConstructor } } } };
  const client = new pkg.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, credentials.createInsecure());
  const health = new hpkg.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure());
  const unary = (c: Client, method: string, req: object): Promise<unknown> => new Promise((resolve, reject) => {
    const fn = (c as unknown as Record<string, (r: object, cb: (e: Error | null, r: unknown) => void) => void>)[method];
    if (fn === undefined) { reject(new Error(`no method ${method}`)); return; }
    fn.call(c, req, (err, res) => (err === null ? resolve(res) : reject(err)));
  });
  return {
    check: async (request) => (await unary(client, 'Check', request)) as CheckResponseObject,
    health: async (service = '') => ((await unary(health, 'Check', { service })) as { status: string }).status,
    close: () => { client.close(); health.close(); },
  };
}

export interface Harness {
  readonly app: Keygate;
  readonly client: CheckClient;
  readonly adminUrl: string;
  /** `body` is the parsed JSON, loosely typed on purpose: tests assert on its fields directly (the one `any`, test-only). */
  admin(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** `postgres` (a fresh database) or `embedded` (PGlite in a temp dir). */
  readonly store: 'postgres' | 'embedded';
  readonly redis?: boolean;
  /** Reuse an existing database URL (for multi-replica tests). */
  readonly databaseUrl?: string;
  readonly env?: Record<string, string>;
  /** Where log lines go (default: stdout, at the level of KEYGATE_LOG_LEVEL, silent in tests). */
  readonly logTo?: DestinationStream;
}

/** Starts a real keygate on ephemeral loopback ports with a real store. */
export async function startKeygate(options: StartOptions): Promise<Harness> {
  let dropDb: (() => Promise<void>) | null = null;
  let tempDir: string | null = null;
  const env: Record<string, string> = {
    KEYGATE_GRPC_ADDR: '127.0.0.1:0', KEYGATE_HTTP_ADDR: '127.0.0.1:0', KEYGATE_ADMIN_ADDR: '127.0.0.1:0',
    KEYGATE_LOG_LEVEL: 'silent', KEYGATE_CHANGE_POLL_MS: '200', KEYGATE_CACHE_MAX_ENTRIES: '100000',
  };
  if (options.store === 'postgres') {
    if (options.databaseUrl !== undefined) env.DATABASE_URL = options.databaseUrl;
    else {
      const db = await createTestDatabase();
      env.DATABASE_URL = db.url;
      dropDb = db.drop;
    }
    env.KEYGATE_PEPPER = TEST_PEPPER;
  } else {
    tempDir = mkdtempSync(join(tmpdir(), 'keygate-test-'));
    env.KEYGATE_DATA_DIR = tempDir;
  }
  if (options.redis === true) env.REDIS_URL = REDIS_URL;
  Object.assign(env, options.env ?? {});
  const config = loadEnvConfig(env);
  const app = await Keygate.start({ config, logger: createLogger(config.logLevel, options.logTo), processMetrics: false });
  const client = checkClient(app.grpcPort);
  const adminUrl = `http://127.0.0.1:${app.adminPort}`;
  return {
    app, client, adminUrl,
    async admin(method, path, body, headers = {}) {
      const res = await fetch(adminUrl + path, {
        method, headers: { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
    },
    async close() {
      client.close();
      await app.stop();
      if (dropDb !== null) await dropDb();
      if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true });
    },
  };
}

/** A CheckRequest as Envoy sends it for `curl -H ... http://host/path`. */
export function envoyRequest(opts: { method?: string; host?: string; path?: string; headers?: Record<string, string>; principal?: string; contextExtensions?: Record<string, string> }): object {
  const method = opts.method ?? 'GET';
  const host = opts.host ?? 'api.example.com';
  const path = opts.path ?? '/v1/payments';
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 51234 } }, principal: opts.principal ?? '' },
      destination: { address: { socket_address: { address: '10.0.0.9', port_value: 8080 } } },
      request: {
        http: {
          id: '1234567890',
          method, host, path, scheme: 'https', protocol: 'HTTP/1.1',
          headers: {
            ':authority': host, ':method': method, ':path': path, ':scheme': 'https',
            'user-agent': 'curl/8.5.0', accept: '*/*', 'x-forwarded-proto': 'https',
            'x-request-id': 'd8f2c1a4-5b6e-4f7a-8c9d-0e1f2a3b4c5d',
            ...(opts.headers ?? {}),
          },
        },
      },
      context_extensions: opts.contextExtensions ?? {},
    },
  };
}

/** Headers set on an ok_response, as a name → {value, append} map. */
export function setHeaders(res: CheckResponseObject): Map<string, { value: string; append: boolean | undefined; hasAppend: boolean }> {
  const out = new Map<string, { value: string; append: boolean | undefined; hasAppend: boolean }>();
  for (const h of res.ok_response?.headers ?? []) {
    const key = h.header?.key ?? '';
    out.set(key, { value: h.header?.value ?? '', append: h.append?.value ?? (h.append === undefined || h.append === null ? undefined : false), hasAppend: h.append !== undefined && h.append !== null });
  }
  return out;
}

export function deniedHeader(res: CheckResponseObject, name: string): string | undefined {
  return res.denied_response?.headers?.find((h) => h.header?.key === name)?.header?.value;
}
