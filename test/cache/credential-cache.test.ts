import { test } from 'node:test';
// `import assert from 'node:assert/strict'` does not typecheck under this tsconfig
// (esModuleInterop off); the named import is the same object.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { CredentialCache, type CacheLookup, type CredentialCacheOptions } from '../../src/cache/credential-cache.js';
import type { CredentialRecord } from '../../src/cache/credential-record.js';
import { syntheticRecord as record } from '../fixtures/credential-records.js';

// ---- helpers ----------------------------------------------------------------------------

function keyOf(n: number | string): Buffer {
  return createHash('sha256').update(`key-auth:${n}`).digest();
}


class FakeClock {
  t = 1_700_000_000_000;
  readonly now = (): number => this.t;
}

function cache(over: Partial<CredentialCacheOptions> = {}): CredentialCache {
  return new CredentialCache({ maxEntries: 10_000, positiveTtlMs: 0, negativeTtlMs: 60_000, ...over });
}

function hitRecord(r: CacheLookup): CredentialRecord {
  assert.equal(r.kind, 'hit');
  if (r.kind !== 'hit') throw new Error('unreachable');
  return r.record;
}

// ---- round trip ---------------------------------------------------------------------------

test('hits round-trip every field exactly', () => {
  const c = cache();
  const records: CredentialRecord[] = [
    record(1),
    record(2, { customId: 'ext-42', roles: [], scopes: [] }),
    record(3, {
      username: 'Zoë 🚀 用户 ✓',
      customId: 'ñandú-𝄞',
      roles: ['ροή', '管理者', ''],
      scopes: ['a:b', 'c'],
      type: 'basic-auth',
      secretHash: randomBytes(32),
      consumerSuspended: true,
      revoked: true,
      notBefore: 1_700_000_000_123,
      expiresAt: 1_800_000_000_456.5,
    }),
    record(4, { type: 'jwt', notBefore: 5, expiresAt: 0 }),
    record(5, { type: 'mtls', notBefore: 0, expiresAt: Number.MAX_SAFE_INTEGER, customId: '' }),
    record(6, { username: '', roles: ['x'.repeat(2000), 'y'.repeat(2000)] }),
    record(7, { username: 'é'.repeat(127) /* 254 bytes */, customId: 'a'.repeat(255) }),
  ];
  records.forEach((r, i) => c.setPositive(keyOf(i), r));
  records.forEach((r, i) => {
    const got = hitRecord(c.get(keyOf(i)));
    assert.deepEqual(got, r);
  });
  c.checkInvariants();
  assert.equal(c.size, records.length);
});

test('secretHash comes back as an independent copy', () => {
  const c = cache();
  const secret = randomBytes(32);
  const original = Buffer.from(secret);
  c.setPositive(keyOf(1), record(1, { type: 'basic-auth', secretHash: secret }));
  secret.fill(0); // the cache must not have kept a reference
  const got = hitRecord(c.get(keyOf(1)));
  assert.deepEqual(got.secretHash, original);
  got.secretHash?.fill(1);
  assert.deepEqual(hitRecord(c.get(keyOf(1))).secretHash, original);
});

test('keys are copied, not retained', () => {
  const c = cache();
  const k = keyOf('retained');
  const saved = Buffer.from(k);
  c.setPositive(k, record(1));
  k.fill(7);
  assert.equal(c.get(k).kind, 'miss');
  assert.equal(c.get(saved).kind, 'hit');
  const n = keyOf('neg');
  const nSaved = Buffer.from(n);
  c.setNegative(n);
  n.fill(9);
  assert.equal(c.get(nSaved).kind, 'negative');
});

test('many credential types: beyond the interned table they are stored inline', () => {
  const c = cache();
  for (let i = 0; i < 40; i++) c.setPositive(keyOf(i), record(i, { type: `type-${i}` }));
  for (let i = 0; i < 40; i++) assert.equal(hitRecord(c.get(keyOf(i))).type, `type-${i}`);
  assert.throws(() => c.setPositive(keyOf(99), record(99, { type: 'x'.repeat(256) })), RangeError);
});

