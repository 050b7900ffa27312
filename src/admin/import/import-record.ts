import { MAX_API_KEY_LENGTH, API_KEY_PREFIX } from '../../credentials/key-auth/api-key-credential.js';
import { isVisibleAscii } from '../../credentials/request-parts.js';
import type { SecretHasher } from '../../credentials/secret-hasher.js';
import { NAME_PATTERN, ROLE_PATTERN } from '../names.js';

// Limits as in `operations.ts`; names and roles come from `../names.js`.
const MAX_LIST = 64;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;
/** Longest Basic key id / secret the basic-auth extractor accepts. */
const MAX_BASIC_PART = 256;
const MAX_NAMED_LOOKUP = 2048;
const MAX_CREDENTIALS_PER_CONSUMER = 100;
const CONTROL = /[\u0000-\u001f\u007f]/;
/** What `operations.ts` refuses in a named lookup. */
const LOOKUP_CONTROL = /[\u0000-\u001f]/;
/** A NUL escape in JSON text (an odd run of backslashes before `u0000`): jsonb refuses it. */
const JSON_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

/** A consumer ready for the staging table. `null` in a field means "not given: keep what is stored". */
export interface StagedConsumer {
  readonly line: number;
  /**
   * The id a new consumer gets when the input names one (a Kong consumer id; it must not belong
   * to another username); null for a fresh one (a UUIDv7 given by the writer).
   */
  readonly id: string | null;
  readonly username: string;
  readonly customIdGiven: boolean;
  readonly customId: string | null;
  readonly roles: readonly string[] | null;
  /** JSON text of the metadata object. */
  readonly metadata: string | null;
  readonly credentials: readonly StagedCredential[];
}

/** A credential ready for the staging table: hashes only. */
export interface StagedCredential {
  readonly line: number;
  /** Position in the record's `credentials` (NDJSON) or a label of the Kong entity. */
  readonly label: string;
  readonly type: string;
  readonly lookup: string;
  readonly displayPrefix: string | null;
  readonly secretHash: string | null;
  readonly hashAlgorithm: string | null;
  readonly scopes: readonly string[];
  readonly setName: string | null;
  /** ISO 8601 UTC. */
  readonly notBefore: string | null;
  readonly expiresAt: string | null;
}

/** A reason to refuse a value; the message names the field, never its (possibly secret) value. */
export class RecordError extends Error {}

const RECORD_FIELDS = new Set(['username', 'custom_id', 'roles', 'metadata', 'credentials']);
const COMMON_CREDENTIAL_FIELDS = ['type', 'scopes', 'set_name', 'expires_at', 'not_before'];
const CREDENTIAL_FIELDS: Readonly<Record<string, ReadonlySet<string>>> = {
  'key-auth': new Set([...COMMON_CREDENTIAL_FIELDS, 'key', 'key_hash']),
  'basic-auth': new Set([...COMMON_CREDENTIAL_FIELDS, 'key_id', 'secret', 'secret_hash', 'hash_algorithm']),
  mtls: new Set([...COMMON_CREDENTIAL_FIELDS, 'lookup']),
  jwt: new Set([...COMMON_CREDENTIAL_FIELDS, 'lookup']),
  oauth2: new Set([...COMMON_CREDENTIAL_FIELDS, 'lookup']),
};

/**
 * Checks one NDJSON record (already JSON-parsed) and turns it into staged rows, hashing plain
 * secrets on the way. Throws {@link RecordError} naming the first bad field.
 */
