// Runs one rewritten guest module on the current thread: boot, run until it
// returns, blocks (unwound by asyncify: nothing of it stays on the JS stack)
// or traps; resume a blocked guest, possibly in a fresh instance on another
// thread after saveState()/restore().
import { XenError, ERRNO } from '@xenwasm/xen-errno';
import {
  ASYNCIFY_AREA_START, ASYNCIFY_AREA_END, EXPORT_START, EXPORT_UPCALL, EXPORT_INIT_MEMORY,
  EXPORT_GLOBAL_PREFIX, IMPORT_MODULE, HYPERVISOR_sched_op, SHARED_INFO_ADDR, START_INFO_ADDR,
  VCPU_INFO_SIZE, VI_UPCALL_PENDING, VI_UPCALL_MASK,
} from './abi.js';

/** What the hypervisor provides to a running guest. Called on the guest's thread, synchronously. */
export interface GuestCallbacks {
  /** Every hypercall but sched_op (nr 29 never gets here: the runner answers -ENOSYS). */
  hypercall(nr: number, a1: number, a2: number, a3: number, a4: number, a5: number): number;
  /**
   * sched_op(cmd, arg). Return the value for the guest, or 'block' to suspend
   * it: the guest unwinds and run returns {kind:'blocked'}; resume(value)
   * later continues it as if sched_op had returned value.
   */
  schedOp(cmd: number, arg: number): number | 'block';
  /** The guest's fuel ran out: decide (park, pause, ...) and return the next fuel (> 0). */
  preempt(): number;
  /** System time in ns. */
  rdtsc(): bigint;
  /**
   * The guest's memory.grow(delta) (64 KiB pages): account the pages, grow
   * the memory, return the old size in pages, or -1 to refuse. Without it
   * the runner grows the memory up to its maximum.
   */
  grow?(delta: number): number;
}

/** The name the host process uses. */
export type GuestHost = GuestCallbacks;

/** Thrown by a callback to stop the guest for good (shutdown, destroy): run returns {kind:'exit', reason}. */
export class GuestExit extends Error {
  constructor(readonly reason: unknown) {
    super(`guest exit: ${String(reason)}`);
    this.name = 'GuestExit';
  }
}

export type RunResult =
  | { kind: 'returned' }
  | { kind: 'blocked'; cmd: number; arg: number }
  | { kind: 'exit'; reason: unknown }
  | { kind: 'trap'; error: unknown };

/** Everything a blocked guest needs to continue in a new instance (structured-cloneable). */
export interface GuestState {
  version: 1;
  vcpuId: number;
  entry: { name: string; args: number[] };
  blocked: { cmd: number; arg: number };
  asyncifyData: number;
  globals: Record<string, number | bigint>;
}

export interface GuestInstanceOptions {
  /** vCPU whose vcpu_info gets the upcalls (default 0). */
  vcpuId?: number;
  /** The asyncify save area is split in this many slots, one per vCPU (default 1: all of pfn 16..31 for vCPU 0). */
  maxVcpus?: number;
}

export type GuestStatus = 'new' | 'running' | 'blocked' | 'returned' | 'exited' | 'dead' | 'moved';

interface AsyncifyExports {
  asyncify_start_unwind(addr: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(addr: number): void;
  asyncify_stop_rewind(): void;
  asyncify_get_state(): number;
}
const ASYNCIFY_NORMAL = 0, ASYNCIFY_UNWINDING = 1, ASYNCIFY_REWINDING = 2;

export class GuestInstance {
  readonly instance: WebAssembly.Instance;
  readonly exports: Record<string, unknown>;
  readonly vcpuId: number;
  private _status: GuestStatus = 'new';
  private readonly asyncify: AsyncifyExports | null;
  private readonly asyncifyData: number;
  private readonly asyncifyEnd: number;
  private readonly vcpuInfo: Uint8Array;
  private entry: { name: string; args: number[] } = { name: EXPORT_START, args: [] };
  private blocked: { cmd: number; arg: number } | null = null;
  private resumeValue = 0;
  /** Depth of host code running on top of the guest (preempt, upcalls): the guest cannot unwind from there. */
  private nested = 0;
  /** The guest's mutable globals (exported by the builder), in export order: what saveState reads. */
  private readonly globals: Array<[string, WebAssembly.Global]> = [];

