import { LineCounter, isMap, isSeq, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
import type { SecretHasher } from '../../credentials/secret-hasher.js';
import { OperationError } from '../operation-error.js';
import { ImportReportBuilder } from './import-report.js';
import type { ImportReport, ImportTarget } from './import-report.js';
import {
  RecordError, apiKeyDisplayPrefix, checkApiKey, checkBasicKeyId, checkBasicSecret, checkName, checkNamedLookup, checkRoles,
  isPlainObject, isRoleName, isUuid,
} from './import-record.js';
import type { StagedConsumer, StagedCredential } from './import-record.js';
import { formatKongSha1Hash, KONG_SHA1_ALGORITHM } from '../../credentials/basic-auth/kong-sha1.js';
export { formatKongSha1Hash, KONG_SHA1_ALGORITHM, parseKongSha1Hash, verifyKongSha1, verifyKongSha1Hash } from '../../credentials/basic-auth/kong-sha1.js';
import { ImportWriter, auditImport } from './import-writer.js';

const SHA1_HEX = /^[0-9a-fA-F]{40}$/;
/** Kong credential kinds keygate has no equivalent for: reported as warnings. */
const UNSUPPORTED_KINDS = ['oauth2_credentials', 'hmacauth_credentials', 'mtls_auth_credentials'] as const;

/**
 * How to read `basicauth_credentials[].password`:
 * - `auto` (default): hashed when the file says `_transform: false` (what `kong config db_export`
 *   writes: Kong's stored SHA-1s), plain when it says `_transform: true`; when it says neither
 *   (a decK file), a 40-hex-digit password is taken as a Kong SHA-1 and anything else as plain;
 * - `hashed` / `plain`: force one reading.
 */
export type KongPasswordMode = 'auto' | 'hashed' | 'plain';

export interface KongImportOptions extends ImportTarget {
  /**
   * The whole file, YAML or JSON. Kong declarative files are parsed whole (they are small: decK
   * and `db_export` write every entity in one document); for millions of consumers use NDJSON.
   */
  readonly text: string;
  readonly passwords?: KongPasswordMode;
}

interface KongConsumer {
  readonly line: number;
  /** Kong's id as written (the basic-auth salt), if any. */
  readonly kongId: string | null;
  readonly staged: { id: string | null; username: string; customId: string | null };
  readonly roles: string[];
  readonly credentials: StagedCredential[];
}

interface Entry {
  readonly value: unknown;
  readonly line: number;
}

/**
 * Imports consumers from Kong's declarative format (decK `kong.yaml`, `kong config db_export`;
 * YAML or JSON; `_format_version` required). Reads `consumers` with their nested
 * `keyauth_credentials`, `basicauth_credentials`, `acls` and `jwt_secrets`, and the same four as
 * top-level lists whose `consumer` names a consumer by id or username.
 *
 * Mapping:
 * - consumer → consumer: `username` (or, without one, `custom_id`), `custom_id`; a Kong id that is
 *   a uuid becomes the new consumer's id, so `x-consumer-id` stays what upstreams saw from Kong.
 *   Kong's file is the consumer's full state: custom_id and roles are set (absent = none);
 *   metadata and status are left alone;
 * - `acls[].group` → a role;
 * - `keyauth_credentials[].key` → `key-auth`, stored as its HMAC (the key is plain in Kong); a
 *   `ttl` (seconds left, as Kong's Admin API shows it) becomes `expires_at`, counted from the import;
 * - `basicauth_credentials[]` → `basic-auth` with lookup = the Kong basic username; a hashed
 *   password is kept as {@link formatKongSha1Hash} with `hash_algorithm = 'kong-sha1'`
 *   (checked by {@link verifyKongSha1}); a plain one is stored as HMAC-SHA-256 like keygate's own;
 * - `jwt_secrets[]` → `jwt` with lookup = the Kong `key` (the value of the token's `iss` claim, by
 *   Kong's default `key_claim_name`). The signing secret / RSA public key is NOT imported: the
 *   issuer must be configured in keygate's policy file (a warning lists each one);
 * - oauth2, hmac-auth and mtls-auth credentials are not imported (warnings).
 * Idempotency, batching and rejection rules are those of `importNdjson`; `line` in the report
 * is the line where the entity starts in the file.
 */
export async function importKong(options: KongImportOptions): Promise<ImportReport> {
  const report = new ImportReportBuilder();
  report.bytesRead = Buffer.byteLength(options.text, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(options.text, { lineCounter, prettyErrors: false });
  const lineOf = (node: unknown): number => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range === undefined ? 0 : lineCounter.linePos(range[0]).line;
  };
  const parseError = doc.errors[0];
  if (parseError !== undefined) {
    // The parser's message may quote the file (and so a key): give only its code and line.
    throw new OperationError('invalid_request', `the Kong file is not valid YAML or JSON (${parseError.code} at line ${lineCounter.linePos(parseError.pos[0]).line})`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new OperationError('invalid_request', 'the Kong file must be a mapping with _format_version and consumers');
  const formatVersion = toJs(root.get('_format_version', true), doc);
  if (typeof formatVersion !== 'string' && typeof formatVersion !== 'number') {
    throw new OperationError('invalid_request', 'not a Kong declarative config: _format_version is missing');
  }
  const transform = toJs(root.get('_transform', true), doc);
  const mode = options.passwords ?? 'auto';
  const passwordIsHashed = (password: string): boolean =>
    mode === 'hashed' || (mode === 'auto' && (transform === false || (transform !== true && SHA1_HEX.test(password))));

  const entries = (node: unknown, key: string): Entry[] => {
    if (!isMap(node)) return [];
    const seq = node.get(key, true);
    if (seq === undefined || seq === null) return [];
    if (!isSeq(seq)) {
      report.reject(lineOf(seq), `${key} must be a list`);
      return [];
    }
    return seq.items.map((item) => ({ value: toJs(item, doc), line: lineOf(item) }));
  };

  // 1. Consumers.
  const consumers: KongConsumer[] = [];
  const byRef = new Map<string, KongConsumer | null>();
  const consumerSeq = root.get('consumers', true);
  const consumerNodes: unknown[] = isSeq(consumerSeq) ? consumerSeq.items : [];
  if (consumerSeq !== undefined && consumerSeq !== null && !isSeq(consumerSeq)) report.reject(lineOf(consumerSeq), 'consumers must be a list');
  const usernames = new Map<string, number>();
  const customIds = new Map<string, number>();
  for (const item of consumerNodes) {
    const line = lineOf(item);
    report.lines++;
    const value = toJs(item, doc);
    const kongId = isPlainObject(value) && (typeof value.id === 'string' || typeof value.id === 'number') ? String(value.id) : null;
    let consumer: KongConsumer | null = null;
    try {
      consumer = kongConsumer(value, line, kongId);
      const seen = usernames.get(consumer.staged.username);
      if (seen !== undefined) throw new RecordError(`username ${consumer.staged.username} is also on line ${seen}`);
      const custom = consumer.staged.customId;
      const seenCustom = custom === null ? undefined : customIds.get(custom);
      if (seenCustom !== undefined) throw new RecordError(`custom_id ${custom ?? ''} is also on line ${seenCustom}`);
      usernames.set(consumer.staged.username, line);
      if (custom !== null) customIds.set(custom, line);
      consumers.push(consumer);
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      report.reject(line, `consumer: ${err.message}`);
      consumer = null;
    }
    // A rejected consumer still claims its references, so its credentials are reported, not misplaced.
    if (kongId !== null && !byRef.has(kongId)) byRef.set(kongId, consumer);
    if (isPlainObject(value) && typeof value.username === 'string' && !byRef.has(value.username)) byRef.set(value.username, consumer);
  }

  // 2. Credentials and ACLs, nested and top-level.
  const seenCredentials = new Map<string, number>();
  const addCredential = (owner: KongConsumer, kind: string, entry: Entry, saltFromRef: string | null): void => {
    try {
      const credential = kongCredential(kind, entry, owner, saltFromRef, options.hasher, passwordIsHashed, report);
      if (credential === null) return;
      const key = `${credential.type}\u0000${credential.lookup}`;
      const other = seenCredentials.get(key);
      if (other !== undefined) throw new RecordError(`the same ${credential.type} credential is also on line ${other}`);
      seenCredentials.set(key, entry.line);
      owner.credentials.push(credential);
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      report.reject(entry.line, `${kind}: ${err.message}`);
    }
  };
  const KINDS = ['keyauth_credentials', 'basicauth_credentials', 'acls', 'jwt_secrets'] as const;
  consumerNodes.forEach((item) => {
    const value = toJs(item, doc);
    const ref = isPlainObject(value) ? refOf(value.id) ?? refOf(value.username) : null;
    const owner = ref === null ? undefined : byRef.get(ref);
    for (const kind of KINDS) {
      for (const entry of entries(item, kind)) {
        if (owner === undefined || owner === null) report.reject(entry.line, `${kind}: its consumer was not imported`);
        else addCredential(owner, kind, entry, null);
      }
    }
    for (const kind of UNSUPPORTED_KINDS) {
      for (const entry of entries(item, kind)) report.warn(entry.line, `${kind}: keygate has no such credential type; not imported`);
    }
  });
  for (const kind of KINDS) {
    for (const entry of entries(root, kind)) {
      const ref = isPlainObject(entry.value) ? consumerRef(entry.value.consumer) : null;
      const owner = ref === null ? undefined : byRef.get(ref.value);
      if (ref === null) report.reject(entry.line, `${kind}: consumer (an id or username) is missing`);
      else if (owner === undefined) report.reject(entry.line, `${kind}: consumer ${ref.value} is not in the file`);
      else if (owner === null) report.reject(entry.line, `${kind}: its consumer was not imported`);
      else addCredential(owner, kind, entry, ref.isId ? ref.value : null);
    }
  }
  for (const kind of UNSUPPORTED_KINDS) {
    for (const entry of entries(root, kind)) report.warn(entry.line, `${kind}: keygate has no such credential type; not imported`);
  }

  // 3. Write, in batches, through the same path as NDJSON.
  const staged: StagedConsumer[] = [];
  for (const c of consumers) {
    let roles: string[];
    try {
      roles = checkRoles(c.roles, 'roles (from acls)');
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      report.reject(c.line, `consumer: ${err.message}`);
      continue;
    }
    staged.push({
      line: c.line, id: c.staged.id, username: c.staged.username,
      customIdGiven: true, customId: c.staged.customId, roles, metadata: null, credentials: c.credentials,
    });
  }
  const batchSize = options.batchSize ?? 10_000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new RangeError('batchSize must be a whole number from 1 to 100000');
  const writer = await ImportWriter.open({ db: options.db, pg: options.pg ?? null });
  try {
    for (let i = 0; i < staged.length; i += batchSize) {
      report.add(await writer.write(staged.slice(i, i + batchSize)));
      options.onProgress?.(Math.min(i + batchSize, staged.length), report.bytesRead);
    }
  } catch (err) {
    await writer.close();
    const reason = err instanceof Error ? err.message : String(err);
    await auditImport(options.db, options.actor, 'import.kong', options.source ?? null, { ...report.summary(), failed: reason }).catch(() => undefined);
    throw err;
  }
  await writer.close();
  await auditImport(options.db, options.actor, 'import.kong', options.source ?? null, { ...report.summary(), format_version: String(formatVersion) });
  return report.build();
}

function toJs(node: unknown, doc: Document): unknown {
  return node !== null && typeof node === 'object' && 'toJS' in node ? (node as Node).toJS(doc) : node;
}

function refOf(value: unknown): string | null {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : null;
}

/** `consumer:` of a top-level entity: an id or username, or `{ id }` / `{ username }`. */
function consumerRef(value: unknown): { value: string; isId: boolean } | null {
  if (typeof value === 'string' || typeof value === 'number') {
    const v = String(value);
    return { value: v, isId: isUuid(v) };
  }
  if (isPlainObject(value)) {
    const id = refOf(value.id);
    if (id !== null) return { value: id, isId: true };
    const username = refOf(value.username);
    if (username !== null) return { value: username, isId: false };
  }
  return null;
}

function kongConsumer(value: unknown, line: number, kongId: string | null): KongConsumer {
  if (!isPlainObject(value)) throw new RecordError('must be a mapping');
  const rawName = value.username ?? value.custom_id;
  if (rawName === undefined || rawName === null) throw new RecordError('needs a username or custom_id');
  const username = checkName(rawName, 'username');
  const customId = value.custom_id === undefined || value.custom_id === null ? null : checkName(value.custom_id, 'custom_id');
  return {
    line, kongId,
    staged: { id: kongId !== null && isUuid(kongId) ? kongId.toLowerCase() : null, username, customId },
    roles: [], credentials: [],
  };
}

/** One Kong credential or ACL of `owner`; ACLs add a role and return null. */
function kongCredential(
  kind: string, entry: Entry, owner: KongConsumer, saltFromRef: string | null, hasher: SecretHasher,
  passwordIsHashed: (password: string) => boolean, report: ImportReportBuilder,
): StagedCredential | null {
  const v = entry.value;
  if (!isPlainObject(v)) throw new RecordError('must be a mapping');
  const base = { line: entry.line, label: `${kind} (line ${entry.line})`, scopes: [], setName: null, notBefore: null, expiresAt: null };
  switch (kind) {
    case 'acls': {
      const group = v.group;
      if (typeof group !== 'string' || !isRoleName(group)) {
        throw new RecordError(`group ${JSON.stringify(typeof group === 'string' ? group.slice(0, 64) : group)} is not a valid role name (1-128 characters of letters, digits and . _ : / -)`);
      }
      if (!owner.roles.includes(group)) owner.roles.push(group);
      return null;
    }
    case 'keyauth_credentials': {
      const key = checkApiKey(v.key, 'key');
      const ttl = typeof v.ttl === 'number' && v.ttl > 0 ? v.ttl : null;
      return {
        ...base, type: 'key-auth', lookup: hasher.hash(key), displayPrefix: apiKeyDisplayPrefix(key), secretHash: null, hashAlgorithm: 'hmac-sha256',
        expiresAt: ttl === null ? null : new Date(Date.now() + ttl * 1000).toISOString(),
      };
    }
    case 'basicauth_credentials': {
      const username = checkBasicKeyId(v.username, 'username');
      const password = v.password;
      if (typeof password !== 'string' || password.length === 0) throw new RecordError('password is missing');
      if (passwordIsHashed(password)) {
        if (!SHA1_HEX.test(password)) throw new RecordError('a hashed password must be Kong\'s SHA-1 (40 hex digits); other schemes are not supported');
        const salt = saltFromRef ?? owner.kongId;
        if (salt === null) throw new RecordError('a hashed password needs its consumer\'s Kong id (the salt Kong used)');
        return {
          ...base, type: 'basic-auth', lookup: username, displayPrefix: username.slice(0, 64),
          secretHash: formatKongSha1Hash(salt, password), hashAlgorithm: KONG_SHA1_ALGORITHM,
        };
      }
      return {
        ...base, type: 'basic-auth', lookup: username, displayPrefix: username.slice(0, 64),
        secretHash: hasher.hash(checkBasicSecret(password, 'password')), hashAlgorithm: 'hmac-sha256',
      };
    }
    case 'jwt_secrets': {
      const key = checkNamedLookup(v.key, 'key', 'jwt');
      const algorithm = typeof v.algorithm === 'string' ? v.algorithm : 'HS256';
      const material = typeof v.rsa_public_key === 'string' && v.rsa_public_key !== '' ? 'rsa_public_key' : 'secret';
      report.warn(entry.line, `jwt_secrets: key ${JSON.stringify(key.slice(0, 64))} (${algorithm.slice(0, 16)}) imported as a jwt credential; its ${material} is not: configure this issuer in keygate's policy file`);
      return { ...base, type: 'jwt', lookup: key, displayPrefix: key.slice(0, 64), secretHash: null, hashAlgorithm: null };
    }
    default:
      return null;
  }
}
