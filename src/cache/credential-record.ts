/**
 * The value the L1 credential cache stores, and its compact binary encoding.
 *
 * A record lives in a shard's arena `Buffer` as one contiguous run of bytes:
 *
 * ```
 *  off  size  field
 *    0     2  record length in bytes (u16 LE), header included
 *    2     1  flags   (DEAD, NEGATIVE, REF are owned by the shard; the rest by the codec below)
 *    3     1  flags2  (low 4 bits: interned type id, 15 = type inline; high bits: more presence flags)
 *    4    32  key (the full 32-byte digest)
 *   36     8  stored-at, epoch ms (f64 LE), for the cache TTLs
 *  --- a negative entry ends here (44 bytes) ---
 *   44    16  credentialId (uuid, binary)
 *   60    16  consumerId (uuid, binary)
 *   76        [type: u8 len + utf-8]          when flags2 type id = 15
 *             [notBefore f64]                 when HAS_NBF
 *             [expiresAt f64]                 when HAS_EXP
 *             [secretHash 32 bytes]           when HAS_SECRET
 *             username: u8 len + utf-8
 *             [customId: u8 len + utf-8]      when HAS_CUSTOM
 *             roles:  varint interned list id, or (ROLES_INLINE) u16 len + encoded list
 *             scopes: varint interned list id, or (SCOPES_INLINE) u16 len + encoded list
 * ```
 *
 * An encoded list is the concatenation of `varint(byteLength) + utf-8 bytes` per item; it may be
 * at most {@link MAX_LIST_BYTES} long.
 */

/** What the cache knows about one credential (a positive entry). */
export interface CredentialRecord {
  /** uuid string (lower-case, 36 chars); stored as 16 bytes binary. */
  readonly credentialId: string;
  /** uuid string (lower-case, 36 chars); stored as 16 bytes binary. */
  readonly consumerId: string;
  /** utf-8, up to 255 bytes. */
  readonly username: string;
  /** utf-8, up to 255 bytes. */
  readonly customId: string | null;
  /** Each role utf-8; the encoded list (1–2 byte length prefix + bytes per item) is <= 4 KiB. */
  readonly roles: readonly string[];
  /** Same limits as `roles`. */
  readonly scopes: readonly string[];
  /** Credential type name, e.g. 'key-auth', 'basic-auth', 'jwt', 'mtls' (interned: small table). */
  readonly type: string;
  readonly consumerSuspended: boolean;
  readonly revoked: boolean;
  /** Epoch ms, 0 = none. */
  readonly notBefore: number;
  /** Epoch ms, 0 = never. */
  readonly expiresAt: number;
  /** 32 bytes when the credential has a separate secret (basic-auth), else null. */
  readonly secretHash: Buffer | null;
}

// ---- layout -------------------------------------------------------------------------------

export const KEY_BYTES = 32;
export const OFF_LEN = 0;
export const OFF_FLAGS = 2;
export const OFF_FLAGS2 = 3;
export const OFF_KEY = 4;
/** Byte of the record used as the 8-bit index tag (key byte 8: not used for shard or slot). */
export const OFF_TAG = OFF_KEY + 8;
export const OFF_STAMP = 36;
export const NEGATIVE_RECORD_BYTES = 44;
const OFF_CREDENTIAL_ID = 44;
const OFF_CONSUMER_ID = OFF_CREDENTIAL_ID + 16;
const OFF_VAR = 76;

/** flags: shard-owned bits. */
export const F_DEAD = 0x01;
export const F_NEGATIVE = 0x02;
export const F_REF = 0x04;
/** flags: codec-owned bits. */
const F_SUSPENDED = 0x08;
const F_REVOKED = 0x10;
const F_HAS_CUSTOM = 0x20;
const F_HAS_SECRET = 0x40;
const F_HAS_NBF = 0x80;
/** flags2 */
const F2_TYPE_MASK = 0x0f;
const F2_TYPE_INLINE = 0x0f;
const F2_HAS_EXP = 0x10;
const F2_ROLES_INLINE = 0x20;
const F2_SCOPES_INLINE = 0x40;

export const MAX_STRING_BYTES = 255;
export const MAX_LIST_BYTES = 4096;
/** Upper bound of one encoded record (all optional fields at their maximum). */
export const MAX_RECORD_BYTES =
  OFF_VAR + (1 + MAX_STRING_BYTES) + 8 + 8 + 32 + (1 + MAX_STRING_BYTES) * 2 + (2 + MAX_LIST_BYTES) * 2;

// ---- uuid ---------------------------------------------------------------------------------

