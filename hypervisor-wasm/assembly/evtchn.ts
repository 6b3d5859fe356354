// Event channels (event_channel_op). Ports live in 256-entry buckets taken
// from the block pool on demand, as Xen allocates its buckets. The pending
// and mask bits are in the guest's shared_info, which only the glue touches:
// the core decides who gets notified and calls hooks.setPending.
import {
  ECS_FREE, ECS_INTERDOMAIN, ECS_IPI, ECS_RESERVED, ECS_UNBOUND, ECS_VIRQ, ECS_PIRQ,
  DOMID_SELF, EINVAL, ENOENT, ENOMEM, ENOSPC, EPERM, ESRCH, EEXIST, NR_VIRQS,
  VIRQ_DEBUG, VIRQ_TIMER, VIRQ_XENOPROF,
} from './abi';
import {
  D_BUCKETS, D_DYING, D_NRPORTS, D_NRVCPUS, D_PRIV, MAX_BUCKETS, PORTS_PER_BUCKET, PORT_SIZE,
  VC_EXISTS, VC_VIRQ, blockAddr, blockAlloc, blockFree, gidOf, hostNow, hostSetPending, hostUnmask,
  liveDom, vcpuAddr, H_SCRATCH,
} from './state';
import { schedWake } from './sched';

// Port entry: +0 u8 state, +1 u8 notify vCPU, +2 u16 virq, +4 u16 remote dom, +6 u16 remote port.
const E_STATE: usize = 0;
const E_VCPU: usize = 1;
const E_VIRQ: usize = 2;
const E_RDOM: usize = 4;
const E_RPORT: usize = 6;

export function virqIsGlobal(virq: i32): bool {
  return virq != VIRQ_TIMER && virq != VIRQ_DEBUG && virq != VIRQ_XENOPROF;
}

/** Address of a port's entry, or 0 if the port is out of range or its bucket was never allocated. */
export function portAddr(da: usize, port: i32): usize {
  if (port < 0 || port >= load<i32>(da + D_NRPORTS)) return 0;
  const b = load<u32>(da + D_BUCKETS + <usize>(port / PORTS_PER_BUCKET) * 4);
  if (b == 0) return 0;
  return blockAddr(<i32>b - 1) + <usize>(port % PORTS_PER_BUCKET) * PORT_SIZE;
}

/** Lowest free port (port 0 is reserved), allocating a bucket when needed. */
function getFreePort(da: usize): i32 {
  const nr = load<i32>(da + D_NRPORTS);
  for (let port = 0; port < nr; port += PORTS_PER_BUCKET) {
    const bp = da + D_BUCKETS + <usize>(port / PORTS_PER_BUCKET) * 4;
    if (load<u32>(bp) == 0) {
      const blk = blockAlloc();
      if (blk < 0) return -ENOMEM;
      store<u32>(bp, <u32>blk + 1);
      const base = blockAddr(blk);
      if (port == 0) { store<u8>(base + E_STATE, <u8>ECS_RESERVED); return 1; }
      return port;
    }
    const base = blockAddr(<i32>load<u32>(bp) - 1);
    let end = port + PORTS_PER_BUCKET;
    if (end > nr) end = nr;
    for (let q = port; q < end; q++) {
      if (load<u8>(base + <usize>(q - port) * PORT_SIZE + E_STATE) == ECS_FREE) return q;
    }
  }
  return -ENOSPC;
}

function vcpuValid(d: i32, da: usize, vcpu: i32): bool {
  if (vcpu < 0 || vcpu >= load<i32>(da + D_NRVCPUS)) return false;
  return load<u8>(vcpuAddr(gidOf(d, vcpu)) + VC_EXISTS) != 0;
}

/** Mark pending through the glue and wake the notified vCPU if an upcall is due. */
export function notify(d: i32, port: i32, vcpu: i32): void {
  if (hostSetPending(d, port, vcpu) != 0) {
    const da = liveDom(d);
    if (da != 0 && vcpuValid(d, da, vcpu)) schedWake(gidOf(d, vcpu), hostNow());
  }
}

function self(caller: i32, dom: i32): i32 { return dom == DOMID_SELF ? caller : dom; }

function callerDom(caller: i32): usize {
  const da = liveDom(caller);
  if (da == 0 || load<u8>(da + D_DYING) != 0) return 0;
  return da;
}

export function evtAllocUnbound(caller: i32, dom: i32, remote: i32): i32 {
  const ca = callerDom(caller);
  if (ca == 0) return -ESRCH;
  dom = self(caller, dom);
  remote = self(caller, remote);
  if (dom != caller && load<u8>(ca + D_PRIV) == 0) return -EPERM;
  const da = liveDom(dom);
  if (da == 0 || load<u8>(da + D_DYING) != 0) return -ESRCH;
  if (remote < 0 || remote >= DOMID_SELF) return -ESRCH;
  const port = getFreePort(da);
  if (port < 0) return port;
  const e = portAddr(da, port);
  store<u8>(e + E_STATE, <u8>ECS_UNBOUND);
  store<u8>(e + E_VCPU, 0);
  store<u16>(e + E_RDOM, <u16>remote);
  return port;
}

