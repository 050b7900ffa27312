import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import type { Root } from 'protobufjs';
import { parse, parseAllDocuments } from 'yaml';
import { IDENTITY_HEADER_NAMES, REASON_HEADER } from '../../src/pipeline/identity-headers.js';
import { parsePolicy } from '../../src/policies/policy-file.js';
import { FORWARD_AUTH_PREFIX } from '../../src/server/forward-auth.js';
import { checkEnvoyMessage, exportEnvoyProtos, isObject, loadProtos } from './envoy-config-checker.js';
import type { ExportedProtos } from './envoy-config-checker.js';

/**
 * deploy/ and bench/ghz/ are checked against the schemas of the projects that read them: Envoy's
 * protos (exported with buf from @grpc/grpc-js-xds), the Istio and Kuma CRDs in
 * ../shared/schemas/ (beside the clone, in CI too), ghz's config keys; and against keygate
 * itself (policy parser, env variables, ports, identity headers).
 */

const repoRoot = new URL('../../', import.meta.url);
const schemasDir = new URL('../../../shared/schemas/', import.meta.url);
const at = (path: string): URL => new URL(path, repoRoot);
const text = (path: string): string => readFileSync(at(path), 'utf8');

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Small typed accessors: manifests are untyped YAML.

function obj(v: unknown, what: string): Obj {
  assert.ok(isObject(v), `${what}: expected an object, got ${JSON.stringify(v)}`);
  return v;
}
function list(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what}: expected a list, got ${JSON.stringify(v)}`);
  return v;
}
function str(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what}: expected a string, got ${JSON.stringify(v)}`);
  return v as string;
}
/** `get(o, 'a', 'b', 0)` = o.a.b[0], failing with the path when a step is missing. */
function get(v: unknown, ...path: Array<string | number>): unknown {
  let cur = v;
  const walked: string[] = [];
  for (const step of path) {
    walked.push(String(step));
    if (typeof step === 'number') cur = list(cur, walked.slice(0, -1).join('.'))[step];
    else cur = obj(cur, walked.slice(0, -1).join('.') || '$')[step];
    assert.notEqual(cur, undefined, `missing ${walked.join('.')}`);
  }
  return cur;
}

