import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { envoyRequest, startKeygate } from '../support/harness.js';
import type { Harness } from '../support/harness.js';

describe('decision log (KEYGATE_DECISION_LOG=true)', () => {
  let h: Harness;
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  let key = '';

  before(async () => {
    const sink = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n')) if (l !== '') { raw.push(l); lines.push(JSON.parse(l) as Record<string, unknown>); } cb(); } });
    h = await startKeygate({ store: 'embedded', env: { KEYGATE_DECISION_LOG: 'true', KEYGATE_LOG_LEVEL: 'info' }, logTo: sink });
    await h.admin('POST', '/consumers', { username: 'logged' });
    key = (await h.admin('POST', '/consumers/logged/credentials', { type: 'key-auth' })).body.key;
  });
  after(async () => { await h.close(); });

  test('one line per decision with the precise reason; never the key, the query or the authorization header', async () => {
    await h.client.check(envoyRequest({ path: `/v1/pay?apikey=${key}` }));
    await h.client.check(envoyRequest({ headers: { 'x-api-key': 'kg_unknown_key_0000000000000000' } }));
    await h.client.check(envoyRequest({ headers: { authorization: `Bearer ${key}`, cookie: 'session=abc' } }));
    const decisions = lines.filter((l) => l.msg === 'decision');
    assert.equal(decisions.length, 3);
    assert.equal(decisions[0]?.decision, 'allow');
    assert.equal(decisions[0]?.path, '/v1/pay');
    assert.equal(decisions[1]?.reason, 'unknown_credential', 'the log has the precise reason the client does not get');
    assert.equal(decisions[1]?.status, 401);
    assert.equal(decisions[2]?.auth_method, 'key-auth');
    for (const l of raw) {
      assert.ok(!l.includes(key), 'no key in any log line');
      assert.ok(!l.includes('kg_unknown_key'), 'no presented key either');
      assert.ok(!l.includes('session=abc'));
    }
  });
});
