// Domains (domctl), vCPUs and memory reservations.
import {
  DOMID_FIRST_RESERVED, EEXIST, EINVAL, ENOENT, ENOMEM, ESRCH, VIRQ_DOM_EXC, INITIAL_GRANT_FRAMES,
} from './abi';
import {
  D_CAP, D_DYING, D_FOREIGN, D_GFRAMES, D_HANDLE, D_HVM, D_INUSE, D_MAX, D_NEXT, D_NRPORTS, D_NRVCPUS,
  D_PAUSE, D_PREV, D_PRIV, D_REASON, D_SHUTDOWN, D_SIZE, D_SSIDREF, D_TOT, D_WEIGHT, D_MTCOUNT,
  H_DOM0PORTS, H_FREE, H_LIVEHEAD, H_PORTS, H_ROVER, H_SCRATCH,
  VC_BLOCKED, VC_EXISTS, VC_ONLINE, VC_PCPU, VC_SIZE, VC_LASTPCPU,
  domAddr, gidOf, hostNow, liveDom, maxDomains, maxVcpus, vcpuAddr,
} from './state';
import { consPutDec, consPutStr } from './console';
import { cpuTimeNow, domDead, refresh, refreshDomain, schedInitDomain, schedInitVcpu } from './sched';
import { closeAll, freeBuckets, raiseVirq } from './evtchn';
import { freeGrantBlocks, grantReleaseAll } from './grant';

function logDom(d: i32, what: string): void {
  consPutStr("(XEN) Domain ");
  consPutDec(d);
  consPutStr(what);
}

function linkLive(d: i32): void {
  const da = domAddr(d);
  const head = load<i32>(H_LIVEHEAD);
  store<i32>(da + D_NEXT, head);
  store<i32>(da + D_PREV, -1);
  if (head >= 0) store<i32>(domAddr(head) + D_PREV, d);
  store<i32>(H_LIVEHEAD, d);
}

function unlinkLive(d: i32): void {
  const da = domAddr(d);
  const next = load<i32>(da + D_NEXT);
  const prev = load<i32>(da + D_PREV);
  if (prev >= 0) store<i32>(domAddr(prev) + D_NEXT, next);
  else store<i32>(H_LIVEHEAD, next);
  if (next >= 0) store<i32>(domAddr(next) + D_PREV, prev);
}

/** Fill a fresh slot; the handle is read from the scratch area. */
function initDomain(d: i32, hvm: i32, ssidref: i32, priv: bool): void {
  const da = domAddr(d);
  memory.fill(da, 0, D_SIZE);
  store<u8>(da + D_INUSE, 1);
  store<u8>(da + D_HVM, hvm != 0 ? 1 : 0);
  store<u8>(da + D_PRIV, priv ? 1 : 0);
  store<i32>(da + D_SSIDREF, ssidref);
  memory.copy(da + D_HANDLE, <usize>load<u32>(H_SCRATCH), 16);
  store<i32>(da + D_NRPORTS, priv ? load<i32>(H_DOM0PORTS) : load<i32>(H_PORTS));
  store<i32>(da + D_GFRAMES, INITIAL_GRANT_FRAMES);
  schedInitDomain(da);
  linkLive(d);
}

/** Domain-0: privileged, unpaused, one online vCPU (the host itself), dom0_mem taken from the pool. */
export function domBootDom0(pages: i32): void {
  initDomain(0, 0, 0, true);
  const da = domAddr(0);
  store<u32>(da + D_MAX, 0xffffffff);
  store<i32>(da + D_TOT, pages);
  store<i32>(H_FREE, load<i32>(H_FREE) - pages);
  domSetMaxVcpus(0, 1);
  logDom(0, " created (Domain-0, privileged)\n");
}

/** domctl createdomain: domid 0 = allocate (Xen's rover: the next free id after the last one given). */
export function domCreate(domid: i32, hvm: i32, ssidref: i32): i32 {
  const max = maxDomains();
  let d = domid;
  if (d != 0) {
    if (d < 0 || d >= DOMID_FIRST_RESERVED || d >= max) return -EINVAL;
    if (load<u8>(domAddr(d) + D_INUSE) != 0) return -EEXIST;
  } else {
    const rover = load<i32>(H_ROVER);
    d = rover + 1;
    let found = false;
    for (let i = 1; i < max; i++, d++) {
      if (d >= max) d = 1;
      if (load<u8>(domAddr(d) + D_INUSE) == 0) { found = true; break; }
    }
    if (!found) return -ENOMEM;
    store<i32>(H_ROVER, d);
  }
  initDomain(d, hvm, ssidref, false);
  // New domains start paused by the controller, as in Xen.
  store<i32>(domAddr(d) + D_PAUSE, 1);
  logDom(d, hvm != 0 ? " created (hvm)\n" : " created\n");
  return d;
}