test('role lists fall back to inline encoding when the intern table is full', () => {
  const c = cache({ maxEntries: 40_000 });
  const n = 17_000; // the table holds 16,384 lists
  for (let i = 0; i < n; i++) c.setPositive(keyOf(i), record(i, { roles: [`role-${i}`], scopes: ['s'] }));
  for (let i = 0; i < n; i += 97) {
    const r = hitRecord(c.get(keyOf(i)));
    assert.deepEqual(r.roles, [`role-${i}`]);
    assert.deepEqual(r.scopes, ['s']);
  }
  assert.deepEqual(hitRecord(c.get(keyOf(n - 1))).roles, [`role-${n - 1}`]);
  c.checkInvariants();
});

test('input validation', () => {
  const c = cache();
  for (const bad of [Buffer.alloc(31), Buffer.alloc(33), Buffer.alloc(0)]) {
    assert.throws(() => c.get(bad), TypeError);
    assert.throws(() => c.setPositive(bad, record(1)), TypeError);
    assert.throws(() => c.setNegative(bad), TypeError);
    assert.throws(() => c.delete(bad), TypeError);
  }
  assert.throws(() => c.get('x'.repeat(32) as unknown as Buffer), TypeError);
  const k = keyOf(1);
  assert.throws(() => c.setPositive(k, record(1, { username: 'a'.repeat(256) })), RangeError);
  assert.throws(() => c.setPositive(k, record(1, { username: 'é'.repeat(128) })), RangeError);
  assert.throws(() => c.setPositive(k, record(1, { customId: 'b'.repeat(300) })), RangeError);
  assert.throws(() => c.setPositive(k, record(1, { roles: ['r'.repeat(4095)] })), RangeError);
  assert.throws(() => c.setPositive(k, record(1, { scopes: Array.from({ length: 2000 }, () => 'ab') })), RangeError);
  assert.throws(() => c.setPositive(k, record(1, { credentialId: 'not-a-uuid' })), TypeError);
  assert.throws(() => c.setPositive(k, record(1, { consumerId: randomUUID().toUpperCase() })), TypeError);
  assert.throws(() => c.setPositive(k, record(1, { secretHash: randomBytes(31) })), TypeError);
  assert.equal(c.size, 0, 'a rejected record leaves nothing behind');
  // exactly at the limits is fine
  c.setPositive(k, record(1, { username: 'a'.repeat(255), roles: ['r'.repeat(4093)] }));
  assert.equal(hitRecord(c.get(k)).username.length, 255);

  assert.throws(() => new CredentialCache({ maxEntries: 0, positiveTtlMs: 0, negativeTtlMs: 1 }), RangeError);
  assert.throws(() => new CredentialCache({ maxEntries: 10, shards: 3, positiveTtlMs: 0, negativeTtlMs: 1 }), RangeError);
  assert.throws(() => new CredentialCache({ maxEntries: 10, positiveTtlMs: -1, negativeTtlMs: 1 }), RangeError);
  assert.throws(
    () => new CredentialCache({ maxEntries: 10, positiveTtlMs: 0, negativeTtlMs: 1, maxNegativeFraction: 2 }),
    RangeError,
  );
});

// ---- basic semantics ----------------------------------------------------------------------

test('miss, delete, replace, clear', () => {
  const c = cache();
  assert.equal(c.get(keyOf('nope')).kind, 'miss');
  const a = record(1);
  const b = record(2, { username: 'replacement' });
  c.setPositive(keyOf(1), a);
  c.setPositive(keyOf(1), b);
  assert.equal(c.size, 1);
  assert.deepEqual(hitRecord(c.get(keyOf(1))), b);

  c.setNegative(keyOf(1)); // positive -> negative
  assert.equal(c.get(keyOf(1)).kind, 'negative');
  assert.equal(c.stats().negatives, 1);
  c.setPositive(keyOf(1), a); // negative -> positive
  assert.deepEqual(hitRecord(c.get(keyOf(1))), a);
  assert.equal(c.stats().negatives, 0);
  assert.equal(c.size, 1);

  assert.equal(c.delete(keyOf(1)), true);
  assert.equal(c.delete(keyOf(1)), false);
  assert.equal(c.get(keyOf(1)).kind, 'miss');
  assert.equal(c.size, 0);

  for (let i = 0; i < 100; i++) c.setPositive(keyOf(i), record(i));
  c.setNegative(keyOf('n'));
  c.clear();
  assert.equal(c.size, 0);
  assert.equal(c.get(keyOf(5)).kind, 'miss');
  c.setPositive(keyOf(5), a);
  assert.deepEqual(hitRecord(c.get(keyOf(5))), a);
  c.checkInvariants();

  const s = c.stats();
  assert.ok(s.hits > 0 && s.misses > 0 && s.negativeHits > 0);
});

