// The hypercalls of one guest vCPU: argument structures are read from and
// written to the guest's memory here (32-bit layouts of Xen's public
// headers), the decisions are the core's. Every failure is a negative errno
// returned to the guest; nothing a guest passes can throw into the host.
import { ERRNO, XenError } from '@xenwasm/xen-errno';
import type { XenCore } from '@xenwasm/hypervisor-wasm';
import { GuestMemory } from './guest-memory.js';
import type { GuestRegistry } from './guest-registry.js';
import * as H from './hypercall-numbers.js';
import { GRANT_TABLE_MAX_FRAMES, PAGE_SIZE, PFN_GRANT_TABLE, XEN_PAGES_PER_WASM_PAGE } from './abi.js';
import { checkGrant, GrantStatusError } from './grant-table.js';

export interface HypercallEnv {
  core: XenCore;
  registry: GuestRegistry;
  /** Arm (deadline > 0) or cancel (0) the vCPU's single-shot timer, in core ns. */
  setTimer(domid: number, vcpu: number, deadlineNs: bigint): void;
}

const enc = new TextDecoder();

function errno(e: unknown): number {
  if (e instanceof XenError) return e.errno;
  return -ERRNO.EINVAL;
}

export class Hypercalls {
  private lineBuf = '';
  constructor(
    private readonly env: HypercallEnv,
    readonly domid: number,
    readonly vcpu: number,
    readonly mem: GuestMemory,
  ) {}

  dispatch(nr: number, a1: number, a2: number, a3: number, a4: number, a5: number): number {
    void a4;
    void a5;
    try {
      switch (nr) {
        case H.HYPERVISOR_console_io:
          return this.consoleIo(a1, a2, a3);
        case H.HYPERVISOR_event_channel_op:
          return this.eventChannelOp(a1, a2);
        case H.HYPERVISOR_grant_table_op:
          return this.grantTableOp(a1, a2, a3);
        case H.HYPERVISOR_memory_op:
          return this.memoryOp(a1, a2);
        case H.HYPERVISOR_set_timer_op:
          this.env.setTimer(this.domid, this.vcpu, (BigInt(a2 >>> 0) << 32n) | BigInt(a1 >>> 0));
          return 0;
        case H.HYPERVISOR_xen_version:
          return this.xenVersion(a1, a2);
        case H.HYPERVISOR_vcpu_op:
          return this.vcpuOp(a1, a2);
        default:
          return -ERRNO.ENOSYS;
      }
    } catch (e) {
      return errno(e);
    }
  }

  // ---- console_io: the hypervisor console, as a debug build of Xen shows guest output ----
  private consoleIo(cmd: number, count: number, buf: number): number {
    if (cmd !== H.CONSOLEIO_write) return -ERRNO.ENOSYS;
    if (count < 0 || count > 65536) return -ERRNO.EINVAL;
    this.lineBuf += enc.decode(this.mem.bytes(buf, count).slice());
    let nl: number;
    while ((nl = this.lineBuf.indexOf('\n')) >= 0) {
      this.env.core.consoleWrite(`(d${this.domid}) ${this.lineBuf.slice(0, nl)}\n`);
      this.lineBuf = this.lineBuf.slice(nl + 1);
    }
    if (this.lineBuf.length > 1024) {
      this.env.core.consoleWrite(`(d${this.domid}) ${this.lineBuf}\n`);
      this.lineBuf = '';
    }
    return 0;
  }
  flushConsole(): void {
    if (this.lineBuf) this.env.core.consoleWrite(`(d${this.domid}) ${this.lineBuf}\n`);
    this.lineBuf = '';
  }

  private self(dom: number): number {
    return dom === H.DOMID_SELF ? this.domid : dom;
  }

