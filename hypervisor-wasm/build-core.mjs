#!/usr/bin/env node
// Compiles the AssemblyScript core into build/core.wasm: imported shared
// memory, no runtime allocation (--runtime stub), static data from 4096 up
// (the fixed header sits below it; see README.md).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const asc = path.join(path.dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
mkdirSync(path.join(here, 'build'), { recursive: true });
export const MAX_PAGES = 16384; // 1 GiB; keep in step with src/memory.ts
const args = [
  asc, 'assembly/index.ts',
  '-o', 'build/core.wasm',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', String(MAX_PAGES),
  '--enable', 'threads', '--runtime', 'stub', '--memoryBase', '4096',
  '--use', 'abort=', '-O3', '--noAssert',
];
const r = spawnSync(process.execPath, args, { cwd: here, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-core: asc failed');
  process.exit(r.status ?? 1);
}
