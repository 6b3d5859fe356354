/// <reference lib="dom" preserve="true" />
// XenCore: the TypeScript face of the AssemblyScript hypervisor core.
//
// Every thread that attaches instantiates the same module over the same
// shared memory. Each call takes the core's global lock (a futex word in the
// shared header; the wasm side spins, then sleeps through the `wait` import),
// runs one export, reads any structured result from the scratch area while
// still holding the lock, and releases it. Hooks run inside that window.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { HypercallError, XenError } from '@xenwasm/xen-errno';

export interface CoreConfig {
  nrCpus: number;          // pCPUs the scheduler hands out
  totalPages: number;      // host pool of 4 KiB pages
  dom0Pages: number;       // Domain-0's reservation, taken from the pool at boot
  maxDomains?: number;     // table size (default 4096: domids 0..4095 < DOMID_FIRST_RESERVED)
  maxVcpus?: number;       // per domain (default 32, MAX_VIRT_CPUS)
  /** Event-channel ports per guest (default 1024, NR_EVENT_CHANNELS of a 32-bit guest). */
  domUPorts?: number;
  /** Ports for Domain-0 (default 4096, as a 64-bit dom0 has): it carries every backend and daemon. */
  dom0Ports?: number;
  /** 2 KiB blocks for event-channel buckets (256 ports each) and grant pin tables (default 3 per domain + 64). */
  poolBlocks?: number;
  /** Grant maptrack entries for the whole host (default 65536) and per grantee (default 16384). */
  maptrackEntries?: number;
  maptrackPerDomain?: number;
  /** Reported by physinfo (default: the host's first CPU speed). */
  cpuKhz?: number;
}

/** What another thread needs to attach (structured-cloneable: postMessage it). */
export interface CoreShare { memory: WebAssembly.Memory; module: WebAssembly.Module }

export interface CoreHooks {
  /**
   * Called INSIDE a core call (the global lock is held: must not call back into the core).
   * Set `port` pending in `domid`'s shared_info (two-level scheme of pv-abi.md). Return true if
   * the port bit was newly set and unmasked, i.e. the vCPU needs an upcall (the core then wakes it).
   */
  setPending(domid: number, port: number, vcpu: number): boolean;
  /**
   * Look at vCPU (domid, vcpu): it was just given pCPU `pcpu`; or it is queued (-1) and holds
   * none; or it holds `pcpu` and must reach vcpuCheck soon (preempt request); or it just lost its
   * pCPU (-1: paused, capped, shut down). In every case: wake or poke that vCPU's thread.
   */
  kick(domid: number, vcpu: number, pcpu: number): void;
  /**
   * Optional, for evtchnUnmask: clear `port`'s mask bit in `domid`'s shared_info and, if the port
   * is pending, set the selector bit and upcall_pending as Xen's unmask does. Return true if the
   * vCPU now needs an upcall (the core wakes it). Without this hook, evtchnUnmask only validates.
   */
  unmask?(domid: number, port: number, vcpu: number): boolean;
  /** Test-only clock (ns); default process.hrtime.bigint(). Every thread must use the same clock. */
  now?(): bigint;
}

export interface DomainInfo {
  domid: number; handle: Uint8Array; dying: boolean; hvm: boolean; shutdown: boolean; paused: boolean;
  blocked: boolean; running: boolean; shutdownReason: number; crashed: boolean /* shutdown && reason crash, as libxc reports */;
  totPages: number; maxPages: number; cpuTimeNs: bigint; nrOnlineVcpus: number; maxVcpuId: number; ssidref: number; cpu: number;
}

export interface VcpuInfo { online: boolean; blocked: boolean; running: boolean; cpuTimeNs: bigint; cpu: number }

export interface EvtchnStatus { status: number; vcpu: number; remoteDom?: number; remotePort?: number; virq?: number }

export interface GrantUnmapResult { granter: number; gref: number; readonly: boolean; lastReader: boolean; lastWriter: boolean }

export const enum VcpuVerdict { Run = 0, Park = 1, Dead = 2 }

/** Must match --maximumMemory in build-core.mjs. */
const MAX_WASM_PAGES = 16384;
const CONSOLE_SIZE = 65536;
const SCRATCH_SIZE = 65536;
const INFO_SIZE = 64;
/** Header offsets (assembly/state.ts). */
const H_NRCPUS = 64 + 16;

