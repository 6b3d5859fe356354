// An HVM guest's vCPU on an executor thread. The guest is an unmodified WASI
// program: its WASI calls trap to the device model through the ioreq page
// (the vCPU waits on its thread while a request is outstanding: no asyncify
// in an HVM guest), and it gets the same preemption checks as a PV guest.
// It never blocks in the PV sense, so it keeps its thread until it exits.
import { createWasiTrap, notifyShutdown, WasiExit, IoreqPage, REQUEST, RESPONSE, IDLE, S_STATE, type IoreqTransport } from '@xenwasm/qemu-dm';
import { EXPORT_INIT_MEMORY, HVM_IMPORT_MODULE } from '@xenwasm/domain-builder';
import { VF_DISPATCHED, VF_ON_THREAD, VF_STARTED } from './dispatch.js';
import { VcpuStop, type RunnerEnv } from './vcpu.js';
import type { DomainEntry } from './guest-registry.js';
import type { HvmBoot } from './hvm-abi.js';
import * as H from './hypercall-numbers.js';
import { XEN_PAGES_PER_WASM_PAGE } from './abi.js';

const FUEL = 20000;
/**
 * Loads of the state word (~6 ns each) before sleeping on it: enough to
 * catch an answer that takes a microsecond (a stub domain's console write),
 * no more. A longer spin holds a core the device model needs: on a 2-core
 * host a 64 KiB file write through a stub domain took ~2x longer with
 * 4,000, as the sleep and wake-up (futex) cost ~10 us.
 */
const SPIN = 300;

export function runHvmVcpu(env: RunnerEnv, domid: number, vcpu: number, entry: DomainEntry & { hvm: HvmBoot }): void {
  const { dispatch, core } = env;
  dispatch.setFlags(domid, vcpu, VF_ON_THREAD);
  dispatch.clearFlags(domid, vcpu, VF_DISPATCHED);
  dispatch.setHome(domid, vcpu, env.executor);
  const mayRun = () => {
    try {
      return core.vcpuMayRun(domid, vcpu);
    } catch {
      return false;
    }
  };
  const dead = () => {
    try {
      const i = core.getDomainInfo(domid);
      return i.shutdown || i.dying;
    } catch {
      return true;
    }
  };
  if (vcpu !== 0 || dispatch.flags(domid, vcpu) & VF_STARTED || !mayRun() || !entry.module || !entry.memory) {
    dispatch.clearFlags(domid, vcpu, VF_ON_THREAD);
    if (!(dispatch.flags(domid, vcpu) & VF_STARTED) && mayRun()) dispatch.dispatch(domid, vcpu);
    return;
  }
  dispatch.setFlags(domid, vcpu, VF_STARTED);
  const memory = entry.memory;
  const hvm = entry.hvm;
  const page = new IoreqPage(hvm.page);
  const signal = hvm.mode === 'stubdom' ? () => Atomics.notify(page.i32, S_STATE) : () => core.evtchnSend(domid, hvm.guestPort);
  const transport: IoreqTransport = {
    page,
    call() {
      const i = page.i32;
      Atomics.store(i, S_STATE, REQUEST);
      signal();
      for (let k = 0; k < SPIN && Atomics.load(i, S_STATE) !== RESPONSE; k++);
      while (Atomics.load(i, S_STATE) !== RESPONSE) {
        Atomics.wait(i, S_STATE, REQUEST, 50);
        if (Atomics.load(i, S_STATE) !== RESPONSE && dead()) throw new VcpuStop();
      }
      Atomics.store(i, S_STATE, IDLE);
    },
  };
  const park = () => {
    const i32 = dispatch.i32;
    const w = dispatch.kickWord(domid, vcpu);
    for (;;) {
      const seen = Atomics.load(i32, w);
      if (core.vcpuMayRun(domid, vcpu)) return;
      if (dead()) throw new VcpuStop();
      Atomics.wait(i32, w, seen, 100);
    }
  };
  const stop = (reason: number) => {
    try {
      const info = core.getDomainInfo(domid);
      if (!info.shutdown && !info.dying) core.shutdownDomain(domid, reason);
    } catch {
      /* already gone */
    }
  };
  const xen = {
    memory,
    preempt: () => {
      const verdict = core.vcpuCheck(domid, vcpu);
      if (verdict === 2) throw new VcpuStop();
      if (verdict === 1) park();
      trap.flush(); // buffered console output never waits longer than a time slice
      return FUEL;
    },
    memory_grow: (delta: number) => {
      if (delta < 0) return -1;
      try {
        core.increaseReservation(domid, delta * XEN_PAGES_PER_WASM_PAGE);
      } catch {
        return -1;
      }
      try {
        return memory.grow(delta);
      } catch {
        core.decreaseReservation(domid, delta * XEN_PAGES_PER_WASM_PAGE);
        return -1;
      }
    },
  };
  const trap = createWasiTrap(memory, transport, {
    args: hvm.args,
    env: hvm.env,
    yield: () => {
      core.vcpuYield(domid, vcpu);
      if (!core.vcpuMayRun(domid, vcpu)) park();
    },
  });
  const wasi = trap.imports;
  try {
    const inst = new WebAssembly.Instance(entry.module, { xen, [HVM_IMPORT_MODULE]: wasi } as WebAssembly.Imports);
    const ex = inst.exports as Record<string, () => void>;
    ex[EXPORT_INIT_MEMORY]?.();
    if (typeof ex._start !== 'function') throw new Error('the program exports no _start');
    ex._start();
    trap.flush();
    notifyShutdown(transport, 0);
    stop(H.SHUTDOWN_poweroff);
  } catch (e) {
    if (e instanceof WasiExit) stop(H.SHUTDOWN_poweroff);
    else if (!(e instanceof VcpuStop)) {
      const why = e instanceof Error ? e.message : String(e);
      core.consoleWrite(`(XEN) HVM domain ${domid} vcpu ${vcpu} crashed: ${why}\n`);
      try {
        if (!dead()) {
          trap.flush();
          notifyShutdown(transport, -1);
        }
      } catch {
        /* the device model is gone too */
      }
      stop(H.SHUTDOWN_crash);
    }
  } finally {
    dispatch.clearFlags(domid, vcpu, VF_ON_THREAD);
  }
}