/** Every document of a YAML file; a syntax error or duplicate key fails the test. */
function yamlDocs(path: string): Obj[] {
  return parseAllDocuments(text(path), { uniqueKeys: true }).map((doc, i) => {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${path} document ${i}`);
    return obj(doc.toJS(), `${path} document ${i}`);
  });
}
function yamlDoc(path: string): Obj {
  const docs = yamlDocs(path);
  assert.equal(docs.length, 1, `${path}: one document`);
  return docs[0] ?? {};
}

// ---------------------------------------------------------------------------------------------
// Kubernetes CRDs: the openAPIV3Schema of the served version, checked with ajv. The API server
// prunes (or, with kubectl's default strict field validation, rejects) fields a structural schema
// does not declare; JSON Schema allows them. So every object schema that lists `properties` is
// closed here (`additionalProperties: false`) unless it says `x-kubernetes-preserve-unknown-fields`
// — otherwise a misspelled field would pass. `x-kubernetes-validations` (CEL) rules are not run.

function crdSchema(file: string, apiVersion: string, kind: string): Obj {
  const [group, version] = apiVersion.split('/');
  const crds = parseAllDocuments(readFileSync(new URL(file, schemasDir), 'utf8')).map((d): unknown => d.toJS()).filter(isObject);
  const crd = crds.find((c) => get(c, 'spec', 'names', 'kind') === kind && get(c, 'spec', 'group') === group);
  assert.ok(crd !== undefined, `${file}: no CRD for ${kind} in ${group}`);
  const served = list(get(crd, 'spec', 'versions'), 'versions').map((v) => obj(v, 'version')).find((v) => v['name'] === version);
  assert.ok(served !== undefined, `${file}: ${kind} has no version ${version}`);
  assert.equal(served['served'], true, `${kind} ${apiVersion} is not served`);
  const schema = closeObjects(get(served, 'schema', 'openAPIV3Schema'));
  const props = obj(schema['properties'] ?? {}, 'properties');
  schema['properties'] = { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' }, ...props };
  return schema;
}

function closeObjects(schema: unknown): Obj {
  const s = { ...obj(schema, 'schema') };
  if (isObject(s['properties'])) {
    s['properties'] = Object.fromEntries(Object.entries(s['properties']).map(([k, v]) => [k, closeObjects(v)]));
    if (s['additionalProperties'] === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) s['additionalProperties'] = false;
  }
  if (isObject(s['additionalProperties'])) s['additionalProperties'] = closeObjects(s['additionalProperties']);
  if (isObject(s['items'])) s['items'] = closeObjects(s['items']);
  for (const k of ['oneOf', 'anyOf', 'allOf']) if (Array.isArray(s[k])) s[k] = s[k].map(closeObjects);
  return s;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const validators = new Map<string, ReturnType<Ajv['compile']>>();

/** Problems of `doc` against its CRD in `file` (empty when valid). */
function crdProblems(file: string, doc: Obj): string[] {
  const apiVersion = str(doc['apiVersion'], 'apiVersion');
  const kind = str(doc['kind'], 'kind');
  const key = `${file} ${apiVersion} ${kind}`;
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = ajv.compile(crdSchema(file, apiVersion, kind));
    validators.set(key, validate);
  }
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? `: ${String(e.params['additionalProperty'])}` : ''}${e.keyword === 'enum' ? ` ${JSON.stringify(e.params['allowedValues'])}` : ''}`);
}

// ---------------------------------------------------------------------------------------------
// Envoy's protos, exported once for the whole file.

const ENVOY_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/service/auth/v3/external_auth.proto', // the ghz CheckRequest
];
const T = {
  bootstrap: 'envoy.config.bootstrap.v3.Bootstrap',
  cluster: 'envoy.config.cluster.v3.Cluster',
  httpFilter: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  checkRequest: 'envoy.service.auth.v3.CheckRequest',
};
const EXT_AUTHZ = 'envoy.filters.http.ext_authz';

let exported: ExportedProtos | null = null;
let protoRoot: Root | null = null;
before(() => {
  exported = exportEnvoyProtos(ENVOY_PROTOS);
  protoRoot = loadProtos(exported.dir, ENVOY_PROTOS);
});
after(() => exported?.remove());
function envoy(): Root {
  assert.ok(protoRoot !== null, 'Envoy protos loaded');
  return protoRoot;
}

