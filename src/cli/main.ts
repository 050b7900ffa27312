import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Keygate, openStore, resolvePepper, SERVER_FILE } from '../app.js';
import type { ServerFile } from '../app.js';
import { OperationError } from '../admin/operation-error.js';
import { KeygateOperations } from '../admin/operations.js';
import type { ConsumerView, CredentialView, IssuedCredentialView } from '../admin/operations.js';
import { ConfigError, loadEnvConfig } from '../config/env-config.js';
import type { EnvConfig } from '../config/env-config.js';
import { CredentialRegistry } from '../credentials/registry.js';
import { SecretHasher } from '../credentials/secret-hasher.js';
import { createLogger } from '../observability/logger.js';
import { dataDirHolder } from '../store/data-dir-lock.js';
import { migrateToLatest } from '../store/migrations.js';
import { AdminClient } from './admin-client.js';
import type { OperationsClient } from './admin-client.js';
import { parseDuration } from './duration.js';
import { progressBar } from './progress.js';
import { seedConsumers } from '../admin/seed.js';

const USAGE = `keygate — external authorization for Envoy and Istio

Usage:
  keygate serve                                  run the server (gRPC :9191, HTTP :9192, admin 127.0.0.1:9193)
  keygate migrate                                bring the database schema up to date
  keygate consumer create USERNAME [--roles a,b] [--custom-id ID]
  keygate consumer get USERNAME|ID
  keygate consumer list [--after ID] [--limit N]
  keygate consumer suspend|activate USERNAME|ID
  keygate consumer delete USERNAME|ID
  keygate credential create USERNAME|ID [--type key-auth|basic-auth] [--scopes a,b] [--set NAME] [--ttl 24h]
  keygate credential create USERNAME|ID --type mtls|jwt|oauth2 --lookup SPIFFE_ID|SUBJECT|CLIENT_ID
  keygate credential list USERNAME|ID
  keygate credential revoke CREDENTIAL_ID
  keygate credential rotate CREDENTIAL_ID [--grace 24h]
  keygate set expire SET_NAME --in 24h
  keygate import FILE [--from ndjson|kong]       bulk import (NDJSON: one consumer per line; Kong: decK / db_export file)
  keygate export [--out FILE]                    every consumer and live credential as NDJSON (hashes only)
  keygate seed --consumers N [--keys-out FILE]   synthetic consumers with one API key each (benchmarks)

Options:
  --json              machine-readable output
  --admin-url URL     talk to a running server's admin API (default: direct to the store, or the
                      running embedded server found in ./.keygate/server.json)

Environment: DATABASE_URL, KEYGATE_PEPPER, REDIS_URL, KEYGATE_*_ADDR, KEYGATE_ADMIN_TOKEN (see README).`;

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      'admin-url': { type: 'string' },
      roles: { type: 'string' },
      'custom-id': { type: 'string' },
      after: { type: 'string' },
      limit: { type: 'string' },
      type: { type: 'string', default: 'key-auth' },
      scopes: { type: 'string' },
      set: { type: 'string' },
      ttl: { type: 'string' },
      lookup: { type: 'string' },
      grace: { type: 'string' },
      in: { type: 'string' },
      consumers: { type: 'string' },
      'keys-out': { type: 'string' },
      from: { type: 'string', default: 'ndjson' },
      out: { type: 'string' },
    },
  });
  const [command, sub, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  let config: EnvConfig;
  try {
    config = loadEnvConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`keygate: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const out = (human: string, json: unknown): void => { console.log(values.json ? JSON.stringify(json, null, 2) : human); };

  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate': {
      const store = await openStore(config);
      try {
        const result = await migrateToLatest(store.db);
        const applied = (result.results ?? []).map((r) => r.migrationName);
        out(applied.length === 0 ? 'schema is up to date' : `applied: ${applied.join(', ')}`, { applied });
      } finally {
        await store.close();
      }
      return 0;
    }
    case 'seed':
      return seed(config, values.consumers, values['keys-out']);
    case 'consumer':
    case 'credential':
    case 'import':
    case 'export':
    case 'set':
      return withClient(config, values['admin-url'], async (client) => {
        const arg = rest[0];
        const need = (what: string): string => {
          if (arg === undefined) throw new UsageError(`missing ${what}`);
          return arg;
        };
        if (command === 'export') {
          const file = values.out === undefined ? process.stdout : createWriteStream(values.out, { mode: 0o600 });
          await client.exportTo(file);
          if (file !== process.stdout) await new Promise<void>((resolve) => { file.end(() => resolve()); });
          return 0;
        }
        if (command === 'import') {
          const path = sub;
          if (path === undefined) throw new UsageError('import needs a FILE');
          const from = values.from;
          if (from !== 'ndjson' && from !== 'kong') throw new UsageError('--from must be ndjson or kong');
          const size = statSync(path).size;
          const bar = progressBar(`importing ${path}`);
          const report = await client.importFile(path, from, (_lines, bytes) => bar.update(bytes, size));
          bar.update(size, size);
          bar.done();
          const rejected = report.rejected.map((r) => `  line ${r.line}: ${r.reason}`);
          out([
            `${report.lines} lines in ${report.seconds.toFixed(1)} s: consumers ${report.consumersInserted} new, ${report.consumersUpdated} updated, ${report.consumersUnchanged} unchanged; credentials ${report.credentialsInserted} new, ${report.credentialsSkipped} already there`,
            ...(report.rejectedCount > 0 ? [`${report.rejectedCount} lines rejected${report.rejectedCount > rejected.length ? ` (first ${rejected.length})` : ''}:`, ...rejected] : []),
            ...report.warnings.map((w) => `  warning: line ${w.line}: ${w.reason}`),
          ].join('\n'), report);
          return report.rejectedCount > 0 ? 4 : 0;
        }
        if (command === 'set') {
          if (sub !== 'expire') throw new UsageError(`unknown set command ${JSON.stringify(sub ?? '')}`);
          const inMs = values.in === undefined ? null : parseDuration(values.in);
          if (inMs === null) throw new UsageError('set expire needs --in DURATION, e.g. --in 24h');
          const r = await client.expireSet(need('SET_NAME'), Math.round(inMs / 1000));
          out(`set ${r.set_name}: ${r.updated} credentials expire at ${r.expires_at} (or earlier)`, r);
          return 0;
        }
        if (command === 'consumer') {
          switch (sub) {
            case 'create': {
              const c = await client.createConsumer({ username: need('USERNAME'), roles: list(values.roles), custom_id: values['custom-id'] ?? null });
              out(`created consumer ${c.username} (${c.id}) roles=${c.roles.join(',')}`, c);
              return 0;
            }
            case 'get': {
              const c = await client.getConsumer(need('USERNAME|ID'));
              out(consumerLine(c), c);
              return 0;
            }
            case 'list': {
              const page = await client.listConsumers({ after: values.after ?? null, limit: values.limit === undefined ? undefined : Number(values.limit) });
              out([...page.data.map(consumerLine), page.next === null ? '' : `next: --after ${page.next}`].filter((l) => l !== '').join('\n'), page);
              return 0;
            }
            case 'suspend':
            case 'activate': {
              const c = await client.updateConsumer(need('USERNAME|ID'), { status: sub === 'suspend' ? 'suspended' : 'active' });
              out(consumerLine(c), c);
              return 0;
            }
            case 'delete': {
              const ref = need('USERNAME|ID');
              await client.deleteConsumer(ref);
              out(`deleted consumer ${ref}`, { deleted: ref });
              return 0;
            }
            default:
              throw new UsageError(`unknown consumer command ${JSON.stringify(sub ?? '')}`);
          }
        }
        switch (sub) {
          case 'create': {
            const ttl = values.ttl === undefined ? null : parseDuration(values.ttl);
            if (ttl === null && values.ttl !== undefined) throw new UsageError(`--ttl ${values.ttl}: use a duration like 90s, 30m, 24h, 7d`);
            const issued = await client.createCredential(need('USERNAME|ID'), {
              type: values.type ?? 'key-auth', scopes: list(values.scopes), set_name: values.set ?? null,
              ttl_seconds: ttl === null ? null : Math.round(ttl / 1000),
              ...(values.lookup === undefined ? {} : { lookup: values.lookup }),
            });
            out(issuedText(issued), issued);
            return 0;
          }
          case 'rotate': {
            const grace = values.grace === undefined ? 0 : parseDuration(values.grace);
            if (grace === null) throw new UsageError(`--grace ${values.grace ?? ''}: use a duration like 1h or 24h`);
            const issued = await client.rotateCredential(need('CREDENTIAL_ID'), Math.round(grace / 1000));
            out(issuedText(issued), issued);
            return 0;
          }
          case 'list': {
            const creds = await client.listCredentials(need('USERNAME|ID'));
            out(creds.map(credentialLine).join('\n'), { data: creds });
            return 0;
          }
          case 'revoke': {
            const c = await client.revokeCredential(need('CREDENTIAL_ID'));
            out(`revoked ${c.id} at ${c.revoked_at ?? ''}`, c);
            return 0;
          }
          default:
            throw new UsageError(`unknown credential command ${JSON.stringify(sub ?? '')}`);
        }
      });
    default:
      console.error(`keygate: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

class UsageError extends Error {}

/** `keygate seed`: straight into the store (not through a server: it is bulk work). */
async function seed(config: EnvConfig, count: string | undefined, keysOut: string | undefined): Promise<number> {
  const n = Number(count);
  if (count === undefined || !Number.isInteger(n) || n < 1 || n > 100_000_000) {
    console.error('keygate: seed needs --consumers N (1 to 100000000)');
    return 2;
  }
  if (config.databaseUrl === null && dataDirHolder(config.dataDir) !== null) {
    console.error(`keygate: a server holds the embedded store in ${config.dataDir}; stop it to seed, or seed PostgreSQL with DATABASE_URL`);
    return 1;
  }
  const store = await openStore(config);
  const out = keysOut === undefined ? null : createWriteStream(keysOut, { mode: 0o600 });
  try {
    await migrateToLatest(store.db);
    const keyAuth = new CredentialRegistry({ hasher: new SecretHasher(resolvePepper(config)) }).keyAuth;
    const bar = progressBar('seeding');
    const result = await seedConsumers({
      db: store.db, keyAuth, consumers: n, onProgress: bar.update,
      onKeys: out === null ? undefined : (keys) => { out.write(`${keys.join('\n')}\n`); },
    });
    bar.done();
    console.log(`seeded ${result.consumers} consumers in ${result.seconds.toFixed(1)} s${keysOut === undefined ? '' : `; keys in ${keysOut}`}`);
    return 0;
  } finally {
    if (out !== null) await new Promise((resolve) => out.end(resolve));
    await store.close();
  }
}

async function serve(config: EnvConfig): Promise<number> {
  const logger = createLogger(config.logLevel);
  const app = await Keygate.start({ config, logger });
  // SIGHUP re-reads the policy file at once (it is also watched).
  const reload = (): void => { void app.policy.reload(); };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGHUP', reload);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await app.stop();
  return 0;
}

/**
 * Runs `fn` against the admin API (with --admin-url, or a running embedded server), or straight
 * against the store. The embedded store is single-process: while a server holds it, CLI
 * commands must go through that server.
 */
async function withClient(config: EnvConfig, adminUrl: string | undefined, fn: (client: OperationsClient) => Promise<number>): Promise<number> {
  try {
    const url = adminUrl ?? process.env.KEYGATE_ADMIN_URL ?? (config.databaseUrl === null ? await runningServerUrl(config.dataDir) : null);
    if (url !== null) return await fn(new AdminClient(url, config.adminToken));
    const store = await openStore(config);
    try {
      await migrateToLatest(store.db);
      const hasher = new SecretHasher(resolvePepper(config));
      const registry = new CredentialRegistry({ hasher });
      const ops = new KeygateOperations({ db: store.db, registry, hasher, pool: store.pool });
      const actor = `cli:${process.env.USER ?? 'unknown'}`;
      return await fn({
        createConsumer: (i) => ops.createConsumer(i, actor),
        getConsumer: (r) => ops.getConsumer(r),
        listConsumers: (o) => ops.listConsumers(o),
        updateConsumer: (r, p) => ops.updateConsumer(r, p, actor),
        deleteConsumer: (r) => ops.deleteConsumer(r, actor),
        createCredential: (r, i) => ops.createCredential(r, i, actor),
        listCredentials: (r) => ops.listCredentials(r),
        revokeCredential: (id) => ops.revokeCredential(id, actor),
        rotateCredential: (id, g) => ops.rotateCredential(id, g, actor),
        expireSet: (n, i) => ops.expireSet(n, i, actor),
        exportTo: async (outStream) => {
          await ops.exportNdjson((line) => (outStream.write(line) ? undefined : new Promise<void>((resolve) => outStream.once('drain', () => resolve()))));
        },
        importFile: async (path, from, onProgress) => (from === 'kong'
          ? ops.importKong(readFileSync(path, 'utf8'), actor, onProgress)
          : ops.importNdjson(createReadStream(path), actor, onProgress)),
      });
    } finally {
      await store.close();
    }
  } catch (err) {
    if (err instanceof OperationError) {
      console.error(`keygate: ${err.code}: ${err.message}`);
      return err.code === 'not_found' ? 3 : 1;
    }
    if (err instanceof UsageError) {
      console.error(`keygate: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

/**
 * The admin URL of the server holding the embedded store, waiting while one is starting (it
 * holds the lock before it writes server.json); null when no server holds it.
 */
async function runningServerUrl(dataDir: string): Promise<string | null> {
  const file = join(dataDir, SERVER_FILE);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const holder = dataDirHolder(dataDir);
    if (holder === null) return null;
    if (existsSync(file)) {
      try {
        const info = JSON.parse(readFileSync(file, 'utf8')) as ServerFile;
        if (info.pid === holder) return info.adminUrl;
      } catch {
        // being written: look again
      }
    }
    if (Date.now() > deadline) throw new Error(`process ${holder} holds ${dataDir} but serves no admin API`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function consumerLine(c: ConsumerView): string {
  return `${c.id}  ${c.username}  ${c.status}  roles=${c.roles.join(',')}${c.custom_id === null ? '' : `  custom_id=${c.custom_id}`}`;
}

function issuedText(issued: IssuedCredentialView): string {
  const c = issued.credential;
  const lines: string[] = [];
  if (issued.key !== undefined) lines.push(issued.key, '');
  if (issued.key_id !== undefined) lines.push(`key_id: ${issued.key_id}`, `secret: ${issued.secret ?? ''}`, '');
  lines.push(`credential ${c.id} (${c.type}) for consumer ${c.consumer_id}${c.expires_at === null ? '' : `, expires ${c.expires_at}`}${c.rotated_from === null ? '' : `, rotated from ${c.rotated_from}`}`);
  if (issued.key !== undefined || issued.secret !== undefined) lines.push('The secret is shown only now: keygate stores its hash, not the secret.');
  return lines.join('\n');
}

function credentialLine(c: CredentialView): string {
  const state = c.revoked_at !== null ? 'revoked' : c.expires_at !== null && Date.parse(c.expires_at) <= Date.now() ? 'expired' : 'active';
  return `${c.id}  ${c.type}  ${c.display_prefix ?? ''}…  ${state}${c.expires_at === null ? '' : `  expires=${c.expires_at}`}${c.set_name === null ? '' : `  set=${c.set_name}`}`;
}