export function stageRecord(value: unknown, line: number, hasher: SecretHasher): StagedConsumer {
  if (!isPlainObject(value)) throw new RecordError('a record must be a JSON object');
  for (const key of Object.keys(value)) {
    if (!RECORD_FIELDS.has(key)) throw new RecordError(`unknown field ${JSON.stringify(key)}`);
  }
  if (value.username === undefined) throw new RecordError('username is missing');
  const username = checkName(value.username, 'username');
  const customIdGiven = value.custom_id !== undefined;
  const customId = value.custom_id === undefined || value.custom_id === null ? null : checkName(value.custom_id, 'custom_id');
  const roles = value.roles === undefined ? null : checkRoles(value.roles, 'roles');
  let metadata: string | null = null;
  if (value.metadata !== undefined) {
    if (!isPlainObject(value.metadata)) throw new RecordError('metadata must be a JSON object');
    metadata = JSON.stringify(value.metadata);
    if (JSON_NUL.test(metadata)) throw new RecordError('metadata must not contain the character U+0000');
  }
  const credentials: StagedCredential[] = [];
  if (value.credentials !== undefined) {
    if (!Array.isArray(value.credentials)) throw new RecordError('credentials must be a list');
    if (value.credentials.length > MAX_CREDENTIALS_PER_CONSUMER) throw new RecordError(`credentials: at most ${MAX_CREDENTIALS_PER_CONSUMER} per consumer`);
    value.credentials.forEach((c: unknown, i: number) => credentials.push(stageCredential(c, i, line, hasher)));
  }
  return { line, id: null, username, customIdGiven, customId, roles, metadata, credentials };
}

/** `credentials[i]` for the usual small i, made once. */
const LABELS = Array.from({ length: 16 }, (_, i) => `credentials[${i}]`);

function stageCredential(value: unknown, index: number, line: number, hasher: SecretHasher): StagedCredential {
  const label = LABELS[index] ?? `credentials[${index}]`;
  if (!isPlainObject(value)) throw new RecordError(`${label} must be a JSON object`);
  const type = value.type;
  if (typeof type !== 'string') throw new RecordError(`${label}.type is missing`);
  const allowed = CREDENTIAL_FIELDS[type];
  if (allowed === undefined) throw new RecordError(`${label}.type ${JSON.stringify(type.slice(0, 32))} is not a credential type (key-auth, basic-auth, jwt, oauth2, mtls)`);
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) throw new RecordError(`${label}: unknown field ${JSON.stringify(key)} for ${type}`);
  }
  const scopes = value.scopes === undefined ? [] : checkRoles(value.scopes, `${label}.scopes`);
  const setName = value.set_name === undefined || value.set_name === null ? null : checkName(value.set_name, `${label}.set_name`);
  const notBefore = value.not_before === undefined ? null : optionalTime(value.not_before, `${label}.not_before`);
  const expiresAt = value.expires_at === undefined ? null : optionalTime(value.expires_at, `${label}.expires_at`);
  let lookup: string;
  let displayPrefix: string | null;
  let secretHash: string | null = null;
  let hashAlgorithm: string | null = 'hmac-sha256';
  switch (type) {
    case 'key-auth': {
      if (exactlyOne(value, 'key', 'key_hash', label) === 'key') {
        const key = checkApiKey(value.key, `${label}.key`);
        lookup = hasher.hash(key);
        displayPrefix = apiKeyDisplayPrefix(key);
      } else {
        lookup = checkHexDigest(value.key_hash, `${label}.key_hash`);
        displayPrefix = null;
      }
      break;
    }
    case 'basic-auth': {
      lookup = checkBasicKeyId(value.key_id, `${label}.key_id`);
      displayPrefix = lookup.slice(0, 64);
      if (exactlyOne(value, 'secret', 'secret_hash', label) === 'secret') {
        if (value.hash_algorithm !== undefined) throw new RecordError(`${label}.hash_algorithm goes with secret_hash only`);
        secretHash = hasher.hash(checkBasicSecret(value.secret, `${label}.secret`));
        break;
      }
      // A user-chosen password hashed elsewhere: verified with its own scheme once, then from memory.
      hashAlgorithm = value.hash_algorithm === undefined ? 'hmac-sha256' : String(value.hash_algorithm);
      if (hashAlgorithm === 'hmac-sha256') secretHash = checkHexDigest(value.secret_hash, `${label}.secret_hash`);
      else if (hashAlgorithm === 'bcrypt' || hashAlgorithm === 'scrypt') secretHash = checkSlowHash(value.secret_hash, hashAlgorithm, `${label}.secret_hash`);
      else throw new RecordError(`${label}.hash_algorithm must be hmac-sha256, bcrypt or scrypt`);
      break;
    }
    default: {
      lookup = checkNamedLookup(value.lookup, `${label}.lookup`, type);
      displayPrefix = lookup.slice(0, 64);
      hashAlgorithm = null;
    }
  }
  return { line, label, type, lookup, displayPrefix, secretHash, hashAlgorithm, scopes, setName, notBefore, expiresAt };
}

