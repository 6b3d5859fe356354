#!/usr/bin/env node
// Runs the WebAssembly/wasi-testsuite (prebuilt wasm32-wasip1 cases, e.g.
// its prod/testsuite-base branch) under plain node:wasi and as HVM guests
// through `xm create` (stub domain and qemu-dm), and prints a table:
// case -> node:wasi / ours. Nothing of the suite is kept in this repo.
//
//   node packages/qemu-dm/scripts/wasi-testsuite.mjs SUITE/tests [--mode stubdom|qemu-dm|both] [--filter RE]
//
// A case passes when the exit code is the expected one and, where the case
// names an expected stdout, that text is what the program printed (our
// console log holds stdout and stderr together: it must contain it).
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? argv.splice(i, 2)[1] : d; };
const modeOpt = opt('--mode', 'both');
const filter = new RegExp(opt('--filter', '.'));
const suite = argv[0];
if (!suite) { console.error('usage: wasi-testsuite.mjs SUITE/tests [--mode stubdom|qemu-dm|both] [--filter RE]'); process.exit(2); }

function cases() {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && !e.name.endsWith('.dir')) walk(p);
      else if (e.name.endsWith('.wasm') && p.includes('wasm32-wasip1')) {
        const spec = { args: [], env: {}, root: null, exit_code: 0, stdout: '' };
        const j = p.replace(/\.wasm$/, '.json');
        if (fs.existsSync(j)) Object.assign(spec, JSON.parse(fs.readFileSync(j, 'utf8')));
        if (spec.operations) continue; // the operation-based specs are for sockets/http proposals
        const name = path.relative(suite, p).replace(/\/testsuite\/wasm32-wasip1\//, '/').replace(/\.wasm$/, '');
        if (filter.test(name)) out.push({ name, wasm: p, spec });
      }
    }
  };
  walk(suite);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wasi-ts-'));
let seq = 0;
function freshRoot(c) {
  if (!c.spec.root) return null;
  const dst = path.join(tmp, `root${seq++}`);
  fs.cpSync(path.join(path.dirname(c.wasm), c.spec.root), dst, { recursive: true });
  for (const f of fs.readdirSync(dst, { recursive: true })) if (String(f).endsWith('.cleanup')) fs.rmSync(path.join(dst, String(f)), { recursive: true, force: true });
  return dst;
}
const envList = (env) => Object.entries(env).map(([k, v]) => `${k}=${v}`);

const NODE_RUNNER = `
import { WASI } from 'node:wasi'; import fs from 'node:fs';
const [wasm, root, args, env] = [process.argv[1], process.argv[2], JSON.parse(process.argv[3]), JSON.parse(process.argv[4])];
const wasi = new WASI({ version: 'preview1', args: [wasm.split('/').pop(), ...args], env, preopens: root ? { '/': root } : {}, returnOnExit: true });
const inst = await WebAssembly.instantiate(await WebAssembly.compile(fs.readFileSync(wasm)), wasi.getImportObject());
process.exitCode = wasi.start(inst);
`;
async function nodeWasi(c) {
  const root = freshRoot(c);
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', NODE_RUNNER, c.wasm, root ?? '', JSON.stringify(c.spec.args), JSON.stringify(c.spec.env)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b) => { out += b; });
    p.stderr.on('data', (b) => { out += b; });
    const t = setTimeout(() => p.kill('SIGKILL'), 20000);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, out }); });
  });
}

const pass = (c, r) => r.code === c.spec.exit_code && (!c.spec.stdout || r.out.includes(c.spec.stdout));

