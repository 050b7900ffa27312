import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parsePolicy } from '../../src/policies/policy-file.js';
import { RouteTable } from '../../src/policies/route-table.js';

const doc = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');

test('docs/policy.md: the annotated example loads and routes as its table says', () => {
  const example = /## An annotated example[^]*?```yaml\n([^]*?)```/.exec(doc)?.[1];
  assert.ok(example !== undefined, 'example block');
  const config = parsePolicy(example, { env: { KEYGATE_INTROSPECTION_SECRET: 'x' } });
  const table = new RouteTable(config);
  const rows = [...doc.matchAll(/^\| `(\S+) (\S+) (\S+)` \| `([^`]+)` \|$/gm)];
  assert.ok(rows.length >= 15, `found ${rows.length} rows`);
  for (const [, method = '', host = '', path = '', route] of rows) {
    const input = { method, host, path, query: '', requestId: '', sourcePrincipal: '', sourceCertificate: '', contextExtensions: {}, header: () => undefined };
    assert.equal(table.match(input).name, route, `${method} ${host} ${path}`);
  }
});
