import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { Cluster, Redis } from 'ioredis';
import { AdminServer } from './admin/admin-server.js';
import { KeygateOperations } from './admin/operations.js';
import { CredentialCache } from './cache/credential-cache.js';
import { CredentialResolver } from './cache/credential-resolver.js';
import { RedisCredentialCache } from './cache/redis-credential-cache.js';
import type { EnvConfig } from './config/env-config.js';
import { CredentialRegistry } from './credentials/registry.js';
import { generatePepper, SecretHasher } from './credentials/secret-hasher.js';
import type { Logger } from './observability/logger.js';
import { KeygateMetrics } from './observability/metrics.js';
import { CheckPipeline } from './pipeline/check-pipeline.js';
import { PolicyStore, resolvePolicyFile } from './policies/policy-store.js';
import type { PolicySnapshot } from './policies/policy-store.js';
import { AnonymousConsumer } from './credentials/anonymous/anonymous-consumer.js';
import { LegacySecretVerifier } from './credentials/basic-auth/legacy-secrets.js';
import type { CredentialType } from './credentials/credential-type.js';
import { JwtCredential } from './credentials/jwt/jwt-credential.js';
import { IntrospectionCredential } from './credentials/oauth2/introspection-credential.js';
import { Gauge } from 'prom-client';
import { CheckService } from './server/check-service.js';
import { GrpcServer } from './server/grpc-server.js';
import { HttpServer } from './server/http-server.js';
import { ChangeFeed } from './store/change-feed.js';
import { PostgresCredentialSource } from './store/credential-source.js';
import { openEmbeddedStore, openPostgresStore } from './store/database.js';
import type { Store } from './store/database.js';
import { migrateToLatest } from './store/migrations.js';

/** Where a running server tells CLI commands how to reach its admin API (embedded store). */
export const SERVER_FILE = 'server.json';

export interface ServerFile {
  readonly pid: number;
  readonly adminUrl: string;
  readonly grpcPort: number;
  readonly httpPort: number;
}

export interface StartOptions {
  readonly config: EnvConfig;
  readonly logger: Logger;
  /** Collect Node's default process metrics (off in tests that start many servers). */
  readonly processMetrics?: boolean;
}

/** Opens the configured store: PostgreSQL for DATABASE_URL, else PGlite under the data dir. */
export async function openStore(config: EnvConfig): Promise<Store> {
  return config.databaseUrl !== null
    ? openPostgresStore({ url: config.databaseUrl })
    : openEmbeddedStore(config.dataDir);
}

/** The pepper: from the environment, or (embedded store only) generated once and kept in the data dir. */
export function resolvePepper(config: EnvConfig): string {
  if (config.pepper !== null) return config.pepper;
  if (config.databaseUrl !== null) throw new Error('KEYGATE_PEPPER is required with DATABASE_URL');
  const file = join(config.dataDir, 'pepper');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const pepper = generatePepper();
  writeFileSync(file, `${pepper}\n`, { mode: 0o600, flag: 'wx' });
  return pepper;
}

/**
 * One keygate process: gRPC Check + health, HTTP ops port, admin API, caches and change feed,
 * over one store. `start` brings everything up (running migrations); `stop` takes it down.
 */
export class Keygate {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly adminPort: number;
  readonly store: Store;
  readonly cache: CredentialCache;
  readonly resolver: CredentialResolver;
  readonly changeFeed: ChangeFeed;
  readonly operations: KeygateOperations;
  readonly metrics: KeygateMetrics;
  /** The transport-independent Check (decode is the adapter's; used by benchmarks). */
  readonly checkService: CheckService;
  readonly #grpc: GrpcServer;
  readonly #http: HttpServer;
  readonly #admin: AdminServer;
  readonly #redis: Redis | Cluster | null;
  readonly #config: EnvConfig;
  readonly #log: Logger;
  readonly policy: PolicyStore;
  #ready = false;
  #storeTimer: NodeJS.Timeout | null = null;

  private constructor(parts: {
    config: EnvConfig; logger: Logger; store: Store; cache: CredentialCache; resolver: CredentialResolver;
    changeFeed: ChangeFeed; operations: KeygateOperations; metrics: KeygateMetrics; check: CheckService; grpc: GrpcServer; http: HttpServer;
    admin: AdminServer; redis: Redis | Cluster | null; policy: PolicyStore; ports: [number, number, number];
  }) {
    this.#config = parts.config;
    this.#log = parts.logger;
    this.store = parts.store;
    this.cache = parts.cache;
    this.resolver = parts.resolver;
    this.changeFeed = parts.changeFeed;
    this.operations = parts.operations;
    this.metrics = parts.metrics;
    this.checkService = parts.check;
    this.#grpc = parts.grpc;
    this.#http = parts.http;
    this.#admin = parts.admin;
    this.#redis = parts.redis;
    this.policy = parts.policy;
    [this.grpcPort, this.httpPort, this.adminPort] = parts.ports;
  }