/** Value of a lower-case hex digit by char code, -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) HEX_VALUE[d.toString(16).charCodeAt(0)] = d;

/** Parses a lower-case canonical uuid into 16 bytes at `off` of `out` (TypeError otherwise). */
function writeUuid(uuid: string, field: string, out: Buffer, off: number): void {
  let bad = typeof uuid !== 'string' || uuid.length !== 36;
  if (!bad) {
    let o = off;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        if (uuid.charCodeAt(i) !== 0x2d) bad = true;
        i--; // the next pair starts right after the dash
        continue;
      }
      const hi = HEX_VALUE[uuid.charCodeAt(i)] ?? -1;
      const lo = HEX_VALUE[uuid.charCodeAt(i + 1)] ?? -1;
      if ((hi | lo) < 0) bad = true;
      out[o++] = (hi << 4) | lo;
    }
  }
  if (bad) throw new TypeError(`${field} must be a lower-case canonical uuid string`);
}

/** Hex digit pairs (ASCII) of every byte value. */
const HEX_ASCII = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, '0');
  HEX_ASCII[2 * b] = h.charCodeAt(0);
  HEX_ASCII[2 * b + 1] = h.charCodeAt(1);
}
/** Where each uuid byte's two hex digits go in the 36-char form. */
const UUID_DIGIT_POS = Uint8Array.from([0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]);
/** Both uuids of a record as text: "<credentialId> <consumerId>" (73 chars), reused per decode. */
const uuidText = Buffer.alloc(73, 0x2d /* '-' */);
uuidText[36] = 0x20;

/**
 * The two uuids at `off` (32 bytes) as one 73-char string "<uuid> <uuid>": one native call for
 * both instead of hex-slicing and concatenating each.
 */
function readUuidPair(buf: Buffer, off: number): string {
  for (let u = 0; u < 2; u++) {
    const base = u * 37;
    const src = off + u * 16;
    for (let i = 0; i < 16; i++) {
      const b = (buf[src + i] ?? 0) * 2;
      const p = base + (UUID_DIGIT_POS[i] ?? 0);
      uuidText[p] = HEX_ASCII[b] ?? 0;
      uuidText[p + 1] = HEX_ASCII[b + 1] ?? 0;
    }
  }
  return uuidText.toString('latin1', 0, 73);
}

// ---- intern tables ------------------------------------------------------------------------

/** Default caps of the shared role/scope list table. */
export const DEFAULT_MAX_INTERNED_LISTS = 16_384;
export const DEFAULT_MAX_INTERNED_LIST_BYTES = 4 * 1024 * 1024;
/** Interned type ids are 0..14 (4 bits); id 15 means "type stored inline". */
const MAX_INTERNED_TYPES = 15;

const EMPTY_LIST: readonly string[] = Object.freeze([]);

/**
 * Per-cache tables of interned credential types and role/scope lists. Entries are never removed
 * (a list that no record references any more stays until {@link InternTables.clear}); both tables
 * are capped, and records fall back to inline encoding when a table is full.
 */
export class InternTables {
  private readonly typeIds = new Map<string, number>();
  private readonly types: string[] = [];
  private readonly listIds = new Map<string, number>();
  private readonly lists: (readonly string[])[] = [EMPTY_LIST];
  private listBytes = 0;

  constructor(
    private readonly maxLists = DEFAULT_MAX_INTERNED_LISTS,
    private readonly maxListBytes = DEFAULT_MAX_INTERNED_LIST_BYTES,
  ) {}

  /** Id of `type` (interning it when there is room), or -1 when it must be stored inline. */
  typeId(type: string): number {
    const id = this.typeIds.get(type);
    if (id !== undefined) return id;
    if (this.types.length >= MAX_INTERNED_TYPES) return -1;
    const next = this.types.length;
    this.types.push(type);
    this.typeIds.set(type, next);
    return next;
  }

  typeName(id: number): string {
    const t = this.types[id];
    if (t === undefined) throw new Error(`credential cache: unknown type id ${id}`);
    return t;
  }

  /**
   * Id of the list whose encoding is `encoded[0, len)` (interning a frozen copy of `list` when
   * there is room), or -1 when the list must be stored inline.
   */
  listId(list: readonly string[], encoded: Buffer, len: number): number {
    if (len === 0) return 0;
    const k = encoded.toString('latin1', 0, len);
    const id = this.listIds.get(k);
    if (id !== undefined) return id;
    if (this.lists.length >= this.maxLists || this.listBytes + len > this.maxListBytes) return -1;
    const next = this.lists.length;
    this.lists.push(Object.freeze(list.slice()));
    this.listIds.set(k, next);
    this.listBytes += len;
    return next;
  }

