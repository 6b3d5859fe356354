// A minimal single-thread "hypervisor" for the tests: console capture, event
// channels between guests (two-level pending bits, as docs/pv-abi.md), a
// round-robin loop over blocked guests. The real one is packages/xen.
import {
  GuestInstance, GuestExit, writeStartInfo, initSharedInfo,
  type GuestCallbacks, type RunResult, type RewriteOptions,
} from '../src/index.js';
import { rewriteGuest } from '../src/rewrite.js';
import { readGuestWasm } from '@xenwasm/example-guests';
import binaryen from 'binaryen';

export const ENOSYS = -38;

export interface TestDomain {
  name: string;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  console: string;
  guest: GuestInstance;
  callbacks: GuestCallbacks & { preemptCalls: number; hypercalls: Array<number[]> };
  last: RunResult | null;
  /** Local port -> [peer domain, peer port]. */
  ports: Map<number, [TestDomain, number]>;
  onPreempt?: (d: TestDomain) => number;
  onHypercall?: (d: TestDomain, args: number[]) => number | undefined;
  grow?: (delta: number) => number;
}

const compiled = new Map<string, { module: WebAssembly.Module; info: ReturnType<typeof rewriteGuest>['info'] }>();

/** Rewrites and compiles an example guest (memoised: tests share modules, as the host does). */
export function compileGuest(name: string, opts: RewriteOptions = { maxMemoryPages: 16 }) {
  const key = `${name}:${opts.maxMemoryPages}:${opts.initialMemoryPages ?? ''}`;
  let c = compiled.get(key);
  if (!c) {
    const r = rewriteGuest(readGuestWasm(name), opts);
    c = { module: new WebAssembly.Module(r.wasm as Uint8Array<ArrayBuffer>), info: r.info };
    compiled.set(key, c);
  }
  return c;
}

export function newMemory(initial: number, maximum: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial, maximum, shared: true });
}

/** Sets port pending on d the way the hypervisor does; true if an upcall is now due. */
export function raiseEvent(memory: WebAssembly.Memory, port: number): boolean {
  const w = new Int32Array(memory.buffer);
  const sh = 4096 / 4;
  const bit = 1 << (port & 31);
  const word = port >> 5;
  const old = Atomics.or(w, sh + 512 + word, bit);
  if (old & bit) return false;
  if (Atomics.load(w, sh + 544 + word) & bit) return false;
  Atomics.or(w, sh + 1, 1 << word); // evtchn_pending_sel of vcpu 0
  Atomics.or(w, sh, 1); // evtchn_upcall_pending (byte 0 of the first word)
  return true;
}

export function upcallPending(memory: WebAssembly.Memory): boolean {
  return new Uint8Array(memory.buffer)[4096] !== 0;
}

export function makeCallbacks(d: TestDomain): TestDomain['callbacks'] {
  const cb = {
    preemptCalls: 0,
    hypercalls: [] as Array<number[]>,
    hypercall(nr: number, a1: number, a2: number, a3: number, a4: number, a5: number): number {
      cb.hypercalls.push([nr, a1, a2, a3, a4, a5]);
      const custom = d.onHypercall?.(d, [nr, a1, a2, a3, a4, a5]);
      if (custom !== undefined) return custom;
      if (nr === 18 && a1 === 0) {
        d.console += Buffer.from(new Uint8Array(d.memory.buffer, a3 >>> 0, a2 >>> 0)).toString('utf8');
        return a2;
      }
      if (nr === 32 && a1 === 4) { // EVTCHNOP_send
        const port = new DataView(d.memory.buffer).getUint32(a2, true);
        const peer = d.ports.get(port);
        if (!peer) return -22;
        raiseEvent(peer[0].memory, peer[1]);
        return 0;
      }
      return ENOSYS;
    },
    schedOp(cmd: number, arg: number): number | 'block' {
      if (cmd === 2) throw new GuestExit(new DataView(d.memory.buffer).getUint32(arg, true));
      if (cmd === 1) return upcallPending(d.memory) ? 0 : 'block';
      return 0;
    },
    preempt(): number {
      cb.preemptCalls++;
      return d.onPreempt ? d.onPreempt(d) : 10000;
    },
    rdtsc(): bigint {
      return process.hrtime.bigint();
    },
    grow(delta: number): number {
      if (d.grow) return d.grow(delta);
      try { return d.memory.grow(delta); } catch { return -1; }
    },
  };
  return cb;
}

export function createDomain(name: string, cmdline = '', maxPages = 16): TestDomain {
  const { module, info } = compileGuest(name, { maxMemoryPages: maxPages });
  const memory = newMemory(info.initialMemoryPages, maxPages);
  initSharedInfo(memory);
  writeStartInfo(memory, { cmdline });
  const d = { name, module, memory, console: '', ports: new Map(), last: null } as unknown as TestDomain;
  d.callbacks = makeCallbacks(d);
  d.guest = new GuestInstance(module, memory, d.callbacks);
  return d;
}

/** Runs blocked guests with a pending upcall until none can run or one stops; returns when stop(d) says so. */
export function runUntil(domains: TestDomain[], stop: () => boolean, maxSteps = 100000): void {
  for (let step = 0; step < maxSteps && !stop(); step++) {
    let ran = false;
    for (const d of domains) {
      if (d.guest.status === 'new') { d.last = d.guest.boot(); ran = true; continue; }
      if (d.guest.status === 'blocked' && upcallPending(d.memory)) { d.last = d.guest.resume(0); ran = true; }
      if (stop()) return;
    }
    if (!ran) return;
  }
}

/**
 * A module in the text format, rewritten and instantiated with no host but
 * preempt (which `onPreempt` answers with the fuel to give, or stops by
 * throwing): for tests of what the rewriter injects.
 */
export function loadWat(text: string, onPreempt: (calls: number) => number) {
  const mod = binaryen.parseText(text);
  const bytes = mod.emitBinary();
  mod.dispose();
  const { wasm, info } = rewriteGuest(bytes, { maxMemoryPages: 4 });
  const memory = new WebAssembly.Memory({ initial: 3, maximum: 4, shared: true });
  const state = { preempts: 0 };
  const g = new GuestInstance(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), memory, {
    hypercall: () => ENOSYS,
    schedOp: () => 0,
    preempt: () => onPreempt(++state.preempts),
    rdtsc: () => process.hrtime.bigint(),
  });
  return { ex: g.exports as Record<string, (...a: number[]) => number>, info, state };
}