test('negative entries expire after negativeTtlMs', () => {
  const clock = new FakeClock();
  const c = cache({ negativeTtlMs: 30_000, now: clock.now });
  c.setNegative(keyOf('unknown'));
  assert.equal(c.get(keyOf('unknown')).kind, 'negative');
  clock.t += 29_999;
  assert.equal(c.get(keyOf('unknown')).kind, 'negative');
  clock.t += 1;
  assert.equal(c.get(keyOf('unknown')).kind, 'miss');
  assert.equal(c.size, 0, 'dropped lazily on the expired read');
  assert.equal(c.stats().negatives, 0);
  assert.equal(c.stats().negativeHits, 2);
});

test('negativeTtlMs 0 disables negative entries', () => {
  const c = cache({ negativeTtlMs: 0 });
  c.setPositive(keyOf(1), record(1));
  c.setNegative(keyOf(1));
  assert.equal(c.get(keyOf(1)).kind, 'miss', 'still replaces the positive entry');
  assert.equal(c.size, 0);
});

test('positive entries are served for positiveTtlMs, then miss', () => {
  const clock = new FakeClock();
  const c = cache({ positiveTtlMs: 5_000, now: clock.now });
  c.setPositive(keyOf(1), record(1));
  clock.t += 1_000;
  c.setPositive(keyOf(2), record(2));
  clock.t += 3_999;
  assert.equal(c.get(keyOf(1)).kind, 'hit');
  clock.t += 1;
  assert.equal(c.get(keyOf(1)).kind, 'miss');
  assert.equal(c.get(keyOf(2)).kind, 'hit');
  assert.equal(c.delete(keyOf(2)), true);
  c.setPositive(keyOf(3), record(3));
  clock.t += 5_000;
  assert.equal(c.delete(keyOf(3)), false, 'an expired entry is not reported as deleted');
  c.checkInvariants();
});

test("get does not check the credential's own validity fields", () => {
  const c = cache();
  const r = record(1, { revoked: true, consumerSuspended: true, notBefore: Date.now() + 1e9, expiresAt: 1 });
  c.setPositive(keyOf(1), r);
  assert.deepEqual(hitRecord(c.get(keyOf(1))), r);
});

// ---- bounds, eviction, compaction -----------------------------------------------------------

test('eviction keeps size <= maxEntries and keeps recent entries', () => {
  const c = cache({ maxEntries: 1_000 });
  const n = 30_000;
  for (let i = 0; i < n; i++) {
    c.setPositive(keyOf(i), record(i));
    assert.ok(c.size <= 1_000);
    if (i % 5_000 === 0) c.checkInvariants();
  }
  c.checkInvariants();
  assert.equal(c.size, 1_000);
  for (let i = n - 100; i < n; i++) assert.equal(c.get(keyOf(i)).kind, 'hit', `recent key ${i}`);
  const s = c.stats();
  assert.equal(s.evictions, n - 1_000);
  assert.ok(s.bytes < 1_000 * 400, `bytes ${s.bytes}`);
});

test('CLOCK keeps entries that are being read', () => {
  const c = cache({ maxEntries: 2_000, shards: 8 });
  const hot = 400;
  let hotMisses = 0;
  for (let i = 0; i < 60_000; i++) {
    c.setPositive(keyOf(`cold-${i}`), record(i)); // one-hit wonders
    const h = keyOf(`hot-${i % hot}`);
    if (c.get(h).kind !== 'hit') {
      // reload on miss, as the caller does; after the warm-up the hot set must stay cached
      if (i >= 10_000) hotMisses++;
      c.setPositive(h, record(i));
    }
  }
  c.checkInvariants();
  assert.equal(hotMisses, 0);
});

