// The HVM domain builder and the host's half of each HVM domain's device
// model (hvmloader + the ioreq plumbing of Xen, for WASI programs).
//
// The guest module is rewritten like a PV one (memory capped, preemption
// checks) but keeps its wasi_snapshot_preview1 imports, which the vCPU turns
// into ioreqs (hvm-vcpu.ts). The device model is either
//   - a stub domain: a worker thread of this process that waits on the
//     ioreq page itself (shared memory + Atomics), or
//   - qemu-dm: a Domain-0 process started by xend. Node processes cannot
//     share memory, so this thread relays: the vCPU's event-channel
//     notification reaches a dom0 port here, the used bytes of the page go
//     down qemu-dm's unix socket, and its answer is copied back into the page
//     before the vCPU is woken. qemu-dm's death crashes the domain.
import fs from 'node:fs/promises';
import net from 'node:net';
import { HypercallError, ERRNO, XenError } from '@xenwasm/xen-errno';
import type { RewriteCache } from '@xenwasm/domain-builder';
import type { XenCore } from '@xenwasm/hypervisor-wasm';
import {
  IoreqPage, IOREQ_BYTES, REQUEST, RESPONSE, S_STATE, S_EXITED, S_EXIT_CODE, readFrames, sendFrame, startStubdom,
  type DmConfig, type Stubdom,
} from '@xenwasm/qemu-dm';
import type { DomainEntry, GuestRegistry } from './guest-registry.js';
import type { LocalPort } from './hypervisor.js';
import type { HvmBoot } from './hvm-abi.js';
import type { HvmBuildOptions } from '@xenwasm/libxc';
import * as A from './abi.js';
import { SHUTDOWN_crash } from './hypercall-numbers.js';

/** libxc's hvm_build arguments, with the stub domain's config checked and typed. */
export interface HvmBuildRequest extends Omit<HvmBuildOptions, 'dm'> {
  /** stubdom: config is required; qemu-dm: socket is required (qemu-dm is already listening there). */
  dm: { mode: 'stubdom'; config: DmConfig } | { mode: 'qemu-dm'; socket: string };
}

export interface HvmHostDeps {
  core: XenCore;
  cache: RewriteCache;
  registry: GuestRegistry;
  add(entry: DomainEntry): void;
  bindLocal(domid: number, remotePort: number, onEvent: (port: number) => void): LocalPort;
  log(msg: string): void;
}

interface Live {
  page: IoreqPage;
  stubdom?: Stubdom;
  sock?: net.Socket;
  port?: LocalPort;
  closing: boolean;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

export class HvmHost {
  private readonly live = new Map<number, Live>();
  constructor(private readonly d: HvmHostDeps) {
    d.registry.onRemove((domid) => this.teardown(domid));
  }

