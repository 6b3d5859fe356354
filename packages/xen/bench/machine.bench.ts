// Issue 2's figures: the machine under real guests, each beside a baseline
// measured in this same run.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { readGuestWasm } from '@xenwasm/example-guests';
import { runDirect } from '@xenwasm/domain-builder';
import { buildGuest, guest, startXen, waitDomain, type Host } from '../test/harness.js';

type Fig = { id: string; value: number; unit: string; baseline: number | null; note: string };
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const pct = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cpuRatio(host: Host): Promise<Fig> {
  const bytes = readGuestWasm('cpu-bench');
  const guestNs: number[] = [];
  const directNs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await runDirect(bytes, 'rounds=6000');
    directNs.push(r.ms * 1e6);
    const { domid } = await buildGuest(host.xc, guest('cpu-bench'), 'rounds=6000', 16);
    await host.xc.domainUnpause(domid);
    await waitDomain(host.xc, domid, (d) => d.shutdown || d.crashed);
    guestNs.push(Number((await host.xc.vcpuGetInfo(domid, 0)).cpu_time));
    await host.xc.domainDestroy(domid);
  }
  const g = median(guestNs);
  const d = median(directNs);
  return { id: 'cpu.guest_vs_direct.ratio', value: g / d, unit: 'ratio', baseline: 1, note: `cpu-bench rounds=6000: vCPU time under the hypervisor ${(g / 1e6).toFixed(0)} ms / the unrewritten module run directly in Node ${(d / 1e6).toFixed(0)} ms (medians of 3); target <= 1.10` };
}

async function schedShares(): Promise<Fig[]> {
  const host = await startXen(['--nr-cpus', '1', '--mem', '1024', '--dom0-mem', '128']);
  try {
    const a = await buildGuest(host.xc, guest('burn'));
    const b = await buildGuest(host.xc, guest('burn'));
    await host.xc.schedCreditSet(a.domid, 256, 0);
    await host.xc.schedCreditSet(b.domid, 512, 0);
    await host.xc.domainUnpause(a.domid);
    await host.xc.domainUnpause(b.domid);
    await sleep(500);
    const t = async () => [(await host.xc.vcpuGetInfo(a.domid, 0)).cpu_time, (await host.xc.vcpuGetInfo(b.domid, 0)).cpu_time];
    const [a0, b0] = await t();
    await sleep(3000);
    const [a1, b1] = await t();
    const ratio = Number(b1! - b0!) / Number(a1! - a0!);
    await host.xc.domainDestroy(a.domid);
    await host.xc.domainDestroy(b.domid);

    const measureShare = async (cap: number) => {
      const c = await buildGuest(host.xc, guest('burn'));
      await host.xc.schedCreditSet(c.domid, 256, cap);
      await host.xc.domainUnpause(c.domid);
      await sleep(300);
      const c0 = (await host.xc.vcpuGetInfo(c.domid, 0)).cpu_time;
      const w0 = process.hrtime.bigint();
      await sleep(3000);
      const c1 = (await host.xc.vcpuGetInfo(c.domid, 0)).cpu_time;
      const w1 = process.hrtime.bigint();
      await host.xc.domainDestroy(c.domid);
      return Number(c1 - c0) / Number(w1 - w0);
    };
    const capped = await measureShare(50);
    const free = await measureShare(0);
    return [
      { id: 'sched.weight_256_512.share_ratio', value: ratio, unit: 'ratio', baseline: 2, note: 'two burn guests on one pCPU, weights 256 and 512: CPU time of the 512 one / the 256 one over 3 s; baseline is the ideal share; target 2.0 +/- 5%' },
      { id: 'sched.cap50.share', value: capped, unit: 'share of one pCPU', baseline: free, note: 'a burn guest with cap 50 alone on a pCPU, CPU time / wall time over 3 s; baseline: the same guest uncapped in the same run; target 0.50 +/- 5%' },
    ];
  } finally {
    await host.stop();
  }
}

async function pauseLatency(host: Host): Promise<Fig> {
  const { domid } = await buildGuest(host.xc, guest('burn'));
  await host.xc.domainUnpause(domid);
  const lat: number[] = [];
  const rtt: number[] = [];
  for (let i = 0; i < 30; i++) {
    await sleep(20);
    const r0 = performance.now();
    await host.xc.physinfo();
    rtt.push(performance.now() - r0);
    const t0 = performance.now();
    await host.xc.domainPause(domid);
    let prev = (await host.xc.vcpuGetInfo(domid, 0)).cpu_time;
    for (;;) {
      const now = (await host.xc.vcpuGetInfo(domid, 0)).cpu_time;
      if (now === prev) break;
      prev = now;
    }
    lat.push(performance.now() - t0);
    await host.xc.domainUnpause(domid);
  }
  await host.xc.domainDestroy(domid);
  return { id: 'pause.latency_ms.p50', value: median(lat), unit: 'ms', baseline: median(rtt), note: 'xc pause of a spinning burn guest until two readings of its CPU time agree (includes those privcmd round trips); baseline: one privcmd round trip; target <= 1 ms' };
}