  static async start(options: StartOptions): Promise<Keygate> {
    const { config, logger } = options;
    const store = await openStore(config);
    let redis: Redis | Cluster | null = null;
    try {
      await migrateToLatest(store.db);
      const hasher = new SecretHasher(resolvePepper(config));
      const policy = await PolicyStore.open({ file: resolvePolicyFile(config.configFile), logger });
      const cache = new CredentialCache({
        shards: config.cacheShards, maxEntries: config.cacheMaxEntries,
        positiveTtlMs: config.cachePositiveTtlMs, negativeTtlMs: config.cacheNegativeTtlMs,
      });
      redis = connectRedis(config, logger);
      // The start-up replay must reach Redis: wait (briefly) until it is connected.
      if (redis !== null && !(await redisReady(redis, 5_000))) {
        logger.warn('redis not ready after 5 s; starting without it (L2 reads fall through to PostgreSQL until it is)');
      }
      const l2 = redis === null ? null : new RedisCredentialCache({ redis, ttlMs: config.redisTtlMs, negativeTtlMs: config.cacheNegativeTtlMs });
      const source = new PostgresCredentialSource(store.db);
      const resolver = new CredentialResolver({ l1: cache, l2, source, logger });
      const legacySecrets = new LegacySecretVerifier({ source, hasher });
      let runtime = policyRuntime(policy.current(), hasher, legacySecrets);
      policy.onChange((current) => {
        try {
          runtime = policyRuntime(current, hasher, legacySecrets);
        } catch (err) {
          logger.error({ err: err instanceof Error ? err.message : String(err), version: current.version }, 'policy reloaded but its credential settings were refused; the previous ones stay in force');
        }
      });
      const changeFeed = new ChangeFeed({ store, resolver, logger, pollMs: config.changePollMs, replayWindowMs: l2 === null ? 0 : config.redisTtlMs });
      await changeFeed.start();
      const metrics = new KeygateMetrics({
        collectDefault: options.processMetrics !== false,
        gauges: {
          keygate_cache_entries: { help: 'Entries in the in-process credential cache (L1).', read: () => cache.size },
          keygate_cache_bytes: { help: 'Bytes held by the L1 cache buffers.', read: () => cache.stats().bytes },
          keygate_change_feed_last_id: { help: 'Last change-feed id applied to the caches.', read: () => changeFeed.lastId },
          keygate_change_feed_applied: { help: 'Changes applied to the caches since start.', read: () => changeFeed.applied },
          keygate_cache_hits: { help: 'L1 hits since start.', read: () => cache.stats().hits },
          keygate_cache_negative_hits: { help: 'L1 answers of a known-unknown key since start.', read: () => cache.stats().negativeHits },
          keygate_cache_misses: { help: 'L1 misses since start.', read: () => cache.stats().misses },
          keygate_cache_evictions: { help: 'L1 evictions since start.', read: () => cache.stats().evictions },
          keygate_l2_hits: { help: 'Redis (L2) answers since start.', read: () => resolver.stats.l2Hits },
          keygate_l2_errors: { help: 'Redis (L2) errors since start.', read: () => resolver.stats.l2Errors },
          keygate_store_loads: { help: 'PostgreSQL (L3) credential loads since start.', read: () => resolver.stats.l3Loads },
          keygate_store_errors: { help: 'PostgreSQL (L3) load failures since start.', read: () => resolver.stats.l3Errors },
          keygate_loads_coalesced: { help: 'Requests that joined a load already in flight for the same key.', read: () => resolver.stats.coalesced },
        },
      });
      new Gauge({
        name: 'keygate_policy_info', help: 'The policy in force (label version: digest of the file, or builtin).', labelNames: ['version'] as const,
        registers: [metrics.registry], collect() { this.reset(); this.set({ version: policy.version }, 1); },
      });
      const pipeline = new CheckPipeline({
        routes: () => policy.current().routes, registry: () => runtime.registry, resolver, anonymous: () => runtime.anonymous,
      });
      const check = new CheckService({ pipeline, metrics, logger, decisionLog: config.decisionLog });
      const grpc = new GrpcServer({ check });
      const operations = new KeygateOperations({ db: store.db, registry: runtime.registry, hasher, pool: store.pool });
      const admin = new AdminServer({ operations, logger, token: config.adminToken });
      let app: Keygate | null = null;
      const http = new HttpServer({ ready: () => app !== null && app.ready, metrics: metrics.registry, check });
      const grpcPort = await grpc.listen(config.grpcAddr.host, config.grpcAddr.port);
      const httpPort = await http.listen(config.httpAddr.host, config.httpAddr.port);
      const adminPort = await admin.listen(config.adminAddr.host, config.adminAddr.port);
      app = new Keygate({
        config, logger, store, cache, resolver, changeFeed, operations, metrics, check, grpc, http, admin, redis, policy,
        ports: [grpcPort, httpPort, adminPort],
      });
      policy.start();
      app.#ready = true;
      grpc.setServing(true);
      app.#watchStore();
      if (store.kind === 'embedded') app.#writeServerFile();
      logger.info({ grpc: grpcPort, http: httpPort, admin: `${config.adminAddr.host}:${adminPort}`, store: store.kind, redis: redis !== null }, 'keygate serving');
      return app;
    } catch (err) {
      redis?.disconnect();
      await store.close().catch(() => undefined);
      throw err;
    }
  }

