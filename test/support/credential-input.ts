import { strict as assert } from 'node:assert';
import type { Verification } from '../../src/credentials/credential-type.js';
import type { CheckInput } from '../../src/pipeline/check-input.js';

/** The request `curl -H "Authorization: <authorization>" https://api.example.com<path>` makes Envoy send. */
export function bearerRequest(authorization: string | undefined, path = '/v1/payments'): CheckInput {
  return {
    method: 'GET', host: 'api.example.com', path, query: '', requestId: 'r-1', sourcePrincipal: '', sourceCertificate: '', contextExtensions: {},
    header: (name) => (name === 'authorization' ? authorization : undefined),
  };
}

/** The reason of a verification that must be a denial. */
export function denied(v: Verification): string {
  assert.equal(v.ok, false, 'expected a denial');
  return v.ok ? '' : v.reason;
}
