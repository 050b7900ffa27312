import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger.js';

test('credentials and secrets never reach a log line', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const log = createLogger('debug', sink);
  log.info({ headers: { authorization: 'Basic c2VjcmV0', 'x-api-key': 'kg_SECRET1', cookie: 'session=SECRET2', 'proxy-authorization': 'SECRET3' } }, 'request');
  log.info({ authorization: 'Bearer SECRET4', 'x-api-key': 'kg_SECRET5', apikey: 'SECRET6' }, 'flat');
  log.child({ module: 'admin' }).info({ body: { secret: 'SECRET7', key: 'kg_SECRET8', password: 'SECRET9' }, key: 'kg_SECRET10', token: 'SECRET11' }, 'admin');
  assert.equal(lines.length, 3);
  for (const line of lines) {
    JSON.parse(line);
    assert.doesNotMatch(line, /SECRET/);
    assert.match(line, /\[redacted\]/);
  }
});