test('a flood of negative entries cannot push out the positives', () => {
  const maxEntries = 8_192;
  const c = cache({ maxEntries, maxNegativeFraction: 0.25 });
  for (let i = 0; i < maxEntries; i++) c.setPositive(keyOf(i), record(i));
  for (let i = 0; i < 100_000; i++) c.setNegative(keyOf(`random-${i}`));
  c.checkInvariants();
  const s = c.stats();
  assert.ok(s.entries <= maxEntries);
  assert.ok(s.negatives <= maxEntries * 0.25, `negatives ${s.negatives}`);
  let positives = 0;
  for (let i = 0; i < maxEntries; i++) if (c.get(keyOf(i)).kind === 'hit') positives++;
  assert.ok(positives >= maxEntries * 0.74, `positives left ${positives}`);
  // the most recent negatives are still cached
  for (let i = 100_000 - 20; i < 100_000; i++) assert.equal(c.get(keyOf(`random-${i}`)).kind, 'negative');

  // with room to spare, the flood evicts only negatives
  const d = cache({ maxEntries, maxNegativeFraction: 0.25 });
  for (let i = 0; i < maxEntries / 2; i++) d.setPositive(keyOf(i), record(i));
  for (let i = 0; i < 50_000; i++) d.setNegative(keyOf(`random-${i}`));
  for (let i = 0; i < maxEntries / 2; i++) assert.equal(d.get(keyOf(i)).kind, 'hit');
});

test('expired entries are evicted before live ones when full', () => {
  const clock = new FakeClock();
  // one shard, so which records are oldest is exact rather than per shard
  const c = cache({ shards: 1, maxEntries: 1_024, positiveTtlMs: 10_000, now: clock.now });
  for (let i = 0; i < 1_024; i++) c.setPositive(keyOf(`old-${i}`), record(i));
  clock.t += 5_000;
  for (let i = 0; i < 512; i++) c.setPositive(keyOf(`mid-${i}`), record(i)); // evicts 512 old ones
  clock.t += 5_000; // the remaining old ones have now expired; the mid ones have not
  for (let i = 0; i < 512; i++) c.setPositive(keyOf(`new-${i}`), record(i));
  c.checkInvariants();
  for (let i = 0; i < 512; i++) {
    assert.equal(c.get(keyOf(`mid-${i}`)).kind, 'hit');
    assert.equal(c.get(keyOf(`new-${i}`)).kind, 'hit');
  }
});

test('compaction after many deletes keeps everything else intact', () => {
  const c = cache({ maxEntries: 50_000 });
  const n = 20_000;
  const recs = new Map<number, CredentialRecord>();
  for (let i = 0; i < n; i++) {
    const r = record(i, { customId: i % 3 === 0 ? `c-${i}` : null });
    recs.set(i, r);
    c.setPositive(keyOf(i), r);
  }
  const before = c.stats();
  for (let i = 0; i < n; i++) if (i % 5 !== 0) assert.equal(c.delete(keyOf(i)), true);
  c.checkInvariants();
  const after = c.stats();
  assert.ok(after.rebuilds > before.rebuilds, 'shards were compacted');
  assert.ok(after.bytes < before.bytes / 2, `bytes ${before.bytes} -> ${after.bytes}`);
  assert.equal(c.size, n / 5);
  for (let i = 0; i < n; i++) {
    const got = c.get(keyOf(i));
    if (i % 5 === 0) assert.deepEqual(hitRecord(got), recs.get(i));
    else assert.equal(got.kind, 'miss');
  }
});

// ---- randomized against a reference model ----------------------------------------------------

