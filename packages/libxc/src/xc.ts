// libxenctrl for Node: the one typed API through which dom0 software reaches
// the hypervisor. Every call is one privcmd request (docs/privcmd.md);
// failures are HypercallError with Xen's errno name as `code`.
import net from 'node:net';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { HypercallError, ERRNO, isErrnoName, XenError } from '@xenwasm/xen-errno';
import { encodeFrame, FrameReader, type PrivcmdReply } from './privcmd-wire.js';

export interface PhysInfo {
  threads_per_core: number;
  cores_per_socket: number;
  nr_cpus: number;
  nr_nodes: number;
  cpu_khz: number;
  total_pages: number;
  free_pages: number;
  scrub_pages: number;
  hw_cap: number[];
  max_cpu_id: number;
}
export interface XenVersion {
  xen_major: number;
  xen_minor: number;
  xen_extra: string;
  xen_caps: string;
  xen_pagesize: number;
  platform_params: string;
  xen_changeset: string;
  cc_compiler: string;
  cc_compile_by: string;
  cc_compile_domain: string;
  cc_compile_date: string;
  xen_scheduler: string;
}
/** As Python's xc.domain_getinfo returns it. */
export interface DomainInfo {
  domid: number;
  online_vcpus: number;
  max_vcpu_id: number;
  hvm: boolean;
  dying: boolean;
  crashed: boolean;
  shutdown: boolean;
  paused: boolean;
  blocked: boolean;
  running: boolean;
  mem_kb: number;
  maxmem_kb: number;
  cpu_time: bigint; // ns
  ssidref: number;
  shutdown_reason: number;
  handle: number[]; // 16 bytes
  cpu: number;
}
export interface VcpuInfo {
  online: boolean;
  blocked: boolean;
  running: boolean;
  cpu_time: bigint;
  cpu: number;
  cpumap: number[];
}
export interface BuildResult {
  store_mfn: number;
  console_mfn: number;
}
export interface HvmBuildOptions {
  domid: number;
  kernel: string;
  memoryMb: number;
  maxMemoryMb?: number;
  args: string[];
  env: string[];
  /** config: a DmConfig of @xenwasm/qemu-dm. */
  dm: { mode: 'stubdom'; config: unknown } | { mode: 'qemu-dm'; socket: string };
}
export interface BuildOptions {
  domid: number;
  kernel: string; // path of the guest .wasm
  cmdline?: string;
  memoryMb: number;
  maxMemoryMb?: number;
  storeEvtchn: number;
  consoleEvtchn: number;
  vcpus?: number;
}

export function defaultPrivcmdPath(): string {
  const state = process.env.XEN_STATE_DIR ?? path.resolve('var');
  return path.join(state, 'run', 'xen', 'privcmd.sock');
}

function toError(r: Extract<PrivcmdReply, { ok: false }>, op: string): XenError {
  // The host's messages mostly name the op already ("linux_build: ..."): say it once.
  const message = r.message?.startsWith(`${op}:`) ? r.message : `${op}: ${r.message}`;
  if (isErrnoName(r.errno)) {
    const e = new HypercallError(-ERRNO[r.errno], op);
    if (r.message) e.message = message;
    return e;
  }
  return new XenError(r.errno, message);
}

function fixInfo(d: Record<string, unknown>): DomainInfo {
  return { ...(d as unknown as DomainInfo), cpu_time: BigInt(d.cpu_time as string) };
}

/**
 * One open handle on the hypervisor (xc_interface_open). It doubles as the
 * event channel device: ports bound through it deliver 'evtchn' events
 * (emit('evtchn', port)); as with /dev/xen/evtchn, a delivered port stays
 * masked until `evtchnUnmask`.
 */
