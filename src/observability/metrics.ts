import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Upper bounds (seconds) of the Check latency histogram. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1];

export interface GaugeSource {
  readonly help: string;
  readonly read: () => number;
}

/**
 * keygate's Prometheus metrics. Decisions are counted in a plain map that prom-client reads when
 * scraped, so a request pays no label hashing.
 */
export class KeygateMetrics {
  readonly registry = new Registry();
  readonly #decisions = new Map<string, number>();
  readonly #latency: Histogram;

  constructor(options: { collectDefault?: boolean; gauges?: Readonly<Record<string, GaugeSource>> } = {}) {
    if (options.collectDefault !== false) collectDefaultMetrics({ register: this.registry, prefix: 'keygate_' });
    const decisions = this.#decisions;
    new Counter({
      name: 'keygate_checks_total',
      help: 'Check decisions by outcome, reason and auth method.',
      labelNames: ['decision', 'reason', 'auth_method'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [key, n] of decisions) {
          const [decision = '', reason = '', authMethod = ''] = key.split('|');
          this.inc({ decision, reason, auth_method: authMethod }, n);
        }
      },
    });
    this.#latency = new Histogram({
      name: 'keygate_check_duration_seconds',
      help: 'Time from a decoded Check request to its decision.',
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    for (const [name, g] of Object.entries(options.gauges ?? {})) {
      new Gauge({ name, help: g.help, registers: [this.registry], collect() { this.set(g.read()); } });
    }
  }

  /** Counts one decision and its latency (seconds). */
  recordCheck(decision: string, reason: string, authMethod: string, seconds: number): void {
    const key = `${decision}|${reason}|${authMethod}`;
    this.#decisions.set(key, (this.#decisions.get(key) ?? 0) + 1);
    this.#latency.observe(seconds);
  }
}