async function main() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const { startStack, daemonMain } = await import('@xenwasm/xencommons');
  const { XendClient } = await import('@xenwasm/xm');
  const { childValue } = await import('@xenwasm/sxp');
  const list = cases();
  const stack = await startStack({ stateDir: path.join(tmp, 'var'), onStderr: () => undefined });
  const XM = daemonMain('xm');
  const env = { ...process.env, XEN_STATE_DIR: stack.stateDir, XM_SERVER: '' };
  const client = new XendClient({ socketPath: path.join(stack.stateDir, 'run/xend/xmlrpc.sock') });
  const modes = modeOpt === 'both' ? ['stubdom', 'qemu-dm'] : [modeOpt];
  let n = 0;
  async function ours(c, mode) {
    const root = freshRoot(c);
    const name = `ts${n++}`;
    const cfg = path.join(tmp, `${name}.cfg`);
    fs.writeFileSync(cfg, [`name = "${name}"`, `builder = 'hvm'`, `kernel = ${JSON.stringify(c.wasm)}`, 'memory = 64',
      `on_poweroff = 'preserve'`, `on_crash = 'preserve'`, `args = ${JSON.stringify(c.spec.args)}`, `env = ${JSON.stringify(envList(c.spec.env))}`,
      ...(root ? [`p9 = ['tag=root,path=${root},security_model=none,mount=/']`] : []),
      ...(mode === 'stubdom' ? ['device_model_stubdomain_override = 1'] : []), ''].join('\n'));
    try {
      await run(process.execPath, [XM, 'create', cfg], { env });
    } catch (e) {
      return { code: -2, out: `xm create: ${e.stderr ?? e.message}` };
    }
    const deadline = Date.now() + 20000;
    let code = -1;
    for (;;) {
      const doms = await client.call('xend.domains_with_state', true, 'all', 1);
      const d = doms.find((x) => childValue(x, 'name') === name);
      const st = d ? String(childValue(d, 'state') ?? '') : '';
      if (d && /[sc]/.test(st) && childValue(d, 'shutdown_reason') !== undefined) {
        const ec = childValue(d, 'exit_code');
        code = ec === undefined ? -1 : Number(ec);
        break;
      }
      if (Date.now() > deadline) { code = -3; break; }
      await new Promise((r) => setTimeout(r, 20));
    }
    await run(process.execPath, [XM, 'destroy', name], { env }).catch(() => undefined);
    const log = path.join(stack.stateDir, 'log', 'console', `guest-${name}.log`);
    return { code, out: fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '' };
  }
  const rows = [];
  try {
    for (const c of list) {
      const nw = await nodeWasi(c);
      const row = { name: c.name, node: pass(c, nw), nodeOut: nw };
      for (const m of modes) {
        const r = await ours(c, m);
        row[m] = pass(c, r);
        row[`${m}Out`] = r;
      }
      rows.push(row);
      const mark = (b) => (b ? 'pass' : 'FAIL');
      process.stderr.write(`${c.name}: node:wasi ${mark(row.node)}; ${modes.map((m) => `${m} ${mark(row[m])}`).join('; ')}\n`);
      if (process.env.VERBOSE) for (const m of modes) if (row.node && !row[m]) process.stderr.write(`  ${m}: exit ${row[`${m}Out`].code} (want ${c.spec.exit_code})\n${row[`${m}Out`].out.replace(/^/gm, '    ')}\n`);
    }
  } finally {
    client.close();
    await stack.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const mark = (b) => (b ? 'pass' : '**fail**');
  console.log(`| case | node:wasi | ${modes.map((m) => `ours (${m})`).join(' | ')} |`);
  console.log(`|---|---|${modes.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.name} | ${mark(r.node)} | ${modes.map((m) => mark(r[m])).join(' | ')} |`);
  const worse = rows.filter((r) => r.node && modes.some((m) => !r[m]));
  console.log(`\n${rows.length} cases; node:wasi passes ${rows.filter((r) => r.node).length}; ${modes.map((m) => `${m} passes ${rows.filter((r) => r[m]).length}`).join(', ')}; node:wasi passes and we fail: ${worse.length ? worse.map((r) => r.name).join(', ') : 'none'}`);
  void here;
}
main().catch((e) => { console.error(e); process.exit(1); });