export class Xc extends EventEmitter {
  private sock: net.Socket;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; op: string }>();
  private closed = false;
  private readonly rings = new Map<number, RingStream>();

  private constructor(sock: net.Socket) {
    super();
    this.sock = sock;
    const reader = new FrameReader();
    sock.on('data', (chunk) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        sock.destroy(e as Error);
        return;
      }
      for (const f of frames) this.onFrame(f as Record<string, unknown>);
    });
    const fail = (err?: Error) => {
      this.closed = true;
      for (const [, w] of this.waiting) w.reject(err ?? new XenError('EIO', 'privcmd connection closed'));
      this.waiting.clear();
      this.emit('close');
    };
    sock.on('error', (e) => fail(new XenError('EIO', `privcmd: ${e.message}`)));
    sock.on('close', () => fail());
  }

  static open(socketPath = defaultPrivcmdPath()): Promise<Xc> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => resolve(new Xc(s)));
      s.once('error', (e) =>
        reject(new XenError('ENOENT', `cannot reach the hypervisor at ${socketPath}: ${e.message}`, { socketPath })),
      );
    });
  }

  close(): void {
    this.closed = true;
    this.sock.end();
  }

  private onFrame(f: Record<string, unknown>): void {
    if (f.event === 'evtchn') {
      this.emit('evtchn', f.port as number);
      return;
    }
    if (f.event === 'ring' || f.event === 'ring_broken') {
      const r = this.rings.get(f.id as number);
      if (!r) return;
      if (f.event === 'ring') r.emit('data', Buffer.from(f.data as string, 'base64'));
      else {
        this.rings.delete(f.id as number);
        r.emit('broken', f.message as string);
      }
      return;
    }
    const w = this.waiting.get(f.id as number);
    if (!w) return;
    this.waiting.delete(f.id as number);
    const r = f as unknown as PrivcmdReply;
    if (r.ok) w.resolve(r.value);
    else w.reject(toError(r, w.op));
  }

  /** Raw privcmd request; prefer the typed methods. */
  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.closed) return Promise.reject(new XenError('EIO', 'privcmd connection closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, op });
      this.sock.write(encodeFrame({ id, op, args }));
    });
  }

  // ---- host ----
  physinfo(): Promise<PhysInfo> {
    return this.call('physinfo');
  }
  xeninfo(): Promise<XenVersion> {
    return this.call('xeninfo');
  }
  readConsoleRing(clear = false): Promise<string> {
    return this.call('readconsolering', { clear });
  }

  // ---- domains ----
  domainCreate(opts: { handle?: string; hvm?: boolean; domid?: number; ssidref?: number } = {}): Promise<number> {
    return this.call('domain_create', opts);
  }
  domainMaxVcpus(domid: number, max: number): Promise<void> {
    return this.call('domain_max_vcpus', { domid, max });
  }
  domainPause(domid: number): Promise<void> {
    return this.call('domain_pause', { domid });
  }
  domainUnpause(domid: number): Promise<void> {
    return this.call('domain_unpause', { domid });
  }
  domainShutdown(domid: number, reason: number): Promise<void> {
    return this.call('domain_shutdown', { domid, reason });
  }
  domainDestroy(domid: number): Promise<void> {
    return this.call('domain_destroy', { domid });
  }
  domainSetHandle(domid: number, handle: string): Promise<void> {
    return this.call('domain_sethandle', { domid, handle });
  }
  async domainGetInfo(first = 0, max = 1024): Promise<DomainInfo[]> {
    const list = await this.call<Record<string, unknown>[]>('domain_getinfo', { first, max });
    return list.map(fixInfo);
  }
  /** The one domain `domid`, or ESRCH (unlike domainGetInfo, which walks upward). */
  async domainInfo(domid: number): Promise<DomainInfo> {
    const [d] = await this.domainGetInfo(domid, 1);
    if (!d || d.domid !== domid) throw new HypercallError(-ERRNO.ESRCH, 'domain_getinfo');
    return d;
  }
  domainSetMaxMem(domid: number, maxKb: number): Promise<void> {
    return this.call('domain_setmaxmem', { domid, max_memkb: maxKb });
  }
  domainMemoryIncreaseReservation(domid: number, nrPages: number): Promise<void> {
    return this.call('domain_memory_increase_reservation', { domid, nr_pages: nrPages });
  }
  async vcpuGetInfo(domid: number, vcpu: number): Promise<VcpuInfo> {
    const v = await this.call<Record<string, unknown>>('vcpu_getinfo', { domid, vcpu });
    return { ...(v as unknown as VcpuInfo), cpu_time: BigInt(v.cpu_time as string) };
  }
  schedCreditGet(domid: number): Promise<{ weight: number; cap: number }> {
    return this.call('sched_credit_domain_get', { domid });
  }
  schedCreditSet(domid: number, weight: number, cap: number): Promise<void> {
    return this.call('sched_credit_domain_set', { domid, weight, cap });
  }
  schedIdGet(): Promise<number> {
    return this.call('sched_id_get');
  }
  /** Build a PV domain: rewrite the guest module, lay out its memory, start_info. */
  linuxBuild(opts: BuildOptions): Promise<BuildResult> {
    return this.call('linux_build', opts as unknown as Record<string, unknown>);
  }

  /**
   * xc_hvm_build for a WASI program: rewrite it, give it memory and an ioreq
   * page, and attach its device model (a stub domain in the host, or a
   * qemu-dm process already listening on `dm.socket`). Returns the ports the
   * device model's listeners got (stubdom).
   */
  hvmBuild(opts: HvmBuildOptions): Promise<{ ports: number[] }> {
    return this.call('hvm_build', opts as unknown as Record<string, unknown>);
  }
  /** The exit status of an HVM guest's program, null until it has exited. */
  hvmExitCode(domid: number): Promise<number | null> {
    return this.call('hvm_exit_code', { domid });
  }

  // ---- event channels (dom0's /dev/xen/evtchn) ----
  evtchnAllocUnbound(dom: number, remoteDom: number): Promise<number> {
    return this.call('evtchn_alloc_unbound', { dom, remote_dom: remoteDom });
  }
  evtchnBindInterdomain(remoteDom: number, remotePort: number): Promise<number> {
    return this.call('evtchn_bind_interdomain', { remote_dom: remoteDom, remote_port: remotePort });
  }
  evtchnBindVirq(virq: number): Promise<number> {
    return this.call('evtchn_bind_virq', { virq });
  }
  evtchnNotify(port: number): Promise<void> {
    return this.call('evtchn_notify', { port });
  }
  evtchnUnmask(port: number): Promise<void> {
    return this.call('evtchn_unmask', { port });
  }
  evtchnUnbind(port: number): Promise<void> {
    return this.call('evtchn_unbind', { port });
  }
  evtchnStatus(dom: number, port: number): Promise<Record<string, number>> {
    return this.call('evtchn_status', { dom, port });
  }
  evtchnReset(dom: number): Promise<void> {
    return this.call('evtchn_reset', { dom });
  }

  // ---- grant tables (dom0's /dev/xen/gntdev) ----
  /** Map `gref` of `domid`; refused (EPERM/EINVAL) unless granted to dom0, and writes unless writable. */
  gnttabMap(domid: number, gref: number, readonly = false): Promise<number> {
    return this.call('gnttab_map', { domid, gref, readonly });
  }
  gnttabUnmap(handle: number): Promise<void> {
    return this.call('gnttab_unmap', { handle });
  }
  async gnttabRead(handle: number, offset = 0, length = 4096): Promise<Buffer> {
    return Buffer.from(await this.call<string>('gnttab_read', { handle, offset, length }), 'base64');
  }
  gnttabWrite(handle: number, offset: number, data: Uint8Array): Promise<void> {
    return this.call('gnttab_write', { handle, offset, data: Buffer.from(data).toString('base64') });
  }

  // ---- byte rings (xenstore and console pages), relayed by the host ----
  /**
   * Attach to a guest's xenstore or console ring page (`pfn`, the MFN the
   * toolstack wrote in store/ring-ref or console/ring-ref) and its event
   * channel (`port`, the guest's end). Bytes the guest produces arrive as
   * 'data'; write() puts bytes in the guest's other ring. A guest that
   * corrupts its ring gets the ring stopped: 'broken' with the reason.
   */
  async ringAttach(domid: number, pfn: number, port: number, kind: 'xenstore' | 'console'): Promise<RingStream> {
    const r = new RingStream(this);
    const id = await this.call<number>('ring_attach', { domid, pfn, port, kind });
    r.id = id;
    this.rings.set(id, r);
    return r;
  }
  /** @internal */
  ringDetached(id: number): void {
    this.rings.delete(id);
  }

  // ---- foreign mapping (privcmd mmap of another domain's frames) ----
  async mapForeignRead(domid: number, pfn: number, offset = 0, length = 4096): Promise<Buffer> {
    return Buffer.from(await this.call<string>('foreign_read', { domid, pfn, offset, length }), 'base64');
  }
  mapForeignWrite(domid: number, pfn: number, offset: number, data: Uint8Array): Promise<void> {
    return this.call('foreign_write', { domid, pfn, offset, data: Buffer.from(data).toString('base64') });
  }
}

/** One relayed ring: 'data' (Buffer) from the guest, 'broken' (reason). */
export class RingStream extends EventEmitter {
  id = 0;
  constructor(private readonly xc: Xc) {
    super();
  }
  write(data: Uint8Array): Promise<void> {
    return this.xc.call('ring_write', { id: this.id, data: Buffer.from(data).toString('base64') });
  }
  async close(): Promise<void> {
    this.xc.ringDetached(this.id);
    await this.xc.call('ring_detach', { id: this.id }).catch(() => undefined);
  }
}
