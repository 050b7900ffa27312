import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { SecretHasher, generatePepper } from '../../src/credentials/secret-hasher.js';
import { ApiKeyCredential, API_KEY_PREFIX } from '../../src/credentials/key-auth/api-key-credential.js';

const pepper = 'unit-test-pepper-0123456789abcdef0123456789';

test('HMAC-SHA-256 under the pepper, hex in the store', () => {
  const h = new SecretHasher(pepper);
  assert.equal(h.hash('kg_abc'), createHmac('sha256', pepper).update('kg_abc').digest('hex'));
  assert.equal(h.digest('kg_abc').length, 32);
  assert.notEqual(new SecretHasher(`${pepper}x`).hash('kg_abc'), h.hash('kg_abc'));
});

test('verify compares in constant time and rejects other secrets and junk hashes', () => {
  const h = new SecretHasher(pepper);
  const stored = h.hash('s3cret');
  assert.equal(h.verify('s3cret', stored), true);
  assert.equal(h.verify('s3cret ', stored), false);
  assert.equal(h.verify('s3cret', 'zz'), false);
  assert.equal(h.verify('s3cret', ''), false);
});

test('a short pepper is refused; generated peppers carry 256 bits', () => {
  assert.throws(() => new SecretHasher('short'), RangeError);
  assert.equal(Buffer.from(generatePepper(), 'base64url').length, 32);
});

test('issued API keys: kg_ prefix, 192 random bits, only the hash is kept', () => {
  const keyAuth = new ApiKeyCredential({ hasher: new SecretHasher(pepper) });
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const issued = keyAuth.issue();
    assert.ok(issued.key.startsWith(API_KEY_PREFIX));
    assert.equal(Buffer.from(issued.key.slice(3), 'base64url').length, 24);
    assert.equal(issued.lookup, new SecretHasher(pepper).hash(issued.key));
    assert.ok(!issued.lookup.includes(issued.key));
    assert.ok(issued.key.startsWith(issued.displayPrefix) && issued.displayPrefix.length === 9);
    seen.add(issued.key);
  }
  assert.equal(seen.size, 1000);
  assert.deepEqual(keyAuth.cacheKey(keyAuth.lookupOf('kg_x')), new SecretHasher(pepper).digest('kg_x'));
});

test('every type\'s cacheKey agrees with storedCacheKey (what the change feed evicts)', async () => {
  const { storedCacheKey } = await import('../../src/credentials/credential-type.js');
  const { CredentialRegistry } = await import('../../src/credentials/registry.js');
  const { JwtCredential } = await import('../../src/credentials/jwt/jwt-credential.js');
  const registry = new CredentialRegistry({ hasher: new SecretHasher(pepper) });
  const lookup = new SecretHasher(pepper).hash('kg_example');
  for (const name of registry.names()) {
    const type = registry.get(name);
    assert.ok(type !== undefined);
    const l = name === 'key-auth' ? lookup : 'spiffe://cluster.local/ns/a/sa/b';
    assert.deepEqual(type.cacheKey(l), storedCacheKey(name, l), name);
  }
  const jwt = new JwtCredential({ issuers: [] });
  assert.deepEqual(jwt.cacheKey('user-1'), storedCacheKey('jwt', 'user-1'));
  assert.equal(storedCacheKey('key-auth', 'not-hex'), null);
});