export function evtBindInterdomain(caller: i32, rdom: i32, rport: i32): i32 {
  const la = callerDom(caller);
  if (la == 0) return -ESRCH;
  rdom = self(caller, rdom);
  const ra = liveDom(rdom);
  if (ra == 0 || load<u8>(ra + D_DYING) != 0) return -ESRCH;
  const re = portAddr(ra, rport);
  if (re == 0) return -EINVAL;
  if (load<u8>(re + E_STATE) != ECS_UNBOUND || <i32>load<u16>(re + E_RDOM) != caller) return -EINVAL;
  const lport = getFreePort(la);
  if (lport < 0) return lport;
  const le = portAddr(la, lport);
  store<u8>(le + E_STATE, <u8>ECS_INTERDOMAIN);
  store<u8>(le + E_VCPU, 0);
  store<u16>(le + E_RDOM, <u16>rdom);
  store<u16>(le + E_RPORT, <u16>rport);
  store<u8>(re + E_STATE, <u8>ECS_INTERDOMAIN);
  store<u16>(re + E_RDOM, <u16>caller);
  store<u16>(re + E_RPORT, <u16>lport);
  // Events sent while the far end was unbound were dropped: Xen marks the new
  // local port pending so the binder looks at the channel once.
  notify(caller, lport, 0);
  return lport;
}

export function evtBindVirq(caller: i32, virq: i32, vcpu: i32): i32 {
  const da = callerDom(caller);
  if (da == 0) return -ESRCH;
  if (virq < 0 || virq >= NR_VIRQS) return -EINVAL;
  if (virqIsGlobal(virq) && vcpu != 0) return -EINVAL;
  if (!vcpuValid(caller, da, vcpu)) return -ENOENT;
  const slot = vcpuAddr(gidOf(caller, vcpu)) + VC_VIRQ + <usize>virq * 2;
  if (load<u16>(slot) != 0) return -EEXIST;
  const port = getFreePort(da);
  if (port < 0) return port;
  const e = portAddr(da, port);
  store<u8>(e + E_STATE, <u8>ECS_VIRQ);
  store<u8>(e + E_VCPU, <u8>vcpu);
  store<u16>(e + E_VIRQ, <u16>virq);
  store<u16>(slot, <u16>port);
  return port;
}

export function evtBindIpi(caller: i32, vcpu: i32): i32 {
  const da = callerDom(caller);
  if (da == 0) return -ESRCH;
  if (!vcpuValid(caller, da, vcpu)) return -ENOENT;
  const port = getFreePort(da);
  if (port < 0) return port;
  const e = portAddr(da, port);
  store<u8>(e + E_STATE, <u8>ECS_IPI);
  store<u8>(e + E_VCPU, <u8>vcpu);
  return port;
}

/** Close `port` of domain `d` (also used by reset and destroy). */
export function closePort(d: i32, da: usize, port: i32): i32 {
  const e = portAddr(da, port);
  if (e == 0) return -EINVAL;
  const st = <i32>load<u8>(e + E_STATE);
  if (st == ECS_FREE || st == ECS_RESERVED) return -EINVAL;
  if (st == ECS_VIRQ) {
    const v = <i32>load<u8>(e + E_VCPU);
    const virq = <i32>load<u16>(e + E_VIRQ);
    const slot = vcpuAddr(gidOf(d, v)) + VC_VIRQ + <usize>virq * 2;
    if (<i32>load<u16>(slot) == port) store<u16>(slot, 0);
  } else if (st == ECS_INTERDOMAIN) {
    // The far end goes back to unbound, still expecting this domain.
    const rd = <i32>load<u16>(e + E_RDOM);
    const ra = liveDom(rd);
    if (ra != 0) {
      const re = portAddr(ra, <i32>load<u16>(e + E_RPORT));
      if (re != 0 && load<u8>(re + E_STATE) == ECS_INTERDOMAIN && <i32>load<u16>(re + E_RDOM) == d) {
        store<u8>(re + E_STATE, <u8>ECS_UNBOUND);
        store<u16>(re + E_RDOM, <u16>d);
        store<u16>(re + E_RPORT, 0);
      }
    }
  }
  store<u64>(e, 0);
  return 0;
}

export function evtClose(caller: i32, port: i32): i32 {
  const da = liveDom(caller);
  if (da == 0) return -ESRCH;
  return closePort(caller, da, port);
}

