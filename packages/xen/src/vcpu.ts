// How one vCPU runs on an executor thread.
//
// The guest runs until it blocks, shuts down or traps. Along the way, the
// preemption checks the builder injected call `preempt()`: there the core
// accounts the time run since the last check and says whether this vCPU may
// go on. If not (paused, capped, or its slice is over and someone else is
// waiting for the pCPU), the thread parks on the vCPU's kick word with the
// guest's stack intact, until the scheduler hands it a pCPU again. Pending
// events are delivered there too, as upcalls.
//
// Blocking is different: the guest's stack is unwound into its own memory
// (asyncify, limited by the builder to the sched_op import) and the thread is
// given back. Whoever wakes the vCPU dispatches it to any executor; if that
// is not the one holding its instance, a fresh instance is made from the
// saved state (globals are stored in the guest's reserved page 5, the stack
// in pages 16..31).
import type { XenCore } from '@xenwasm/hypervisor-wasm';
import { GuestInstance, type GuestHost, type GuestState, type RunResult } from '@xenwasm/domain-builder';
import { Dispatch, VF_DISPATCHED, VF_ON_THREAD, VF_STARTED } from './dispatch.js';
import type { GuestRegistry } from './guest-registry.js';
import { GuestMemory } from './guest-memory.js';
import { Hypercalls } from './hypercalls.js';
import { isPending, setUpcallMask, upcallDue } from './event-delivery.js';
import { PAGE_SIZE, START_INFO } from './abi.js';
import * as H from './hypercall-numbers.js';
import { runHvmVcpu } from './hvm-vcpu.js';
import type { HvmBoot } from './hvm-abi.js';

// Fuel handed to a running guest at each check. A unit is one loop iteration
// or one call along a recursion (the builder's checks), whose cost varies with
// the guest's code, so the amount adapts: aim for a check every CHECK_MS of
// guest time, between FUEL_MIN and FUEL_MAX, changing by at most 2x per check.
// Checks cost about a microsecond each (the core's accounting); at a fixed
// 20000 a loop-heavy guest made one every ~20 us (~4% of its time).
const STATE_ADDR = 5 * PAGE_SIZE;
const STATE_MAX = 3 * PAGE_SIZE;
const FUEL_START = 20000;
const FUEL_MIN = 1000;
const FUEL_MAX = 100000;
const CHECK_MS = 0.1;

export class VcpuStop extends Error {
  constructor() {
    super('vCPU stopped');
  }
}

export interface RunnerEnv {
  core: XenCore;
  registry: GuestRegistry;
  dispatch: Dispatch;
  executor: number;
  setTimer(domid: number, vcpu: number, deadlineNs: bigint): void;
  log(msg: string): void;
}

interface Live {
  inst: GuestInstance;
  epoch: number;
  hc: Hypercalls;
  mem: GuestMemory;
  words: Int32Array;
  /** Fuel the last check handed out, and when (performance.now()). */
  fuel: number;
  fuelAt: number;
  pending: { cmd: number; arg: number } | null;
}

export class VcpuRunner {
  private readonly live = new Map<number, Live>();
  constructor(private readonly env: RunnerEnv) {}

  forget(domid: number): void {
    for (const k of [...this.live.keys()]) if (k >>> 8 === domid) this.live.delete(k);
  }

  run(domid: number, vcpu: number): void {
    // A vCPU woken while it was still blocking on this thread runs again here,
    // where its instance is live, rather than being handed to another executor.
    while (this.runOnce(domid, vcpu)) { /* again */ }
  }

  private runOnce(domid: number, vcpu: number): boolean {
    const { dispatch, core } = this.env;
    const key = Dispatch.pack(domid, vcpu);
    dispatch.setFlags(domid, vcpu, VF_ON_THREAD);
    dispatch.clearFlags(domid, vcpu, VF_DISPATCHED);
    dispatch.setHome(domid, vcpu, this.env.executor);
    const entry = this.env.registry.get(domid);
    if (entry?.hvm) {
      runHvmVcpu(this.env, domid, vcpu, entry as typeof entry & { hvm: HvmBoot });
      return false;
    }
    if (!entry?.module || !entry.memory || !this.mayRun(domid, vcpu)) {
      this.leave(domid, vcpu);
      return false;
    }
    const epoch = dispatch.bumpEpoch(domid, vcpu);
    let live = this.live.get(key);
    let result: RunResult;
    try {
      if (live && live.epoch === epoch - 1) {
        live.epoch = epoch;
        result = this.resume(live);
      } else {
        const mem = new GuestMemory(entry.memory);
        const words = new Int32Array(entry.memory.buffer);
        const hc = new Hypercalls(this.env, domid, vcpu, mem);
        const holder = {} as Live;
        const host = this.host(domid, vcpu, holder);
        const started = (dispatch.flags(domid, vcpu) & VF_STARTED) !== 0;
        let inst: GuestInstance;
        if (started) {
          inst = GuestInstance.restore(entry.module, entry.memory, host, loadState(mem) as GuestState);
        } else {
          inst = new GuestInstance(entry.module, entry.memory, host);
        }
        live = Object.assign(holder, { inst, epoch, hc, mem, words, fuel: FUEL_START, fuelAt: performance.now(), pending: started ? holder.pending ?? { cmd: H.SCHEDOP_block, arg: 0 } : null });
        this.live.set(key, live);
        if (started) result = this.resume(live);
        else {
          dispatch.setFlags(domid, vcpu, VF_STARTED);
          result = inst.boot(START_INFO);
        }
      }
    } catch (e) {
      result = { kind: 'trap', error: e };
    }
    return this.finish(domid, vcpu, key, live!, result);
  }

