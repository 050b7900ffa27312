/** Small, allocation-light helpers for reading credentials out of request parts. */

/** The first value of query parameter `name` in a raw query string (URL-decoded); undefined when absent; null when undecodable. */
export function queryParam(query: string, name: string): string | undefined | null {
  if (query.length === 0) return undefined;
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    const eq = query.indexOf('=', start);
    const nameEnd = eq !== -1 && eq < end ? eq : end;
    if (nameEnd - start === name.length && query.startsWith(name, start)) {
      const raw = nameEnd === end ? '' : query.slice(nameEnd + 1, end);
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return null;
      }
    }
    start = end + 1;
  }
  return undefined;
}

/** Splits `Authorization: <scheme> <rest>`; the scheme compared case-insensitively. */
export function authorizationParam(header: string | undefined, scheme: string): string | undefined {
  if (header === undefined || header.length <= scheme.length) return undefined;
  if (header.charCodeAt(scheme.length) !== 32) return undefined;
  if (header.slice(0, scheme.length).toLowerCase() !== scheme.toLowerCase()) return undefined;
  return header.slice(scheme.length + 1).trim();
}

/** True when `value` has a C0 control character or DEL. */
export function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** A plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Inserts into a bounded map (insertion order = age), dropping the oldest entry when full. */
export function rememberBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(key, value);
}

/** True when `value` holds only visible ASCII (0x21–0x7e): what a key or token may contain. */
export function isVisibleAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
