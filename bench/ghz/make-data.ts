/**
 * Turns a file of API keys (one per line, as `keygate seed --keys-out FILE` writes) into a ghz
 * data file: a JSON array of CheckRequests, one per key, shaped like the `data` of
 * check-key-auth.json. ghz sends an array's messages round robin, so every key is used in turn.
 *
 *   node --import tsx bench/ghz/make-data.ts keys.txt bench/ghz/data.json [--limit 100000]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { limit: { type: 'string' } } });
const [keysFile, outFile] = positionals;
if (keysFile === undefined || outFile === undefined) {
  process.stderr.write('usage: node --import tsx bench/ghz/make-data.ts KEYS_FILE OUT_FILE [--limit N]\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(new URL('./check-key-auth.json', import.meta.url), 'utf8')) as { data: unknown };
const template = JSON.stringify(config.data);
const placeholder = 'kg_REPLACE_WITH_A_KEY';
if (!template.includes(placeholder)) throw new Error(`check-key-auth.json: data has no ${placeholder}`);

const limit = values.limit === undefined ? Infinity : Number(values.limit);
const keys = readFileSync(keysFile, 'utf8').split('\n').map((k) => k.trim()).filter((k) => k !== '').slice(0, limit);
if (keys.length === 0) throw new Error(`${keysFile}: no keys`);
const lines = keys.map((key) => template.replace(placeholder, JSON.stringify(key).slice(1, -1)));
writeFileSync(outFile, `[\n${lines.join(',\n')}\n]\n`);
process.stderr.write(`${outFile}: ${keys.length} CheckRequests\n`);
