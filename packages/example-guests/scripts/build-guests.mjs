#!/usr/bin/env node
// Compiles every assembly/<name>.ts to build/<name>.wasm with the PV ABI's
// build line (see packages/guest-sdk/README.md). One process for all guests:
// loading the compiler costs more than compiling a small guest.
import asc from 'assemblyscript/asc';
import { readdirSync, mkdirSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(here, 'assembly');
const outDir = path.join(here, 'build');
mkdirSync(outDir, { recursive: true });

// The PV ABI build line: data above the reserved 128 KiB, the incremental
// collector (its state lives in memory and mutable globals, which move with
// a blocked vCPU; see packages/guest-sdk/README.md), the SDK's abort handler
// instead of env.abort, atomics for the shared_info event words.
export const GUEST_ASC_FLAGS = [
  '--runtime', 'incremental',
  '--memoryBase', '131072',
  '--use', 'abort=~lib/@xenwasm/guest-sdk/assembly/abort/xen_abort',
  '--enable', 'threads',
  '--optimizeLevel', '3', '--shrinkLevel', '0',
  // npm workspaces hoist the SDK to the root node_modules; asc does not look up there by itself.
  '--path', path.resolve(here, '../../node_modules'),
];

const only = process.argv.slice(2);
// Guests built with other flags (an older checkout's) are stale whatever their dates say.
const flagsStamp = path.join(outDir, '.asc-flags');
const flagsLine = JSON.stringify(GUEST_ASC_FLAGS);
let sameFlags = false;
try {
  sameFlags = readFileSync(flagsStamp, 'utf8') === flagsLine;
} catch { /* first build */ }
const force = process.env.FORCE_GUEST_BUILD === '1' || !sameFlags;
const sdkDir = path.resolve(here, '../guest-sdk/assembly');
const newest = (dir) => Math.max(...readdirSync(dir).map((f) => statSync(path.join(dir, f)).mtimeMs));
const sdkTime = newest(sdkDir);

let failed = 0;
for (const file of readdirSync(srcDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort()) {
  const name = file.slice(0, -3);
  if (only.length && !only.includes(name)) continue;
  const out = path.join(outDir, `${name}.wasm`);
  let upToDate = false;
  try {
    const t = statSync(out).mtimeMs;
    upToDate = t > statSync(path.join(srcDir, file)).mtimeMs && t > sdkTime;
  } catch { /* not built yet */ }
  if (upToDate && !force) continue;
  const t0 = performance.now();
  const { error, stderr } = await asc.main([path.join(srcDir, file), '-o', out, ...GUEST_ASC_FLAGS], {});
  if (error) {
    failed++;
    process.stderr.write(`build-guests: ${name}: ${error.message}\n${stderr.toString()}`);
  } else {
    process.stderr.write(`build-guests: ${name}.wasm (${statSync(out).size} bytes, ${(performance.now() - t0).toFixed(0)} ms)\n`);
  }
}
if (!failed && only.length === 0) writeFileSync(flagsStamp, flagsLine);
process.exit(failed ? 1 : 0);
