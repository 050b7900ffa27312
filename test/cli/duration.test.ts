import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from '../../src/cli/duration.js';

test('durations', () => {
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  for (const bad of ['', '24', 'h', '0s', '1x', '24h ', '-1h', '1.5h']) assert.equal(parseDuration(bad), null, bad);
});