export function domSetMaxVcpus(d: i32, n: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (n < 0 || n > maxVcpus()) return -EINVAL;
  const cur = load<i32>(da + D_NRVCPUS);
  if (n < cur) return -EINVAL; // vCPUs are never taken away
  const now = hostNow();
  for (let v = cur; v < n; v++) {
    const g = gidOf(d, v);
    const va = vcpuAddr(g);
    memory.fill(va, 0, VC_SIZE);
    schedInitVcpu(g);
    store<u8>(va + VC_EXISTS, 1);
    store<u8>(va + VC_ONLINE, v == 0 ? 1 : 0);
  }
  store<i32>(da + D_NRVCPUS, n);
  for (let v = cur; v < n; v++) refresh(gidOf(d, v), now);
  return 0;
}

export function domPause(d: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (load<u8>(da + D_PRIV) != 0) return -EINVAL; // a domain cannot pause itself, and dom0 is the caller
  store<i32>(da + D_PAUSE, load<i32>(da + D_PAUSE) + 1);
  refreshDomain(d, hostNow());
  return 0;
}

export function domUnpause(d: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  const c = load<i32>(da + D_PAUSE);
  if (c <= 0) return -EINVAL;
  store<i32>(da + D_PAUSE, c - 1);
  if (c == 1) refreshDomain(d, hostNow());
  return 0;
}

export function domShutdown(d: i32, reason: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (reason < 0 || reason > 255) return -EINVAL;
  if (load<u8>(da + D_DYING) != 0) return 0;
  if (load<u8>(da + D_SHUTDOWN) != 0) return 0; // the first reason stands
  store<u8>(da + D_SHUTDOWN, 1);
  store<u8>(da + D_REASON, <u8>reason);
  refreshDomain(d, hostNow());
  logDom(d, " shut down: reason ");
  consPutDec(reason);
  consPutStr("\n");
  raiseVirq(0, VIRQ_DOM_EXC, 0);
  return 0;
}

/** Free the slot: nothing refers to the domain any more. */
export function domainFinal(d: i32): void {
  const da = domAddr(d);
  freeBuckets(da);
  freeGrantBlocks(da);
  const n = load<i32>(da + D_NRVCPUS);
  for (let v = 0; v < n; v++) {
    const g = gidOf(d, v);
    memory.fill(vcpuAddr(g), 0, VC_SIZE);
    schedInitVcpu(g); // not queued, no pCPU: stale records must never look queued
  }
  unlinkLive(d);
  memory.fill(da, 0, D_SIZE);
  logDom(d, " destroyed\n");
  raiseVirq(0, VIRQ_DOM_EXC, 0);
}

export function domDestroy(d: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (load<u8>(da + D_PRIV) != 0) return -EINVAL;
  if (load<u8>(da + D_DYING) != 0) return 0;
  store<u8>(da + D_DYING, 1);
  refreshDomain(d, hostNow());
  closeAll(d, da);
  store<i32>(H_FREE, load<i32>(H_FREE) + load<i32>(da + D_TOT));
  store<i32>(da + D_TOT, 0);
  logDom(d, " dying\n");
  raiseVirq(0, VIRQ_DOM_EXC, 0);
  grantReleaseAll(d, da);
  if (liveDom(d) != 0 && load<i32>(da + D_FOREIGN) == 0) domainFinal(d);
  return 0;
}

/** Next live domid >= first, or -1. */
export function domNext(first: i32): i32 {
  const max = maxDomains();
  for (let d = first < 0 ? 0 : first; d < max; d++) {
    if (load<u8>(domAddr(d) + D_INUSE) != 0) return d;
  }
  return -1;
}

// getdomaininfo flag bits
const F_DYING = 1;
const F_HVM = 2;
const F_SHUTDOWN = 4;
const F_PAUSED = 8;
const F_BLOCKED = 16;
const F_RUNNING = 32;

/** getdomaininfo into the scratch area at `out`. */
export function domInfo(d: i32, out: usize): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  const priv = load<u8>(da + D_PRIV) != 0;
  const now = hostNow();
  let flags = F_BLOCKED;
  let online = 0;
  let maxId = 0;
  let cpu = -1;
  let firstCpu = -1;
  let t: i64 = 0;
  const n = load<i32>(da + D_NRVCPUS);
  for (let v = 0; v < n; v++) {
    const g = gidOf(d, v);
    const va = vcpuAddr(g);
    if (load<u8>(va + VC_EXISTS) == 0) continue;
    maxId = v;
    t += cpuTimeNow(g, now);
    if (load<u8>(va + VC_ONLINE) == 0) continue;
    online++;
    if (priv || load<u8>(va + VC_BLOCKED) == 0) flags &= ~F_BLOCKED;
    const p = load<i32>(va + VC_PCPU);
    if (priv || p >= 0) { flags |= F_RUNNING; if (cpu < 0) cpu = priv ? 0 : p; }
    if (firstCpu < 0) firstCpu = load<i32>(va + VC_LASTPCPU);
  }
  if (load<u8>(da + D_DYING) != 0) flags |= F_DYING;
  if (load<u8>(da + D_HVM) != 0) flags |= F_HVM;
  if (load<u8>(da + D_SHUTDOWN) != 0) flags |= F_SHUTDOWN;
  if (load<i32>(da + D_PAUSE) > 0) flags |= F_PAUSED;
  if (cpu < 0) cpu = firstCpu < 0 ? 0 : firstCpu;
  store<i32>(out, d);
  store<i32>(out + 4, flags);
  store<i32>(out + 8, <i32>load<u8>(da + D_REASON));
  store<u32>(out + 12, load<u32>(da + D_TOT));
  store<u32>(out + 16, load<u32>(da + D_MAX));
  store<i32>(out + 20, online);
  store<i32>(out + 24, maxId);
  store<i32>(out + 28, load<i32>(da + D_SSIDREF));
  store<i32>(out + 32, cpu);
  store<i64>(out + 40, t);
  memory.copy(out + 48, da + D_HANDLE, 16);
  return 0;
}

