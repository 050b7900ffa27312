/**
 * Loads the Envoy ext_authz v3 service definition from the protos that `npm run proto`
 * (scripts/gen-proto.mjs) exports into `proto/gen/`.
 *
 * `proto/gen/` is resolved relative to this module: the module is two directories below the
 * repository root both as `src/server/envoy-protos.ts` (tsx) and as `dist/server/envoy-protos.js`
 * (after `tsc`), so the same URL works for both.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import type { MethodDefinition, Options, PackageDefinition, ServiceDefinition } from '@grpc/proto-loader';

/** Fully qualified name of the ext_authz gRPC service. */
export const AUTHORIZATION_SERVICE_NAME = 'envoy.service.auth.v3.Authorization';

/** The service's proto file, relative to the proto root. */
export const EXTERNAL_AUTH_PROTO = 'envoy/service/auth/v3/external_auth.proto';

/**
 * The proto-loader options keygate uses. The object shapes they imply (snake_case field names,
 * int64 as string, enums as names, unset fields absent rather than defaulted, a virtual property
 * naming the set member of each oneof) are what the codec tests compare against.
 */
export const ENVOY_PROTO_LOADER_OPTIONS: Readonly<Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});

export interface AuthorizationService {
  /** proto-loader's definition of `envoy.service.auth.v3.Authorization` (method name -> method). */
  readonly definition: ServiceDefinition;
  /** The `Check` method of {@link definition}, checked to exist. */
  readonly check: MethodDefinition<object, object>;
  /** Absolute path of the proto root (`proto/gen`). */
  readonly protoRoot: string;
  /** Everything proto-loader loaded (all message types of the file and its imports). */
  readonly packageDefinition: PackageDefinition;
}

let loaded: AuthorizationService | undefined;

/** Absolute path of `proto/gen`, whether or not it exists. */
export function envoyProtoRoot(): string {
  return fileURLToPath(new URL('../../proto/gen/', import.meta.url));
}

/**
 * Loads (once per process; later calls return the same object) the ext_authz service definition.
 * Throws an error telling the user to run `npm run proto` when the exported protos are missing.
 */
export function loadAuthorizationService(): AuthorizationService {
  if (loaded !== undefined) return loaded;
  const protoRoot = envoyProtoRoot();
  const file = join(protoRoot, EXTERNAL_AUTH_PROTO);
  if (!existsSync(file)) {
    throw new Error(
      `Envoy protos not found: ${file} does not exist. Run \`npm run proto\` in the keygate ` +
        'repository to export them into proto/gen/.',
    );
  }
  const packageDefinition = loadSync(EXTERNAL_AUTH_PROTO, { ...ENVOY_PROTO_LOADER_OPTIONS, includeDirs: [protoRoot] });
  const definition = packageDefinition[AUTHORIZATION_SERVICE_NAME];
  if (definition === undefined || 'format' in definition) {
    throw new Error(`${EXTERNAL_AUTH_PROTO} in ${protoRoot} does not define the service ${AUTHORIZATION_SERVICE_NAME}`);
  }
  const check = definition['Check'];
  if (check === undefined) {
    throw new Error(`${AUTHORIZATION_SERVICE_NAME} in ${protoRoot} has no Check method`);
  }
  loaded = Object.freeze({ definition, check, protoRoot, packageDefinition });
  return loaded;
}