  async build(req: HvmBuildRequest): Promise<{ ports: number[] }> {
    const { core } = this.d;
    const info = core.getDomainInfo(req.domid);
    if (info.totPages > 0 || this.live.has(req.domid)) throw new HypercallError(-ERRNO.EEXIST, 'hvm_build: the domain is already built');
    if (!(req.memoryMb > 0)) throw new HypercallError(-ERRNO.EINVAL, 'hvm_build: memory must be positive');
    const maxMb = Math.max(req.maxMemoryMb ?? req.memoryMb, req.memoryMb);
    if (maxMb > A.MAX_GUEST_MB) throw new HypercallError(-ERRNO.ENOMEM, `hvm_build: a guest addresses at most ${A.MAX_GUEST_MB} MiB (one wasm32 memory), not ${maxMb} MiB`);
    const maxWasm = Math.floor((maxMb * 1024 * 1024) / A.WASM_PAGE);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(req.kernel);
    } catch (e) {
      throw new XenError('ENOENT', `kernel image ${req.kernel}: ${(e as Error).message}`, { kernel: req.kernel });
    }
    const out = await this.d.cache.rewrite(bytes, { maxMemoryPages: maxWasm, hvm: true });
    const key = `${out.info.hash}`;
    let m = compiled.get(key);
    if (!m) {
      m = WebAssembly.compile(out.wasm as Uint8Array<ArrayBuffer>);
      compiled.set(key, m);
      m.catch(() => compiled.delete(key));
    }
    const module = await m;
    // An HVM guest gets the pages it asks for at start, no more: memory is its cap.
    const initial = out.info.initialMemoryPages;
    if (initial > maxWasm) throw new HypercallError(-ERRNO.ENOMEM, `hvm_build: the program needs ${initial * 64} KiB, more than maxmem`);
    core.setMaxMem(req.domid, maxWasm * 64);
    core.increaseReservation(req.domid, initial * A.XEN_PAGES_PER_WASM_PAGE);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial, maximum: maxWasm, shared: true });
    } catch (e) {
      core.decreaseReservation(req.domid, initial * A.XEN_PAGES_PER_WASM_PAGE);
      throw new HypercallError(-ERRNO.ENOMEM, `hvm_build: ${(e as Error).message}`);
    }
    const pageBuf = new SharedArrayBuffer(IOREQ_BYTES);
    const page = new IoreqPage(pageBuf);
    const l: Live = { page, closing: false };
    this.live.set(req.domid, l);
    const crash = (why: string) => {
      if (l.closing) return;
      this.d.log(`domain ${req.domid}: device model died (${why}); crashing the domain`);
      try {
        core.consoleWrite(`(XEN) HVM domain ${req.domid}: device model died: ${why}\n`);
        const i = core.getDomainInfo(req.domid);
        if (!i.shutdown && !i.dying) core.shutdownDomain(req.domid, SHUTDOWN_crash);
      } catch {
        /* gone */
      }
      Atomics.notify(page.i32, S_STATE);
    };
    let guestPort = 0;
    let ports: number[] = [];
    try {
      if (req.dm.mode === 'stubdom') {
        l.stubdom = await startStubdom(req.dm.config, pageBuf, crash);
        ports = l.stubdom.ports;
      } else {
        guestPort = core.evtchnAllocUnbound(0, req.domid, 0);
        l.sock = await connect(req.dm.socket);
        this.relay(req.domid, l, guestPort, crash);
      }
    } catch (e) {
      this.teardown(req.domid);
      core.decreaseReservation(req.domid, initial * A.XEN_PAGES_PER_WASM_PAGE);
      throw new XenError('ENODEV', `hvm_build: device model: ${(e as Error).message}`);
    }
    const hvm: HvmBoot = { page: pageBuf, args: req.args, env: req.env, mode: req.dm.mode, guestPort };
    // shared_info of an HVM guest lives outside its memory: the program owns all of that.
    const shared = new SharedArrayBuffer(3 * A.PAGE_SIZE);
    this.d.add({ domid: req.domid, memory, shared, module, maxVcpus: 1, hvm });
    return { ports };
  }

  private relay(domid: number, l: Live, guestPort: number, crash: (why: string) => void): void {
    const sock = l.sock!;
    const page = l.page;
    let inflight = false;
    const pump = () => {
      if (inflight || Atomics.load(page.i32, S_STATE) !== REQUEST) return;
      inflight = true;
      sendFrame(sock, page.u8.subarray(0, page.usedBytes('request')));
    };
    readFrames(sock, (f) => {
      if (!inflight) return;
      page.u8.set(f.subarray(4, Math.min(f.length, page.u8.length)), 4);
      inflight = false;
      Atomics.store(page.i32, S_STATE, RESPONSE);
      Atomics.notify(page.i32, S_STATE);
    });
    sock.on('close', () => crash('qemu-dm closed its socket'));
    sock.on('error', () => undefined);
    l.port = this.d.bindLocal(domid, guestPort, pump);
  }

  /** The program's exit status once it has exited (proc_exit or a return from _start). */
  exitCode(domid: number): number | null {
    const e = this.d.registry.get(domid) as (DomainEntry & { hvm?: HvmBoot }) | undefined;
    const pageBuf = e?.hvm?.page ?? this.live.get(domid)?.page.buffer;
    if (!pageBuf) return null;
    const i32 = new Int32Array(pageBuf, 0, 8);
    return i32[S_EXITED] ? i32[S_EXIT_CODE] : null;
  }

  isHvm(domid: number): boolean {
    return this.live.has(domid);
  }

  private teardown(domid: number): void {
    const l = this.live.get(domid);
    if (!l) return;
    this.live.delete(domid);
    l.closing = true;
    l.port?.close();
    l.sock?.destroy();
    void l.stubdom?.stop();
    Atomics.notify(l.page.i32, S_STATE);
  }

  async shutdown(): Promise<void> {
    for (const d of [...this.live.keys()]) this.teardown(d);
  }
}

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}
