import type { CheckInput } from '../pipeline/check-input.js';
import type { CheckPipeline } from '../pipeline/check-pipeline.js';
import type { Decision } from '../pipeline/decision.js';
import { Reason } from '../pipeline/reason-codes.js';
import type { Logger } from '../observability/logger.js';
import type { KeygateMetrics } from '../observability/metrics.js';
import type { CheckResponseModel } from './check-response-model.js';
import { toCheckResponse } from './envoy-response.js';

const GRPC_INTERNAL = 13;

/**
 * The transport-side of a Check: runs the pipeline, turns any fault into a denied answer (never
 * an RPC error, so fail-closed holds even under Envoy's `failure_mode_allow`), counts and logs.
 */
export class CheckService {
  readonly #pipeline: CheckPipeline;
  readonly #metrics: KeygateMetrics;
  readonly #log: Logger;
  readonly #decisionLog: boolean;

  constructor(options: { pipeline: CheckPipeline; metrics: KeygateMetrics; logger: Logger; decisionLog: boolean }) {
    this.#pipeline = options.pipeline;
    this.#metrics = options.metrics;
    this.#log = options.logger.child({ module: 'check' });
    this.#decisionLog = options.decisionLog;
  }

  /** Answers one request; the callback form keeps a cache hit free of promise ticks. */
  check(input: CheckInput, done: (response: CheckResponseModel) => void): void {
    const started = process.hrtime.bigint();
    let decided: Decision | Promise<Decision>;
    try {
      decided = this.#pipeline.decide(input);
    } catch (err) {
      done(this.#internalError(input, err, started));
      return;
    }
    if (decided instanceof Promise) {
      decided.then(
        (d) => done(this.#respond(input, d, started)),
        (err: unknown) => done(this.#internalError(input, err, started)),
      );
    } else {
      done(this.#respond(input, decided, started));
    }
  }

  /** The answer to a request that could not even be decoded. */
  undecodable(err: unknown): CheckResponseModel {
    this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'undecodable CheckRequest');
    this.#metrics.recordCheck('deny', Reason.internal_error, '', 0);
    return internalErrorResponse('');
  }

  #respond(input: CheckInput, decision: Decision, started: bigint): CheckResponseModel {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const method = decision.identity?.method ?? '';
    const reason = decision.kind === 'deny' ? decision.reason : decision.degraded ?? '';
    this.#metrics.recordCheck(decision.kind, reason, method, seconds);
    if (this.#decisionLog) {
      this.#log.info({
        request_id: input.requestId, decision: decision.kind, reason, route: decision.route?.name,
        consumer_id: decision.identity?.record.consumerId, auth_method: method,
        method: input.method, host: input.host, path: input.path, status: decision.kind === 'deny' ? decision.status : 200,
      }, 'decision');
    } else if (decision.kind === 'deny' && this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ request_id: input.requestId, reason, route: decision.route?.name, path: input.path, status: decision.status }, 'denied');
    }
    return toCheckResponse(decision, input.requestId);
  }

  #internalError(input: CheckInput, err: unknown, started: bigint): CheckResponseModel {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.#metrics.recordCheck('deny', Reason.internal_error, '', seconds);
    this.#log.error({ request_id: input.requestId, err: err instanceof Error ? err.stack : String(err) }, 'check failed');
    return internalErrorResponse(input.requestId);
  }
}

function internalErrorResponse(requestId: string): CheckResponseModel {
  return {
    kind: 'denied',
    grpcCode: GRPC_INTERNAL,
    message: Reason.internal_error,
    httpStatus: 500,
    headers: [['content-type', 'application/json'], ['x-keygate-reason', Reason.internal_error]],
    body: JSON.stringify({ error: Reason.internal_error, message: 'Authorization failed', request_id: requestId }),
    dynamicMetadata: { reason: Reason.internal_error },
  };
}
