// Cost of the core calls a running vCPU makes most often, against the floor
// of the clock read every timestamp-accounted check needs.
import { XenCore } from '../src/index.js';

type Result = { id: string; value: number; unit: string; baseline: number | null; note: string };

function perCall(n: number, fn: () => void): number {
  for (let i = 0; i < n / 10; i++) fn(); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export default async function (): Promise<Result[]> {
  const core = XenCore.boot({ nrCpus: 2, totalPages: 65536, dom0Pages: 16384 }, { setPending: () => true, kick: () => {} });
  const a = core.createDomain(new Uint8Array(16), {});
  const b = core.createDomain(new Uint8Array(16), {});
  for (const d of [a, b]) { core.setMaxVcpus(d, 1); core.unpauseDomain(d); }
  const pa = core.evtchnAllocUnbound(a, a, b);
  core.evtchnBindInterdomain(b, a, pa);
  const N = 500_000;
  const check: number[] = [];
  const clock: number[] = [];
  const send: number[] = [];
  const info: number[] = [];
  for (let r = 0; r < 5; r++) {
    check.push(perCall(N, () => core.vcpuCheck(a, 0)));
    clock.push(perCall(N, () => process.hrtime.bigint()));
    send.push(perCall(N, () => core.evtchnSend(a, pa)));
    info.push(perCall(N / 10, () => core.getDomainInfo(a)));
  }
  const floor = median(clock);
  return [
    { id: 'core.vcpu_check.ns', value: median(check), unit: 'ns', baseline: floor,
      note: 'XenCore.vcpuCheck of a running vCPU (lock, charge, verdict, unlock); baseline: process.hrtime.bigint() alone, the clock read it contains' },
    { id: 'core.evtchn_send.ns', value: median(send), unit: 'ns', baseline: floor,
      note: 'XenCore.evtchnSend over an interdomain channel with a trivial setPending hook; baseline: process.hrtime.bigint()' },
    { id: 'core.getdomaininfo.ns', value: median(info), unit: 'ns', baseline: null,
      note: 'XenCore.getDomainInfo, including building the JS object' },
  ];
}
