import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { ServiceDefinition, ServerUnaryCall, sendUnaryData, UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { CheckInput } from '../pipeline/check-input.js';
import type { CheckResponseModel } from './check-response-model.js';
import { decodeCheckRequest } from './check-request-decoder.js';
import { encodeCheckResponse } from './check-response-encoder.js';
import type { CheckService } from './check-service.js';
import { loadAuthorizationService } from './envoy-protos.js';

/** A request that could not be decoded; answered with a denial, never an RPC error. */
interface Undecodable {
  readonly undecodable: unknown;
}
type DecodedCheck = CheckInput | Undecodable;

export interface GrpcServerOptions {
  readonly check: CheckService;
  /** Max concurrent streams per HTTP/2 connection (Envoy multiplexes Checks on few connections). */
  readonly maxConcurrentStreams?: number;
}

/**
 * `envoy.service.auth.v3.Authorization/Check` and `grpc.health.v1.Health` on @grpc/grpc-js.
 * The method's path and shape come from proto-loader's service definition; its (de)serializers
 * are keygate's own codec, which reads only what the decision needs.
 */
export class GrpcServer {
  readonly #server: Server;
  readonly #health = new HealthImplementation({ '': 'NOT_SERVING', 'envoy.service.auth.v3.Authorization': 'NOT_SERVING' });
  #port = 0;

  constructor(options: GrpcServerOptions) {
    this.#server = new Server({
      'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? 1000,
      // Envoy bounds what it sends (with_request_body.max_request_bytes); above this grpc-js would
      // answer RESOURCE_EXHAUSTED itself, an RPC error that Envoy's failure_mode_allow could pass.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_permit_without_calls': 1,
      // channelz bookkeeping costs every call and nothing here reads it.
      'grpc.enable_channelz': 0,
    });
    const { definition } = loadAuthorizationService();
    const base = definition.Check;
    if (base === undefined) throw new Error('Authorization service definition has no Check method');
    const service: ServiceDefinition = {
      Check: {
        path: base.path,
        requestStream: false,
        responseStream: false,
        originalName: 'Check',
        requestDeserialize: (bytes: Buffer): DecodedCheck => {
          try {
            return decodeCheckRequest(bytes);
          } catch (err) {
            return { undecodable: err };
          }
        },
        requestSerialize: base.requestSerialize,
        responseSerialize: (model: CheckResponseModel): Buffer => encodeCheckResponse(model),
        responseDeserialize: base.responseDeserialize,
      },
    };
    const check = options.check;
    const implementation: UntypedServiceImplementation = {
      Check(call: ServerUnaryCall<DecodedCheck, CheckResponseModel>, callback: sendUnaryData<CheckResponseModel>) {
        const request = call.request;
        if ('undecodable' in request) {
          callback(null, check.undecodable(request.undecodable));
          return;
        }
        check.check(request, (response) => callback(null, response));
      },
    };
    this.#server.addService(service, implementation);
    this.#health.addToServer(this.#server);
  }

  get port(): number {
    return this.#port;
  }

  async listen(host: string, port: number): Promise<number> {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err)));
    });
    return this.#port;
  }

  /** Health answers SERVING only while the store is reachable. */
  setServing(serving: boolean): void {
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    this.#health.setStatus('', s);
    this.#health.setStatus('envoy.service.auth.v3.Authorization', s);
  }

  async close(graceMs = 5_000): Promise<void> {
    this.setServing(false);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.#server.forceShutdown(); resolve(); }, graceMs);
      this.#server.tryShutdown(() => { clearTimeout(timer); resolve(); });
    });
  }
}

