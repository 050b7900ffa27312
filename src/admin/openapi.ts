/**
 * The admin API's OpenAPI 3.1 document, served at `/openapi.json`. A test checks that its paths
 * and methods are exactly the routes the admin server serves.
 */
const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object): object => ({ content: { 'application/json': { schema } } });
const error = { description: 'error', ...json(ref('Error')) };
const errors = { 400: error, 401: error, 404: error, 409: error, 503: error };
const param = (name: string, description: string): object => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const idempotencyKey = { name: 'Idempotency-Key', in: 'header', required: false, description: 'Repeat-safe create: a repeat returns the first response (without any secret) and `idempotent-replayed: true`.', schema: { type: 'string', maxLength: 255 } };
const strings = { type: 'array', items: { type: 'string' } };
const time = { type: ['string', 'null'], format: 'date-time' };

export function openApiDocument(): object {
  return {
    openapi: '3.1.0',
    info: { title: 'keygate admin API', version: '1' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'KEYGATE_ADMIN_TOKEN (required unless the admin API listens on loopback without one)' } },
      schemas: {
        Error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', enum: ['invalid_request', 'unauthorized', 'not_found', 'conflict', 'payload_too_large', 'store_unavailable', 'internal_error'] }, message: { type: 'string' }, field: { type: 'string' } } },
        Consumer: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, username: { type: 'string' }, custom_id: { type: ['string', 'null'] }, status: { type: 'string', enum: ['active', 'suspended'] }, roles: strings, metadata: { type: 'object' }, created_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' } } },
        NewConsumer: { type: 'object', additionalProperties: false, required: ['username'], properties: { username: { type: 'string' }, custom_id: { type: ['string', 'null'] }, roles: strings, metadata: { type: 'object' } } },
        ConsumerPatch: { type: 'object', additionalProperties: false, properties: { custom_id: { type: ['string', 'null'] }, roles: strings, status: { type: 'string', enum: ['active', 'suspended'] }, metadata: { type: 'object' } } },
        Credential: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, consumer_id: { type: 'string', format: 'uuid' }, type: { type: 'string', enum: ['key-auth', 'basic-auth', 'jwt', 'oauth2', 'mtls'] }, display_prefix: { type: ['string', 'null'] }, scopes: strings, set_name: { type: ['string', 'null'] }, not_before: time, expires_at: time, revoked_at: time, rotated_from: { type: ['string', 'null'] }, created_at: { type: 'string', format: 'date-time' } } },
        NewCredential: { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { type: 'string', enum: ['key-auth', 'basic-auth', 'jwt', 'oauth2', 'mtls'] }, lookup: { type: 'string', description: 'mtls: SPIFFE id; jwt: token subject; oauth2: client id' }, scopes: strings, set_name: { type: ['string', 'null'] }, ttl_seconds: { type: ['integer', 'null'], minimum: 1 }, not_before: time, expires_at: time } },
        IssuedCredential: { type: 'object', properties: { credential: ref('Credential'), key: { type: 'string', description: 'key-auth: the API key, shown only in this response' }, key_id: { type: 'string' }, secret: { type: 'string', description: 'basic-auth: shown only in this response' } } },
        ConsumerPage: { type: 'object', properties: { data: { type: 'array', items: ref('Consumer') }, next: { type: ['string', 'null'], description: 'pass as ?after= for the next page' } } },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/consumers': {
        post: { summary: 'Create a consumer', parameters: [idempotencyKey], requestBody: json(ref('NewConsumer')), responses: { 201: { description: 'created', ...json(ref('Consumer')) }, ...errors } },
        get: { summary: 'List consumers (keyset pagination by id)', parameters: [{ name: 'after', in: 'query', schema: { type: 'string' } }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } }], responses: { 200: { description: 'a page', ...json(ref('ConsumerPage')) }, ...errors } },
      },
      '/consumers/{ref}': {
        get: { summary: 'Get a consumer by id or username', parameters: [param('ref', 'id or username')], responses: { 200: { description: 'the consumer', ...json(ref('Consumer')) }, ...errors } },
        patch: { summary: 'Update roles, status (suspend/activate), custom_id, metadata', parameters: [param('ref', 'id or username')], requestBody: json(ref('ConsumerPatch')), responses: { 200: { description: 'updated', ...json(ref('Consumer')) }, ...errors } },
        delete: { summary: 'Delete a consumer and its credentials', parameters: [param('ref', 'id or username')], responses: { 204: { description: 'deleted' }, ...errors } },
      },
      '/consumers/{ref}/credentials': {
        post: { summary: 'Issue a credential (the secret is shown once, here)', parameters: [param('ref', 'id or username'), idempotencyKey], requestBody: json(ref('NewCredential')), responses: { 201: { description: 'issued', ...json(ref('IssuedCredential')) }, ...errors } },
        get: { summary: "List a consumer's credentials", parameters: [param('ref', 'id or username')], responses: { 200: { description: 'credentials', ...json({ type: 'object', properties: { data: { type: 'array', items: ref('Credential') } } }) }, ...errors } },
      },
      '/credentials/{id}': {
        delete: { summary: 'Revoke a credential (immediate, every replica)', parameters: [param('id', 'credential id')], responses: { 200: { description: 'revoked', ...json(ref('Credential')) }, ...errors } },
      },
      '/credentials/{id}/rotate': {
        post: { summary: 'Rotate: new secret, old one expires after the grace period', parameters: [param('id', 'credential id')], requestBody: json({ type: 'object', additionalProperties: false, properties: { grace_seconds: { type: 'integer', minimum: 0 } } }), responses: { 201: { description: 'the new credential', ...json(ref('IssuedCredential')) }, ...errors } },
      },
      '/credential-sets/{name}/expire': {
        post: { summary: 'Expire every credential of a set in N seconds (never later than an earlier expiry)', parameters: [param('name', 'set name')], requestBody: json({ type: 'object', additionalProperties: false, required: ['in_seconds'], properties: { in_seconds: { type: 'integer', minimum: 0 } } }), responses: { 200: { description: 'summary', ...json({ type: 'object', properties: { set_name: { type: 'string' }, expires_at: { type: 'string' }, updated: { type: 'integer' } } }) }, ...errors } },
      },
      '/import': {
        post: {
          summary: 'Bulk import: NDJSON (streamed; one consumer per line with its credentials), or a Kong declarative export (?from=kong)',
          parameters: [{ name: 'from', in: 'query', schema: { type: 'string', enum: ['ndjson', 'kong'], default: 'ndjson' } }],
          requestBody: { content: { 'application/x-ndjson': { schema: { type: 'string' } }, 'application/yaml': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'object' } } } },
          responses: { 200: { description: 'the import report: counts, rejected lines with line numbers and reasons', ...json({ type: 'object' }) }, ...errors },
        },
      },
      '/export': {
        get: { summary: 'Every consumer with its live credentials, as NDJSON in the import format (hashes, never secrets)', responses: { 200: { description: 'NDJSON', content: { 'application/x-ndjson': { schema: { type: 'string' } } } }, ...errors } },
      },
      '/openapi.json': {
        get: { summary: 'This document', security: [], responses: { 200: { description: 'OpenAPI 3.1' } } },
      },
    },
  };
}
