import { isIP } from 'node:net';

/**
 * Process configuration from the environment: parsed once, validated, frozen. A malformed value
 * is fatal at start-up with every problem listed; nothing is coerced to a default.
 */
export interface EnvConfig {
  readonly grpcAddr: HostPort;
  readonly httpAddr: HostPort;
  readonly adminAddr: HostPort;
  readonly adminToken: string | null;
  /** PostgreSQL URL; null means the embedded PGlite store under `dataDir`. */
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  readonly redisUrl: string | null;
  readonly redisClusterNodes: readonly HostPort[] | null;
  /** HMAC pepper for API keys and generated secrets; null only with the embedded store (then generated). */
  readonly pepper: string | null;
  readonly configFile: string | null;
  readonly logLevel: string;
  readonly cacheMaxEntries: number;
  readonly cacheShards: number;
  readonly cachePositiveTtlMs: number;
  readonly cacheNegativeTtlMs: number;
  readonly redisTtlMs: number;
  readonly changePollMs: number;
  readonly decisionLog: boolean;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Reads and validates the environment; throws ConfigError listing every problem. */
export function loadEnvConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const problems: string[] = [];
  const str = (name: string): string | null => {
    const v = env[name];
    return v === undefined || v === '' ? null : v;
  };
  const addr = (name: string, fallback: string): HostPort => {
    const raw = str(name) ?? fallback;
    const parsed = parseHostPort(raw);
    if (parsed === null) {
      problems.push(`${name}=${JSON.stringify(raw)} is not host:port (port 0-65535)`);
      return { host: '127.0.0.1', port: 0 };
    }
    return parsed;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === null) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return Number(raw);
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = str(name);
    if (raw === null) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    problems.push(`${name}=${JSON.stringify(raw)} must be true or false`);
    return fallback;
  };

  const adminAddr = addr('KEYGATE_ADMIN_ADDR', '127.0.0.1:9193');
  const adminToken = str('KEYGATE_ADMIN_TOKEN');
  if (adminToken === null && !isLoopback(adminAddr.host)) {
    problems.push(`KEYGATE_ADMIN_ADDR=${adminAddr.host}:${adminAddr.port} is not a loopback address: set KEYGATE_ADMIN_TOKEN to expose the admin API`);
  }
  if (adminToken !== null && adminToken.length < 16) problems.push('KEYGATE_ADMIN_TOKEN must be at least 16 characters');

  const databaseUrl = str('DATABASE_URL');
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  const pepper = str('KEYGATE_PEPPER');
  if (databaseUrl !== null && pepper === null) problems.push('KEYGATE_PEPPER is required with DATABASE_URL (every replica must hash keys with the same pepper)');
  if (pepper !== null && pepper.length < 32) problems.push('KEYGATE_PEPPER must be at least 32 characters');

  const redisUrl = str('REDIS_URL');
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must start with redis:// or rediss://');
  const clusterRaw = str('REDIS_CLUSTER_NODES');
  let redisClusterNodes: HostPort[] | null = null;
  if (clusterRaw !== null) {
    redisClusterNodes = [];
    for (const part of clusterRaw.split(',')) {
      const hp = parseHostPort(part.trim());
      if (hp === null) problems.push(`REDIS_CLUSTER_NODES entry ${JSON.stringify(part)} is not host:port`);
      else redisClusterNodes.push(hp);
    }
  }
  if (redisUrl !== null && redisClusterNodes !== null) problems.push('set REDIS_URL or REDIS_CLUSTER_NODES, not both');

  const logLevel = str('KEYGATE_LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) problems.push(`KEYGATE_LOG_LEVEL=${JSON.stringify(logLevel)} must be one of ${[...LOG_LEVELS].join(', ')}`);
  const cacheShards = int('KEYGATE_CACHE_SHARDS', 64, 1, 4096);
  if ((cacheShards & (cacheShards - 1)) !== 0) problems.push(`KEYGATE_CACHE_SHARDS=${cacheShards} must be a power of two`);

  const config: EnvConfig = {
    grpcAddr: addr('KEYGATE_GRPC_ADDR', '0.0.0.0:9191'),
    httpAddr: addr('KEYGATE_HTTP_ADDR', '0.0.0.0:9192'),
    adminAddr,
    adminToken,
    databaseUrl,
    dataDir: str('KEYGATE_DATA_DIR') ?? './.keygate',
    redisUrl,
    redisClusterNodes,
    pepper,
    configFile: str('KEYGATE_CONFIG'),
    logLevel,
    cacheMaxEntries: int('KEYGATE_CACHE_MAX_ENTRIES', 2_000_000, 1_000, 100_000_000),
    cacheShards,
    cachePositiveTtlMs: int('KEYGATE_CACHE_TTL_MS', 600_000, 0, 86_400_000),
    cacheNegativeTtlMs: int('KEYGATE_CACHE_NEGATIVE_TTL_MS', 30_000, 0, 3_600_000),
    redisTtlMs: int('KEYGATE_REDIS_TTL_MS', 300_000, 1_000, 86_400_000),
    changePollMs: int('KEYGATE_CHANGE_POLL_MS', 1_000, 50, 60_000),
    decisionLog: bool('KEYGATE_DECISION_LOG', false),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** Parses `host:port`, `[v6]:port` or `:port`. */
export function parseHostPort(raw: string): HostPort | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(raw);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}
