import { existsSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { PolicyConfig } from '../config/policy-types.js';
import type { Logger } from '../observability/logger.js';
import { builtinPolicy, digestOf, parsePolicy, PolicyError } from './policy-file.js';
import { RouteTable } from './route-table.js';

/** The policy in force: swapped as one reference on a good reload, never mutated. */
export interface PolicySnapshot {
  readonly config: PolicyConfig;
  /** The compiled routes (a `RouteMatcher`). */
  readonly routes: RouteTable;
  /** `config.digest`: the value of `keygate_policy_info{version}` (`builtin` without a file). */
  readonly version: string;
  readonly loadedAt: Date;
}

export interface PolicyStoreOptions {
  /** The policy file (`KEYGATE_CONFIG`); null = the built-in policy (see `builtinPolicy`). */
  readonly file: string | null;
  readonly logger: Logger;
  /** Where introspection client secrets are read; `process.env` by default. */
  readonly env?: NodeJS.ProcessEnv;
  /** Quiet time after the last change event before reloading. Default 200 ms. */
  readonly debounceMs?: number;
  /** Stat poll interval, the fallback when fs.watch misses an event or cannot run. Default 2000 ms; 0 = no poll. */
  readonly pollIntervalMs?: number;
  /** Use fs.watch on the file's directory. Default true. */
  readonly watch?: boolean;
}

/** What one reload did. */
export type ReloadOutcome = 'changed' | 'unchanged' | 'rejected';

export interface PolicyStoreStatus {
  readonly version: string;
  readonly loadedAt: Date;
  /** Good reloads that replaced the policy, since open. */
  readonly reloads: number;
  /** Reloads rejected (bad file), since open. */
  readonly rejected: number;
  /** Problems of the last rejected file; null when the last reload attempt succeeded. */
  readonly lastProblems: readonly string[] | null;
}

type Listener = (current: PolicySnapshot, previous: PolicySnapshot) => void;

/**
 * Holds the policy in force. `open` loads the file (a bad file throws PolicyError: fatal at
 * start-up); `start` watches it (fs.watch on its directory — which also sees atomic renames and
 * Kubernetes ConfigMap symlink swaps — plus a stat poll as fallback, debounced) and reloads on
 * change. A bad file on reload is logged and the last good policy stays in force.
 *
 * ```ts
 * const policy = await PolicyStore.open({ file: config.configFile, logger });
 * const pipeline = new CheckPipeline({ routes: () => policy.current().routes, … });
 * policy.start();
 * ```
 */
export class PolicyStore {
  readonly #file: string | null;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #pollIntervalMs: number;
  readonly #useWatch: boolean;
  readonly #listeners = new Set<Listener>();
  #current: PolicySnapshot;
  #reloads = 0;
  #rejected = 0;
  #lastProblems: readonly string[] | null = null;
  #lastRejectedDigest: string | null = null;
  #statSignature = '';
  #watcher: FSWatcher | null = null;
  #poll: NodeJS.Timeout | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #started = false;
  #stopped = false;

  private constructor(options: PolicyStoreOptions, first: PolicySnapshot, log: Logger) {
    this.#file = options.file === null ? null : resolve(options.file);
    this.#env = options.env ?? process.env;
    this.#log = log;
    this.#debounceMs = options.debounceMs ?? 200;
    this.#pollIntervalMs = options.pollIntervalMs ?? 2_000;
    this.#useWatch = options.watch ?? true;
    this.#current = first;
  }

  /** Loads the policy. Throws PolicyError (every problem listed) when the file is missing or bad. */
  static async open(options: PolicyStoreOptions): Promise<PolicyStore> {
    const log = options.logger.child({ module: 'policy' });
    if (options.file === null) {
      const config = builtinPolicy();
      const store = new PolicyStore(options, snapshot(config, log), log);
      log.info({ version: config.digest }, 'no policy file: built-in policy (every request needs an API key)');
      return store;
    }
    const file = resolve(options.file);
    // Stat before reading: a change in between then shows up at the first poll.
    const seen = await signature(file);
    const config = parsePolicy(await readText(file), { env: options.env ?? process.env, file });
    const store = new PolicyStore(options, snapshot(config, log), log);
    store.#statSignature = seen;
    log.info({ file, version: config.digest, routes: config.routes.length }, 'policy loaded');
    return store;
  }

  /** The policy in force. Cheap: read it on every request. */
  current(): PolicySnapshot {
    return this.#current;
  }

  /** The version in force (`keygate_policy_info{version}`). */
  get version(): string {
    return this.#current.version;
  }

  /** The absolute path of the policy file, or null for the built-in policy. */
  get file(): string | null {
    return this.#file;
  }

  status(): PolicyStoreStatus {
    return {
      version: this.#current.version,
      loadedAt: this.#current.loadedAt,
      reloads: this.#reloads,
      rejected: this.#rejected,
      lastProblems: this.#lastProblems,
    };
  }

  /** Called after each good reload that changed the policy (not for the first load). Returns an unsubscribe. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** Starts watching the file. No-op for the built-in policy or when already started. */
  start(): void {
    if (this.#file === null || this.#started || this.#stopped) return;
    this.#started = true;
    const file = this.#file;
    const name = basename(file);
    if (this.#useWatch) {
      try {
        this.#watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
          // The file itself, an editor's rename onto it, or a Kubernetes `..data` symlink swap.
          if (changed === null || changed === name || changed.startsWith('..')) this.#schedule();
        });
        this.#watcher.on('error', (err: Error) => {
          this.#log.warn({ file, err: err.message }, 'policy file watch failed: falling back to polling');
          this.#watcher?.close();
          this.#watcher = null;
        });
      } catch (err) {
        this.#log.warn({ file, err: err instanceof Error ? err.message : String(err) }, 'cannot watch the policy file: polling only');
      }
    }
    if (this.#pollIntervalMs > 0) {
      this.#poll = setInterval(() => {
        void signature(file).then((sig) => { if (sig !== this.#statSignature) this.#schedule(); });
      }, this.#pollIntervalMs);
      this.#poll.unref();
    }
  }

  /** Stops watching; waits for a reload in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#poll !== null) clearInterval(this.#poll);
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#poll = null;
    this.#debounce = null;
    await this.#queue.catch(() => undefined);
  }

  /**
   * Reads the file again now (for SIGHUP, tests). A changed good file replaces the policy; a bad
   * one is logged at error and the last good policy stays. Reloads run one at a time.
   */
  reload(): Promise<ReloadOutcome> {
    const run = this.#queue.then(() => this.#reload());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      void this.reload();
    }, this.#debounceMs);
  }

  async #reload(): Promise<ReloadOutcome> {
    const file = this.#file;
    if (file === null || this.#stopped) return 'unchanged';
    this.#statSignature = await signature(file);
    let text: string;
    try {
      text = await readText(file);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      return this.#reject(file, err.problems, null);
    }
    const digest = digestOf(text);
    if (digest === this.#current.version) {
      this.#lastProblems = null;
      this.#lastRejectedDigest = null;
      return 'unchanged';
    }
    if (digest === this.#lastRejectedDigest) return 'rejected';
    let config: PolicyConfig;
    try {
      config = parsePolicy(text, { env: this.#env, file });
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      return this.#reject(file, err.problems, digest);
    }
    if (this.#stopped) return 'unchanged';
    const previous = this.#current;
    this.#current = snapshot(config, this.#log);
    this.#reloads++;
    this.#lastProblems = null;
    this.#lastRejectedDigest = null;
    this.#log.info({ file, version: config.digest, previous: previous.version, routes: config.routes.length }, 'policy reloaded');
    for (const listener of this.#listeners) {
      try {
        listener(this.#current, previous);
      } catch (err) {
        this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'policy change listener failed');
      }
    }
    return 'changed';
  }

  /** A bad file: logged once per content, counted; the policy in force stays. */
  #reject(file: string, problems: readonly string[], digest: string | null): ReloadOutcome {
    this.#rejected++;
    this.#lastProblems = problems;
    this.#lastRejectedDigest = digest;
    this.#log.error({ file, problems, version: this.#current.version }, 'policy file rejected: keeping the last good policy');
    return 'rejected';
  }
}

/** The file's text; PolicyError (with the file name) when it cannot be read. */
async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new PolicyError([`cannot read the file: ${err instanceof Error ? err.message : String(err)}`], file);
  }
}

function snapshot(config: PolicyConfig, log: Logger): PolicySnapshot {
  return Object.freeze({ config, routes: new RouteTable(config, { logger: log }), version: config.digest, loadedAt: new Date() });
}

/** What the stat poll compares: changes when the file (or the symlink target) is replaced or written. */
async function signature(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * The policy file to use: `KEYGATE_CONFIG` when set, else `./keygate.yaml` when it exists, else
 * null (the built-in policy).
 */
export function resolvePolicyFile(configured: string | null, cwd: string = process.cwd()): string | null {
  if (configured !== null) return configured;
  const fallback = resolve(cwd, 'keygate.yaml');
  return existsSync(fallback) ? fallback : null;
}
