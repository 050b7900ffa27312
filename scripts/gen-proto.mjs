#!/usr/bin/env node
// Produces, offline, what the server loads: the Envoy ext_authz v3 protos (and what they import)
// exported by buf from the Envoy API that ships inside the npm package @grpc/grpc-js-xds, and
// TypeScript types for them from @grpc/proto-loader's proto-loader-gen-types.
// Outputs (never edited, never committed): proto/gen/ and src/generated/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const protoDir = join(root, 'proto');
const outDir = join(protoDir, 'gen');
const typesDir = join(root, 'src', 'generated');

// buf.yaml (committed) names modules under proto/deps/; that folder is a link to the npm package's
// deps/, made here because buf refuses module paths outside its workspace.
const xdsDeps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const link = join(protoDir, 'deps');
const target = relative(protoDir, xdsDeps);
if (!existsSync(link) || readlinkSync(link) !== target) {
  rmSync(link, { force: true, recursive: true });
  symlinkSync(target, link, 'dir');
}

const buf = join(dirname(require.resolve('@bufbuild/buf/package.json')), 'bin', 'buf');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
execFileSync(
  buf,
  ['export', '.', '--path', 'deps/envoy-api/envoy/service/auth/v3/external_auth.proto', '-o', 'gen'],
  { cwd: protoDir, stdio: 'inherit' },
);

const genTypes = join(dirname(require.resolve('@grpc/proto-loader/package.json')), 'build', 'bin', 'proto-loader-gen-types.js');
rmSync(typesDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    genTypes,
    '--keepCase', '--longs=String', '--enums=String', '--defaults', '--oneofs',
    '--grpcLib=@grpc/grpc-js', '--importFileExtension=.js', '--inputTemplate=%s__Input',
    '--outputTemplate=%s', '-I', outDir, '-O', typesDir,
    'envoy/service/auth/v3/external_auth.proto',
  ],
  { cwd: root, stdio: 'inherit' },
);
console.log(`keygate: protos exported to ${relative(root, outDir)}, types to ${relative(root, typesDir)}`);