/** The one HTTP connection manager of a bootstrap's first listener. */
function hcmOf(bootstrap: Obj): Obj {
  const filters = list(get(bootstrap, 'static_resources', 'listeners', 0, 'filter_chains', 0, 'filters'), 'filters');
  const hcm = filters.map((f) => obj(f, 'filter')).find((f) => f['name'] === 'envoy.filters.network.http_connection_manager');
  return obj(hcm?.['typed_config'], 'http_connection_manager typed_config');
}
function httpFilters(hcm: Obj): Obj[] {
  return list(hcm['http_filters'], 'http_filters').map((f) => obj(f, 'http filter'));
}
function extAuthz(hcm: Obj): Obj {
  return obj(httpFilters(hcm).find((f) => f['name'] === EXT_AUTHZ)?.['typed_config'], 'ext_authz typed_config');
}
function routesOf(hcm: Obj): Obj[] {
  return list(get(hcm, 'route_config', 'virtual_hosts'), 'virtual_hosts').flatMap((vh) => list(get(vh, 'routes'), 'routes')).map((r) => obj(r, 'route'));
}
function clustersOf(bootstrap: Obj): Map<string, Obj> {
  return new Map(list(get(bootstrap, 'static_resources', 'clusters'), 'clusters').map((c) => [str(get(c, 'name'), 'cluster name'), obj(c, 'cluster')]));
}
/** A ListStringMatcher (exact / prefix patterns) matches `name`. */
function listMatches(matcher: unknown, name: string): boolean {
  return list(get(matcher, 'patterns'), 'patterns').some((p) => {
    const m = obj(p, 'pattern');
    return m['exact'] === name || (typeof m['prefix'] === 'string' && name.startsWith(m['prefix']));
  });
}
function assertHttp2GrpcCluster(cluster: Obj, what: string): void {
  assert.ok(isObject(get(cluster, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions', 'explicit_http_config', 'http2_protocol_options')), `${what}: HTTP/2`);
  const checks = list(cluster['health_checks'], `${what} health_checks`);
  assert.ok(checks.some((h) => isObject(obj(h, 'health check')['grpc_health_check'])), `${what}: gRPC health check`);
  assert.equal(get(cluster, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address', 'port_value'), 9191, `${what}: port`);
}
function assertExtAuthzGrpc(config: Obj, cluster: string): void {
  assert.equal(get(config, 'grpc_service', 'envoy_grpc', 'cluster_name'), cluster);
  assert.equal(get(config, 'grpc_service', 'timeout'), '0.25s');
  assert.equal(config['transport_api_version'], 'V3');
  assert.equal(config['failure_mode_allow'], false);
  assert.equal(config['include_peer_certificate'], true);
  assert.equal(get(config, 'status_on_error', 'code'), 'ServiceUnavailable');
}

// ---------------------------------------------------------------------------------------------
// keygate's own view: the ConfigMap's policy and the Deployment.

const K8S = 'deploy/kubernetes/';
const k8s = (file: string): Obj => yamlDoc(`${K8S}${file}`);
const envConfigSource = text('src/config/env-config.ts');

function deploymentContainer(): Obj {
  const containers = list(get(k8s('deployment.yaml'), 'spec', 'template', 'spec', 'containers'), 'containers');
  return obj(containers.find((c) => obj(c, 'container')['name'] === 'keygate'), 'keygate container');
}
function deploymentEnv(): Obj[] {
  return list(deploymentContainer()['env'], 'env').map((e) => obj(e, 'env entry'));
}
function policyText(): string {
  return str(get(k8s('configmap.yaml'), 'data', 'keygate.yaml'), 'configmap data keygate.yaml');
}
/** Environment variables the policy file names (`introspection.endpoints[].client_secret_env`). */
function policyEnvNames(): string[] {
  const introspection = obj(parse(policyText()), 'policy')['introspection'] ?? {};
  return list(obj(introspection, 'introspection')['endpoints'] ?? [], 'endpoints').map((e) => str(obj(e, 'endpoint')['client_secret_env'], 'client_secret_env'));
}
function policyRouteNames(): Set<string> {
  const env = Object.fromEntries(deploymentEnv().map((e) => [str(e['name'], 'env name'), 'value-from-the-secret']));
  return new Set(parsePolicy(policyText(), { env }).routes.map((r) => r.name));
}

// =============================================================================================

describe('Envoy (deploy/envoy) against Envoy protos', () => {
  test('the field checker is not vacuous: it names unknown fields, bad enums, bad @types and deprecated fields', () => {
    const bootstrap = yamlDoc('deploy/envoy/envoy.yaml');
    const hcm = hcmOf(bootstrap);
    extAuthz(hcm)['failure_mode_alow'] = true;
    const perRoute = obj(get(routesOf(hcm)[1], 'typed_per_filter_config', EXT_AUTHZ), 'per route');
    perRoute['check_settings'] = { context_extension: { keygate_route: 'x' } };
    hcm['path_with_escaped_slashes_action'] = 'REJECT';
    list(hcm['http_filters'], 'http_filters')[1] = { name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope' } };
    obj(extAuthz(hcm)['grpc_service'], 'grpc_service')['timeout'] = 250;
    const problems = checkEnvoyMessage(envoy(), T.bootstrap, bootstrap);
    const expect = [
      /typed_config\.failure_mode_alow: unknown field of envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz \(did you mean failure_mode_allow\?\)/,
      /typed_per_filter_config\["envoy\.filters\.http\.ext_authz"\]\.check_settings\.context_extension: unknown field/,
      /path_with_escaped_slashes_action: "REJECT" is not a value of enum/,
      /http_filters\[1\]\.typed_config\["@type"\]: envoy\.extensions\.filters\.http\.nope\.v3\.Nope is not a message/,
      /grpc_service\.timeout: google\.protobuf\.Duration must be a duration string/,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `expected ${re}; got:\n${problems.join('\n')}`);

    const deprecated = { ...extAuthz(hcmOf(yamlDoc('deploy/envoy/envoy-http-authz.yaml'))) };
    deprecated['http_service'] = { ...obj(deprecated['http_service'], 'http_service'), authorization_request: { allowed_headers: { patterns: [{ exact: 'x-api-key' }] } } };
    assert.deepEqual(checkEnvoyMessage(envoy(), 'google.protobuf.Any', deprecated),
      ['$.http_service.authorization_request.allowed_headers: deprecated field of envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest']);
  });

  for (const file of ['deploy/envoy/envoy.yaml', 'deploy/envoy/envoy-http-authz.yaml']) {
    test(`${file}: every field is a field of Envoy's v3 Bootstrap`, () => {
      assert.deepEqual(checkEnvoyMessage(envoy(), T.bootstrap, yamlDoc(file)), []);
    });
  }

  test('envoy.yaml: gRPC ext_authz fail-closed, path normalisation, per-route settings, HTTP/2 keygate cluster', () => {
    const bootstrap = yamlDoc('deploy/envoy/envoy.yaml');
    const hcm = hcmOf(bootstrap);
    assert.equal(get(bootstrap, 'static_resources', 'listeners', 0, 'address', 'socket_address', 'port_value'), 8080);
    assert.equal(hcm['normalize_path'], true);
    assert.equal(hcm['merge_slashes'], true);
    assert.equal(hcm['path_with_escaped_slashes_action'], 'REJECT_REQUEST');
    assert.deepEqual(httpFilters(hcm).map((f) => f['name']), [EXT_AUTHZ, 'envoy.filters.http.router']);
    assertExtAuthzGrpc(extAuthz(hcm), 'keygate');

    const routes = routesOf(hcm);
    const healthz = routes.find((r) => obj(r['match'], 'match')['path'] === '/healthz');
    assert.equal(get(healthz, 'typed_per_filter_config', EXT_AUTHZ, 'disabled'), true, '/healthz skips ext_authz');
    const named = routes.map((r) => obj(r['typed_per_filter_config'] ?? {}, 'per filter')[EXT_AUTHZ]).filter(isObject)
      .map((c) => c['check_settings']).filter(isObject).map((s) => str(get(s, 'context_extensions', 'keygate_route'), 'keygate_route'));
    assert.ok(named.length > 0, 'one route names its keygate route');
    const known = policyRouteNames();
    for (const name of named) assert.ok(known.has(name), `keygate_route ${name} is a route of deploy/kubernetes/configmap.yaml (${[...known].join(', ')})`);

    const clusters = clustersOf(bootstrap);
    for (const r of routes) assert.ok(clusters.has(str(get(r, 'route', 'cluster'), 'route cluster')), `route cluster ${String(get(r, 'route', 'cluster'))} exists`);
    assertHttp2GrpcCluster(obj(clusters.get('keygate'), 'keygate cluster'), 'keygate cluster');
  });

  test('envoy-http-authz.yaml: http_service on /authz, the headers keygate reads in, its identity headers out', () => {
    const bootstrap = yamlDoc('deploy/envoy/envoy-http-authz.yaml');
    const hcm = hcmOf(bootstrap);
    assert.equal(hcm['path_with_escaped_slashes_action'], 'REJECT_REQUEST');
    const ea = extAuthz(hcm);
    assert.equal(ea['failure_mode_allow'], false);
    assert.equal(get(ea, 'status_on_error', 'code'), 'ServiceUnavailable');
    assert.equal(get(ea, 'http_service', 'path_prefix'), FORWARD_AUTH_PREFIX);
    const cluster = clustersOf(bootstrap).get(str(get(ea, 'http_service', 'server_uri', 'cluster'), 'server_uri.cluster'));
    assert.equal(get(cluster, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address', 'port_value'), 9192);
    for (const h of ['authorization', 'x-api-key', 'apikey', 'proxy-authorization', 'x-request-id']) assert.ok(listMatches(ea['allowed_headers'], h), `sends ${h}`);
    for (const h of ['x-forwarded-method', 'x-forwarded-host', 'x-forwarded-uri']) assert.ok(!listMatches(ea['allowed_headers'], h), `never sends client-controlled ${h}`);
    const response = get(ea, 'http_service', 'authorization_response');
    for (const h of IDENTITY_HEADER_NAMES) assert.ok(listMatches(get(response, 'allowed_upstream_headers'), h), `upstream gets ${h}`);
    for (const h of ['www-authenticate', REASON_HEADER, 'content-type']) assert.ok(listMatches(get(response, 'allowed_client_headers'), h), `client gets ${h}`);
  });
});

// =============================================================================================

describe('Istio (deploy/istio)', () => {
  const CRDS = 'istio-security-crds.yaml';

  test('the CRD check is not vacuous: an unknown field and a bad enum are refused', () => {
    const policy = yamlDoc('deploy/istio/authorization-policy.yaml');
    const spec = obj(policy['spec'], 'spec');
    spec['action'] = 'EXTERNAL';
    obj(get(spec, 'rules', 0, 'to', 0, 'operation'), 'operation')['notPath'] = ['/x'];
    const problems = crdProblems(CRDS, policy);
    assert.ok(problems.some((p) => p.includes('/spec/rules/0/to/0/operation must NOT have additional properties: notPath')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('/spec/action must be equal to one of the allowed values')), problems.join('\n'));
  });

  for (const file of ['authorization-policy.yaml', 'peer-authentication.yaml']) {
    test(`${file}: every document validates against its CRD`, () => {
      const docs = yamlDocs(`deploy/istio/${file}`);
      assert.ok(docs.length > 0);
      for (const doc of docs) {
        assert.match(str(doc['kind'], 'kind'), /^(AuthorizationPolicy|PeerAuthentication)$/);
        assert.deepEqual(crdProblems(CRDS, doc), [], `${file} ${String(get(doc, 'metadata', 'name'))}`);
      }
    });
  }

  test('mesh-config.yaml names the keygate provider with EnvoyExternalAuthorizationGrpcProvider fields only', () => {
    const op = yamlDoc('deploy/istio/mesh-config.yaml');
    assert.equal(op['apiVersion'], 'install.istio.io/v1alpha1');
    assert.equal(op['kind'], 'IstioOperator');
    const providers = list(get(op, 'spec', 'meshConfig', 'extensionProviders'), 'extensionProviders').map((p) => obj(p, 'provider'));
    const keygate = providers.find((p) => p['name'] === 'keygate');
    assert.ok(keygate !== undefined, 'provider keygate');
    assert.deepEqual(Object.keys(keygate).sort(), ['envoyExtAuthzGrpc', 'name']);
    const grpc = obj(keygate['envoyExtAuthzGrpc'], 'envoyExtAuthzGrpc');
    // istio/api mesh/v1alpha1/config.proto, MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationGrpcProvider
    const fields = ['service', 'port', 'timeout', 'failOpen', 'clearRouteCache', 'statusOnError', 'includeRequestBodyInCheck'];
    for (const key of Object.keys(grpc)) assert.ok(fields.includes(key), `envoyExtAuthzGrpc.${key} is not a field (${fields.join(', ')})`);
    assert.equal(grpc['service'], 'keygate.keygate.svc.cluster.local');
    const service = yamlDocs(`${K8S}service.yaml`).find((d) => get(d, 'spec', 'type') === 'ClusterIP');
    assert.equal(`${String(get(service, 'metadata', 'name'))}.${String(get(service, 'metadata', 'namespace'))}.svc.cluster.local`, grpc['service']);
    assert.equal(grpc['port'], 9191);
    assert.equal(grpc['timeout'], '0.25s');
    assert.equal(grpc['failOpen'], false);
    assert.equal(grpc['statusOnError'], '503', 'statusOnError is a string field');
  });

  test('the AuthorizationPolicy sends everything but /healthz to that provider; mTLS is STRICT', () => {
    const policy = yamlDoc('deploy/istio/authorization-policy.yaml');
    assert.equal(get(policy, 'spec', 'action'), 'CUSTOM');
    assert.equal(get(policy, 'spec', 'provider', 'name'), 'keygate');
    for (const rule of list(get(policy, 'spec', 'rules'), 'rules')) {
      for (const to of list(get(rule, 'to'), 'to')) assert.ok(list(get(to, 'operation', 'notPaths'), 'notPaths').includes('/healthz'));
    }
    const namespace = get(policy, 'metadata', 'namespace');
    const strict = yamlDocs('deploy/istio/peer-authentication.yaml').find((d) => get(d, 'metadata', 'namespace') === namespace);
    assert.equal(get(strict, 'spec', 'mtls', 'mode'), 'STRICT', `STRICT mTLS in ${String(namespace)}`);
  });
});

// =============================================================================================

describe('Kong Mesh (deploy/kong-mesh)', () => {
  const CRD = 'kuma-meshproxypatch-crd.yaml';
  const FILE = 'deploy/kong-mesh/meshproxypatch.yaml';

  test('the MeshProxyPatch validates against its CRD (and an unknown targetRef kind would not)', () => {
    const patch = yamlDoc(FILE);
    assert.deepEqual(crdProblems(CRD, patch), []);
    obj(get(patch, 'spec', 'targetRef'), 'targetRef')['kind'] = 'MeshService';
    assert.deepEqual(crdProblems(CRD, patch), ['/spec/targetRef/kind must be equal to one of the allowed values ["Mesh","Dataplane"]']);
  });

  test('its Envoy values are an HTTP/2 keygate cluster and a fail-closed ext_authz filter before the router', () => {
    const mods = list(get(yamlDoc(FILE), 'spec', 'default', 'appendModifications'), 'appendModifications').map((m) => obj(m, 'modification'));
    const cluster = obj(mods.find((m) => m['cluster'] !== undefined)?.['cluster'], 'cluster modification');
    const filter = obj(mods.find((m) => m['httpFilter'] !== undefined)?.['httpFilter'], 'httpFilter modification');

    assert.equal(cluster['operation'], 'Add');
    const clusterValue = obj(parse(str(cluster['value'], 'cluster value')), 'cluster value');
    assert.deepEqual(checkEnvoyMessage(envoy(), T.cluster, clusterValue, 'cluster.value'), []);
    assertHttp2GrpcCluster(clusterValue, 'cluster.value');

    assert.equal(filter['operation'], 'AddBefore');
    assert.deepEqual(filter['match'], { name: 'envoy.filters.http.router', origin: 'inbound' });
    const filterValue = obj(parse(str(filter['value'], 'httpFilter value')), 'httpFilter value');
    assert.deepEqual(checkEnvoyMessage(envoy(), T.httpFilter, filterValue, 'httpFilter.value'), []);
    assert.equal(filterValue['name'], EXT_AUTHZ);
    assertExtAuthzGrpc(obj(filterValue['typed_config'], 'typed_config'), str(clusterValue['name'], 'cluster name'));
  });
});

// =============================================================================================

describe('Kubernetes (deploy/kubernetes)', () => {
  test('kustomization.yaml lists every manifest except the example Secret', () => {
    const listed = list(get(k8s('kustomization.yaml'), 'resources'), 'resources').map((r) => str(r, 'resource'));
    const files = readdirSync(at(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'secret.example.yaml');
    assert.deepEqual([...listed].sort(), files.sort());
  });

  test('the ConfigMap policy loads with keygate\'s own parser, with the environment the Deployment gives', () => {
    const env = Object.fromEntries(deploymentEnv().map((e) => [str(e['name'], 'env name'), 'value-from-the-secret']));
    const config = parsePolicy(policyText(), { env, file: 'deploy/kubernetes/configmap.yaml' });
    assert.ok(config.routes.length > 0);
  });

  test('the Deployment sets only variables keygate reads, from the Secret, and mounts the policy directory', () => {
    const fromPolicy = policyEnvNames();
    const env = deploymentEnv();
    for (const e of env) {
      const name = str(e['name'], 'env name');
      assert.ok(envConfigSource.includes(`'${name}'`) || fromPolicy.includes(name),
        `${name}: not read by src/config/env-config.ts nor named by the policy file`);
    }
    const byName = new Map(env.map((e) => [e['name'], e]));
    for (const name of ['DATABASE_URL', 'KEYGATE_PEPPER', 'REDIS_URL', 'KEYGATE_ADMIN_TOKEN', ...fromPolicy]) {
      assert.ok(isObject(get(byName.get(name), 'valueFrom', 'secretKeyRef')), `${name} comes from a Secret`);
    }
    const secret = k8s('secret.example.yaml');
    const secretKeys = Object.keys(obj(secret['stringData'], 'stringData'));
    for (const e of env.filter((x) => isObject(x['valueFrom']))) {
      const ref = obj(get(e, 'valueFrom', 'secretKeyRef'), 'secretKeyRef');
      assert.equal(ref['name'], get(secret, 'metadata', 'name'), `${String(e['name'])}: the Secret's name`);
      assert.ok(secretKeys.includes(str(ref['key'], 'key')), `${String(e['name'])}: key ${String(ref['key'])} in secret.example.yaml`);
    }

    const container = deploymentContainer();
    const configPath = str(get(byName.get('KEYGATE_CONFIG'), 'value'), 'KEYGATE_CONFIG');
    const mount = list(container['volumeMounts'], 'volumeMounts').map((m) => obj(m, 'mount')).find((m) => configPath.startsWith(`${String(m['mountPath'])}/`));
    assert.ok(mount !== undefined, `a volume mounted above ${configPath}`);
    assert.equal(mount['subPath'], undefined, 'no subPath: ConfigMap updates must reach the pod');
    const volumes = list(get(k8s('deployment.yaml'), 'spec', 'template', 'spec', 'volumes'), 'volumes').map((v) => obj(v, 'volume'));
    const volume = volumes.find((v) => v['name'] === mount['name']);
    assert.equal(get(volume, 'configMap', 'name'), get(k8s('configmap.yaml'), 'metadata', 'name'));
    assert.equal(relative(str(mount['mountPath'], 'mountPath'), configPath), 'keygate.yaml');
  });

  test('Deployment, Services, probes, HPA and PDB agree on ports, names and labels', () => {
    const deployment = k8s('deployment.yaml');
    const podSpec = obj(get(deployment, 'spec', 'template', 'spec'), 'pod spec');
    const podLabels = obj(get(deployment, 'spec', 'template', 'metadata', 'labels'), 'pod labels');
    const container = deploymentContainer();
    assert.equal(get(deployment, 'spec', 'replicas'), 3);
    assert.equal(container['image'], 'ghcr.io/example/keygate:0.1.0');
    const ports = new Map(list(container['ports'], 'ports').map((p) => [get(p, 'name'), get(p, 'containerPort')]));
    assert.deepEqual(Object.fromEntries(ports), { grpc: 9191, http: 9192 });
    const probePort = (probe: string): unknown => { const p = get(container, probe, 'httpGet', 'port'); return typeof p === 'string' ? ports.get(p) : p; };
    assert.equal(get(container, 'readinessProbe', 'httpGet', 'path'), '/readyz');
    assert.equal(probePort('readinessProbe'), 9192);
    assert.equal(get(container, 'livenessProbe', 'httpGet', 'path'), '/healthz');
    assert.equal(probePort('livenessProbe'), 9192);
    assert.equal(get(container, 'securityContext', 'readOnlyRootFilesystem'), true);
    assert.equal(get(podSpec, 'securityContext', 'runAsNonRoot'), true);
    assert.ok(list(podSpec['topologySpreadConstraints'], 'topologySpreadConstraints').length > 0);

    const services = yamlDocs(`${K8S}service.yaml`);
    for (const service of services) {
      for (const [k, v] of Object.entries(obj(get(service, 'spec', 'selector'), 'selector'))) assert.equal(podLabels[k], v, `Service selector ${k}`);
      const sp = new Map(list(get(service, 'spec', 'ports'), 'ports').map((p) => [get(p, 'name'), obj(p, 'port')]));
      assert.equal(get(sp.get('grpc'), 'port'), 9191);
      assert.equal(get(sp.get('grpc'), 'appProtocol'), 'grpc');
      assert.equal(ports.get(get(sp.get('grpc'), 'targetPort')), 9191);
      assert.equal(ports.get(get(sp.get('http'), 'targetPort')), 9192);
    }
    assert.equal(get(services[0], 'spec', 'type'), 'ClusterIP');

    const hpa = k8s('hpa.yaml');
    assert.deepEqual(get(hpa, 'spec', 'scaleTargetRef'), { apiVersion: 'apps/v1', kind: 'Deployment', name: get(deployment, 'metadata', 'name') });
    assert.ok(Number(get(hpa, 'spec', 'minReplicas')) >= 2);
    const pdb = k8s('pdb.yaml');
    for (const [k, v] of Object.entries(obj(get(pdb, 'spec', 'selector', 'matchLabels'), 'pdb selector'))) assert.equal(podLabels[k], v, `PDB selector ${k}`);

    const namespace = get(k8s('namespace.yaml'), 'metadata', 'name');
    for (const file of readdirSync(at(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'namespace.yaml')) {
      for (const doc of yamlDocs(`${K8S}${file}`)) assert.equal(get(doc, 'metadata', 'namespace'), namespace, `${file}: namespace`);
    }
  });
});

// =============================================================================================

describe('ghz (bench/ghz)', () => {
  // bojand/ghz runner/config.go: the JSON keys of Config.
  const GHZ_KEYS = new Set([
    'proto', 'protoset', 'call', 'cacert', 'cert', 'key', 'skipTLS', 'skipFirst', 'cname', 'authority', 'insecure', 'total', 'async',
    'concurrency', 'concurrency-schedule', 'concurrency-start', 'concurrency-end', 'concurrency-step', 'concurrency-step-duration',
    'concurrency-max-duration', 'connections', 'rps', 'duration', 'duration-stop', 'max-duration', 'timeout', 'data', 'data-file',
    'binary-file', 'metadata', 'metadata-file', 'stream-interval', 'output', 'format', 'connect-timeout', 'keepalive', 'cpus',
    'import-paths', 'name', 'tags', 'reflect-metadata', 'debug', 'host', 'enable-compression', 'load-schedule', 'load-start',
    'load-end', 'load-step', 'load-step-duration', 'load-max-duration',
  ]);

  test('check-key-auth.json: ghz keys only, the exported Check method, a valid CheckRequest', () => {
    const config = obj(JSON.parse(text('bench/ghz/check-key-auth.json')), 'ghz config');
    for (const key of Object.keys(config)) assert.ok(GHZ_KEYS.has(key), `${key} is not a ghz config key`);
    const importPaths = list(config['import-paths'], 'import-paths').map((p) => str(p, 'import path'));
    assert.deepEqual(importPaths, ['proto/gen'], 'keygate\'s exported protos (npm run proto)');
    const proto = str(config['proto'], 'proto');
    assert.equal(proto, 'proto/gen/envoy/service/auth/v3/external_auth.proto');
    assert.equal(config['call'], 'envoy.service.auth.v3.Authorization.Check');
    const service = envoy().lookupService('envoy.service.auth.v3.Authorization');
    assert.equal(service.methods['Check']?.resolvedRequestType?.fullName, `.${T.checkRequest}`);
    assert.equal(config['host'], '127.0.0.1:9191');
    assert.equal(config['insecure'], true);
    assert.ok(config['total'] !== undefined || config['duration'] !== undefined, 'total or duration');
    assert.ok(Number(config['concurrency']) > 0);

    assert.deepEqual(checkEnvoyMessage(envoy(), T.checkRequest, config['data'], 'data'), []);
    const headers = obj(get(config, 'data', 'attributes', 'request', 'http', 'headers'), 'headers');
    assert.match(str(headers['x-request-id'], 'x-request-id'), /\{\{\.RequestNumber\}\}/);
    assert.equal(headers['x-api-key'], 'kg_REPLACE_WITH_A_KEY');
  });
});
