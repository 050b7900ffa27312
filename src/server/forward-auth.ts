import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CheckInput } from '../pipeline/check-input.js';
import type { CheckResponseModel } from './check-response-model.js';
import type { CheckService } from './check-service.js';

/** Where the HTTP adapter answers: `/authz` and everything below it. */
export const FORWARD_AUTH_PREFIX = '/authz';
const NO_EXTENSIONS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * HTTP ext_authz / forward-auth: the same decision for Envoy's `http_service` mode (which sends
 * the original method and `path_prefix + path` with the allowed headers) and for proxies that
 * forward-auth with `X-Forwarded-Method/-Host/-Uri` (Traefik, nginx auth_request).
 *
 * Allow is 200 with the identity headers on the response (Envoy copies those named in
 * `allowed_upstream_headers` onto the upstream request, overwriting a client's value) and
 * `x-envoy-auth-headers-to-remove` listing what Envoy must strip. Deny is 401/403/503 with the
 * JSON body, `www-authenticate` and `x-keygate-reason`.
 */
export function forwardAuthInput(req: IncomingMessage): CheckInput {
  const h = req.headers;
  const first = (name: string): string | undefined => {
    const v = h[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const forwardedUri = first('x-forwarded-uri');
  let target = forwardedUri ?? (req.url ?? '/').slice(FORWARD_AUTH_PREFIX.length);
  if (!target.startsWith('/')) target = `/${target}`;
  const q = target.indexOf('?');
  const host = (first('x-forwarded-host') ?? first('host') ?? '').toLowerCase().replace(/\.$/, '');
  return {
    method: first('x-forwarded-method') ?? req.method ?? '',
    host,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    header: (name: string) => first(name),
    requestId: first('x-request-id') ?? '',
    sourcePrincipal: '',
    sourceCertificate: '',
    contextExtensions: NO_EXTENSIONS,
  };
}

/** Answers one forward-auth request. */
export function handleForwardAuth(req: IncomingMessage, res: ServerResponse, check: CheckService): void {
  let input: CheckInput;
  try {
    input = forwardAuthInput(req);
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":"bad_request"}');
    return;
  }
  // The request body is never needed for the decision.
  req.resume();
  check.check(input, (response) => writeResponse(res, response));
}

function writeResponse(res: ServerResponse, response: CheckResponseModel): void {
  if (response.kind === 'ok') {
    const headers: Record<string, string> = {};
    for (const [name, value] of response.headersToSet) headers[name] = value;
    if (response.headersToRemove.length > 0) headers['x-envoy-auth-headers-to-remove'] = response.headersToRemove.join(',');
    for (const [name, value] of response.responseHeadersToAdd) headers[name] = value;
    headers['content-length'] = '0';
    res.writeHead(200, headers);
    res.end();
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of response.headers) headers[name] = value;
  headers['content-length'] = String(Buffer.byteLength(response.body));
  res.writeHead(response.httpStatus, headers);
  res.end(response.body);
}