export function evtSend(caller: i32, port: i32): i32 {
  const da = liveDom(caller);
  if (da == 0) return -ESRCH;
  const e = portAddr(da, port);
  if (e == 0) return -EINVAL;
  const st = <i32>load<u8>(e + E_STATE);
  if (st == ECS_INTERDOMAIN) {
    const rd = <i32>load<u16>(e + E_RDOM);
    const ra = liveDom(rd);
    if (ra == 0) return 0;
    const rp = <i32>load<u16>(e + E_RPORT);
    const re = portAddr(ra, rp);
    if (re == 0) return 0;
    notify(rd, rp, <i32>load<u8>(re + E_VCPU));
    return 0;
  }
  if (st == ECS_IPI) { notify(caller, port, <i32>load<u8>(e + E_VCPU)); return 0; }
  if (st == ECS_UNBOUND) return 0; // silently dropped, as in Xen
  return -EINVAL;
}

/** Writes status, vcpu, remote dom / remote port / virq into the scratch area. */
export function evtStatus(caller: i32, dom: i32, port: i32): i32 {
  const ca = liveDom(caller);
  if (ca == 0) return -ESRCH;
  dom = self(caller, dom);
  if (dom != caller && load<u8>(ca + D_PRIV) == 0) return -EPERM;
  const da = liveDom(dom);
  if (da == 0) return -ESRCH;
  if (port < 0 || port >= load<i32>(da + D_NRPORTS)) return -EINVAL;
  const out = <usize>load<u32>(H_SCRATCH);
  const e = portAddr(da, port);
  let st = e == 0 ? ECS_FREE : <i32>load<u8>(e + E_STATE);
  if (st == ECS_RESERVED) st = ECS_FREE;
  store<i32>(out, st);
  store<i32>(out + 4, e == 0 ? 0 : <i32>load<u8>(e + E_VCPU));
  store<i32>(out + 8, e == 0 ? 0 : <i32>load<u16>(e + E_RDOM));
  store<i32>(out + 12, e == 0 ? 0 : <i32>load<u16>(e + E_RPORT));
  store<i32>(out + 16, e == 0 ? 0 : <i32>load<u16>(e + E_VIRQ));
  return 0;
}

export function evtBindVcpu(caller: i32, port: i32, vcpu: i32): i32 {
  const da = liveDom(caller);
  if (da == 0) return -ESRCH;
  if (!vcpuValid(caller, da, vcpu)) return -ENOENT;
  const e = portAddr(da, port);
  if (e == 0) return -EINVAL;
  const st = <i32>load<u8>(e + E_STATE);
  if (st == ECS_VIRQ) {
    if (!virqIsGlobal(<i32>load<u16>(e + E_VIRQ))) return -EINVAL;
    // A global VIRQ stays in vCPU 0's table; only the notified vCPU moves.
    store<u8>(e + E_VCPU, <u8>vcpu);
    return 0;
  }
  if (st == ECS_UNBOUND || st == ECS_INTERDOMAIN || st == ECS_PIRQ) {
    store<u8>(e + E_VCPU, <u8>vcpu);
    return 0;
  }
  return -EINVAL;
}

export function evtUnmask(caller: i32, port: i32): i32 {
  const da = liveDom(caller);
  if (da == 0) return -ESRCH;
  const e = portAddr(da, port);
  if (e == 0) return -EINVAL;
  const v = <i32>load<u8>(e + E_VCPU);
  if (hostUnmask(caller, port, v) != 0 && vcpuValid(caller, da, v)) schedWake(gidOf(caller, v), hostNow());
  return 0;
}

/** Close every port of `d` (evtchn reset, and destroy). */
export function closeAll(d: i32, da: usize): void {
  const nr = load<i32>(da + D_NRPORTS);
  for (let port = 1; port < nr; port++) {
    const e = portAddr(da, port);
    if (e == 0) { port += PORTS_PER_BUCKET - 1 - port % PORTS_PER_BUCKET; continue; }
    const st = <i32>load<u8>(e + E_STATE);
    if (st != ECS_FREE && st != ECS_RESERVED) closePort(d, da, port);
  }
}

export function evtReset(dom: i32): i32 {
  const da = liveDom(dom);
  if (da == 0) return -ESRCH;
  closeAll(dom, da);
  return 0;
}

/** Give the domain's buckets back to the pool (final release). */
export function freeBuckets(da: usize): void {
  for (let b = 0; b < MAX_BUCKETS; b++) {
    const bp = da + D_BUCKETS + <usize>b * 4;
    const x = load<u32>(bp);
    if (x != 0) { blockFree(<i32>x - 1); store<u32>(bp, 0); }
  }
}

/** Send a VIRQ: global ones through vCPU 0's table, per-vCPU ones through `vcpu`'s. */
export function raiseVirq(d: i32, virq: i32, vcpu: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (virq < 0 || virq >= NR_VIRQS) return -EINVAL;
  const v = virqIsGlobal(virq) ? 0 : vcpu;
  if (!vcpuValid(d, da, v)) return virqIsGlobal(virq) ? 0 : -ENOENT;
  const port = <i32>load<u16>(vcpuAddr(gidOf(d, v)) + VC_VIRQ + <usize>virq * 2);
  if (port == 0) return 0;
  const e = portAddr(da, port);
  if (e == 0) return 0;
  notify(d, port, <i32>load<u8>(e + E_VCPU));
  return 0;
}