export const INFO_SIZE: usize = 64;

export function domSetMaxMem(d: i32, pages: u32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  store<u32>(da + D_MAX, pages);
  return 0;
}

export function domSetHandle(d: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  memory.copy(da + D_HANDLE, <usize>load<u32>(H_SCRATCH), 16);
  return 0;
}

export function memIncrease(d: i32, n: i32): i32 {
  const da = liveDom(d);
  if (da == 0 || load<u8>(da + D_DYING) != 0) return -ESRCH;
  if (n < 0) return -EINVAL;
  const tot = <u64>load<u32>(da + D_TOT);
  if (tot + <u64>n > <u64>load<u32>(da + D_MAX)) return -ENOMEM;
  if (n > load<i32>(H_FREE)) return -ENOMEM;
  store<u32>(da + D_TOT, <u32>(tot + <u64>n));
  store<i32>(H_FREE, load<i32>(H_FREE) - n);
  return 0;
}

export function memDecrease(d: i32, n: i32): i32 {
  const da = liveDom(d);
  if (da == 0 || load<u8>(da + D_DYING) != 0) return -ESRCH;
  if (n < 0 || <u32>n > load<u32>(da + D_TOT)) return -EINVAL;
  store<u32>(da + D_TOT, load<u32>(da + D_TOT) - <u32>n);
  store<i32>(H_FREE, load<i32>(H_FREE) + n);
  return 0;
}

/** getvcpuinfo into `out`: online, blocked, running, cpu, cpu time. */
export function vcpuInfo(d: i32, v: i32, out: usize): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (v < 0 || v >= maxVcpus()) return -EINVAL;
  if (v >= load<i32>(da + D_NRVCPUS)) return -ESRCH;
  const g = gidOf(d, v);
  const va = vcpuAddr(g);
  const priv = load<u8>(da + D_PRIV) != 0;
  const online = load<u8>(va + VC_ONLINE) != 0;
  const p = load<i32>(va + VC_PCPU);
  store<i32>(out, online ? 1 : 0);
  store<i32>(out + 4, load<u8>(va + VC_BLOCKED) != 0 ? 1 : 0);
  store<i32>(out + 8, (priv && online) || p >= 0 ? 1 : 0);
  const lp = load<i32>(va + VC_LASTPCPU);
  store<i32>(out + 12, p >= 0 ? p : (lp >= 0 ? lp : 0));
  store<i64>(out + 16, cpuTimeNow(g, hostNow()));
  return 0;
}

function vcpuLookup(d: i32, v: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (v < 0 || v >= maxVcpus()) return -EINVAL;
  if (v >= load<i32>(da + D_NRVCPUS)) return -ENOENT;
  return gidOf(d, v);
}

export function vcpuSetOnline(d: i32, v: i32, up: bool): i32 {
  const g = vcpuLookup(d, v);
  if (g < 0) return g;
  store<u8>(vcpuAddr(g) + VC_ONLINE, up ? 1 : 0);
  refresh(g, hostNow());
  return 0;
}

/** Validate (domid, vcpu) for the calls a vCPU's thread makes: gid, or -errno. */
export function vcpuGid(d: i32, v: i32): i32 { return vcpuLookup(d, v); }

/** sched_credit getinfo: weight and cap into `out`. */
export function schedGet(d: i32, out: usize): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  store<i32>(out, load<i32>(da + D_WEIGHT));
  store<i32>(out + 4, load<i32>(da + D_CAP));
  return 0;
}

export function schedSet(d: i32, weight: i32, cap: i32): i32 {
  const da = liveDom(d);
  if (da == 0) return -ESRCH;
  if (weight < 0 || weight > 65535 || cap < 0 || cap > 0xffff) return -EINVAL;
  if (weight != 0) store<i32>(da + D_WEIGHT, weight);
  if (cap != 0xffff) store<i32>(da + D_CAP, cap);
  return 0;
}