  constructor(
    readonly module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    private readonly callbacks: GuestCallbacks,
    opts: GuestInstanceOptions = {},
  ) {
    this.vcpuId = opts.vcpuId ?? 0;
    const slots = opts.maxVcpus ?? 1;
    const slot = Math.floor((ASYNCIFY_AREA_END - ASYNCIFY_AREA_START) / slots) & ~7;
    if (this.vcpuId < 0 || this.vcpuId >= slots || slot < 256) {
      throw new XenError('EINVAL', `vcpu ${this.vcpuId} has no asyncify slot (maxVcpus ${slots})`);
    }
    this.asyncifyData = ASYNCIFY_AREA_START + this.vcpuId * slot;
    const asyncifyEnd = this.asyncifyData + slot;
    this.vcpuInfo = new Uint8Array(memory.buffer, SHARED_INFO_ADDR + this.vcpuId * VCPU_INFO_SIZE, VCPU_INFO_SIZE);

    const cb = callbacks;
    const imports = {
      [IMPORT_MODULE]: {
        memory,
        hypercall: (nr: number, a1: number, a2: number, a3: number, a4: number, a5: number): number =>
          nr === HYPERVISOR_sched_op ? -ERRNO.ENOSYS : cb.hypercall(nr, a1, a2, a3, a4, a5) | 0,
        sched_op: (cmd: number, arg: number): number => this.schedOp(cmd, arg),
        rdtsc: (): bigint => cb.rdtsc(),
        preempt: (): number => this.preempt(),
        memory_grow: (delta: number): number => (cb.grow ? cb.grow(delta >>> 0) : this.defaultGrow(delta >>> 0)) | 0,
      },
    };
    this.instance = new WebAssembly.Instance(module, imports);
    this.exports = this.instance.exports as Record<string, unknown>;
    for (const [name, v] of Object.entries(this.exports)) {
      if (name.startsWith(EXPORT_GLOBAL_PREFIX)) this.globals.push([name, v as WebAssembly.Global]);
    }
    this.asyncify = typeof this.exports.asyncify_start_unwind === 'function'
      ? (this.exports as unknown as AsyncifyExports) : null;
    this.asyncifyEnd = asyncifyEnd;
  }

  get status(): GuestStatus { return this._status; }

  /** Applies the guest's data (once per domain, never for a moved guest), then runs xen_start(startInfo). */
  boot(startInfoAddr: number = START_INFO_ADDR): RunResult {
    if (this._status !== 'new') throw new XenError('EINVAL', `boot of a guest that is ${this._status}`);
    const start = this.exports[EXPORT_START];
    if (typeof start !== 'function') throw new XenError('GUEST_INVALID', 'guest exports no xen_start');
    this.entry = { name: EXPORT_START, args: [startInfoAddr] };
    return this.run(() => {
      (this.exports[EXPORT_INIT_MEMORY] as () => void)();
      (start as (a: number) => void)(startInfoAddr);
    });
  }

  /** Continues a blocked guest: its sched_op returns result (after any pending upcall is delivered). */
  resume(result = 0): RunResult {
    if (this._status !== 'blocked' || !this.asyncify) throw new XenError('EINVAL', `resume of a guest that is ${this._status}`);
    this.resumeValue = result | 0;
    this.blocked = null;
    const fn = this.exports[this.entry.name] as (...a: number[]) => void;
    return this.run(() => {
      this.asyncify!.asyncify_start_rewind(this.asyncifyData);
      fn(...this.entry.args);
    });
  }

  /**
   * Calls xen_upcall if the vCPU has an upcall pending and unmasked, with the
   * mask set for the duration (as Xen's event entry does). The runner does
   * this itself after preempt() and when sched_op returns; call it from a
   * callback (on top of the running guest) to deliver earlier.
   */
  deliverUpcall(): boolean {
    const upcall = this.exports[EXPORT_UPCALL] as (() => void) | undefined;
    if (!upcall) return false;
    let delivered = false;
    for (let round = 0; round < 4; round++) {
      if (Atomics.load(this.vcpuInfo, VI_UPCALL_PENDING) === 0 || Atomics.load(this.vcpuInfo, VI_UPCALL_MASK) !== 0) break;
      Atomics.store(this.vcpuInfo, VI_UPCALL_MASK, 1);
      this.nested++;
      try {
        upcall();
      } finally {
        this.nested--;
        Atomics.store(this.vcpuInfo, VI_UPCALL_MASK, 0);
      }
      delivered = true;
    }
    return delivered;
  }

  /**
   * Calls xen_upcall as is (no pending or mask check: the caller does Xen's
   * masking). Works on top of a running guest (from a callback) and on a
   * blocked one before resume().
   */
  upcall(): void {
    const upcall = this.exports[EXPORT_UPCALL] as (() => void) | undefined;
    if (!upcall) return;
    this.nested++;
    try {
      upcall();
    } finally {
      this.nested--;
    }
  }

