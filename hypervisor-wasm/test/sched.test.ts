import test from 'ava';
import type { XenCore } from '../src/index.js';
import { bootCore, guest } from './_helpers.js';

const MS = 1_000_000n;

/**
 * Drive vCPU "threads" against a fake clock: every step each running vCPU
 * calls vcpuCheck, parked ones retry vcpuMayRun, and the host tick fires
 * every 10 ms. `before` runs first in each step (for guest behaviour).
 */
function simulate(
  core: XenCore, clock: { t: bigint }, vcpus: Array<[number, number]>, ms: number,
  before?: (stepStart: bigint) => void, stepUs = 500n,
): void {
  const running = new Set<string>();
  let nextTick = clock.t + 10n * MS;
  const end = clock.t + BigInt(ms) * MS;
  const nrCpus = core.physinfo().nrCpus;
  while (clock.t < end) {
    clock.t += stepUs * 1000n;
    before?.(clock.t);
    for (const [d, v] of vcpus) {
      const k = `${d}.${v}`;
      if (running.has(k)) {
        if (core.vcpuCheck(d, v) !== 0) running.delete(k);
      } else if (core.vcpuMayRun(d, v)) {
        running.add(k);
      }
    }
    if (clock.t >= nextTick) { core.tick(); nextTick += 10n * MS; }
    if (running.size > nrCpus) throw new Error(`${running.size} vCPUs running on ${nrCpus} pCPUs`);
  }
}

const cpu = (core: XenCore, d: number, v = 0) => Number(core.vcpuInfo(d, v).cpuTimeNs);

test('weights 256 and 512 on one pCPU share it 1:2', (t) => {
  const { core, clock } = bootCore({ nrCpus: 1 }, true);
  const a = guest(core, { unpause: true });
  const b = guest(core, { unpause: true });
  core.schedCreditSet(b, 512, 0xffff);
  t.deepEqual(core.schedCreditGet(b), { weight: 512, cap: 0 });
  const t0 = clock.t;
  simulate(core, clock, [[a, 0], [b, 0]], 6000);
  const ratio = cpu(core, b) / cpu(core, a);
  t.log(`ratio ${ratio}`);
  t.true(Math.abs(ratio - 2) < 0.1, `ratio ${ratio}`);
  t.is(cpu(core, a) + cpu(core, b), Number(clock.t - t0)); // the pCPU never idles, every ns is charged once
});

test('cap 50 alone on a pCPU gets half of it, parked the rest of the time', (t) => {
  const { core, clock } = bootCore({ nrCpus: 1 }, true);
  const a = guest(core, { unpause: true });
  core.schedCreditSet(a, 0, 50);
  t.deepEqual(core.schedCreditGet(a), { weight: 256, cap: 50 });
  const t0 = clock.t;
  let parkedSeen = false;
  simulate(core, clock, [[a, 0]], 3000, () => { if (!core.vcpuInfo(a, 0).running) parkedSeen = true; });
  const share = cpu(core, a) / Number(clock.t - t0);
  t.log(`share ${share}`);
  t.true(Math.abs(share - 0.5) < 0.025, `share ${share}`);
  t.true(parkedSeen);
});

test('three equal burners on two pCPUs: no idle pCPU, fair shares', (t) => {
  const { core, clock } = bootCore({ nrCpus: 2 }, true);
  const ds = [guest(core, { unpause: true }), guest(core, { unpause: true }), guest(core, { unpause: true })];
  const t0 = clock.t;
  simulate(core, clock, ds.map((d) => [d, 0]), 3000);
  const times = ds.map((d) => cpu(core, d));
  const total = times.reduce((x, y) => x + y, 0);
  t.is(total, 2 * Number(clock.t - t0));
  for (const x of times) t.true(Math.abs(x / total - 1 / 3) < 0.02, `shares ${times.map((y) => y / total)}`);
});

test('blocking just before each tick and waking after cannot steal CPU (timestamp accounting)', (t) => {
  const { core, clock } = bootCore({ nrCpus: 1 }, true);
  const sly = guest(core, { unpause: true });
  const burn = guest(core, { unpause: true });
  let phase = 0n;
  simulate(core, clock, [[sly, 0], [burn, 0]], 6000, (now) => {
    phase = now % (10n * MS);
    const vi = core.vcpuInfo(sly, 0);
    if (phase === 9_500_000n && vi.running) core.vcpuBlock(sly, 0);
    if (phase === 500_000n && vi.blocked) core.vcpuWake(sly, 0);
    if (phase === 9_000_000n && vi.running) core.vcpuYield(sly, 0);
  });
  const s = cpu(core, sly);
  const b = cpu(core, burn);
  t.log(`sly share ${s / (s + b)}`);
  t.true(s / (s + b) <= 0.52, `sly share ${s / (s + b)}`);
  t.true(s > 0);
});

