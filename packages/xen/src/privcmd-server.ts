// The privcmd socket: dom0 software's way in (docs/privcmd.md). One
// connection is one open handle: event channel ports and grant mappings it
// makes are its own and are released when it goes away. A malformed request
// gets an error reply; a malformed frame closes that connection only.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { DmConfig } from '@xenwasm/qemu-dm';
import type { HvmBuildRequest } from './hvm-build.js';
import os from 'node:os';
import { ERRNO, HypercallError, XenError, errnoName } from '@xenwasm/xen-errno';
import { encodeFrame, FrameReader, type PrivcmdRequest } from '@xenwasm/libxc/privcmd-wire';
import type { DomainInfo } from '@xenwasm/hypervisor-wasm';
import type { Hypervisor, EvtchnClient, RingAttachment } from './hypervisor.js';
import { CONSOLE_RING, XENSTORE_RING } from './ring-relay.js';
import { XEN_EXTRAVERSION, XEN_MAJOR, XEN_MINOR } from './hypercall-numbers.js';

type Args = Record<string, unknown>;

function bad(msg: string): never {
  throw new HypercallError(-ERRNO.EINVAL, msg);
}
function int(a: Args, k: string, min = 0, max = 0xffffffff): number {
  const v = a[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`argument '${k}' must be an integer in ${min}..${max}`);
  return v;
}
function optInt(a: Args, k: string, dflt: number, min = 0, max = 0xffffffff): number {
  return a[k] === undefined ? dflt : int(a, k, min, max);
}
function bool(a: Args, k: string): boolean {
  const v = a[k];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') bad(`argument '${k}' must be a boolean`);
  return v;
}
function str(a: Args, k: string): string {
  const v = a[k];
  if (typeof v !== 'string') bad(`argument '${k}' must be a string`);
  return v;
}
function data(a: Args, k: string): Uint8Array {
  return Buffer.from(str(a, k), 'base64');
}
const DOMID_MAX = 0x7fef;