  // ---- event_channel_op ----
  private eventChannelOp(cmd: number, p: number): number {
    const core = this.env.core;
    const m = this.mem;
    switch (cmd) {
      case H.EVTCHNOP_alloc_unbound: {
        const port = core.evtchnAllocUnbound(this.domid, this.self(m.u16(p)), this.self(m.u16(p + 2)));
        m.setU32(p + 4, port);
        return 0;
      }
      case H.EVTCHNOP_bind_interdomain: {
        const port = core.evtchnBindInterdomain(this.domid, this.self(m.u16(p)), m.u32(p + 4));
        m.setU32(p + 8, port);
        return 0;
      }
      case H.EVTCHNOP_bind_virq: {
        const port = core.evtchnBindVirq(this.domid, m.u32(p), m.u32(p + 4));
        m.setU32(p + 8, port);
        return 0;
      }
      case H.EVTCHNOP_bind_ipi: {
        const port = core.evtchnBindIpi(this.domid, m.u32(p));
        m.setU32(p + 4, port);
        return 0;
      }
      case H.EVTCHNOP_close:
        core.evtchnClose(this.domid, m.u32(p));
        return 0;
      case H.EVTCHNOP_send:
        core.evtchnSend(this.domid, m.u32(p));
        return 0;
      case H.EVTCHNOP_status: {
        const s = core.evtchnStatus(this.domid, this.self(m.u16(p)), m.u32(p + 4));
        m.setU32(p + 8, s.status);
        m.setU32(p + 12, s.vcpu);
        m.setU32(p + 16, 0);
        m.setU32(p + 20, 0);
        if (s.remoteDom !== undefined) m.setU16(p + 16, s.remoteDom);
        if (s.remotePort !== undefined) m.setU32(p + 20, s.remotePort);
        if (s.virq !== undefined) m.setU32(p + 16, s.virq);
        return 0;
      }
      case H.EVTCHNOP_bind_vcpu:
        core.evtchnBindVcpu(this.domid, m.u32(p), m.u32(p + 4));
        return 0;
      case H.EVTCHNOP_unmask: {
        core.evtchnUnmask(this.domid, m.u32(p));
        return 0;
      }
      case H.EVTCHNOP_reset: {
        const dom = this.self(m.u16(p));
        if (dom !== this.domid) return -ERRNO.EPERM;
        core.evtchnReset(dom);
        return 0;
      }
      default:
        return -ERRNO.ENOSYS;
    }
  }

  // ---- grant_table_op ----
  private grantTableOp(cmd: number, uop: number, count: number): number {
    if (count < 0 || count > 512) return -ERRNO.EINVAL;
    const core = this.env.core;
    const m = this.mem;
    switch (cmd) {
      case H.GNTTABOP_setup_table:
        for (let i = 0; i < count; i++) {
          const p = uop + i * 16;
          const dom = this.self(m.u16(p));
          const nr = m.u32(p + 4);
          const list = m.u32(p + 12);
          if (dom !== this.domid) {
            m.setI16(p + 8, H.GNTST_permission_denied);
            continue;
          }
          if (nr > GRANT_TABLE_MAX_FRAMES) {
            m.setI16(p + 8, H.GNTST_general_error);
            continue;
          }
          core.grantSetupTable(dom, nr);
          for (let f = 0; f < nr; f++) m.setU32(list + f * 4, PFN_GRANT_TABLE + f);
          m.setI16(p + 8, H.GNTST_okay);
        }
        return 0;
      case H.GNTTABOP_query_size:
        for (let i = 0; i < count; i++) {
          const p = uop + i * 16;
          const dom = this.self(m.u16(p));
          if (dom !== this.domid) {
            m.setI16(p + 12, H.GNTST_permission_denied);
            continue;
          }
          const q = core.grantQuerySize(dom);
          m.setU32(p + 4, q.nrFrames);
          m.setU32(p + 8, q.maxNrFrames);
          m.setI16(p + 12, H.GNTST_okay);
        }
        return 0;
      case H.GNTTABOP_copy:
        for (let i = 0; i < count; i++) this.grantCopy(uop + i * 24);
        return 0;
      case H.GNTTABOP_map_grant_ref:
      case H.GNTTABOP_unmap_grant_ref:
        // A wasm guest cannot have another domain's page appear in its own
        // linear memory: mapping is for dom0 backends (gntdev). Guests copy.
        return -ERRNO.ENOSYS;
      default:
        return -ERRNO.ENOSYS;
    }
  }