  get ready(): boolean {
    return this.#ready;
  }

  async stop(): Promise<void> {
    this.#ready = false;
    if (this.#storeTimer !== null) clearInterval(this.#storeTimer);
    if (this.store.kind === 'embedded') rmSync(join(this.#config.dataDir, SERVER_FILE), { force: true });
    await this.#grpc.close(2_000);
    await Promise.all([this.#http.close(), this.#admin.close()]);
    await this.policy.stop();
    await this.changeFeed.stop();
    this.#redis?.disconnect();
    await this.store.close();
    this.#log.info('keygate stopped');
  }

  /** Health follows the store: NOT_SERVING (and /readyz 503) while PostgreSQL does not answer. */
  #watchStore(): void {
    this.#storeTimer = setInterval(() => {
      sql`SELECT 1`.execute(this.store.db).then(
        () => { if (!this.#ready) this.#log.info('store reachable again'); this.#ready = true; this.#grpc.setServing(true); },
        (err: unknown) => {
          if (this.#ready) this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'store unreachable: health NOT_SERVING');
          this.#ready = false;
          this.#grpc.setServing(false);
        },
      );
    }, 2_000);
    this.#storeTimer.unref();
  }

  #writeServerFile(): void {
    const host = this.#config.adminAddr.host === '0.0.0.0' ? '127.0.0.1' : this.#config.adminAddr.host;
    const file: ServerFile = {
      pid: process.pid,
      adminUrl: `http://${host.includes(':') ? `[${host}]` : host}:${this.adminPort}`,
      grpcPort: this.grpcPort,
      httpPort: this.httpPort,
    };
    writeFileSync(join(this.#config.dataDir, SERVER_FILE), `${JSON.stringify(file)}\n`, { mode: 0o600 });
  }

  /** `METHOD /path/{param}` of every admin route served. */
  adminRouteKeys(): string[] {
    return this.#admin.routeKeys();
  }

  /** The PostgreSQL URL, or null on the embedded store. */
  get databaseUrl(): string | null {
    return this.#config.databaseUrl;
  }
}

/** What the pipeline takes from a policy besides its routes: credential types and the anonymous consumer. */
interface PolicyRuntime {
  readonly registry: CredentialRegistry;
  readonly anonymous: AnonymousConsumer | null;
}

function policyRuntime(snapshot: PolicySnapshot, hasher: SecretHasher, legacySecrets: LegacySecretVerifier): PolicyRuntime {
  const c = snapshot.config;
  const extra: CredentialType[] = [];
  if (c.jwtIssuers.length > 0) extra.push(new JwtCredential({ issuers: c.jwtIssuers }) as CredentialType);
  if (c.introspection.length > 0) extra.push(new IntrospectionCredential({ endpoints: c.introspection }) as CredentialType);
  const registry = new CredentialRegistry({
    hasher,
    apiKeyLocations: { headers: c.credentials.keyAuth.headers, queryParameters: c.credentials.keyAuth.query, bearer: c.credentials.keyAuth.bearer },
    basicHeaders: c.credentials.basicAuth.headers,
    legacySecrets,
    extra,
  });
  return { registry, anonymous: c.anonymousConsumer === null ? null : new AnonymousConsumer(c.anonymousConsumer) };
}

function redisReady(redis: Redis | Cluster, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { redis.off('ready', onReady); resolve(false); }, timeoutMs);
    const onReady = (): void => { clearTimeout(timer); resolve(true); };
    redis.once('ready', onReady);
  });
}

function connectRedis(config: EnvConfig, logger: Logger): Redis | Cluster | null {
  const log = logger.child({ module: 'redis' });
  const common = { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 } as const;
  let client: Redis | Cluster;
  if (config.redisUrl !== null) client = new Redis(config.redisUrl, common);
  else if (config.redisClusterNodes !== null) client = new Cluster([...config.redisClusterNodes], { redisOptions: common, enableOfflineQueue: false });
  else return null;
  let down = false;
  client.on('error', (err: Error) => { if (!down) log.warn({ err: err.message }, 'redis error'); down = true; });
  client.on('ready', () => { if (down) log.info('redis ready'); down = false; });
  return client;
}
