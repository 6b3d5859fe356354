#!/usr/bin/env node
// One build for a fresh clone: AssemblyScript artefacts first (the hypervisor
// core and the example guests are inputs to TypeScript tests), then every
// TypeScript package through project references.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build: ${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}
run('npm', ['run', 'build:wasm', '--workspaces', '--if-present', '--silent']);
run('npx', ['tsc', '-b']);