/** The floor: a wait/notify round trip between two threads, both workers (as two executors are). */
function atomicsRttUs(): Promise<number> {
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const a = new Int32Array(workerData.sab);
    const N = 20000, ping = workerData.ping, samples = [];
    for (let i = 1; i <= N; i++) {
      const t0 = process.hrtime.bigint();
      if (ping) { Atomics.store(a, 0, 2 * i - 1); Atomics.notify(a, 0); }
      const want = ping ? 2 * i : 2 * i - 1;
      for (let v = Atomics.load(a, 0); v !== want; v = Atomics.load(a, 0)) Atomics.wait(a, 0, v, 1000);
      if (!ping) { Atomics.store(a, 0, 2 * i); Atomics.notify(a, 0); }
      samples.push(Number(process.hrtime.bigint() - t0));
    }
    parentPort.postMessage(samples);`;
  const sab = new SharedArrayBuffer(8);
  const pong = new Worker(src, { eval: true, execArgv: [], workerData: { sab, ping: false } });
  const ping = new Worker(src, { eval: true, execArgv: [], workerData: { sab, ping: true } });
  return new Promise((resolve, reject) => {
    ping.once('error', reject);
    pong.once('error', reject);
    ping.once('message', (samples: number[]) => {
      void ping.terminate();
      void pong.terminate();
      resolve(median(samples.slice(1000)) / 1000);
    });
  });
}

async function evtchnRtt(host: Host): Promise<Fig> {
  const client = await host.xc.domainCreate({ handle: crypto.randomUUID() });
  const server = await host.xc.domainCreate({ handle: crypto.randomUUID() });
  const port = await host.xc.evtchnAllocUnbound(server, client);
  for (const [domid, cmd] of [
    [server, `role=server port=${port}`],
    [client, `role=client remote_dom=${server} remote_port=${port} count=20000`],
  ] as const) {
    await host.xc.domainMaxVcpus(domid, 1);
    const sp = await host.xc.evtchnAllocUnbound(domid, 0);
    const cp = await host.xc.evtchnAllocUnbound(domid, 0);
    await host.xc.linuxBuild({ domid, kernel: guest('evtchn-pingpong'), cmdline: cmd, memoryMb: 4, storeEvtchn: sp, consoleEvtchn: cp });
  }
  await host.xc.domainUnpause(server);
  await host.xc.domainUnpause(client);
  await waitDomain(host.xc, client, (d) => d.shutdown || d.crashed);
  const m = new RegExp(`\\(d${client}\\) pingpong: n=\\d+ p50_ns=(\\d+)`).exec(await host.xc.readConsoleRing());
  await host.xc.domainDestroy(client);
  await host.xc.domainDestroy(server);
  const floor = await atomicsRttUs();
  return { id: 'evtchn.guest_rtt_us.p50', value: m ? Number(m[1]) / 1000 : NaN, unit: 'us', baseline: floor, note: 'event channel ping-pong between two guests, 20000 round trips timed by the client with rdtsc; baseline: raw Atomics wait/notify round trip between two threads (blocking)' };
}

async function density(): Promise<Fig[]> {
  const host = await startXen(['--nr-cpus', '2', '--mem', '4096', '--dom0-mem', '256']);
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${host.proc.pid}/status`, 'utf8'))![1]) / 1024;
  const times: number[] = [];
  try {
    // Warm the rewrite and compile caches and the JIT first, as a host that
    // has run for a while has: 20 guests built, started and destroyed.
    for (let i = 0; i < 20; i++) {
      const w = await buildGuest(host.xc, guest('idle'), '', 1);
      await host.xc.domainUnpause(w.domid);
      await host.xc.domainDestroy(w.domid);
    }
    const r0 = rss();
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      const { domid } = await buildGuest(host.xc, guest('idle'), '', 1);
      await host.xc.domainUnpause(domid);
      while (!(await host.xc.domainInfo(domid)).blocked) {
        /* until it has run and blocked: started */
      }
      times.push(performance.now() - t0);
    }
    const perGuest = (rss() - r0) / 1000;
    const threadRss = await workerRssMib();
    const win = (n: number) => times.slice(Math.max(0, n - 20), n);
    const out: Fig[] = [];
    for (const n of [1, 100, 1000]) {
      const note = `libxc create + max_vcpus + 2 evtchn + linux_build + unpause of the ${n}th idle guest (1 MiB) until it has run and blocked, earlier guests alive and blocked, after 20 warm-up builds destroyed; window of the ${Math.min(n, 20)} builds up to the ${n}th; target <= 5 ms, flat`;
      out.push({ id: `build.ms.p50.n${n}`, value: median(win(n)), unit: 'ms', baseline: null, note });
      out.push({ id: `build.ms.p99.n${n}`, value: pct(win(n), 0.99), unit: 'ms', baseline: null, note });
    }
    out.push({ id: 'build.host_mib_per_idle_guest', value: perGuest, unit: 'MiB', baseline: threadRss, note: 'growth of the xen process RSS over 1000 idle guests / 1000, their touched memory included; baseline: RSS of one idle worker thread, what one thread per domain would cost; target <= 2 MiB' });
    return out;
  } finally {
    await host.stop();
  }
}

function workerRssMib(): Promise<number> {
  return new Promise((resolve) => {
    const before = process.memoryUsage().rss;
    const w = new Worker('require("node:worker_threads").parentPort.postMessage(1); setInterval(() => {}, 1000)', { eval: true, execArgv: [] });
    w.once('message', () => {
      setTimeout(() => {
        const after = process.memoryUsage().rss;
        void w.terminate();
        resolve((after - before) / 2 ** 20);
      }, 200);
    });
  });
}

export default async function (): Promise<Fig[]> {
  const host = await startXen();
  const out: Fig[] = [];
  try {
    out.push(await cpuRatio(host));
    out.push(await pauseLatency(host));
    out.push(await evtchnRtt(host));
  } finally {
    await host.stop();
  }
  out.push(...(await schedShares()));
  out.push(...(await density()));
  return out;
}
