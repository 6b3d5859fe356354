// Domain creation through xend, LightVM's question: does XML-RPC create stay
// flat as domains accumulate? A real stack (xen, xenstored, xend processes)
// in a temp XEN_STATE_DIR; idle guests of 1 MiB, all left running.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Xc } from '@xenwasm/libxc';
import { guestWasmPath } from '@xenwasm/example-guests';
import xmlrpc from 'xmlrpc';
import { parentWatchEnv } from '@xenwasm/sd-daemon';

const run = promisify(execFile);
const main = (pkg: string) => fileURLToPath(import.meta.resolve(`@xenwasm/${pkg}/main`));

function start(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const p = spawn(process.execPath, [main(name), ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    p.stderr!.on('data', (d) => {
      err += d;
      if (err.length > 65536) err = err.slice(-32768);
      if (err.includes(`${name}: ready`)) resolve(p);
    });
    p.once('exit', (c) => reject(new Error(`${name} exited ${c}: ${err}`)));
  });
}
const stop = (p: ChildProcess) => new Promise<void>((r) => {
  if (p.exitCode !== null) return r();
  p.once('exit', () => r());
  p.kill('SIGTERM');
});

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const round = (x: number) => Math.round(x * 1000) / 1000;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export default async function () {
  const N = Number(process.env.XEND_BENCH_N ?? 1000);
  const WARMUP = 200;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xend-bench-'));
  const env = { ...process.env, XEN_STATE_DIR: dir, XM_SERVER: '', ...parentWatchEnv() };
  writeFileSync(path.join(dir, 'xend-config.sxp'), '(loglevel WARNING)\n');
  const procs: ChildProcess[] = [];
  try {
    procs.push(await start('xen', ['--nr-cpus', '2', '--mem', String(N + 256), '--dom0-mem', '64'], env));
    procs.push(await start('xenstored', [], env));
    procs.push(await start('xend', [], env));
    const kernel = guestWasmPath('idle');
    const xc = await Xc.open(path.join(dir, 'run/xen/privcmd.sock'));
    const rpc = xmlrpc.createClient({ socketPath: path.join(dir, 'run/xend/xmlrpc.sock'), path: '/' } as Parameters<typeof xmlrpc.createClient>[0]);
    const client = {
      call: <T>(m: string, ...params: unknown[]) => new Promise<T>((res, rej) => rpc.methodCall(m, params, (e, v) => (e ? rej(e) : res(v as T)))),
      close: () => undefined,
    };

    const buildDirect = async (): Promise<number> => {
      const domid = await xc.domainCreate({ handle: crypto.randomUUID() });
      const [, sp, cp] = await Promise.all([xc.domainMaxVcpus(domid, 1), xc.evtchnAllocUnbound(domid, 0), xc.evtchnAllocUnbound(domid, 0)]);
      await xc.linuxBuild({ domid, kernel, memoryMb: 1, storeEvtchn: sp, consoleEvtchn: cp });
      await xc.domainUnpause(domid);
      return domid;
    };
    // One build first compiles the guest module, which is cached after: not counted.
    await xc.domainDestroy(await buildDirect());

    const createOne = async (name: string): Promise<number> => {
      const cfg = ['vm', ['name', name], ['memory', 1], ['vcpus', 1], ['image', ['linux', ['kernel', kernel]]]];
      const info = await client.call<unknown[]>('xend.domain.create', cfg);
      const domid = (info.find((x) => Array.isArray(x) && x[0] === 'domid') as [string, number])[1];
      await client.call('xend.domain.unpause', domid);
      // Until the guest runs: scheduled at least once (the idle guest then
      // blocks on its first xenstore request). Asked of libxc, which costs
      // less than another XML-RPC call.
      const deadline = performance.now() + 10_000;
      for (let i = await xc.domainInfo(domid); !i.running && !i.blocked && !i.shutdown && !i.crashed; i = await xc.domainInfo(domid)) {
        if (performance.now() > deadline) throw new Error(`domain ${domid} was unpaused but has not run in 10 s`);
      }
      return domid;
    };

    // The first creates after the daemons start run their code cold (V8
    // interprets it until it is hot, about 150 creates in): reported apart,
    // as .cold, and then the daemons are warmed by creates and destroys, so
    // that the series below shows what the number of live domains costs.
    const cold: number[] = [];
    const coldIds: number[] = [];
    for (let i = 0; i < 20; i++) cold.push(await timed(async () => { coldIds.push(await createOne(`cold${i}`)); }));
    for (const id of coldIds) await client.call('xend.domain.destroy', id);

    // Baseline 1: the same build straight through libxc (what xend adds is the rest).
    const libxc: number[] = [];
    for (let i = 0; i < 30; i++) {
      let domid = -1;
      libxc.push(await timed(async () => { domid = await buildDirect(); }));
      await xc.domainDestroy(domid);
    }
    // Baseline 2: an XML-RPC round trip that does nothing.
    const noop: number[] = [];
    for (let i = 0; i < 200; i++) noop.push(await timed(() => client.call('xend.domain.getRestartCount', 'Domain-0')));

    for (let i = 0; i < WARMUP; i++) await client.call('xend.domain.destroy', await createOne(`warm${i}`));

    // Created one after another, all kept alive.
    const create: number[] = [];
    let made = 0;
    const t0 = performance.now();
    try {
      for (let i = 0; i < N; i++) {
        create.push(await timed(() => createOne(`b${i}`)));
        made++;
        if (performance.now() - t0 > 40_000) break; // keep the whole run bounded
      }
    } catch (e) {
      process.stderr.write(`create.bench: stopped after ${made} domains: ${(e as Error).message}\n`);
    }
    const window = (n: number) => create.slice(Math.max(0, Math.min(n, create.length) - 20), Math.min(n, create.length) + 0);
    const w1 = create.slice(0, 20);

    // The CLI: one `xm create` process, and `xm list` over everything alive.
    const cfgFile = path.join(dir, 'cli.cfg');
    const cli: number[] = [];
    for (let i = 0; i < 5; i++) {
      writeFileSync(cfgFile, `kernel = "${kernel}"\nmemory = 1\nname = "cli${i}"\n`);
      cli.push(await timed(() => run(process.execPath, [main('xm'), 'create', '-q', cfgFile], { env })));
    }
    const nodeStart: number[] = [];
    for (let i = 0; i < 5; i++) nodeStart.push(await timed(() => run(process.execPath, ['-e', '0'])));
    const list: number[] = [];
    let lines = 0;
    for (let i = 0; i < 3; i++) {
      list.push(await timed(async () => {
        const r = await run(process.execPath, [main('xm'), 'list'], { env, maxBuffer: 64 << 20 });
        lines = r.stdout.trim().split('\n').length - 1;
      }));
    }
    xc.close();
    client.close();

    const base = round(pct(libxc, 0.5));
    const noopNote = `XML-RPC no-op round trip p50 ${round(pct(noop, 0.5))} ms`;
    const at = (n: number) => (made >= n ? '' : ` (only ${made} domains fitted in the time budget: measured up to there)`);
    const out = [];
    for (const [n, w] of [[1, w1], [100, window(100)], [1000, window(1000)]] as const) {
      out.push({ id: `create.xmlrpc_ms.p50.n${n}`, value: round(pct(w, 0.5)), unit: 'ms', baseline: base,
        note: `xend.domain.create + unpause of a 1 MiB idle guest until it has run (libxc getinfo says running or blocked), with ${n === 1 ? 'the first 20' : `domains ${Math.max(1, Math.min(n, made) - 19)}-${Math.min(n, made)}`} alive, after ${WARMUP} create/destroy cycles warmed the daemons (cold: create.xmlrpc_ms.p50.cold); baseline: the same build straight through libxc (p50 of 30); ${noopNote}${at(n)}` });
      out.push({ id: `create.xmlrpc_ms.p99.n${n}`, value: round(pct(w, 0.99)), unit: 'ms', baseline: round(pct(libxc, 0.99)),
        note: `as create.xmlrpc_ms.p50.n${n}, 99th percentile (of 20 creates: their slowest); baseline: libxc build p99${at(n)}` });
    }
    out.push({ id: 'create.xmlrpc_ms.p50.cold', value: round(pct(cold, 0.5)), unit: 'ms', baseline: base,
      note: `as create.xmlrpc_ms.p50.n1, but the first 20 creates after the daemons started, their code not yet optimised by V8 (p99 ${round(pct(cold, 0.99))} ms); baseline: libxc build p50` });
    out.push({ id: 'create.cli_ms.p50.n1', value: round(pct(cli, 0.5)), unit: 'ms', baseline: round(pct(nodeStart, 0.5)),
      note: `xm create -q <cfg> as a process (config parse, create, unpause), p50 of 5, ${made} other domains alive; baseline: node -e 0 process start` });
    out.push({ id: 'list.cli_ms.n1000', value: round(pct(list, 0.5)), unit: 'ms', baseline: round(pct(nodeStart, 0.5)),
      note: `xm list as a process printing ${lines} domains, p50 of 3; baseline: node -e 0 process start${made >= N ? '' : ` (only ${made} domains fitted)`}` });
    return out;
  } finally {
    for (const p of procs.reverse()) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}