  /** The state of a blocked guest, for restore() in a new instance (this one is then unusable). */
  /**
   * The blocked guest's state, to resume it in another instance. With
   * `keep`, this instance stays resumable too (the host saves at every block
   * and uses the copy only if the vCPU next runs on another thread).
   */
  saveState(opts: { keep?: boolean } = {}): GuestState {
    if (this._status !== 'blocked' || !this.blocked) throw new XenError('EINVAL', `saveState of a guest that is ${this._status}`);
    const globals: Record<string, number | bigint> = {};
    for (const [name, g] of this.globals) globals[name] = g.value as number | bigint;
    if (!opts.keep) this._status = 'moved';
    return {
      version: 1,
      vcpuId: this.vcpuId,
      entry: { name: this.entry.name, args: [...this.entry.args] },
      blocked: { ...this.blocked },
      asyncifyData: this.asyncifyData,
      globals,
    };
  }

  /** A new instance of a guest saved by saveState(), blocked where it was; resume() continues it. */
  static restore(
    module: WebAssembly.Module, memory: WebAssembly.Memory, callbacks: GuestCallbacks,
    state: GuestState, opts: GuestInstanceOptions = {},
  ): GuestInstance {
    if (state.version !== 1) throw new XenError('EINVAL', `unknown guest state version ${state.version}`);
    const g = new GuestInstance(module, memory, callbacks, { ...opts, vcpuId: state.vcpuId });
    if (g.asyncifyData !== state.asyncifyData) throw new XenError('EINVAL', 'guest state saved with another asyncify slot layout');
    for (const [name, value] of Object.entries(state.globals)) {
      const glob = g.exports[name];
      if (!(glob instanceof WebAssembly.Global)) throw new XenError('EINVAL', `guest state names global ${name}, which the module does not export`);
      glob.value = value;
    }
    g.entry = { name: state.entry.name, args: [...state.entry.args] };
    g.blocked = { ...state.blocked };
    g._status = 'blocked';
    return g;
  }

  /** Why the guest is blocked (the sched_op command and argument), or null. */
  get blockedOn(): { cmd: number; arg: number } | null { return this.blocked ? { ...this.blocked } : null; }

  private run(fn: () => void): RunResult {
    this._status = 'running';
    try {
      fn();
    } catch (error) {
      if (error instanceof GuestExit) {
        this._status = 'exited';
        return { kind: 'exit', reason: error.reason };
      }
      this._status = 'dead';
      return { kind: 'trap', error };
    }
    if (this.asyncify && this.asyncify.asyncify_get_state() === ASYNCIFY_UNWINDING) {
      this.asyncify.asyncify_stop_unwind();
      this._status = 'blocked';
      const b = this.blocked!;
      return { kind: 'blocked', cmd: b.cmd, arg: b.arg };
    }
    this._status = 'returned';
    return { kind: 'returned' };
  }

  private schedOp(cmd: number, arg: number): number {
    const a = this.asyncify;
    if (a && a.asyncify_get_state() === ASYNCIFY_REWINDING) {
      // Back from a block: the stack is rebuilt, sched_op returns now.
      a.asyncify_stop_rewind();
      this.deliverUpcall();
      return this.resumeValue;
    }
    const r = this.callbacks.schedOp(cmd, arg);
    if (r !== 'block') {
      this.deliverUpcall();
      return r | 0;
    }
    if (!a) throw new XenError('GUEST_INVALID', 'guest blocked but was not built with asyncify');
    if (this.nested > 0) {
      throw new XenError('GUEST_INVALID', 'guest blocked inside an event upcall (handlers must not block)');
    }
    // The asyncify data header: [current pointer, end], then the saved stack.
    const view = new Int32Array(this.memory.buffer, this.asyncifyData, 2);
    view[0] = this.asyncifyData + 8;
    view[1] = this.asyncifyEnd;
    this.blocked = { cmd, arg };
    a.asyncify_start_unwind(this.asyncifyData);
    return 0;
  }

  private defaultGrow(delta: number): number {
    try {
      return this.memory.grow(delta);
    } catch {
      return -1;
    }
  }

  private preempt(): number {
    this.nested++;
    let fuel: number;
    try {
      fuel = this.callbacks.preempt();
    } finally {
      this.nested--;
    }
    this.deliverUpcall();
    return fuel > 0 ? fuel | 0 : 1;
  }
}