  /** Scale the fuel to the guest time its last amount lasted (see CHECK_MS). */
  private adaptFuel(live: Live): void {
    const ran = performance.now() - live.fuelAt;
    const want = ran > 0 ? (live.fuel * CHECK_MS) / ran : FUEL_MAX;
    live.fuel = Math.round(Math.min(FUEL_MAX, live.fuel * 2, Math.max(FUEL_MIN, live.fuel / 2, want)));
  }

  private resume(live: Live): RunResult {
    live.fuelAt = performance.now();
    const p = live.pending;
    live.pending = null;
    let ret = 0;
    if (p && p.cmd === H.SCHEDOP_poll) ret = 0;
    this.deliverUpcall(live);
    return live.inst.resume(ret);
  }

  /** True when the vCPU is to run again on this thread at once. */
  private finish(domid: number, vcpu: number, key: number, live: Live, result: RunResult): boolean {
    const { core, dispatch } = this.env;
    switch (result.kind) {
      case 'blocked': {
        live.pending = { cmd: result.cmd, arg: result.arg };
        try {
          core.vcpuBlock(domid, vcpu);
        } catch {
          // Destroyed while it ran: nothing to block, nothing to keep.
          break;
        }
        // An event that arrived between the guest's check and vcpuBlock found
        // the vCPU still running and woke nobody: look once more.
        if (upcallDue(live.words, vcpu) || this.pollHit(live)) this.wake(domid, vcpu);
        storeState(live.mem, live.inst.saveState({ keep: true }));
        return this.leaveOrKeep(domid, vcpu);
      }
      case 'returned':
        live.hc.flushConsole();
        this.stopDomain(domid, H.SHUTDOWN_poweroff);
        break;
      case 'trap':
        live?.hc.flushConsole();
        if (!(result.error instanceof VcpuStop)) {
          const why = result.error instanceof Error ? result.error.message : String(result.error);
          core.consoleWrite(`(XEN) domain ${domid} vcpu ${vcpu} crashed: ${why}\n`);
          this.stopDomain(domid, H.SHUTDOWN_crash);
        }
        break;
    }
    this.live.delete(key);
    dispatch.clearFlags(domid, vcpu, VF_ON_THREAD);
    return false;
  }

  private stopDomain(domid: number, reason: number): void {
    try {
      const info = this.env.core.getDomainInfo(domid);
      if (!info.shutdown && !info.dying) this.env.core.shutdownDomain(domid, reason);
    } catch {
      /* already gone */
    }
  }

  /** Give the thread back; if a wake-up raced with us, hand the vCPU on. */
  private leave(domid: number, vcpu: number): void {
    const { dispatch } = this.env;
    dispatch.clearFlags(domid, vcpu, VF_ON_THREAD);
    if (this.mayRun(domid, vcpu)) dispatch.dispatch(domid, vcpu);
  }

  /**
   * leave(), except that a vCPU already runnable again (an event came while it
   * blocked) is kept for this thread: true if the caller must run it now.
   * Taking VF_DISPATCHED here is what a dispatcher would have done.
   */
  private leaveOrKeep(domid: number, vcpu: number): boolean {
    const { dispatch } = this.env;
    dispatch.clearFlags(domid, vcpu, VF_ON_THREAD);
    if (!this.mayRun(domid, vcpu)) return false;
    const old = dispatch.setFlags(domid, vcpu, VF_DISPATCHED);
    if (old & (VF_DISPATCHED | VF_ON_THREAD)) {
      if (!(old & VF_DISPATCHED)) dispatch.clearFlags(domid, vcpu, VF_DISPATCHED);
      return false; // someone else dispatched it, or it is on a thread already
    }
    return true;
  }

  private wake(domid: number, vcpu: number): void {
    try {
      this.env.core.vcpuWake(domid, vcpu);
    } catch {
      /* destroyed meanwhile */
    }
  }