  /** struct gnttab_copy: source {ptr, domid, offset}, dest {..}, len, flags, status. */
  private grantCopy(p: number): void {
    const m = this.mem;
    try {
      const flags = m.u16(p + 18);
      const len = m.u16(p + 16);
      const src = this.copyEnd(m.u32(p), this.self(m.u16(p + 4)), m.u16(p + 6), len, (flags & H.GNTCOPY_source_gref) !== 0, false);
      const dst = this.copyEnd(m.u32(p + 8), this.self(m.u16(p + 12)), m.u16(p + 14), len, (flags & H.GNTCOPY_dest_gref) !== 0, true);
      dst.mem.write(dst.addr, src.mem.bytes(src.addr, len));
      m.setI16(p + 20, H.GNTST_okay);
    } catch (e) {
      const st = e instanceof GrantStatusError ? e.status : H.GNTST_general_error;
      try {
        m.setI16(p + 20, st);
      } catch {
        /* the status field itself is out of bounds: nothing to report into */
      }
    }
  }
  private copyEnd(ref: number, dom: number, offset: number, len: number, isGref: boolean, write: boolean) {
    if (offset + len > PAGE_SIZE) throw new GrantStatusError(H.GNTST_bad_copy_arg, 'copy crosses a page boundary');
    const entry = this.env.registry.get(dom);
    if (!entry || !entry.memory) throw new GrantStatusError(H.GNTST_bad_domain, `no domain ${dom}`);
    const mem = dom === this.domid ? this.mem : new GuestMemory(entry.memory);
    let frame: number;
    if (isGref) {
      const pages = mem.byteLength / PAGE_SIZE;
      const t = checkGrant(entry.i32, pages, this.env.core.grantQuerySize(dom).nrFrames, ref, this.domid, write);
      frame = t.frame;
    } else {
      // Without a grant a guest may only name its own frames.
      if (dom !== this.domid) throw new GrantStatusError(H.GNTST_permission_denied, 'foreign frame without a grant');
      frame = ref;
    }
    const addr = frame * PAGE_SIZE + offset;
    if (addr + len > mem.byteLength) throw new GrantStatusError(H.GNTST_bad_page, 'frame beyond memory');
    return { mem, addr };
  }

  // ---- memory_op ----
  private memoryOp(cmd: number, p: number): number {
    const core = this.env.core;
    const m = this.mem;
    switch (cmd) {
      case H.XENMEM_current_reservation:
      case H.XENMEM_maximum_reservation: {
        const dom = this.self(m.u16(p));
        if (dom !== this.domid) return -ERRNO.EPERM;
        const info = core.getDomainInfo(dom);
        return cmd === H.XENMEM_current_reservation ? info.totPages : info.maxPages;
      }
      case H.XENMEM_increase_reservation:
      case H.XENMEM_decrease_reservation: {
        // struct xen_memory_reservation { extent_start; nr_extents; extent_order; address_bits; domid }
        const nr = m.u32(p + 4);
        const order = m.u32(p + 8);
        const dom = this.self(m.u16(p + 16));
        if (dom !== this.domid) return -ERRNO.EPERM;
        if (order > 9 || nr > 1 << 20) return -ERRNO.EINVAL;
        const pages = nr << order;
        // Balloon accounting: the guest's linear memory cannot shrink, so
        // giving pages back is a promise not to touch them, and taking them
        // again is bounded by max_pages and the host pool, as in Xen.
        if (cmd === H.XENMEM_increase_reservation) core.increaseReservation(dom, pages);
        else core.decreaseReservation(dom, pages);
        return nr;
      }
      default:
        return -ERRNO.ENOSYS;
    }
  }

  /** memory.grow of the guest: an increase_reservation of whole wasm pages. */
  grow(deltaWasmPages: number): number {
    if (deltaWasmPages < 0) return -1;
    try {
      this.env.core.increaseReservation(this.domid, deltaWasmPages * XEN_PAGES_PER_WASM_PAGE);
    } catch {
      return -1;
    }
    try {
      return this.mem.memory.grow(deltaWasmPages);
    } catch {
      this.env.core.decreaseReservation(this.domid, deltaWasmPages * XEN_PAGES_PER_WASM_PAGE);
      return -1;
    }
  }

  private xenVersion(cmd: number, arg: number): number {
    switch (cmd) {
      case H.XENVER_version:
        return (H.XEN_MAJOR << 16) | H.XEN_MINOR;
      case H.XENVER_extraversion: {
        const b = Buffer.alloc(16);
        b.write(H.XEN_EXTRAVERSION);
        this.mem.write(arg, b);
        return 0;
      }
      case H.XENVER_pagesize:
        return PAGE_SIZE;
      default:
        return -ERRNO.ENOSYS;
    }
  }

  private vcpuOp(cmd: number, vcpuid: number): number {
    if (cmd === H.VCPUOP_is_up) {
      try {
        return this.env.core.vcpuInfo(this.domid, vcpuid).online ? 1 : 0;
      } catch (e) {
        return errno(e);
      }
    }
    return -ERRNO.ENOSYS;
  }
}
