#!/usr/bin/env node
// The `keygate` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`keygate: ${err instanceof Error ? err.message : String(err)}`); process.exitCode = 1; },
);
