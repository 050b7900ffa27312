import { createHash, timingSafeEqual } from 'node:crypto';

/** `credentials.hash_algorithm` of a basic-auth password imported from Kong as Kong hashed it. */
export const KONG_SHA1_ALGORITHM = 'kong-sha1';

const SHA1_HEX = /^[0-9a-fA-F]{40}$/;

/**
 * The stored form of a Kong basic-auth password: `"<kong consumer id>:<sha1 hex>"` with
 * `hash_algorithm = 'kong-sha1'`. Kong hashes `sha1(password .. consumer_id)`, so the id it salted
 * with must travel with the hash (keygate may give the consumer another id).
 */
export function formatKongSha1Hash(consumerId: string, sha1hex: string): string {
  return `${consumerId}:${sha1hex.toLowerCase()}`;
}

/** Splits a `kong-sha1` `secret_hash`; null when it is not one. */
export function parseKongSha1Hash(secretHash: string): { consumerId: string; sha1hex: string } | null {
  const colon = secretHash.lastIndexOf(':');
  if (colon < 1) return null;
  const sha1hex = secretHash.slice(colon + 1);
  return SHA1_HEX.test(sha1hex) ? { consumerId: secretHash.slice(0, colon), sha1hex } : null;
}

/** Kong's basic-auth check: `sha1(password .. consumerId)` against the stored hex, in constant time. */
export function verifyKongSha1(password: string, consumerId: string, sha1hex: string): boolean {
  if (!SHA1_HEX.test(sha1hex)) return false;
  const actual = createHash('sha1').update(password + consumerId, 'utf8').digest();
  return timingSafeEqual(actual, Buffer.from(sha1hex, 'hex'));
}

/** {@link verifyKongSha1} against a stored `secret_hash` in the {@link formatKongSha1Hash} form. */
export function verifyKongSha1Hash(password: string, secretHash: string): boolean {
  const parsed = parseKongSha1Hash(secretHash);
  return parsed !== null && verifyKongSha1(password, parsed.consumerId, parsed.sha1hex);
}