type RefEntry = { readonly kind: 'hit'; readonly record: CredentialRecord; readonly at: number } | { readonly kind: 'negative'; readonly at: number };

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('randomized: same answers as a reference Map (50k mixed ops)', () => {
  const rnd = prng(12345);
  const clock = new FakeClock();
  const posTtl = 20_000;
  const negTtl = 5_000;
  const universe = 3_000;
  const c = new CredentialCache({
    shards: 4,
    maxEntries: 4_096,
    positiveTtlMs: posTtl,
    negativeTtlMs: negTtl,
    maxNegativeFraction: 1,
    now: clock.now,
  });
  const ref = new Map<number, RefEntry>();
  const keys = Array.from({ length: universe }, (_, i) => keyOf(`rand-${i}`));
  const live = (k: number): RefEntry | undefined => {
    const e = ref.get(k);
    if (e === undefined) return undefined;
    const ttl = e.kind === 'hit' ? posTtl : negTtl;
    if (clock.t - e.at >= ttl) {
      ref.delete(k);
      return undefined;
    }
    return e;
  };
  for (let op = 0; op < 50_000; op++) {
    clock.t += Math.floor(rnd() * 3);
    const k = Math.floor(rnd() * universe);
    const key = keys[k] ?? keyOf(0);
    const x = rnd();
    if (x < 0.35) {
      const r = record(op, {
        customId: rnd() < 0.3 ? `cid-${op}` : null,
        secretHash: rnd() < 0.2 ? randomBytes(32) : null,
        expiresAt: rnd() < 0.2 ? clock.t + 1e6 : 0,
      });
      c.setPositive(key, r);
      ref.set(k, { kind: 'hit', record: r, at: clock.t });
    } else if (x < 0.5) {
      c.setNegative(key);
      ref.set(k, { kind: 'negative', at: clock.t });
    } else if (x < 0.65) {
      const expected = live(k) !== undefined;
      ref.delete(k);
      assert.equal(c.delete(key), expected, `delete #${op}`);
    } else {
      const e = live(k);
      const got = c.get(key);
      if (e === undefined) assert.equal(got.kind, 'miss', `get #${op}`);
      else if (e.kind === 'negative') assert.equal(got.kind, 'negative', `get #${op}`);
      else assert.deepEqual(hitRecord(got), e.record, `get #${op}`);
    }
    if (op % 2_500 === 0) c.checkInvariants();
  }
  c.checkInvariants();
  for (let k = 0; k < universe; k++) {
    const e = live(k);
    const got = c.get(keys[k] ?? keyOf(0));
    assert.equal(got.kind, e === undefined ? 'miss' : e.kind);
  }
  assert.ok(c.stats().rebuilds > 0, 'the run exercised compaction');
});

test('randomized with eviction: answers are exact or miss, never wrong', () => {
  const rnd = prng(777);
  const c = new CredentialCache({ shards: 8, maxEntries: 500, positiveTtlMs: 0, negativeTtlMs: 60_000 });
  const ref = new Map<number, CredentialRecord | 'negative'>();
  const universe = 2_000;
  const keys = Array.from({ length: universe }, (_, i) => keyOf(`evict-${i}`));
  let hits = 0;
  for (let op = 0; op < 40_000; op++) {
    const k = Math.floor(rnd() * universe);
    const key = keys[k] ?? keyOf(0);
    const x = rnd();
    if (x < 0.3) {
      const r = record(op);
      c.setPositive(key, r);
      ref.set(k, r);
    } else if (x < 0.4) {
      c.setNegative(key);
      ref.set(k, 'negative');
    } else if (x < 0.5) {
      c.delete(key);
      ref.delete(k);
    } else {
      const got = c.get(key);
      const e = ref.get(k);
      if (got.kind === 'miss') continue;
      hits++;
      if (got.kind === 'negative') assert.equal(e, 'negative');
      else assert.deepEqual(got.record, e);
    }
    assert.ok(c.size <= 500);
    if (op % 4_000 === 0) c.checkInvariants();
  }
  c.checkInvariants();
  assert.ok(hits > 1_000);
});

// ---- memory bound -----------------------------------------------------------------------------

test('1M entries: < 120 bytes of buffers per entry, every 1000th key found', () => {
  const n = 1_000_000;
  const c = new CredentialCache({ maxEntries: n, positiveTtlMs: 300_000, negativeTtlMs: 30_000 });
  const keyBytes = randomBytes(32 * n);
  const keyAt = (i: number): Buffer => keyBytes.subarray(i * 32, i * 32 + 32);
  const sample = new Map<number, CredentialRecord>();
  for (let i = 0; i < n; i++) {
    const r = record(i);
    c.setPositive(keyAt(i), r);
    if (i % 1000 === 0) sample.set(i, r);
  }
  const s = c.stats();
  assert.equal(s.entries, n);
  const perEntry = s.bytes / 1e6;
  assert.ok(perEntry < 120, `bytes per entry ${perEntry}`);
  for (const [i, r] of sample) assert.deepEqual(hitRecord(c.get(keyAt(i))), r);
  assert.equal(c.get(randomBytes(32)).kind, 'miss');
  assert.equal(s.evictions, 0);
});