test('a vCPU waking UNDER is boosted and preempts the running burner', (t) => {
  const { core, rec, clock } = bootCore({ nrCpus: 1 }, true);
  const burn = guest(core, { unpause: true });
  const io = guest(core, { unpause: true });
  // io got no pCPU (burn holds it) and is queued; let it run once, then block.
  t.false(core.vcpuInfo(io, 0).running);
  clock.t += 31n * MS;
  t.is(core.vcpuCheck(burn, 0), 1); // slice over, io waits: hand-over
  t.true(core.vcpuMayRun(io, 0));
  clock.t += 1n * MS;
  core.vcpuBlock(io, 0);
  t.true(core.vcpuMayRun(burn, 0));
  clock.t += 2n * MS;
  core.tick(); // accounting: io, which ran 1 ms of its 15 ms share, is UNDER again
  t.true(core.vcpuMayRun(burn, 0));
  rec.kicks.length = 0;
  core.vcpuWake(io, 0);
  // io is queued (-1) and burn, holding pCPU 0, is asked to reach the scheduler.
  t.deepEqual(rec.kicks, [[io, 0, -1], [burn, 0, 0]]);
  clock.t += 100_000n;
  t.is(core.vcpuCheck(burn, 0), 1);
  t.true(core.vcpuMayRun(io, 0));
  t.false(core.vcpuMayRun(burn, 0));
});

test('pause takes the pCPU away at once and CPU time stops; unpause gives it back', (t) => {
  const { core, rec, clock } = bootCore({ nrCpus: 1 }, true);
  const d = guest(core, { unpause: true });
  clock.t += 5n * MS;
  t.is(core.vcpuCheck(d, 0), 0);
  rec.kicks.length = 0;
  core.pauseDomain(d);
  t.deepEqual(rec.kicks, [[d, 0, -1]]);
  const frozen = cpu(core, d);
  t.is(frozen, 5_000_000);
  clock.t += 50n * MS;
  t.is(core.vcpuCheck(d, 0), 1);
  t.is(cpu(core, d), frozen);
  t.true(core.getDomainInfo(d).paused);
  core.unpauseDomain(d);
  t.true(core.vcpuMayRun(d, 0));
  clock.t += 1n * MS;
  t.is(core.vcpuCheck(d, 0), 0);
  t.is(cpu(core, d), frozen + 1_000_000);
});

test('yield hands the pCPU to a waiter and does nothing when alone', (t) => {
  const { core, clock } = bootCore({ nrCpus: 1 }, true);
  const a = guest(core, { unpause: true });
  core.vcpuYield(a, 0);
  t.true(core.vcpuMayRun(a, 0));
  const b = guest(core, { unpause: true });
  clock.t += MS;
  core.vcpuYield(a, 0);
  t.false(core.vcpuMayRun(a, 0));
  t.true(core.vcpuMayRun(b, 0));
});

test('work conservation holds through random block/wake/pause/yield/down/up', (t) => {
  const { core, clock } = bootCore({ nrCpus: 2 }, true);
  const vcpus: Array<[number, number]> = [];
  const doms = [guest(core, { vcpus: 2, unpause: true }), guest(core, { vcpus: 3, unpause: true }), guest(core, { unpause: true })];
  for (const d of doms) {
    const n = core.getDomainInfo(d).maxVcpuId + 1;
    for (let v = 0; v < n; v++) { if (v > 0) core.vcpuUp(d, v); vcpus.push([d, v]); }
  }
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let i = 0; i < 5000; i++) {
    clock.t += BigInt(rnd(3_000_000));
    const [d, v] = vcpus[rnd(vcpus.length)]!;
    switch (rnd(9)) {
      case 0: core.vcpuBlock(d, v); break;
      case 1: case 2: core.vcpuWake(d, v); break;
      case 3: if (!core.getDomainInfo(d).paused) core.pauseDomain(d); else core.unpauseDomain(d); break;
      case 4: core.vcpuYield(d, v); break;
      case 5: core.tick(); break;
      case 6: if (v > 0) { if (core.vcpuInfo(d, v).online) core.vcpuDown(d, v); else core.vcpuUp(d, v); } break;
      default: core.vcpuCheck(d, v);
    }
    let holders = 0;
    let waiting = 0;
    for (const [dd, vv] of vcpus) {
      const vi = core.vcpuInfo(dd, vv);
      if (vi.running) holders++;
      else if (vi.online && !vi.blocked && !core.getDomainInfo(dd).paused) waiting++;
    }
    if (holders > 2 || (waiting > 0 && holders < 2)) {
      t.fail(`step ${i}: ${holders} holders, ${waiting} waiting`);
      return;
    }
  }
  t.pass();
});