  list(id: number): readonly string[] {
    const l = this.lists[id];
    if (l === undefined) throw new Error(`credential cache: unknown list id ${id}`);
    return l;
  }

  /** Interned lists (including the pre-interned empty list) and their encoded bytes. */
  get listCount(): number {
    return this.lists.length;
  }
  get listEncodedBytes(): number {
    return this.listBytes;
  }

  clear(): void {
    this.typeIds.clear();
    this.types.length = 0;
    this.listIds.clear();
    this.lists.length = 1;
    this.listBytes = 0;
  }
}

// ---- encoding -----------------------------------------------------------------------------

function writeVarint(v: number, out: Buffer, off: number): number {
  while (v >= 0x80) {
    out[off++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[off++] = v;
  return off;
}

function writeShortString(s: string, field: string, out: Buffer, off: number): number {
  if (typeof s !== 'string') throw new TypeError(`${field} must be a string`);
  // At most 3 bytes per UTF-16 unit, so anything up to 85 units fits without measuring.
  const n = s.length <= 85 ? out.write(s, off + 1, 'utf8') : Buffer.byteLength(s, 'utf8');
  if (n > MAX_STRING_BYTES) throw new RangeError(`${field} is longer than ${MAX_STRING_BYTES} bytes`);
  if (s.length > 85) out.write(s, off + 1, n, 'utf8');
  out[off] = n;
  return off + 1 + n;
}

/** Encodes a list into `out` from 0; returns the encoded length. */
function encodeList(list: readonly string[], field: string, out: Buffer): number {
  if (!Array.isArray(list)) throw new TypeError(`${field} must be an array of strings`);
  let off = 0;
  for (const item of list) {
    if (typeof item !== 'string') throw new TypeError(`${field} must be an array of strings`);
    const n = Buffer.byteLength(item, 'utf8');
    if (off + (n < 0x80 ? 1 : 2) + n > MAX_LIST_BYTES) {
      throw new RangeError(`${field} encodes to more than ${MAX_LIST_BYTES} bytes`);
    }
    off = writeVarint(n, out, off);
    off += out.write(item, off, n, 'utf8');
  }
  return off;
}

/**
 * Writes the list at `off` of `out`, as an interned id or inline. Returns the new offset and
 * whether it went inline, packed allocation-free as `offset * 2 + (inline ? 1 : 0)`.
 */
function writeList(
  list: readonly string[],
  field: string,
  out: Buffer,
  off: number,
  scratch: Buffer,
  tables: InternTables,
): number {
  const len = encodeList(list, field, scratch);
  const id = tables.listId(list, scratch, len);
  if (id >= 0) return writeVarint(id, out, off) * 2;
  out.writeUInt16LE(len, off);
  scratch.copy(out, off + 2, 0, len);
  return (off + 2 + len) * 2 + 1;
}

function checkTime(v: number, field: string): void {
  if (typeof v !== 'number') throw new TypeError(`${field} must be a number (epoch ms)`);
}

/**
 * Encodes a positive record into `out` starting at 0 (which must hold {@link MAX_RECORD_BYTES}).
 * Writes the length, the codec-owned flag bits and the body; the key and stored-at stamp
 * (bytes 4..44) are left for the shard. `scratch` must hold {@link MAX_LIST_BYTES} bytes.
 * Throws TypeError for malformed values and RangeError for over-long strings/lists.
 */
export function encodeRecord(
  record: CredentialRecord,
  out: Buffer,
  scratch: Buffer,
  tables: InternTables,
): number {
  if (typeof record !== 'object' || record === null) throw new TypeError('record must be an object');
  let flags = 0;
  let flags2 = 0;
  writeUuid(record.credentialId, 'credentialId', out, OFF_CREDENTIAL_ID);
  writeUuid(record.consumerId, 'consumerId', out, OFF_CONSUMER_ID);
  let off = OFF_VAR;

  if (typeof record.type !== 'string') throw new TypeError('type must be a string');
  const typeId = tables.typeId(record.type);
  if (typeId >= 0) {
    flags2 |= typeId;
  } else {
    flags2 |= F2_TYPE_INLINE;
    off = writeShortString(record.type, 'type', out, off);
  }

  checkTime(record.notBefore, 'notBefore');
  checkTime(record.expiresAt, 'expiresAt');
  if (record.notBefore !== 0) {
    flags |= F_HAS_NBF;
    out.writeDoubleLE(record.notBefore, off);
    off += 8;
  }
  if (record.expiresAt !== 0) {
    flags2 |= F2_HAS_EXP;
    out.writeDoubleLE(record.expiresAt, off);
    off += 8;
  }
  const secret = record.secretHash;
  if (secret !== null) {
    if (!(secret instanceof Uint8Array) || secret.length !== 32) {
      throw new TypeError('secretHash must be a 32-byte Buffer or null');
    }
    flags |= F_HAS_SECRET;
    out.set(secret, off);
    off += 32;
  }

  off = writeShortString(record.username, 'username', out, off);
  if (record.customId !== null) {
    flags |= F_HAS_CUSTOM;
    off = writeShortString(record.customId, 'customId', out, off);
  }

  let packed = writeList(record.roles, 'roles', out, off, scratch, tables);
  if (packed & 1) flags2 |= F2_ROLES_INLINE;
  off = packed >>> 1;
  packed = writeList(record.scopes, 'scopes', out, off, scratch, tables);
  if (packed & 1) flags2 |= F2_SCOPES_INLINE;
  off = packed >>> 1;

  if (record.consumerSuspended === true) flags |= F_SUSPENDED;
  else if (record.consumerSuspended !== false) throw new TypeError('consumerSuspended must be a boolean');
  if (record.revoked === true) flags |= F_REVOKED;
  else if (record.revoked !== false) throw new TypeError('revoked must be a boolean');

  out.writeUInt16LE(off, OFF_LEN);
  out[OFF_FLAGS] = flags;
  out[OFF_FLAGS2] = flags2;
  return off;
}

// ---- decoding -----------------------------------------------------------------------------

function decodeInlineList(buf: Buffer, start: number, end: number): string[] {
  const items: string[] = [];
  let off = start;
  while (off < end) {
    let n = 0;
    let shift = 0;
    let b: number;
    do {
      b = buf[off++] ?? 0;
      n |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    items.push(buf.toString('utf8', off, off + n));
    off += n;
  }
  return items;
}

/** Where the list last read by {@link readList} ended (module state keeps decoding allocation-free). */
let listEnd = 0;

function readList(buf: Buffer, p: number, inline: boolean, tables: InternTables): readonly string[] {
  if (inline) {
    const n = buf.readUInt16LE(p);
    listEnd = p + 2 + n;
    return decodeInlineList(buf, p + 2, listEnd);
  }
  let id = 0;
  let shift = 0;
  let b: number;
  do {
    b = buf[p++] ?? 0;
    id |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  listEnd = p;
  return tables.list(id);
}

/** Decodes the positive record at `off` of `buf` (as written by {@link encodeRecord}). */
export function decodeRecord(buf: Buffer, off: number, tables: InternTables): CredentialRecord {
  const flags = buf[off + OFF_FLAGS] ?? 0;
  const flags2 = buf[off + OFF_FLAGS2] ?? 0;
  let p = off + OFF_VAR;

  let type: string;
  if ((flags2 & F2_TYPE_MASK) === F2_TYPE_INLINE) {
    const n = buf[p] ?? 0;
    type = buf.toString('utf8', p + 1, p + 1 + n);
    p += 1 + n;
  } else {
    type = tables.typeName(flags2 & F2_TYPE_MASK);
  }
  let notBefore = 0;
  if (flags & F_HAS_NBF) {
    notBefore = buf.readDoubleLE(p);
    p += 8;
  }
  let expiresAt = 0;
  if (flags2 & F2_HAS_EXP) {
    expiresAt = buf.readDoubleLE(p);
    p += 8;
  }
  let secretHash: Buffer | null = null;
  if (flags & F_HAS_SECRET) {
    secretHash = Buffer.allocUnsafe(32);
    buf.copy(secretHash, 0, p, p + 32);
    p += 32;
  }
  let n = buf[p] ?? 0;
  const username = buf.toString('utf8', p + 1, p + 1 + n);
  p += 1 + n;
  let customId: string | null = null;
  if (flags & F_HAS_CUSTOM) {
    n = buf[p] ?? 0;
    customId = buf.toString('utf8', p + 1, p + 1 + n);
    p += 1 + n;
  }

  const roles = readList(buf, p, (flags2 & F2_ROLES_INLINE) !== 0, tables);
  const scopes = readList(buf, listEnd, (flags2 & F2_SCOPES_INLINE) !== 0, tables);

  // OFF_CONSUMER_ID directly follows OFF_CREDENTIAL_ID.
  const ids = readUuidPair(buf, off + OFF_CREDENTIAL_ID);
  return {
    credentialId: ids.slice(0, 36),
    consumerId: ids.slice(37, 73),
    username,
    customId,
    roles,
    scopes,
    type,
    consumerSuspended: (flags & F_SUSPENDED) !== 0,
    revoked: (flags & F_REVOKED) !== 0,
    notBefore,
    expiresAt,
    secretHash,
  };
}
