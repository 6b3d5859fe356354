// HVM guests against plain node:wasi, same program (guests/hvmtest.wasm), same
// run. The program times itself with clock_gettime(MONOTONIC), so the figures
// are the guest's own work, not domain creation.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WASI } from 'node:wasi';
import { XendClient } from '@xenwasm/xm';
import { childValue, type SxpValue } from '@xenwasm/sxp';
import { daemonMain, startStack, type Stack } from '@xenwasm/xencommons';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const GUEST = path.resolve(here, '../../guests/hvmtest.wasm');
const CPU_ROUNDS = Number(process.env.HVM_CPU_ROUNDS ?? 1000000);
const WRITES = 100_000;
const FILE_MIB = Number(process.env.HVM_FILE_MIB ?? 64);

type Row = { id: string; value: number; unit: string; baseline: number | null; note: string };

async function nodeWasi(args: string[], dir: string): Promise<string> {
  const outFile = path.join(dir, 'nodewasi.out');
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(path.join(dir, 'nodewasi.err'), 'w');
  const wasi = new WASI({ version: 'preview1', args: ['hvmtest.wasm', ...args], env: {}, preopens: { '/data': dir }, stdout: out, stderr: err });
  const inst = await WebAssembly.instantiate(await WebAssembly.compile(fs.readFileSync(GUEST)), wasi.getImportObject() as WebAssembly.Imports);
  wasi.start(inst);
  fs.closeSync(out);
  fs.closeSync(err);
  return fs.readFileSync(outFile, 'utf8') + fs.readFileSync(path.join(dir, 'nodewasi.err'), 'utf8');
}

const ns = (s: string, what: string): number => {
  const m = new RegExp(`${what}.*ns=(\\d+)`).exec(s);
  if (!m) throw new Error(`no timing for ${what} in: ${s.slice(-300)}`);
  return Number(m[1]);
};