  private mayRun(domid: number, vcpu: number): boolean {
    try {
      return this.env.core.vcpuMayRun(domid, vcpu);
    } catch {
      return false;
    }
  }

  private pollHit(live: Live): boolean {
    const p = live.pending;
    if (!p || p.cmd !== H.SCHEDOP_poll) return false;
    try {
      const ports = live.mem.u32(p.arg);
      const n = Math.min(live.mem.u32(p.arg + 4), 128);
      for (let i = 0; i < n; i++) if (isPending(live.words, live.mem.u32(ports + i * 4))) return true;
    } catch {
      return true;
    }
    return false;
  }

  private deliverUpcall(live: Live): void {
    const v = live.hc.vcpu;
    if (!upcallDue(live.words, v)) return;
    setUpcallMask(live.words, v, true);
    try {
      live.inst.upcall();
    } finally {
      setUpcallMask(live.words, v, false);
    }
  }

  private park(domid: number, vcpu: number): void {
    const { core, dispatch } = this.env;
    const i32 = dispatch.i32;
    const w = dispatch.kickWord(domid, vcpu);
    for (;;) {
      const seen = Atomics.load(i32, w);
      if (core.vcpuMayRun(domid, vcpu)) return;
      let info;
      try {
        info = core.getDomainInfo(domid);
      } catch {
        throw new VcpuStop(); // destroyed and released
      }
      if (info.shutdown || info.dying) throw new VcpuStop();
      Atomics.wait(i32, w, seen, 100);
    }
  }

  private host(domid: number, vcpu: number, live: Live): GuestHost {
    const env = this.env;
    const core = env.core;
    return {
      hypercall: (nr, a1, a2, a3, a4, a5) => live.hc.dispatch(nr, a1, a2, a3, a4, a5),
      grow: (delta) => live.hc.grow(delta),
      rdtsc: () => core.now(),
      preempt: () => {
        const verdict = core.vcpuCheck(domid, vcpu);
        if (verdict === 2) throw new VcpuStop();
        if (verdict === 0) this.adaptFuel(live);
        else if (verdict === 1) this.park(domid, vcpu);
        this.deliverUpcall(live);
        live.fuelAt = performance.now();
        return live.fuel;
      },
      schedOp: (cmd, arg) => {
        switch (cmd) {
          case H.SCHEDOP_yield:
            core.vcpuYield(domid, vcpu);
            if (!core.vcpuMayRun(domid, vcpu)) this.park(domid, vcpu);
            this.deliverUpcall(live);
            return 0;
          case H.SCHEDOP_block:
            // As in Xen, blocking re-enables event delivery first: a guest
            // that masked upcalls around its "anything to do?" check and then
            // blocks must still be woken by what arrived in between.
            setUpcallMask(live.words, vcpu, false);
            if (upcallDue(live.words, vcpu)) {
              this.deliverUpcall(live);
              return 0;
            }
            return 'block';
          case H.SCHEDOP_poll: {
            live.pending = { cmd, arg };
            if (this.pollHit(live)) return 0;
            try {
              const timeout = live.mem.u64(arg + 8);
              if (timeout > 0n) env.setTimer(domid, vcpu, timeout);
            } catch {
              return -14;
            }
            return 'block';
          }
          case H.SCHEDOP_shutdown: {
            let reason: number;
            try {
              reason = live.mem.u32(arg);
            } catch {
              return -14;
            }
            if (reason > 4) return -22;
            live.hc.flushConsole();
            this.stopDomain(domid, reason === 4 ? H.SHUTDOWN_poweroff : reason);
            throw new VcpuStop();
          }
          default:
            return -38;
        }
      },
    };
  }
}

// The state is written as JSON at every block. A compact binary record
// (Int32Array words) was tried: a block got ~2 us cheaper, yet from the
// second guest pair on a host the event channel round trip settled at
// ~50 us instead of ~18 (reproducible, cause not found), so JSON stays.
function storeState(mem: GuestMemory, state: unknown): void {
  const json = JSON.stringify(state, (_k, v) => (typeof v === 'bigint' ? { $big: v.toString() } : v));
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length + 4 > STATE_MAX) throw new RangeError('vCPU state does not fit its save page');
  mem.setU32(STATE_ADDR, bytes.length);
  mem.write(STATE_ADDR + 4, bytes);
}

function loadState(mem: GuestMemory): unknown {
  const len = mem.u32(STATE_ADDR);
  if (len > STATE_MAX - 4) throw new RangeError('corrupt vCPU save page');
  const json = Buffer.from(mem.bytes(STATE_ADDR + 4, len)).toString('utf8');
  return JSON.parse(json, (_k, v) => (v && typeof v === 'object' && '$big' in v ? BigInt(v.$big) : v));
}
