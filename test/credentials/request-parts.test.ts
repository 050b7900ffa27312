import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationParam, isVisibleAscii, queryParam } from '../../src/credentials/request-parts.js';

test('queryParam finds the first exact name and URL-decodes it', () => {
  assert.equal(queryParam('a=1&apikey=kg_x%2By&apikey=2', 'apikey'), 'kg_x+y');
  assert.equal(queryParam('xapikey=1&apikey2=2', 'apikey'), undefined);
  assert.equal(queryParam('apikey', 'apikey'), '');
  assert.equal(queryParam('apikey=', 'apikey'), '');
  assert.equal(queryParam('', 'apikey'), undefined);
  assert.equal(queryParam('apikey=a+b', 'apikey'), 'a b');
  assert.equal(queryParam('apikey=%E0%A4%A', 'apikey'), null);
});

test('authorizationParam matches the scheme case-insensitively and needs a space', () => {
  assert.equal(authorizationParam('Bearer abc', 'Bearer'), 'abc');
  assert.equal(authorizationParam('bearer   abc ', 'Bearer'), 'abc');
  assert.equal(authorizationParam('BearerX abc', 'Bearer'), undefined);
  assert.equal(authorizationParam('Bearer', 'Bearer'), undefined);
  assert.equal(authorizationParam(undefined, 'Bearer'), undefined);
  assert.equal(authorizationParam('Basic abc', 'Bearer'), undefined);
});

test('isVisibleAscii', () => {
  assert.equal(isVisibleAscii('kg_AZaz09-_~'), true);
  assert.equal(isVisibleAscii('kg a'), false);
  assert.equal(isVisibleAscii('kg\u00e9'), false);
  assert.equal(isVisibleAscii('kg\n'), false);
});
