// Shared test scaffolding: a booted core whose hooks record what they are told,
// and an optional fake clock so scheduler runs are exact and fast.
import { XenCore, type CoreConfig } from '../src/index.js';

export interface Recorder {
  pending: Array<[number, number, number]>;
  kicks: Array<[number, number, number]>;
  unmasks: Array<[number, number, number]>;
  /** Return value of setPending (true: the vCPU needs an upcall). */
  upcall: boolean;
}

export interface TestCore { core: XenCore; rec: Recorder; clock: { t: bigint } }

export function bootCore(cfg: Partial<CoreConfig> = {}, fakeClock = false): TestCore {
  const rec: Recorder = { pending: [], kicks: [], unmasks: [], upcall: true };
  const clock = { t: 1_000_000_000n };
  const core = XenCore.boot(
    { nrCpus: 2, totalPages: 65536, dom0Pages: 16384, maxDomains: 64, ...cfg },
    {
      setPending: (d, p, v) => { rec.pending.push([d, p, v]); return rec.upcall; },
      kick: (d, v, p) => { rec.kicks.push([d, v, p]); },
      unmask: (d, p, v) => { rec.unmasks.push([d, p, v]); return true; },
      ...(fakeClock ? { now: () => clock.t } : {}),
    },
  );
  return { core, rec, clock };
}

export function uuid(n: number): Uint8Array {
  const h = new Uint8Array(16);
  h[15] = n & 0xff;
  h[0] = 0xab;
  return h;
}

/** A guest with memory and vCPUs, unpaused if asked. */
export function guest(core: XenCore, opts: { pages?: number; vcpus?: number; unpause?: boolean } = {}): number {
  const d = core.createDomain(uuid(7), {});
  core.setMaxMem(d, (opts.pages ?? 256) * 4);
  if (opts.pages !== 0) core.increaseReservation(d, opts.pages ?? 256);
  core.setMaxVcpus(d, opts.vcpus ?? 1);
  if (opts.unpause) core.unpauseDomain(d);
  return d;
}

/** The `code` of what fn throws (an errno name), or 'no error'. */
export function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
  return 'no error';
}
