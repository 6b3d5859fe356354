// The hypervisor as the host process sees it: the core booted on this thread,
// the executor threads that run vCPUs, domain-0's event channel device, the
// vCPU timers and the scheduler tick. Everything dom0 software may do goes
// through the methods here (privcmd-server.ts is their wire).
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { XenCore, type CoreShare } from '@xenwasm/hypervisor-wasm';
import { RewriteCache } from '@xenwasm/domain-builder';
import { HypercallError, ERRNO } from '@xenwasm/xen-errno';
import { Dispatch, MAX_EXECUTORS } from './dispatch.js';
import { GuestRegistry, type RegistryMessage } from './guest-registry.js';
import { makeHooks } from './core-hooks.js';
import { buildPv, type PvBuildRequest } from './domain-build.js';
import { GuestMemory } from './guest-memory.js';
import { checkGrant, GrantStatusError, pinGrant, unpinGrant } from './grant-table.js';
import { DOM0_SHARED_BYTES, takePending } from './event-delivery.js';
import { GRANT_ENTRIES_PER_FRAME, PAGE_SIZE, SHARED_INFO } from './abi.js';
import { VIRQ_TIMER } from './hypercall-numbers.js';
import { ByteRing, type RingLayout } from './ring-relay.js';
import type { ExecutorData } from './executor.js';
import { HvmHost } from './hvm-build.js';

export interface HypervisorOptions {
  nrCpus?: number; // pCPUs (default: host cores)
  totalMemMb?: number; // host pool (default: half the machine, at most 16 GiB)
  dom0MemMb?: number; // dom0_mem (default 512)
  maxDomains?: number;
  log?: (msg: string) => void;
  /** Where rewritten guest modules persist across restarts (default: memory only). */
  cacheDir?: string;
}

const MAX_VCPUS = 32;

interface Executor {
  worker: Worker;
  registry: MessagePort;
}

interface GrantMapping {
  handle: number;
  granter: number;
  gref: number;
  frame: number;
  readonly: boolean;
}

// The dom0 services a backend relies on are declared beside the backends.
import type { GrantCopy, LocalGrant, LocalPort } from '@xenwasm/xenbus-backend';
export type { GrantCopy, LocalGrant, LocalPort };
export interface RingAttachment {
  port: number;
  write(data: Uint8Array): boolean;
  close(): void;
}

/** Owner of dom0 event-channel ports (a privcmd connection). */
export interface EvtchnClient {
  deliver(port: number): void;
}

/** How early Xen may run a timer (common/timer.c, TIMER_SLOP). */
const TIMER_SLOP_NS = 50_000n;

export class Hypervisor {
  readonly core: XenCore;
  readonly dispatch: Dispatch;
  readonly registry = new GuestRegistry();
  readonly nrCpus: number;
  private readonly executors: Executor[] = [];
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly dom0Ports = new Map<number, EvtchnClient>();
  private readonly dom0Shared = new SharedArrayBuffer(DOM0_SHARED_BYTES);
  private readonly dom0Words = new Int32Array(this.dom0Shared);
  private readonly grantMaps = new Map<number, GrantMapping>();
  private tick: NodeJS.Timeout | null = null;
  private stopping = false;
  private spawning: Promise<void> | null = null;
  private readonly log: (msg: string) => void;
  readonly bootTime = Date.now();
  private readonly rewriteCache: RewriteCache;

  private constructor(opts: HypervisorOptions) {
    this.log = opts.log ?? ((m) => process.stderr.write(`xen: ${m}\n`));
    this.nrCpus = opts.nrCpus ?? os.availableParallelism();
    this.rewriteCache = new RewriteCache(opts.cacheDir ?? null);
    const maxDomains = opts.maxDomains ?? 4096;
    const totalMb = opts.totalMemMb ?? Math.min(16384, Math.floor(os.totalmem() / 2 ** 21));
    const dom0Mb = opts.dom0MemMb ?? 512;
    this.dispatch = Dispatch.create(maxDomains, MAX_VCPUS);
    this.core = XenCore.boot(
      { nrCpus: this.nrCpus, totalPages: totalMb * 256, dom0Pages: dom0Mb * 256, maxDomains, maxVcpus: MAX_VCPUS },
      makeHooks(this.registry, this.dispatch),
    );
    this.registry.add({ domid: 0, memory: null, shared: this.dom0Shared, module: null, maxVcpus: 1 });
  }

