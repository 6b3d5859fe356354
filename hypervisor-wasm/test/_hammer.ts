// The mixed workload threads.test.ts runs on several threads at once.
import type { XenCore, CoreShare } from '../src/index.js';

export interface HammerJob { share: CoreShare; shared: number; iterations: number; seed: number; barrier: SharedArrayBuffer; parties: number }

/** Wait until every party arrived, so the threads really run at the same time. */
export function arrive(barrier: SharedArrayBuffer, parties: number): void {
  const w = new Int32Array(barrier);
  if (Atomics.add(w, 0, 1) + 1 === parties) Atomics.notify(w, 0);
  for (let n = Atomics.load(w, 0); n < parties; n = Atomics.load(w, 0)) Atomics.wait(w, 0, n);
}

export function hammer(core: XenCore, job: Omit<HammerJob, 'share'>): { created: number } {
  arrive(job.barrier, job.parties);
  const handle = new Uint8Array(16).fill(job.seed & 0xff);
  let created = 0;
  for (let i = 0; i < job.iterations; i++) {
    const d = core.createDomain(handle, {});
    created++;
    core.setMaxMem(d, 64 * 4);
    core.increaseReservation(d, 64);
    core.setMaxVcpus(d, 2);
    core.unpauseDomain(d);
    const p0 = core.evtchnAllocUnbound(0, 0, d);
    const pd = core.evtchnBindInterdomain(d, 0, p0);
    core.evtchnSend(0, p0);
    core.evtchnSend(d, pd);
    const h = core.grantMapRecord(0, job.shared, (i + job.seed) % 512, i % 2 === 0);
    core.increaseReservation(job.shared, 1);
    core.vcpuCheck(d, 0);
    core.vcpuBlock(d, 0);
    core.vcpuWake(d, 0);
    core.pauseDomain(d);
    core.tick();
    core.grantUnmapRecord(0, h);
    core.getDomainInfo(d);
    core.listDomains(0, 50);
    if (i % 3 === 0) core.shutdownDomain(d, 3);
    core.destroyDomain(d);
    core.evtchnClose(0, p0);
  }
  return { created };
}