export default async function (): Promise<Row[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvm-bench-'));
  const stack: Stack = await startStack({ stateDir: path.join(dir, 'var'), onStderr: () => undefined });
  const XM = daemonMain('xm')!;
  const client = new XendClient({ socketPath: path.join(stack.stateDir, 'run/xend/xmlrpc.sock') });
  let n = 0;
  const logOf = (name: string) => path.join(stack.stateDir, 'log', 'console', `guest-${name}.log`);
  const hvm = async (mode: string, args: string[], extra: string[] = []): Promise<{ log: string; createToOutputMs: number }> => {
    const name = `b${n++}`;
    const cfg = path.join(dir, `${name}.cfg`);
    fs.writeFileSync(cfg, [`name = "${name}"`, `builder = 'hvm'`, `kernel = "${GUEST}"`, 'memory = 32', `on_poweroff = 'preserve'`,
      `on_crash = 'preserve'`, `args = ${JSON.stringify(args)}`, ...(mode === 'stubdom' ? ['device_model_stubdomain_override = 1'] : []), ...extra, ''].join('\n'));
    const t0 = performance.now();
    let first = 0;
    const created = run(process.execPath, [XM, 'create', cfg], { env: { ...process.env, XEN_STATE_DIR: stack.stateDir, XM_SERVER: '' } });
    for (;;) {
      if (!first && fs.existsSync(logOf(name)) && fs.statSync(logOf(name)).size > 0) first = performance.now();
      const doms = await client.call<SxpValue[]>('xend.domains_with_state', true, 'all', 1);
      const d = doms.find((x) => childValue(x, 'name') === name);
      const st = d ? String(childValue(d, 'state') ?? '') : '';
      if (/[sc]/.test(st) && childValue(d!, 'shutdown_reason') !== undefined) break;
      await new Promise((r) => setTimeout(r, first ? 20 : 1));
    }
    await created;
    if (!first) first = performance.now();
    const log = fs.readFileSync(logOf(name), 'utf8');
    await run(process.execPath, [XM, 'destroy', name], { env: { ...process.env, XEN_STATE_DIR: stack.stateDir, XM_SERVER: '' } });
    return { log, createToOutputMs: first - t0 };
  };
  const rows: Row[] = [];
  try {
    // CPU-bound: the preemption checks are the only difference. One sample
    // of a ~1 s run swings by 10-20% on this machine: medians of 3, alternated.
    const bases: number[] = [];
    const mines: number[] = [];
    for (let i = 0; i < 3; i++) {
      bases.push(ns(await nodeWasi(['cpu', String(CPU_ROUNDS)], dir), 'cpu'));
      mines.push(ns((await hvm('stubdom', ['cpu', String(CPU_ROUNDS)])).log, 'cpu'));
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[1]!;
    const base = med(bases);
    const mine = med(mines);
    rows.push({ id: 'hvm.cpu.ratio', value: mine / base, unit: 'x', baseline: base / 1e6, note: `hvmtest cpu ${CPU_ROUNDS} (LCG + FNV loop) as an HVM guest / under plain node:wasi (baseline ms); medians of 3 alternated runs; target <= 1.10` });

    for (const mode of ['qemu-dm', 'stubdom']) {
      const id = mode === 'stubdom' ? 'stubdom' : 'qemu_dm';
      const b = ns(await nodeWasi(['fdwrite', String(WRITES)], dir), 'fdwrite');
      const m = ns((await hvm(mode, ['fdwrite', String(WRITES)])).log, 'fdwrite');
      rows.push({ id: `hvm.fdwrite_1b.${id}.ratio`, value: m / b, unit: 'x', baseline: b / 1e6,
        note: `${WRITES} one-byte fd_write to stdout: HVM guest (${mode}, console log) / node:wasi (stdout to a file); baseline ms` });
    }

    // 64 MiB sequential write then read, on an ext4 image through the device model vs a host dir under node:wasi.
    const img = path.join(dir, 'rw.ext4');
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', img, `${FILE_MIB + 32}M`], { stdio: 'ignore' });
    for (const mode of ['qemu-dm', 'stubdom']) {
      const id = mode === 'stubdom' ? 'stubdom' : 'qemu_dm';
      // node:wasi's time swings with the host's dirty-page writeback: best of 3.
      const best = async (file: string) => {
        let t = Infinity;
        for (let i = 0; i < 3; i++) {
          t = Math.min(t, ns(await nodeWasi(['filerw', `/data/${file}`, String(FILE_MIB)], dir), 'filerw'));
          fs.rmSync(path.join(dir, file), { force: true });
        }
        return t;
      };
      const b = await best('rw.bin');
      const m = ns((await hvm(mode, ['filerw', '/rw.bin', String(FILE_MIB)], [`disk = ['file:${img},hda,w']`])).log, 'filerw');
      rows.push({ id: `hvm.file_rw.${id}.ratio`, value: m / b, unit: 'x', baseline: b / 1e6,
        note: `${FILE_MIB} MiB written then read in 64 KiB calls, no fsync: HVM guest on an ext4 image (${mode}, libext2fs over the image file) / node:wasi on a host dir on the same host file system as the image (page cache both); baseline ms, best of 3` });
      // Like with like: the same host directory as a p9 share, so only the device model's path differs.
      const share = path.join(dir, 'share');
      fs.mkdirSync(share, { recursive: true });
      const b2 = await best('share/rw.bin');
      const m2 = ns((await hvm(mode, ['filerw', '/data/rw.bin', String(FILE_MIB)], [`p9 = ['tag=data,path=${share},security_model=none']`])).log, 'filerw');
      fs.rmSync(path.join(share, 'rw.bin'), { force: true });
      rows.push({ id: `hvm.file_rw_p9.${id}.ratio`, value: m2 / b2, unit: 'x', baseline: b2 / 1e6,
        note: `${FILE_MIB} MiB written then read in 64 KiB calls: HVM guest on a p9 share (${mode}) / node:wasi on the same host dir; baseline ms, best of 3` });
    }

    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push((await hvm(i % 2 ? 'qemu-dm' : 'stubdom', ['hello'])).createToOutputMs);
    times.sort((a, b) => a - b);
    rows.push({ id: 'hvm.create_to_output_ms.p50', value: times[2], unit: 'ms', baseline: null,
      note: 'xm create (a new xm process) to the first byte in the console log, hello world, 5 runs alternating stubdom/qemu-dm' });
  } finally {
    client.close();
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