interface CoreExports {
  layout(nrCpus: number, totalPages: number, maxDom: number, maxVcpu: number, poolBlocks: number,
    mtEntries: number, mtPerDom: number, domUPorts: number, dom0Ports: number): number;
  boot(dom0Pages: number): number;
  attach(): number;
  firstAttach(): number;
  lock(me: number): number;
  unlock(): void;
  owner(): number;
  scratch(): number;
  hdr(off: number): number;
  createDomain(domid: number, hvm: number, ssidref: number): number;
  setMaxVcpus(d: number, n: number): number;
  pauseDomain(d: number): number;
  unpauseDomain(d: number): number;
  shutdownDomain(d: number, reason: number): number;
  destroyDomain(d: number): number;
  getDomainInfo(d: number): number;
  listDomains(first: number, max: number): number;
  setMaxMem(d: number, pages: number): number;
  setHandle(d: number): number;
  increaseReservation(d: number, n: number): number;
  decreaseReservation(d: number, n: number): number;
  freePages(): number;
  totalPages(): number;
  vcpuInfo(d: number, v: number): number;
  vcpuUp(d: number, v: number): number;
  vcpuDown(d: number, v: number): number;
  schedCreditGet(d: number): number;
  schedCreditSet(d: number, w: number, cap: number): number;
  vcpuBlock(d: number, v: number): number;
  vcpuWake(d: number, v: number): number;
  vcpuYield(d: number, v: number): number;
  vcpuCheck(d: number, v: number): number;
  vcpuMayRun(d: number, v: number): number;
  tick(): void;
  evtchnAllocUnbound(caller: number, dom: number, remote: number): number;
  evtchnBindInterdomain(caller: number, rdom: number, rport: number): number;
  evtchnBindVirq(caller: number, virq: number, vcpu: number): number;
  evtchnBindIpi(caller: number, vcpu: number): number;
  evtchnClose(caller: number, port: number): number;
  evtchnSend(caller: number, port: number): number;
  evtchnStatus(caller: number, dom: number, port: number): number;
  evtchnBindVcpu(caller: number, port: number, vcpu: number): number;
  evtchnUnmask(caller: number, port: number): number;
  evtchnReset(dom: number): number;
  raiseVirq(d: number, virq: number, vcpu: number): number;
  grantSetupTable(d: number, nr: number): number;
  grantQuerySize(d: number): number;
  grantMapRecord(grantee: number, granter: number, gref: number, ro: number): number;
  grantUnmapRecord(grantee: number, h: number): number;
  grantPins(granter: number, gref: number): number;
  consoleWrite(len: number): void;
  consoleBase(): number;
  consoleProd(): number;
  consoleCleared(): number;
  consoleClear(): void;
}

let compiled: WebAssembly.Module | undefined;
/** The compiled core (build/core.wasm, produced by `npm run build:wasm`). */
export function coreModule(): WebAssembly.Module {
  if (!compiled) {
    const file = new URL('../../build/core.wasm', import.meta.url);
    compiled = new WebAssembly.Module(readFileSync(file));
  }
  return compiled;
}

const MAX_GRANT_FRAMES = 8;