function exactlyOne(value: Record<string, unknown>, a: string, b: string, label: string): string {
  const hasA = value[a] !== undefined;
  const hasB = value[b] !== undefined;
  if (hasA === hasB) throw new RecordError(`${label} needs exactly one of ${a} and ${b}`);
  return hasA ? a : b;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function checkName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new RecordError(`${field} must be 1-255 characters of letters, digits and . _ @ : + -`);
  }
  return value;
}

/** A role or scope list: at most 64 names, duplicates dropped (order kept). */
export function checkRoles(values: unknown, field: string): string[] {
  if (!Array.isArray(values) || values.length > MAX_LIST) throw new RecordError(`${field} must be a list of at most ${MAX_LIST} names`);
  for (const v of values) {
    if (typeof v !== 'string' || !ROLE_PATTERN.test(v)) {
      const shown = typeof v === 'string' ? JSON.stringify(v.slice(0, 64)) : typeof v;
      throw new RecordError(`${field}: ${shown} must be 1-128 characters of letters, digits and . _ : / -`);
    }
  }
  return [...new Set(values as string[])];
}

export function isRoleName(value: string): boolean {
  return ROLE_PATTERN.test(value);
}

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** An RFC 3339 time (as `operations.ts` accepts it), returned as ISO 8601 UTC. */
export function optionalTime(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  const d = typeof value === 'string' ? new Date(value) : null;
  if (d === null || Number.isNaN(d.getTime())) throw new RecordError(`${field} must be an RFC 3339 time`);
  return d.toISOString();
}

/** An API key as a request could present it: 1-512 visible ASCII characters. */
export function checkApiKey(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_API_KEY_LENGTH || !isVisibleAscii(value)) {
    throw new RecordError(`${field} must be 1-${MAX_API_KEY_LENGTH} visible ASCII characters`);
  }
  return value;
}

/**
 * What operators see of an imported key: keygate's own `kg_` keys show 9 characters, as when
 * issued; other keys of 24+ characters show 4; shorter keys show nothing.
 */
export function apiKeyDisplayPrefix(key: string): string | null {
  if (key.startsWith(API_KEY_PREFIX) && key.length >= 24) return key.slice(0, API_KEY_PREFIX.length + 6);
  return key.length >= 24 ? key.slice(0, 4) : null;
}

/** A basic-auth user / key id: what `Authorization: Basic` can carry before its first colon. */
export function checkBasicKeyId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_BASIC_PART || value.includes(':') || CONTROL.test(value)) {
    throw new RecordError(`${field} must be 1-${MAX_BASIC_PART} characters without a colon or control characters`);
  }
  return value;
}

export function checkBasicSecret(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_BASIC_PART) {
    throw new RecordError(`${field} must be 1-${MAX_BASIC_PART} characters`);
  }
  return value;
}

const SLOW_HASH: Readonly<Record<string, RegExp>> = {
  bcrypt: /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/,
  scrypt: /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=_-]+\$[A-Za-z0-9+/=_-]+$/,
};

function checkSlowHash(value: unknown, algorithm: string, field: string): string {
  const pattern = SLOW_HASH[algorithm];
  if (typeof value !== 'string' || pattern === undefined || !pattern.test(value)) {
    throw new RecordError(`${field} is not a ${algorithm} hash${algorithm === 'scrypt' ? ' (scrypt$N$r$p$salt$hash, base64)' : ''}`);
  }
  return value;
}

function checkHexDigest(value: unknown, field: string): string {
  if (typeof value !== 'string' || !HEX_DIGEST.test(value)) throw new RecordError(`${field} must be a hex HMAC-SHA-256 (64 hex digits)`);
  return value.toLowerCase();
}

export function checkNamedLookup(value: unknown, field: string, type: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAMED_LOOKUP || LOOKUP_CONTROL.test(value)) {
    throw new RecordError(`${field} must be 1-${MAX_NAMED_LOOKUP} characters without control characters (the ${type} identity)`);
  }
  return value;
}