  static async boot(opts: HypervisorOptions = {}): Promise<Hypervisor> {
    const hv = new Hypervisor(opts);
    await Promise.all(Array.from({ length: hv.nrCpus }, () => hv.spawnExecutor()));
    hv.watchDoorbells();
    hv.tick = setInterval(() => hv.core.tick(), 10);
    return hv;
  }

  // ---- executors ----
  private async spawnExecutor(): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    const data: ExecutorData = { core: this.core.share() as CoreShare, dispatch: this.dispatch.share, registryPort: port2 };
    const worker = new Worker(fileURLToPath(new URL('./executor.js', import.meta.url)), {
      workerData: data,
      transferList: [port2],
    });
    const ex: Executor = { worker, registry: port1 };
    // Bring the newcomer up to date before it can be handed work.
    for (const d of this.registryEntries()) port1.postMessage({ kind: 'add', entry: d } satisfies RegistryMessage);
    this.executors.push(ex);
    worker.on('message', (m) => this.onExecutorMessage(m));
    worker.on('error', (e) => this.log(`executor failed: ${e.stack ?? e.message}`));
    worker.on('exit', (code) => {
      if (!this.stopping) this.log(`executor exited with ${code}`);
    });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { kind: string }) => {
        if (m.kind === 'ready') {
          worker.off('message', onMsg);
          resolve();
        }
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
    });
  }
  private *registryEntries() {
    for (const e of this.registry.all()) yield { domid: e.domid, memory: e.memory, shared: e.shared, module: e.module, maxVcpus: e.maxVcpus, hvm: e.hvm };
  }
  get nrExecutors(): number {
    return this.executors.length;
  }

  private onExecutorMessage(m: { kind: string; domid?: number; vcpu?: number; deadline?: string; msg?: string }): void {
    if (m.kind === 'timer') this.setTimer(m.domid!, m.vcpu!, BigInt(m.deadline!));
    else if (m.kind === 'log') this.log(m.msg!);
  }

  private broadcast(msg: RegistryMessage): void {
    this.registry.apply(msg);
    for (const e of this.executors) e.registry.postMessage(msg);
  }

  /** The main thread waits on two words: "more executors needed" and "dom0 has events". */
  private watchDoorbells(): void {
    const i32 = this.dispatch.i32;
    const wait = (idx: number, fn: () => void) => {
      const loop = (seen: number) => {
        if (this.stopping) return;
        const w = Atomics.waitAsync(i32, idx, seen);
        const next = () => {
          const now = Atomics.load(i32, idx);
          fn();
          loop(now);
        };
        if (w.async) w.value.then(next);
        else setImmediate(next);
      };
      loop(Atomics.load(i32, idx));
    };
    wait(this.dispatch.mainDoorbellIndex, () => this.growPool());
    wait(this.dispatch.dom0DoorbellIndex, () => this.deliverDom0());
  }
  private growPool(): void {
    if (this.spawning || this.dispatch.overflowLength() === 0 || this.executors.length >= MAX_EXECUTORS) return;
    this.spawning = this.spawnExecutor()
      .catch((e) => this.log(`cannot add an executor: ${(e as Error).message}`))
      .finally(() => {
        this.spawning = null;
        if (this.dispatch.overflowLength() > 0) this.growPool();
      });
  }

  // ---- dom0's event channel device ----
  private deliverDom0(): void {
    for (const port of takePending(this.dom0Words, this.dom0Ports.keys())) this.dom0Ports.get(port)?.deliver(port);
  }
  bindDom0Port(port: number, owner: EvtchnClient): void {
    this.dom0Ports.set(port, owner);
    // An event may already be pending (a guest sent before we listened).
    this.deliverDom0();
  }
  ownsDom0Port(port: number, owner: EvtchnClient): boolean {
    return this.dom0Ports.get(port) === owner;
  }
  unbindDom0Port(port: number): void {
    this.dom0Ports.delete(port);
    try {
      this.core.evtchnClose(0, port);
    } catch {
      /* already closed by the peer's destruction */
    }
  }

  // ---- timers (set_timer_op) ----
  setTimer(domid: number, vcpu: number, deadline: bigint): void {
    const key = (domid << 8) | vcpu;
    const old = this.timers.get(key);
    if (old) clearTimeout(old);
    this.timers.delete(key);
    if (deadline === 0n) return;
    // Node's timers count whole milliseconds of a loop clock that lags the
    // system time: a timer may run up to a millisecond before its time.
    // Xen runs a timer at most TIMER_SLOP (50 us) early, and guests are
    // written for that (a guest that waits for the event and finds itself
    // a millisecond early, with no timer armed, may sleep for good).
    const arm = () => {
      const left = Number(deadline - TIMER_SLOP_NS - this.core.now()) / 1e6;
      const t = setTimeout(() => {
        if (this.core.now() < deadline - TIMER_SLOP_NS) return arm();
        this.timers.delete(key);
        try {
          this.core.raiseVirq(domid, VIRQ_TIMER, vcpu);
        } catch {
          /* the domain went away */
        }
      }, Math.max(1, Math.ceil(left)));
      t.unref();
      this.timers.set(key, t);
    };
    arm();
  }

  // ---- domains ----
  createDomain(handle: Uint8Array, opts: { hvm?: boolean; domid?: number; ssidref?: number }): number {
    const domid = this.core.createDomain(handle, opts);
    for (let v = 0; v < MAX_VCPUS; v++) this.dispatch.resetVcpu(domid, v);
    return domid;
  }

  private hvmHost: HvmHost | undefined;
  /** HVM domains: build, device models, exit codes (hvm-build.ts). */
  get hvm(): HvmHost {
    return (this.hvmHost ??= new HvmHost({
      core: this.core,
      cache: this.rewriteCache,
      registry: this.registry,
      add: (entry) => this.broadcast({ kind: 'add', entry }),
      bindLocal: (domid, port, onEvent) => this.bindInterdomainLocal(domid, port, onEvent),
      log: this.log,
    }));
  }

  async buildPv(req: PvBuildRequest): Promise<{ store_mfn: number; console_mfn: number }> {
    const info = this.core.getDomainInfo(req.domid);
    if (info.totPages > 0) throw new HypercallError(-ERRNO.EEXIST, 'linux_build: the domain is already built');
    const img = await buildPv(this.core, this.rewriteCache, req);
    this.broadcast({
      kind: 'add',
      entry: { domid: req.domid, memory: img.memory, shared: img.memory.buffer as unknown as SharedArrayBuffer, module: img.module, maxVcpus: info.maxVcpuId + 1 },
    });
    return { store_mfn: img.storeMfn, console_mfn: img.consoleMfn };
  }

  destroyDomain(domid: number): void {
    if (domid === 0) throw new HypercallError(-ERRNO.EPERM, 'domain_destroy: Domain-0');
    this.core.destroyDomain(domid);
    for (let v = 0; v < MAX_VCPUS; v++) {
      const key = (domid << 8) | v;
      const t = this.timers.get(key);
      if (t) clearTimeout(t);
      this.timers.delete(key);
    }
    // dom0 ports bound to the dead domain were made unbound by the core; the
    // grant mappings dom0 holds keep the pages until unmapped, as in Xen.
    this.broadcast({ kind: 'remove', domid });
    this.memories.delete(domid);
    // An idle executor reads registry news only when woken: wake them all,
    // so that each lets go of the memory now (memory-release.ts).
    for (let e = 0; e < this.executors.length; e++) this.dispatch.ring(e);
  }

  // ---- grant mapping for dom0 backends (gntdev) and foreign mapping (privcmd) ----
  // One accessor per domain: backends ask for a page per request or frame,
  // and a GuestMemory re-makes its views only when the memory has grown.
  private readonly memories = new Map<number, GuestMemory>();
  private guestMemory(domid: number): GuestMemory {
    const e = this.registry.get(domid);
    if (!e?.memory) throw new HypercallError(-ERRNO.ESRCH, `no memory for domain ${domid}`);
    let m = this.memories.get(domid);
    if (!m || m.memory !== e.memory) {
      m = new GuestMemory(e.memory);
      this.memories.set(domid, m);
    }
    return m;
  }
  gnttabMap(granter: number, gref: number, readonly: boolean): number {
    const e = this.registry.get(granter);
    if (!e?.memory) throw new HypercallError(-ERRNO.ESRCH, `gnttab_map: no domain ${granter}`);
    const pages = e.memory.buffer.byteLength / PAGE_SIZE;
    const nrFrames = this.core.grantQuerySize(granter).nrFrames;
    let t;
    try {
      t = pinGrant(new Int32Array(e.memory.buffer), pages, nrFrames, gref, 0, !readonly);
    } catch (err) {
      throw new HypercallError(-ERRNO.EPERM, `gnttab_map: ${(err as Error).message}`);
    }
    const handle = this.core.grantMapRecord(0, granter, gref, readonly);
    this.grantMaps.set(handle, { handle, granter, gref, frame: t.frame, readonly });
    return handle;
  }
  gnttabUnmap(handle: number): void {
    const m = this.grantMaps.get(handle);
    if (!m) throw new HypercallError(-ERRNO.EINVAL, `gnttab_unmap: bad handle ${handle}`);
    const r = this.core.grantUnmapRecord(0, handle);
    this.grantMaps.delete(handle);
    const e = this.registry.get(m.granter);
    if (e?.memory) unpinGrant(new Int32Array(e.memory.buffer), m.gref, r.lastReader, r.lastWriter);
  }
  gnttabRead(handle: number, offset: number, length: number): Uint8Array {
    const m = this.mapping(handle, offset, length);
    return this.guestMemory(m.granter).bytes(m.frame * PAGE_SIZE + offset, length).slice();
  }
  gnttabWrite(handle: number, offset: number, data: Uint8Array): void {
    const m = this.mapping(handle, offset, data.length);
    if (m.readonly) throw new HypercallError(-ERRNO.EPERM, 'gnttab_write: the mapping is read-only');
    this.guestMemory(m.granter).write(m.frame * PAGE_SIZE + offset, data);
  }
  private mapping(handle: number, offset: number, length: number): GrantMapping {
    const m = this.grantMaps.get(handle);
    if (!m) throw new HypercallError(-ERRNO.EINVAL, `bad grant handle ${handle}`);
    if (!(offset >= 0 && length >= 0 && offset + length <= PAGE_SIZE)) throw new HypercallError(-ERRNO.EINVAL, 'range outside the page');
    return m;
  }
  foreignRead(domid: number, pfn: number, offset: number, length: number): Uint8Array {
    if (!(offset >= 0 && length >= 0 && offset + length <= PAGE_SIZE)) throw new HypercallError(-ERRNO.EINVAL, 'range outside the page');
    return this.guestMemory(domid).bytes(pfn * PAGE_SIZE + offset, length).slice();
  }
  foreignWrite(domid: number, pfn: number, offset: number, data: Uint8Array): void {
    if (!(offset >= 0 && offset + data.length <= PAGE_SIZE)) throw new HypercallError(-ERRNO.EINVAL, 'range outside the page');
    this.guestMemory(domid).write(pfn * PAGE_SIZE + offset, data);
  }
  // ---- dom0 kernel services for code in this process (backends, ring relays) ----

  /** Bind a dom0 port to (domid, remotePort); `onEvent` runs on this thread's event loop. */
  bindInterdomainLocal(domid: number, remotePort: number, onEvent: (port: number) => void): LocalPort {
    const port = this.core.evtchnBindInterdomain(0, domid, remotePort);
    const client: EvtchnClient = { deliver: (p) => onEvent(p) };
    this.bindDom0Port(port, client);
    return {
      port,
      notify: () => this.core.evtchnSend(0, port),
      close: () => {
        if (this.ownsDom0Port(port, client)) this.unbindDom0Port(port);
      },
    };
  }
  /** Map a grant into this process: a view straight into the granter's memory. */
  mapGrantLocal(domid: number, gref: number, readonly: boolean): LocalGrant {
    const handle = this.gnttabMap(domid, gref, readonly);
    const m = this.grantMaps.get(handle)!;
    return {
      page: () => this.guestMemory(domid).bytes(m.frame * PAGE_SIZE, PAGE_SIZE),
      readonly,
      unmap: () => this.gnttabUnmap(handle),
    };
  }
  /**
   * Grant copies for a backend's data path (GNTTABOP_copy's checks, no
   * maptrack entry, no pin): a frame costs a look at the grant entry instead
   * of two core calls (map, unmap) under the core lock. The table's size is
   * asked of the core only when a gref lies beyond what was last seen
   * (tables grow, never shrink); a new domain under the same id is noticed
   * by its memory.
   */
  grantCopyLocal(domid: number): GrantCopy {
    let memory: WebAssembly.Memory | undefined;
    let words = new Int32Array(0);
    let nrFrames = 0;
    return {
      view: (gref, offset, len, write) => {
        const gm = this.guestMemory(domid);
        if (gm.memory !== memory) {
          memory = gm.memory;
          nrFrames = 0;
        }
        const bytes = gm.byteLength;
        if (words.length << 2 !== bytes) words = new Int32Array(memory.buffer, 0, bytes >> 2);
        if (gref >= nrFrames * GRANT_ENTRIES_PER_FRAME) nrFrames = this.core.grantQuerySize(domid).nrFrames;
        if (!(offset >= 0 && len >= 0 && offset + len <= PAGE_SIZE)) throw new HypercallError(-ERRNO.EINVAL, 'grant copy: range outside the page');
        let frame: number;
        try {
          frame = checkGrant(words, bytes / PAGE_SIZE, nrFrames, gref, 0, write).frame;
        } catch (err) {
          if (err instanceof GrantStatusError) throw new HypercallError(-ERRNO.EPERM, `grant copy: ${err.message}`);
          throw err;
        }
        return gm.bytes(frame * PAGE_SIZE + offset, len);
      },
    };
  }
  /** A privileged (foreign) view of one of a guest's pages. */
  foreignPage(domid: number, pfn: number): Uint8Array {
    return this.guestMemory(domid).bytes(pfn * PAGE_SIZE, PAGE_SIZE);
  }

  /**
   * Relay a byte ring (xenstore or console page) of a guest to a sink in
   * another process (ring-relay.ts says why). Bytes from the guest go to
   * `onData`; a broken ring is reported once to `onBroken` and the relay stops.
   */
  attachRing(domid: number, pfn: number, remotePort: number, layout: RingLayout, sink: { onData(b: Buffer): void; onBroken(why: string): void }): RingAttachment {
    this.foreignPage(domid, pfn); // ESRCH / EFAULT now rather than later
    const ring = new ByteRing(() => this.foreignPage(domid, pfn), layout);
    let broken = false;
    const pump = () => {
      if (broken) return;
      let r;
      try {
        r = ring.pump();
      } catch (e) {
        broken = true;
        this.log(`domain ${domid}: ring at pfn ${pfn} broken: ${(e as Error).message}`);
        sink.onBroken((e as Error).message);
        local.close();
        return;
      }
      if (r.data) sink.onData(r.data);
      if (r.notify) {
        try {
          local.notify();
        } catch {
          /* the domain went away */
        }
      }
    };
    const local = this.bindInterdomainLocal(domid, remotePort, pump);
    queueMicrotask(pump); // the guest may have written before we listened
    return {
      port: local.port,
      write: (data) => {
        const ok = ring.write(data);
        if (ok) pump();
        return ok;
      },
      close: () => {
        broken = true;
        local.close();
      },
    };
  }

  /** dom0's shared_info address in its own buffer (for tests of delivery). */
  get dom0SharedInfo(): number {
    return SHARED_INFO;
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    await this.hvmHost?.shutdown();
    if (this.tick) clearInterval(this.tick);
    for (const t of this.timers.values()) clearTimeout(t);
    this.dispatch.ringMain();
    this.dispatch.ringDom0();
    await Promise.all(this.executors.map((e) => e.worker.terminate()));
  }
}