export function uuidToBytes(s: string): Uint8Array {
  const hex = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) bad(`'${s}' is not a UUID`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
export function bytesToUuid(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function infoOut(d: DomainInfo) {
  return {
    domid: d.domid,
    online_vcpus: d.nrOnlineVcpus,
    max_vcpu_id: d.maxVcpuId,
    hvm: d.hvm,
    dying: d.dying,
    crashed: d.crashed,
    shutdown: d.shutdown && !d.crashed,
    paused: d.paused,
    blocked: d.blocked,
    running: d.running,
    mem_kb: d.totPages * 4,
    maxmem_kb: d.maxPages * 4,
    cpu_time: d.cpuTimeNs.toString(),
    ssidref: d.ssidref,
    shutdown_reason: d.shutdownReason,
    handle: Array.from(d.handle),
    cpu: d.cpu,
  };
}

class Connection implements EvtchnClient {
  private readonly ports = new Set<number>();
  private readonly grants = new Set<number>();
  private readonly rings = new Map<number, RingAttachment>();
  private nextRing = 1;
  constructor(
    private readonly hv: Hypervisor,
    private readonly sock: net.Socket,
  ) {}

  deliver(port: number): void {
    this.send({ event: 'evtchn', port });
  }
  private send(ev: unknown): void {
    if (!this.sock.destroyed) this.sock.write(encodeFrame(ev));
  }

  release(): void {
    for (const p of this.ports) this.hv.unbindDom0Port(p);
    for (const h of this.grants) {
      try {
        this.hv.gnttabUnmap(h);
      } catch {
        /* already gone */
      }
    }
    for (const r of this.rings.values()) r.close();
    this.ports.clear();
    this.grants.clear();
    this.rings.clear();
  }

  private ownPort(a: Args): number {
    const port = int(a, 'port', 1, 4095);
    if (!this.hv.ownsDom0Port(port, this)) throw new HypercallError(-ERRNO.EINVAL, `port ${port} is not bound by this handle`);
    return port;
  }
  private bindPort(port: number): number {
    this.ports.add(port);
    this.hv.bindDom0Port(port, this);
    return port;
  }

  async handle(req: PrivcmdRequest): Promise<unknown> {
    const hv = this.hv;
    const core = hv.core;
    const a: Args = req.args && typeof req.args === 'object' && !Array.isArray(req.args) ? req.args : {};
    switch (req.op) {
      case 'physinfo': {
        const p = core.physinfo();
        return {
          threads_per_core: 1,
          cores_per_socket: p.nrCpus,
          nr_cpus: p.nrCpus,
          nr_nodes: 1,
          cpu_khz: p.cpuKhz,
          total_pages: p.totalPages,
          free_pages: p.freePages,
          scrub_pages: 0,
          hw_cap: [0, 0, 0, 0, 0, 0, 0, 0],
          max_cpu_id: p.nrCpus - 1,
        };
      }
      case 'xeninfo':
        return {
          xen_major: XEN_MAJOR,
          xen_minor: XEN_MINOR,
          xen_extra: XEN_EXTRAVERSION,
          xen_caps: 'xen-3.0-wasm32',
          xen_pagesize: 4096,
          platform_params: 'virt_start=0x0',
          xen_changeset: 'unavailable',
          cc_compiler: 'AssemblyScript',
          cc_compile_by: os.userInfo().username,
          cc_compile_domain: os.hostname(),
          cc_compile_date: new Date(hv.bootTime).toUTCString(),
          xen_scheduler: 'credit',
        };
      case 'sched_id_get':
        return 5; // XEN_SCHEDULER_CREDIT
      case 'readconsolering':
        return core.consoleRead(bool(a, 'clear'));
      case 'domain_create': {
        const handle = a.handle === undefined ? new Uint8Array(16) : uuidToBytes(str(a, 'handle'));
        return hv.createDomain(handle, { hvm: bool(a, 'hvm'), domid: optInt(a, 'domid', 0, 0, DOMID_MAX), ssidref: optInt(a, 'ssidref', 0) });
      }
      case 'domain_max_vcpus':
        core.setMaxVcpus(int(a, 'domid', 0, DOMID_MAX), int(a, 'max', 1, 32));
        return null;
      case 'domain_pause':
        core.pauseDomain(int(a, 'domid', 0, DOMID_MAX));
        return null;
      case 'domain_unpause':
        core.unpauseDomain(int(a, 'domid', 0, DOMID_MAX));
        return null;
      case 'domain_shutdown':
        core.shutdownDomain(int(a, 'domid', 1, DOMID_MAX), int(a, 'reason', 0, 4));
        return null;
      case 'domain_destroy':
        hv.destroyDomain(int(a, 'domid', 0, DOMID_MAX));
        return null;
      case 'domain_sethandle':
        core.setHandle(int(a, 'domid', 0, DOMID_MAX), uuidToBytes(str(a, 'handle')));
        return null;
      case 'domain_getinfo':
        return core.listDomains(optInt(a, 'first', 0, 0, DOMID_MAX), optInt(a, 'max', 1024, 0, 4096)).map(infoOut);
      case 'domain_setmaxmem':
        core.setMaxMem(int(a, 'domid', 0, DOMID_MAX), int(a, 'max_memkb', 0, 2 ** 31));
        return null;
      case 'domain_memory_increase_reservation':
        core.increaseReservation(int(a, 'domid', 0, DOMID_MAX), int(a, 'nr_pages', 0, 2 ** 24));
        return null;
      case 'vcpu_getinfo': {
        const v = core.vcpuInfo(int(a, 'domid', 0, DOMID_MAX), int(a, 'vcpu', 0, 31));
        return { online: v.online, blocked: v.blocked, running: v.running, cpu_time: v.cpuTimeNs.toString(), cpu: v.cpu, cpumap: [...Array(hv.nrCpus).keys()] };
      }
      case 'sched_credit_domain_get':
        return core.schedCreditGet(int(a, 'domid', 0, DOMID_MAX));
      case 'sched_credit_domain_set':
        core.schedCreditSet(int(a, 'domid', 0, DOMID_MAX), int(a, 'weight', 0, 65535), int(a, 'cap', 0, 65535));
        return null;
      case 'hvm_build':
        return hv.hvm.build(hvmBuildArgs(a));
      case 'hvm_exit_code':
        return hv.hvm.exitCode(int(a, 'domid', 0, DOMID_MAX));
      case 'linux_build':
        return hv.buildPv({
          domid: int(a, 'domid', 1, DOMID_MAX),
          kernel: path.resolve(str(a, 'kernel')),
          cmdline: a.cmdline === undefined ? '' : str(a, 'cmdline'),
          memoryMb: int(a, 'memoryMb', 1, 1 << 20),
          maxMemoryMb: a.maxMemoryMb === undefined ? undefined : int(a, 'maxMemoryMb', 1, 1 << 20),
          storeEvtchn: int(a, 'storeEvtchn', 0, 1023),
          consoleEvtchn: int(a, 'consoleEvtchn', 0, 1023),
        });
      case 'evtchn_alloc_unbound': {
        const dom = int(a, 'dom', 0, DOMID_MAX);
        const port = core.evtchnAllocUnbound(0, dom, int(a, 'remote_dom', 0, DOMID_MAX));
        return dom === 0 ? this.bindPort(port) : port;
      }
      case 'evtchn_bind_interdomain':
        return this.bindPort(core.evtchnBindInterdomain(0, int(a, 'remote_dom', 0, DOMID_MAX), int(a, 'remote_port', 1, 4095)));
      case 'evtchn_bind_virq':
        return this.bindPort(core.evtchnBindVirq(0, int(a, 'virq', 0, 23), 0));
      case 'evtchn_notify':
        core.evtchnSend(0, this.ownPort(a));
        return null;
      case 'evtchn_unmask':
        this.ownPort(a);
        return null;
      case 'evtchn_unbind': {
        const port = this.ownPort(a);
        this.ports.delete(port);
        hv.unbindDom0Port(port);
        return null;
      }
      case 'evtchn_status': {
        const s = core.evtchnStatus(0, int(a, 'dom', 0, DOMID_MAX), int(a, 'port', 0, 4095));
        return s;
      }
      case 'evtchn_reset':
        core.evtchnReset(int(a, 'dom', 1, DOMID_MAX));
        return null;
      case 'gnttab_map': {
        const h = hv.gnttabMap(int(a, 'domid', 1, DOMID_MAX), int(a, 'gref'), bool(a, 'readonly'));
        this.grants.add(h);
        return h;
      }
      case 'gnttab_unmap': {
        const h = int(a, 'handle');
        if (!this.grants.has(h)) throw new HypercallError(-ERRNO.EINVAL, `gnttab_unmap: handle ${h} is not this connection's`);
        hv.gnttabUnmap(h);
        this.grants.delete(h);
        return null;
      }
      case 'gnttab_read': {
        const h = int(a, 'handle');
        if (!this.grants.has(h)) throw new HypercallError(-ERRNO.EINVAL, `handle ${h} is not this connection's`);
        return Buffer.from(hv.gnttabRead(h, optInt(a, 'offset', 0), optInt(a, 'length', 4096))).toString('base64');
      }
      case 'gnttab_write': {
        const h = int(a, 'handle');
        if (!this.grants.has(h)) throw new HypercallError(-ERRNO.EINVAL, `handle ${h} is not this connection's`);
        hv.gnttabWrite(h, optInt(a, 'offset', 0), data(a, 'data'));
        return null;
      }
      case 'foreign_read':
        return Buffer.from(hv.foreignRead(int(a, 'domid', 1, DOMID_MAX), int(a, 'pfn'), optInt(a, 'offset', 0), optInt(a, 'length', 4096))).toString('base64');
      case 'foreign_write':
        hv.foreignWrite(int(a, 'domid', 1, DOMID_MAX), int(a, 'pfn'), optInt(a, 'offset', 0), data(a, 'data'));
        return null;
      case 'ring_attach': {
        const kind = str(a, 'kind');
        const layout = kind === 'xenstore' ? XENSTORE_RING : kind === 'console' ? CONSOLE_RING : bad(`unknown ring kind '${kind}'`);
        const id = this.nextRing++;
        const ring = hv.attachRing(int(a, 'domid', 1, DOMID_MAX), int(a, 'pfn'), int(a, 'port', 1, 1023), layout, {
          onData: (b) => this.send({ event: 'ring', id, data: b.toString('base64') }),
          onBroken: (why) => {
            this.rings.delete(id);
            this.send({ event: 'ring_broken', id, message: why });
          },
        });
        this.rings.set(id, ring);
        return id;
      }
      case 'ring_write': {
        const r = this.rings.get(int(a, 'id'));
        if (!r) throw new HypercallError(-ERRNO.EINVAL, 'ring_write: no such ring on this connection');
        if (!r.write(data(a, 'data'))) throw new HypercallError(-ERRNO.EAGAIN, 'ring_write: the guest is not draining its ring');
        return null;
      }
      case 'ring_detach': {
        const id = int(a, 'id');
        const r = this.rings.get(id);
        if (!r) throw new HypercallError(-ERRNO.EINVAL, 'ring_detach: no such ring on this connection');
        r.close();
        this.rings.delete(id);
        return null;
      }
      default:
        throw new HypercallError(-ERRNO.ENOSYS, `unknown privcmd op '${String(req.op)}'`);
    }
  }
}

export interface PrivcmdServer {
  path: string;
  close(): Promise<void>;
}

export async function startPrivcmd(hv: Hypervisor, socketPath: string, log: (m: string) => void): Promise<PrivcmdServer> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  try {
    fs.unlinkSync(socketPath);
  } catch {
    /* no stale socket */
  }
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    conns.add(sock);
    const conn = new Connection(hv, sock);
    const reader = new FrameReader();
    // Requests of one connection are answered in order, one at a time, so a
    // build that awaits does not let a later pause overtake it.
    let chain: Promise<void> = Promise.resolve();
    sock.on('data', (chunk) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        log(`privcmd: dropping a connection: ${(e as Error).message}`);
        sock.destroy();
        return;
      }
      for (const f of frames) {
        chain = chain.then(() => answer(conn, sock, f));
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      conns.delete(sock);
      conn.release();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
  return {
    path: socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of conns) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function answer(conn: Connection, sock: net.Socket, f: unknown): Promise<void> {
  const req = f as PrivcmdRequest;
  const id = req && typeof req === 'object' && typeof req.id === 'number' ? req.id : 0;
  let reply: unknown;
  if (f instanceof Error || !req || typeof req !== 'object' || typeof req.op !== 'string') {
    reply = { id, ok: false, errno: 'EINVAL', message: f instanceof Error ? f.message : 'a request needs an id and an op' };
  } else {
    try {
      const value = await conn.handle(req);
      reply = { id, ok: true, value: value ?? null };
    } catch (e) {
      if (e instanceof XenError) reply = { id, ok: false, errno: e.code, message: e.message };
      else reply = { id, ok: false, errno: errnoName(ERRNO.EINVAL), message: (e as Error)?.message ?? String(e) };
    }
  }
  if (!sock.destroyed) sock.write(encodeFrame(reply));
}

/** hvm_build's arguments (docs/privcmd.md). */
function hvmBuildArgs(a: Args): HvmBuildRequest {
  const strs = (k: string): string[] => {
    const v = a[k] ?? [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad(`${k} must be a list of strings`);
    return v as string[];
  };
  const dm = a.dm as { mode?: unknown; socket?: unknown; config?: unknown } | undefined;
  if (!dm || typeof dm !== 'object') bad('dm must be an object');
  let dmReq: HvmBuildRequest['dm'];
  if (dm.mode === 'stubdom') {
    if (!dm.config || typeof dm.config !== 'object') bad('dm.config must be an object');
    dmReq = { mode: 'stubdom', config: dm.config as DmConfig };
  } else if (dm.mode === 'qemu-dm') {
    if (typeof dm.socket !== 'string') bad('dm.socket must be a string');
    dmReq = { mode: 'qemu-dm', socket: dm.socket };
  } else bad('dm.mode must be stubdom or qemu-dm');
  return {
    domid: int(a, 'domid', 1, DOMID_MAX),
    kernel: path.resolve(str(a, 'kernel')),
    memoryMb: int(a, 'memoryMb', 1, 1 << 20),
    maxMemoryMb: a.maxMemoryMb === undefined ? undefined : int(a, 'maxMemoryMb', 1, 1 << 20),
    args: strs('args'),
    env: strs('env'),
    dm: dmReq,
  };
}