/** The host CPU clock for physinfo: os.cpus() when it knows, else /proc/cpuinfo, else 0. */
function hostCpuKhz(): number {
  const mhz = os.cpus()[0]?.speed ?? 0;
  if (mhz > 0) return Math.round(mhz * 1000);
  try {
    const m = /cpu MHz\s*:\s*([0-9.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Math.round(Number(m[1]) * 1000) : 0;
  } catch {
    return 0;
  }
}
const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

function posInt(x: number | undefined, dflt: number, what: string, min = 1, max = 0x7fffffff): number {
  const v = x ?? dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new HypercallError(-22, `core config ${what}=${v}`);
  return v;
}

export class XenCore {
  private readonly ex: CoreExports;
  private readonly memory: WebAssembly.Memory;
  private readonly module: WebAssembly.Module;
  private readonly hooks: CoreHooks;
  private readonly clock: () => bigint;
  private readonly cpuKhz: number;
  private me = 0;
  private hookError: unknown = undefined;
  private view!: DataView;
  private bytes!: Uint8Array;
  private scratchAt = 0;

  private constructor(share: CoreShare, hooks: CoreHooks, cpuKhz?: number) {
    this.memory = share.memory;
    this.module = share.module;
    this.hooks = hooks;
    this.clock = hooks.now ? hooks.now.bind(hooks) : process.hrtime.bigint;
    this.cpuKhz = cpuKhz ?? hostCpuKhz();
    const lockWord = new Int32Array(share.memory.buffer, 0, 1024);
    const instance = new WebAssembly.Instance(share.module, {
      env: { memory: share.memory },
      core: {
        now: () => this.clock(),
        setPending: (d: number, p: number, v: number) => this.guard(() => (this.hooks.setPending(d, p, v) ? 1 : 0), 0),
        kick: (d: number, v: number, p: number) => this.guard(() => { this.hooks.kick(d, v, p); return 0; }, 0),
        unmask: (d: number, p: number, v: number) =>
          this.guard(() => (this.hooks.unmask?.(d, p, v) ? 1 : 0), 0),
        wait: (addr: number, expected: number) => { Atomics.wait(lockWord, addr >> 2, expected); },
      },
    });
    this.ex = instance.exports as unknown as CoreExports;
  }

  /** First thread: allocate the shared memory, lay the core out, create Domain-0, write the banner. */
  static boot(cfg: CoreConfig, hooks: CoreHooks): XenCore {
    const nrCpus = posInt(cfg.nrCpus, 1, 'nrCpus', 1, 4096);
    const totalPages = posInt(cfg.totalPages, 0, 'totalPages', 1);
    const dom0Pages = posInt(cfg.dom0Pages, 0, 'dom0Pages', 0, totalPages);
    const maxDomains = posInt(cfg.maxDomains, 4096, 'maxDomains', 1, 0x7ff0);
    const maxVcpus = posInt(cfg.maxVcpus, 32, 'maxVcpus', 1, 32);
    const domUPorts = posInt(cfg.domUPorts, 1024, 'domUPorts', 2, 4096);
    const dom0Ports = posInt(cfg.dom0Ports, 4096, 'dom0Ports', 2, 4096);
    const poolBlocks = posInt(cfg.poolBlocks, maxDomains * 3 + 64, 'poolBlocks', 1);
    const mtEntries = posInt(cfg.maptrackEntries, 65536, 'maptrackEntries', 1);
    const mtPerDom = posInt(cfg.maptrackPerDomain, Math.min(16384, mtEntries), 'maptrackPerDomain', 1);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_WASM_PAGES, shared: true });
    const core = new XenCore({ memory, module: coreModule() }, hooks, cfg.cpuKhz);
    const need = core.ex.layout(nrCpus, totalPages, maxDomains, maxVcpus, poolBlocks, mtEntries, mtPerDom, domUPorts, dom0Ports);
    const pages = Math.ceil(need / 65536);
    if (need < 0 || pages > MAX_WASM_PAGES) {
      throw new HypercallError(-12, `core tables need ${need} bytes, more than ${MAX_WASM_PAGES * 64} KiB`);
    }
    memory.grow(pages - 1);
    core.me = core.ex.firstAttach();
    core.mapViews();
    core.call(() => core.check(core.ex.boot(dom0Pages), 'boot'));
    return core;
  }

  /** Another thread joins the core booted elsewhere. */
  static attach(share: CoreShare, hooks: CoreHooks): XenCore {
    const core = new XenCore(share, hooks);
    const me = core.ex.attach();
    if (me < 0) throw new HypercallError(me, 'attach: no core booted in this memory');
    core.me = me;
    core.mapViews();
    return core;
  }

  share(): CoreShare { return { memory: this.memory, module: this.module }; }

  /** ns, monotonic, same clock on every thread. */
  now(): bigint { return this.clock(); }

  // ---------------------------------------------------------------- plumbing

  private mapViews(): void {
    this.view = new DataView(this.memory.buffer);
    this.bytes = new Uint8Array(this.memory.buffer);
    this.scratchAt = this.ex.scratch();
  }

  private guard(fn: () => number, dflt: number): number {
    try { return fn(); } catch (e) { this.hookError ??= e; return dflt; }
  }

  private enter(): void {
    if (this.ex.lock(this.me) < 0) {
      throw new XenError('EDEADLK', 'XenCore re-entered from inside a hook (the core lock is held)');
    }
  }

  private leave(): void {
    this.ex.unlock();
    if (this.hookError !== undefined) {
      const e = this.hookError;
      this.hookError = undefined;
      throw e;
    }
  }

  private call<T>(fn: () => T): T {
    this.enter();
    let out: T;
    try { out = fn(); } catch (e) { this.ex.unlock(); this.hookError = undefined; throw e; }
    this.leave();
    return out;
  }

  private check(rc: number, what: string): number {
    if (rc < 0) throw new HypercallError(rc, what);
    return rc;
  }

  private i32(off: number): number { return this.view.getInt32(this.scratchAt + off, true); }
  private u32(off: number): number { return this.view.getUint32(this.scratchAt + off, true); }

  private putHandle(handle: Uint8Array): void {
    if (handle.length !== 16) throw new HypercallError(-22, 'domain handle must be 16 bytes');
    this.bytes.set(handle, this.scratchAt);
  }

  private readInfo(at: number): DomainInfo {
    const v = this.view;
    const b = this.scratchAt + at;
    const flags = v.getInt32(b + 4, true);
    const reason = v.getInt32(b + 8, true);
    const shut = (flags & 4) !== 0;
    const crashed = shut && reason === 3;
    return {
      domid: v.getInt32(b, true),
      handle: this.bytes.slice(b + 48, b + 64),
      dying: (flags & 1) !== 0,
      hvm: (flags & 2) !== 0,
      shutdown: shut && !crashed,
      paused: (flags & 8) !== 0,
      blocked: (flags & 16) !== 0,
      running: (flags & 32) !== 0,
      shutdownReason: reason,
      crashed,
      totPages: v.getUint32(b + 12, true),
      maxPages: v.getUint32(b + 16, true),
      cpuTimeNs: v.getBigInt64(b + 40, true),
      nrOnlineVcpus: v.getInt32(b + 20, true),
      maxVcpuId: v.getInt32(b + 24, true),
      ssidref: v.getUint32(b + 28, true),
      cpu: v.getInt32(b + 32, true),
    };
  }

  // ---------------------------------------------------------------- domains (domctl)

  createDomain(handle: Uint8Array, opts: { hvm?: boolean; domid?: number; ssidref?: number } = {}): number {
    return this.call(() => {
      this.putHandle(handle);
      return this.check(this.ex.createDomain(opts.domid ?? 0, opts.hvm ? 1 : 0, opts.ssidref ?? 0), 'createdomain');
    });
  }
  setMaxVcpus(domid: number, n: number): void { this.call(() => this.check(this.ex.setMaxVcpus(domid, n), 'max_vcpus')); }
  pauseDomain(domid: number): void { this.call(() => this.check(this.ex.pauseDomain(domid), 'pausedomain')); }
  unpauseDomain(domid: number): void { this.call(() => this.check(this.ex.unpauseDomain(domid), 'unpausedomain')); }
  shutdownDomain(domid: number, reason: number): void {
    this.call(() => this.check(this.ex.shutdownDomain(domid, reason), 'shutdown'));
  }
  destroyDomain(domid: number): void { this.call(() => this.check(this.ex.destroyDomain(domid), 'destroydomain')); }
  getDomainInfo(domid: number): DomainInfo {
    return this.call(() => { this.check(this.ex.getDomainInfo(domid), 'getdomaininfo'); return this.readInfo(0); });
  }
  listDomains(first: number, max: number): DomainInfo[] {
    return this.call(() => {
      const out: DomainInfo[] = [];
      let from = first;
      while (out.length < max) {
        const n = this.ex.listDomains(from, Math.min(max - out.length, SCRATCH_SIZE / INFO_SIZE));
        for (let i = 0; i < n; i++) out.push(this.readInfo(i * INFO_SIZE));
        if (n === 0 || n < SCRATCH_SIZE / INFO_SIZE) break;
        from = out[out.length - 1]!.domid + 1;
      }
      return out;
    });
  }
  setMaxMem(domid: number, maxKb: number): void {
    const pages = Math.min(Math.floor(maxKb / 4), 0xffffffff);
    if (!(pages >= 0)) throw new HypercallError(-22, 'max_mem');
    this.call(() => this.check(this.ex.setMaxMem(domid, pages), 'max_mem'));
  }
  setHandle(domid: number, handle: Uint8Array): void {
    this.call(() => { this.putHandle(handle); this.check(this.ex.setHandle(domid), 'setdomainhandle'); });
  }

  // ---------------------------------------------------------------- memory (memory_op)

  increaseReservation(domid: number, nrPages: number): void {
    if (!Number.isInteger(nrPages) || nrPages < 0 || nrPages > 0x7fffffff) throw new HypercallError(-22, 'increase_reservation');
    this.call(() => this.check(this.ex.increaseReservation(domid, nrPages), 'increase_reservation'));
  }
  decreaseReservation(domid: number, nrPages: number): void {
    if (!Number.isInteger(nrPages) || nrPages < 0 || nrPages > 0x7fffffff) throw new HypercallError(-22, 'decrease_reservation');
    this.call(() => this.check(this.ex.decreaseReservation(domid, nrPages), 'decrease_reservation'));
  }
  physinfo(): { nrCpus: number; totalPages: number; freePages: number; cpuKhz: number } {
    return this.call(() => ({
      nrCpus: this.ex.hdr(H_NRCPUS),
      totalPages: this.ex.totalPages(),
      freePages: this.ex.freePages(),
      cpuKhz: this.cpuKhz,
    }));
  }

  // ---------------------------------------------------------------- vCPUs and the credit scheduler

  vcpuInfo(domid: number, vcpu: number): VcpuInfo {
    return this.call(() => {
      this.check(this.ex.vcpuInfo(domid, vcpu), 'getvcpuinfo');
      return {
        online: this.i32(0) !== 0, blocked: this.i32(4) !== 0, running: this.i32(8) !== 0,
        cpu: this.i32(12), cpuTimeNs: this.view.getBigInt64(this.scratchAt + 16, true),
      };
    });
  }
  vcpuUp(domid: number, vcpu: number): void { this.call(() => this.check(this.ex.vcpuUp(domid, vcpu), 'VCPUOP_up')); }
  vcpuDown(domid: number, vcpu: number): void { this.call(() => this.check(this.ex.vcpuDown(domid, vcpu), 'VCPUOP_down')); }
  schedCreditGet(domid: number): { weight: number; cap: number } {
    return this.call(() => {
      this.check(this.ex.schedCreditGet(domid), 'sched_credit getinfo');
      return { weight: this.i32(0), cap: this.i32(4) };
    });
  }
  schedCreditSet(domid: number, weight: number, cap: number): void {
    if (!Number.isInteger(weight) || !Number.isInteger(cap)) throw new HypercallError(-22, 'sched_credit putinfo');
    this.call(() => this.check(this.ex.schedCreditSet(domid, weight, cap), 'sched_credit putinfo'));
  }
  vcpuBlock(domid: number, vcpu: number): void { this.call(() => this.check(this.ex.vcpuBlock(domid, vcpu), 'SCHEDOP_block')); }
  vcpuWake(domid: number, vcpu: number): void { this.call(() => this.check(this.ex.vcpuWake(domid, vcpu), 'vcpu_wake')); }
  vcpuYield(domid: number, vcpu: number): void { this.call(() => this.check(this.ex.vcpuYield(domid, vcpu), 'SCHEDOP_yield')); }

  /** The preemption check: charge run time since the last call, say what the vCPU must do now. */
  vcpuCheck(domid: number, vcpu: number): VcpuVerdict {
    const ex = this.ex;
    this.enter();
    let r: number;
    try { r = ex.vcpuCheck(domid, vcpu); } catch (e) { ex.unlock(); this.hookError = undefined; throw e; }
    this.leave();
    return r as VcpuVerdict;
  }
  vcpuMayRun(domid: number, vcpu: number): boolean {
    const ex = this.ex;
    this.enter();
    let r: number;
    try { r = ex.vcpuMayRun(domid, vcpu); } catch (e) { ex.unlock(); this.hookError = undefined; throw e; }
    this.leave();
    return r !== 0;
  }
  tick(): void { this.call(() => this.ex.tick()); }

  // ---------------------------------------------------------------- event channels

  evtchnAllocUnbound(caller: number, dom: number, remoteDom: number): number {
    return this.call(() => this.check(this.ex.evtchnAllocUnbound(caller, dom, remoteDom), 'EVTCHNOP_alloc_unbound'));
  }
  evtchnBindInterdomain(caller: number, remoteDom: number, remotePort: number): number {
    return this.call(() => this.check(this.ex.evtchnBindInterdomain(caller, remoteDom, remotePort), 'EVTCHNOP_bind_interdomain'));
  }
  evtchnBindVirq(caller: number, virq: number, vcpu: number): number {
    return this.call(() => this.check(this.ex.evtchnBindVirq(caller, virq, vcpu), 'EVTCHNOP_bind_virq'));
  }
  evtchnBindIpi(caller: number, vcpu: number): number {
    return this.call(() => this.check(this.ex.evtchnBindIpi(caller, vcpu), 'EVTCHNOP_bind_ipi'));
  }
  evtchnClose(caller: number, port: number): void { this.call(() => this.check(this.ex.evtchnClose(caller, port), 'EVTCHNOP_close')); }
  evtchnSend(caller: number, port: number): void { this.call(() => this.check(this.ex.evtchnSend(caller, port), 'EVTCHNOP_send')); }
  evtchnStatus(caller: number, dom: number, port: number): EvtchnStatus {
    return this.call(() => {
      this.check(this.ex.evtchnStatus(caller, dom, port), 'EVTCHNOP_status');
      const status = this.i32(0);
      const s: EvtchnStatus = { status, vcpu: this.i32(4) };
      if (status === 1) s.remoteDom = this.i32(8);
      else if (status === 2) { s.remoteDom = this.i32(8); s.remotePort = this.i32(12); }
      else if (status === 4) s.virq = this.i32(16);
      return s;
    });
  }
  evtchnBindVcpu(caller: number, port: number, vcpu: number): void {
    this.call(() => this.check(this.ex.evtchnBindVcpu(caller, port, vcpu), 'EVTCHNOP_bind_vcpu'));
  }
  evtchnUnmask(caller: number, port: number): void { this.call(() => this.check(this.ex.evtchnUnmask(caller, port), 'EVTCHNOP_unmask')); }
  evtchnReset(dom: number): void { this.call(() => this.check(this.ex.evtchnReset(dom), 'EVTCHNOP_reset')); }
  /** Global VIRQs (DOM_EXC 3, ...) go through vCPU 0's binding; per-vCPU ones (TIMER 0) through `vcpu`'s. */
  raiseVirq(domid: number, virq: number, vcpu = 0): void {
    this.call(() => this.check(this.ex.raiseVirq(domid, virq, vcpu), 'raise virq'));
  }

  // ---------------------------------------------------------------- grant tables

  grantSetupTable(domid: number, nrFrames: number): void {
    this.call(() => this.check(this.ex.grantSetupTable(domid, nrFrames), 'GNTTABOP_setup_table'));
  }
  grantQuerySize(domid: number): { nrFrames: number; maxNrFrames: number } {
    return this.call(() => ({ nrFrames: this.check(this.ex.grantQuerySize(domid), 'GNTTABOP_query_size'), maxNrFrames: MAX_GRANT_FRAMES }));
  }
  grantMapRecord(grantee: number, granter: number, gref: number, readonly: boolean): number {
    return this.call(() => this.check(this.ex.grantMapRecord(grantee, granter, gref, readonly ? 1 : 0), 'GNTTABOP_map_grant_ref'));
  }
  /** lastReader: no mapping of the gref is left (clear GTF_reading); lastWriter: this was the last writable one (clear GTF_writing). */
  grantUnmapRecord(grantee: number, handle: number): GrantUnmapResult {
    return this.call(() => {
      this.check(this.ex.grantUnmapRecord(grantee, handle), 'GNTTABOP_unmap_grant_ref');
      return {
        granter: this.i32(0), gref: this.u32(4), readonly: this.i32(8) !== 0,
        lastReader: this.i32(12) !== 0, lastWriter: this.i32(16) !== 0,
      };
    });
  }
  grantPins(granter: number, gref: number): { readers: number; writers: number } {
    return this.call(() => {
      this.check(this.ex.grantPins(granter, gref), 'grant pins');
      return { readers: this.i32(0), writers: this.i32(4) };
    });
  }

  // ---------------------------------------------------------------- console ring

  consoleWrite(text: string): void {
    let data = utf8.encode(text);
    if (data.length > CONSOLE_SIZE) data = data.subarray(data.length - CONSOLE_SIZE);
    this.call(() => {
      for (let at = 0; at < data.length; at += SCRATCH_SIZE) {
        const chunk = data.subarray(at, Math.min(data.length, at + SCRATCH_SIZE));
        this.bytes.set(chunk, this.scratchAt);
        this.ex.consoleWrite(chunk.length);
      }
    });
  }

  /** The ring's content since the last clear (oldest bytes dropped past 64 KiB). */
  consoleRead(clear: boolean): string {
    return this.call(() => {
      const prod = this.ex.consoleProd();
      let avail = (prod - this.ex.consoleCleared()) >>> 0;
      if (avail > CONSOLE_SIZE) avail = CONSOLE_SIZE;
      const base = this.ex.consoleBase();
      const out = new Uint8Array(avail);
      const start = (prod - avail) >>> 0;
      for (let i = 0; i < avail; i++) out[i] = this.bytes[base + ((start + i) & (CONSOLE_SIZE - 1))]!;
      if (clear) this.ex.consoleClear();
      let skip = 0;
      if (avail === CONSOLE_SIZE) while (skip < avail && (out[skip]! & 0xc0) === 0x80) skip++; // cut mid-character
      return utf8d.decode(out.subarray(skip));
    });
  }
}
