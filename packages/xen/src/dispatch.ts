// Which thread runs which vCPU.
//
// The scheduler in the core decides which vCPUs hold a pCPU. This module
// decides which *thread* executes a vCPU that holds one. Threads
// ("executors") are a pool: a vCPU that blocks unwinds its stack into its own
// memory and gives its thread back, so a thousand idle guests need no thread
// at all; a vCPU that is running, or runnable but parked waiting for a pCPU,
// keeps its thread (its stack is live on it).
//
// All of it lives in one SharedArrayBuffer so that whichever thread wakes a
// vCPU (a guest sending an event, the host's timer, dom0) can hand it to an
// executor without a round trip through the main thread:
//   - each executor has a state word (IDLE, CLAIMED, BUSY), a doorbell it
//     waits on with Atomics.waitAsync, and a small queue of vCPUs to run;
//   - each vCPU has a kick word (a parked thread waits on it), its home
//     executor (where a live instance may still sit) and flags;
//   - an overflow queue, drained by executors before they go idle, takes
//     work when every executor is busy, and rings the main thread, which
//     then adds an executor to the pool.
// Waking: claim an idle executor with compare-and-swap (preferring the
// vCPU's home, where resuming needs no new instance), push, ring. The
// DISPATCHED flag makes sure one wake-up dispatches a vCPU once.

export const MAX_EXECUTORS = 128;
const QLEN = 64;
const EXEC_STRIDE = 8 + QLEN;
const E_STATE = 0;
const E_DOORBELL = 1;
const E_LOCK = 2;
const E_HEAD = 3;
const E_TAIL = 4;
const E_QUEUE = 8;

export const EXEC_UNUSED = 0;
export const EXEC_IDLE = 1;
export const EXEC_CLAIMED = 2;
export const EXEC_BUSY = 3;
export const EXEC_STOPPED = 4;

const G_MAIN_DOORBELL = 0;
const G_OV_LOCK = 1;
const G_OV_HEAD = 2;
const G_OV_TAIL = 3;
const G_NR_EXEC = 4;
const G_DOM0_DOORBELL = 5;
const G_OV_QUEUE = 16;
const OVLEN = 8192;

const V_KICK = 0;
const V_HOME = 1;
const V_FLAGS = 2;
const V_EPOCH = 3;
const V_STRIDE = 4;
export const VF_STARTED = 1; // has an instance state (booted once)
export const VF_ON_THREAD = 2; // executing or parked on a thread right now
export const VF_DISPATCHED = 4; // queued for an executor

export interface DispatchShare {
  sab: SharedArrayBuffer;
  maxDomains: number;
  maxVcpus: number;
}

export class Dispatch {
  readonly i32: Int32Array;
  private readonly execBase: number;
  private readonly vcpuBase: number;
  constructor(readonly share: DispatchShare) {
    this.i32 = new Int32Array(share.sab);
    this.execBase = G_OV_QUEUE + OVLEN;
    this.vcpuBase = this.execBase + MAX_EXECUTORS * EXEC_STRIDE;
  }
  static create(maxDomains: number, maxVcpus: number): Dispatch {
    const words = G_OV_QUEUE + OVLEN + MAX_EXECUTORS * EXEC_STRIDE + maxDomains * maxVcpus * V_STRIDE;
    const d = new Dispatch({ sab: new SharedArrayBuffer(words * 4), maxDomains, maxVcpus });
    for (let v = 0; v < maxDomains * maxVcpus; v++) d.i32[d.vcpuBase + v * V_STRIDE + V_HOME] = -1;
    return d;
  }

  // ---- per-vCPU words ----
  private v(domid: number, vcpu: number): number {
    return this.vcpuBase + (domid * this.share.maxVcpus + vcpu) * V_STRIDE;
  }
  kickWord(domid: number, vcpu: number): number {
    return this.v(domid, vcpu) + V_KICK;
  }
  flags(domid: number, vcpu: number): number {
    return Atomics.load(this.i32, this.v(domid, vcpu) + V_FLAGS);
  }
  setFlags(domid: number, vcpu: number, bits: number): number {
    return Atomics.or(this.i32, this.v(domid, vcpu) + V_FLAGS, bits);
  }
  clearFlags(domid: number, vcpu: number, bits: number): number {
    return Atomics.and(this.i32, this.v(domid, vcpu) + V_FLAGS, ~bits);
  }
  /** A new domain in this slot: forget everything of the previous one (its instances become stale). */
  resetVcpu(domid: number, vcpu: number): void {
    const b = this.v(domid, vcpu);
    Atomics.store(this.i32, b + V_FLAGS, 0);
    Atomics.store(this.i32, b + V_HOME, -1);
    Atomics.add(this.i32, b + V_EPOCH, 2);
  }
  /** Counts runs: an executor's live instance is current only if no run happened elsewhere since. */
  bumpEpoch(domid: number, vcpu: number): number {
    return Atomics.add(this.i32, this.v(domid, vcpu) + V_EPOCH, 1) + 1;
  }
  home(domid: number, vcpu: number): number {
    return Atomics.load(this.i32, this.v(domid, vcpu) + V_HOME);
  }
  setHome(domid: number, vcpu: number, exec: number): void {
    Atomics.store(this.i32, this.v(domid, vcpu) + V_HOME, exec);
  }
  /** Wake a thread parked on this vCPU (it re-checks whether it may run). */
  poke(domid: number, vcpu: number): void {
    const w = this.kickWord(domid, vcpu);
    Atomics.add(this.i32, w, 1);
    Atomics.notify(this.i32, w);
  }

