#!/usr/bin/env node
// `npm run bench`: run every package's benchmarks (dist/bench/*.bench.js, each
// in its own process so one cannot disturb the next), then write
// docs/benchmarks.json for tools and docs/BENCHMARKS.md for people. Each
// figure carries the baseline measured in the same run.
// Usage: npm run bench [-- filter]   (filter: substring of the bench file path)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2] ?? '';
const dirs = [
  ...fs.readdirSync(path.join(root, 'packages')).map((p) => path.join(root, 'packages', p, 'dist', 'bench')),
  path.join(root, 'hypervisor-wasm', 'dist', 'bench'),
];
const files = dirs
  .filter((d) => fs.existsSync(d))
  .flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.bench.js')).map((f) => path.join(d, f)))
  .filter((f) => f.includes(filter));

const jsonPath = path.join(root, 'docs', 'benchmarks.json');
const previous = fs.existsSync(jsonPath) ? JSON.parse(fs.readFileSync(jsonPath, 'utf8')) : [];
const results = new Map(previous.map((r) => [r.id, r]));
const runner = `import(process.argv[1]).then(async (m) => { const r = await m.default(); process.stdout.write('\\n@@BENCH@@' + JSON.stringify(r) + '\\n'); process.exit(0); }).catch((e) => { console.error(e); process.exit(1); });`;
let failed = 0;
for (const f of files) {
  const rel = path.relative(root, f);
  process.stderr.write(`bench: ${rel}\n`);
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', runner, f], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('@@BENCH@@'));
  if (r.status !== 0 || !line) {
    process.stderr.write(`bench: ${rel} failed (${r.status ?? r.signal})\n`);
    failed++;
    continue;
  }
  for (const item of JSON.parse(line.slice(9))) results.set(item.id, { ...item, source: rel });
}

const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  memory_gib: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  date: new Date().toISOString(),
};
const all = [...results.values()].sort((a, b) => a.id.localeCompare(b.id));
fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
fs.writeFileSync(jsonPath, JSON.stringify(all.map(({ id, value, unit, baseline, note }) => ({ id, value, unit, baseline, note })), null, 2) + '\n');
const fmt = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : String(v));
const md = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (scripts/bench.mjs); the same figures are in `benchmarks.json`.',
  'Each figure stands beside its baseline, measured in the same run on the same machine.',
  '',
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, ${machine.platform}, Node ${machine.node}. Run: ${machine.date}.`,
  '',
  '| id | value | unit | baseline | note |',
  '|---|---|---|---|---|',
  ...all.map((r) => `| \`${r.id}\` | ${fmt(r.value)} | ${r.unit} | ${fmt(r.baseline)} | ${String(r.note ?? '').replace(/\|/g, '\\|')} |`),
  '',
];
fs.writeFileSync(path.join(root, 'docs', 'BENCHMARKS.md'), md.join('\n'));
process.stderr.write(`bench: ${all.length} figures written to docs/BENCHMARKS.md and docs/benchmarks.json${failed ? `, ${failed} bench file(s) failed` : ''}\n`);
process.exit(failed ? 1 : 0);