  // ---- executors ----
  private e(exec: number): number {
    return this.execBase + exec * EXEC_STRIDE;
  }
  get nrExecutors(): number {
    return Atomics.load(this.i32, G_NR_EXEC);
  }
  registerExecutor(): number {
    const id = Atomics.add(this.i32, G_NR_EXEC, 1);
    if (id >= MAX_EXECUTORS) throw new RangeError('too many executors');
    Atomics.store(this.i32, this.e(id) + E_STATE, EXEC_BUSY);
    return id;
  }
  execState(exec: number): number {
    return Atomics.load(this.i32, this.e(exec) + E_STATE);
  }
  setExecState(exec: number, s: number): void {
    Atomics.store(this.i32, this.e(exec) + E_STATE, s);
  }
  casExecState(exec: number, from: number, to: number): boolean {
    return Atomics.compareExchange(this.i32, this.e(exec) + E_STATE, from, to) === from;
  }
  doorbellIndex(exec: number): number {
    return this.e(exec) + E_DOORBELL;
  }
  ring(exec: number): void {
    const w = this.doorbellIndex(exec);
    Atomics.add(this.i32, w, 1);
    Atomics.notify(this.i32, w);
  }

  private lock(idx: number): void {
    while (Atomics.compareExchange(this.i32, idx, 0, 1) !== 0) {
      /* contention is between a few threads for a few instructions */
    }
  }
  private unlock(idx: number): void {
    Atomics.store(this.i32, idx, 0);
  }
  private push(lockI: number, headI: number, tailI: number, qI: number, len: number, item: number): boolean {
    this.lock(lockI);
    const head = this.i32[headI]!;
    const tail = this.i32[tailI]!;
    if (tail - head >= len) {
      this.unlock(lockI);
      return false;
    }
    this.i32[qI + (tail % len)] = item;
    this.i32[tailI] = tail + 1;
    this.unlock(lockI);
    return true;
  }
  private pop(lockI: number, headI: number, tailI: number, qI: number, len: number): number {
    this.lock(lockI);
    const head = this.i32[headI]!;
    const tail = this.i32[tailI]!;
    let item = -1;
    if (head !== tail) {
      item = this.i32[qI + (head % len)]!;
      this.i32[headI] = head + 1;
    }
    this.unlock(lockI);
    return item;
  }
  popFor(exec: number): number {
    const b = this.e(exec);
    const item = this.pop(b + E_LOCK, b + E_HEAD, b + E_TAIL, b + E_QUEUE, QLEN);
    if (item >= 0) return item;
    return this.pop(G_OV_LOCK, G_OV_HEAD, G_OV_TAIL, G_OV_QUEUE, OVLEN);
  }
  overflowLength(): number {
    return Atomics.load(this.i32, G_OV_TAIL) - Atomics.load(this.i32, G_OV_HEAD);
  }

  static pack(domid: number, vcpu: number): number {
    return (domid << 8) | vcpu;
  }
  static unpack(item: number): [number, number] {
    return [item >>> 8, item & 0xff];
  }

  /**
   * A vCPU that holds a pCPU but no thread must be run: find it a thread.
   * Called from any thread. Returns false if it was already dispatched or is
   * on a thread (that thread will notice by itself).
   */
  dispatch(domid: number, vcpu: number): boolean {
    const old = this.setFlags(domid, vcpu, VF_DISPATCHED);
    if (old & (VF_DISPATCHED | VF_ON_THREAD)) {
      if (!(old & VF_DISPATCHED)) this.clearFlags(domid, vcpu, VF_DISPATCHED);
      return false;
    }
    const item = Dispatch.pack(domid, vcpu);
    const home = this.home(domid, vcpu);
    if (home >= 0 && this.tryHandTo(home, item)) return true;
    const n = this.nrExecutors;
    for (let e = 0; e < n; e++) if (e !== home && this.tryHandTo(e, item)) return true;
    if (!this.push(G_OV_LOCK, G_OV_HEAD, G_OV_TAIL, G_OV_QUEUE, OVLEN, item)) {
      throw new RangeError('dispatch overflow queue full');
    }
    this.ringMain();
    // An executor may have gone idle between our scan and the push.
    for (let e = 0; e < n; e++) {
      if (this.casExecState(e, EXEC_IDLE, EXEC_CLAIMED)) {
        this.ring(e);
        break;
      }
    }
    return true;
  }
  private tryHandTo(exec: number, item: number): boolean {
    if (!this.casExecState(exec, EXEC_IDLE, EXEC_CLAIMED)) return false;
    const b = this.e(exec);
    if (!this.push(b + E_LOCK, b + E_HEAD, b + E_TAIL, b + E_QUEUE, QLEN, item)) {
      this.setExecState(exec, EXEC_IDLE);
      return false;
    }
    this.ring(exec);
    return true;
  }

  // ---- the main thread's doorbells ----
  ringMain(): void {
    Atomics.add(this.i32, G_MAIN_DOORBELL, 1);
    Atomics.notify(this.i32, G_MAIN_DOORBELL);
  }
  get mainDoorbellIndex(): number {
    return G_MAIN_DOORBELL;
  }
  /** dom0's vCPU is the host's own event loop: events for it ring here. */
  ringDom0(): void {
    Atomics.add(this.i32, G_DOM0_DOORBELL, 1);
    Atomics.notify(this.i32, G_DOM0_DOORBELL);
  }
  get dom0DoorbellIndex(): number {
    return G_DOM0_DOORBELL;
  }
}
