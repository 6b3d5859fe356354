// The hypervisor core's exports. Every export except layout/attach/lock/
// unlock expects the caller (the TypeScript wrapper) to hold the global lock.
// Results that do not fit an i32 go to the scratch area, which only the lock
// holder uses. Errors are negative errnos.
import { V_DEAD, DOMID_SELF, EINVAL, ENOMEM, ESRCH, MAX_GRANT_FRAMES } from './abi';
import {
  BLOCK_SIZE, CONS_SIZE, D_NRVCPUS, D_SIZE, HDR_END, H_ATTACH, H_CONSBASE, H_CONSCLEARED, H_CONSPROD,
  H_CONSSIZE, H_DOM0PORTS, H_DOMBASE, H_END, H_FREE, H_LIVEHEAD, H_MAGIC, H_MAXDOM, H_MAXVCPU, H_MTBASE,
  H_MTCOUNT, H_MTPERDOM, H_NRCPUS, H_PCPUBASE, H_POOLAVAIL, H_POOLBASE, H_POOLCOUNT, H_POOLFREE, H_PORTS,
  H_ROVER, H_SCRATCH, H_SCRATCHSIZE, H_TOTAL, H_VCPUBASE, MAGIC, MT_SIZE, P_SIZE, VC_SIZE,
  blockAddr, gidOf, hostNow, liveDom,
} from './state';
import { lockAcquire, lockOwner, lockRelease } from './lock';
import { consPutDec, consPutStr, consWriteBytes } from './console';
import {
  domBootDom0, domCreate, domDestroy, domInfo, domNext, domPause, domSetHandle, domSetMaxMem,
  domSetMaxVcpus, domShutdown, domUnpause, memDecrease, memIncrease, schedGet, schedSet, vcpuGid,
  vcpuInfo as vcpuInfoImpl, vcpuSetOnline,
} from './domain';
import { schedBlock, schedBoot, schedCheck, schedMayRun, schedTick, schedWake, schedYield } from './sched';
import {
  evtAllocUnbound, evtBindInterdomain, evtBindIpi, evtBindVcpu, evtBindVirq, evtClose, evtReset, evtSend,
  evtStatus, evtUnmask, raiseVirq as raiseVirqImpl,
} from './evtchn';
import { grantMap, grantPins as grantPinsImpl, grantQuery, grantSetup, grantUnmap, maptrackBoot } from './grant';

const SCRATCH_SIZE: u32 = 65536;

function alignUp(x: u64, a: u64): u64 { return (x + a - 1) & ~(a - 1); }

/**
 * First step of boot, on the first thread only: record the configuration
 * and lay the tables out above the static data. Returns the bytes of memory
 * needed (the wrapper grows the memory), or -ENOMEM if it cannot fit 4 GiB.
 */
export function layout(
  nrCpus: i32, totalPages: i32, maxDom: i32, maxVcpu: i32, poolBlocks: i32,
  mtEntries: i32, mtPerDom: i32, domUPorts: i32, dom0Ports: i32,
): f64 {
  let at = alignUp(<u64>__heap_base, 64);
  if (at < <u64>4096) at = 4096;
  const scratch = at; at += SCRATCH_SIZE;
  const cons = at; at += CONS_SIZE;
  const pcpus = at; at = alignUp(at + <u64>nrCpus * P_SIZE, 64);
  const doms = at; at += <u64>maxDom * D_SIZE;
  const vcpus = at; at += <u64>maxDom * <u64>maxVcpu * VC_SIZE;
  const mt = at; at = alignUp(at + <u64>mtEntries * MT_SIZE, BLOCK_SIZE);
  const pool = at; at += <u64>poolBlocks * BLOCK_SIZE;
  if (at > 0xffff0000) return -ENOMEM;
  store<u32>(H_NRCPUS, nrCpus);
  store<i32>(H_TOTAL, totalPages);
  store<i32>(H_FREE, totalPages);
  store<i32>(H_MAXDOM, maxDom);
  store<i32>(H_MAXVCPU, maxVcpu);
  store<u32>(H_SCRATCH, <u32>scratch);
  store<u32>(H_SCRATCHSIZE, SCRATCH_SIZE);
  store<u32>(H_CONSBASE, <u32>cons);
  store<u32>(H_CONSSIZE, CONS_SIZE);
  store<u32>(H_PCPUBASE, <u32>pcpus);
  store<u32>(H_DOMBASE, <u32>doms);
  store<u32>(H_VCPUBASE, <u32>vcpus);
  store<u32>(H_MTBASE, <u32>mt);
  store<i32>(H_MTCOUNT, mtEntries);
  store<i32>(H_MTPERDOM, mtPerDom);
  store<u32>(H_POOLBASE, <u32>pool);
  store<i32>(H_POOLCOUNT, poolBlocks);
  store<i32>(H_PORTS, domUPorts);
  store<i32>(H_DOM0PORTS, dom0Ports);
  store<u32>(H_END, <u32>at);
  return <f64>at;
}

/** Second step of boot, once the memory is large enough: tables, Domain-0, banner. */
export function boot(dom0Pages: i32): i32 {
  if (dom0Pages < 0 || dom0Pages > load<i32>(H_TOTAL)) return -ENOMEM;
  const n = load<i32>(H_POOLCOUNT);
  for (let i = 0; i < n; i++) store<i32>(blockAddr(i), i + 1 < n ? i + 1 : -1);
  store<i32>(H_POOLFREE, n > 0 ? 0 : -1);
  store<i32>(H_POOLAVAIL, n);
  maptrackBoot();
  store<i32>(H_LIVEHEAD, -1);
  store<i32>(H_ROVER, 0);
  schedBoot(hostNow());
  consPutStr("(XEN) XenWasm hypervisor core: the Xen 3.2 interface on WebAssembly threads\n");
  consPutStr("(XEN) Interface version 0x00030207, built from AssemblyScript\n");
  consPutStr("(XEN) Physical CPUs (pCPU workers): ");
  consPutDec(load<i32>(H_NRCPUS));
  consPutStr("\n(XEN) System RAM: ");
  consPutDec(load<i32>(H_TOTAL) / 256);
  consPutStr(" MiB (");
  consPutDec(load<i32>(H_TOTAL));
  consPutStr(" pages); Domain-0 reservation ");
  consPutDec(dom0Pages / 256);
  consPutStr(" MiB\n(XEN) Scheduler: SMP Credit Scheduler (credit), 30 ms slice, 10 ms tick\n");
  consPutStr("(XEN) Event channels: ");
  consPutDec(load<i32>(H_PORTS));
  consPutStr(" ports per domain, ");
  consPutDec(load<i32>(H_DOM0PORTS));
  consPutStr(" for Domain-0; grant tables v1, up to ");
  consPutDec(MAX_GRANT_FRAMES);
  consPutStr(" frames\n");
  memory.fill(<usize>load<u32>(H_SCRATCH), 0, 16);
  domBootDom0(dom0Pages);
  store<u32>(H_MAGIC, MAGIC);
  return 0;
}

/** A thread joins: returns its lock-owner id (> 0), or -EINVAL if no core was booted in this memory. */
export function attach(): i32 {
  if (atomic.load<u32>(H_MAGIC) != MAGIC) return -EINVAL;
  return atomic.add<i32>(H_ATTACH, 1) + 1;
}
export function firstAttach(): i32 { return atomic.add<i32>(H_ATTACH, 1) + 1; }

export function lock(me: i32): i32 { return lockAcquire(me); }
export function unlock(): void { lockRelease(); }
export function owner(): i32 { return lockOwner(); }

export function scratch(): u32 { return load<u32>(H_SCRATCH); }
export function hdr(off: u32): u32 { return load<u32>(<usize>off); }
export function headerEnd(): u32 { return <u32>HDR_END; }

// ---- domains ----
export function createDomain(domid: i32, hvm: i32, ssidref: i32): i32 { return domCreate(domid, hvm, ssidref); }
export function setMaxVcpus(d: i32, n: i32): i32 { return domSetMaxVcpus(d, n); }
export function pauseDomain(d: i32): i32 { return domPause(d); }
export function unpauseDomain(d: i32): i32 { return domUnpause(d); }
export function shutdownDomain(d: i32, reason: i32): i32 { return domShutdown(d, reason); }
export function destroyDomain(d: i32): i32 { return domDestroy(d); }
export function getDomainInfo(d: i32): i32 { return domInfo(d, <usize>load<u32>(H_SCRATCH)); }
/** Up to `max` infos of domids >= first, packed in scratch at 64 bytes each; returns the count. */
export function listDomains(first: i32, max: i32): i32 {
  const out = <usize>load<u32>(H_SCRATCH);
  const room = <i32>(load<u32>(H_SCRATCHSIZE) / 64);
  if (max > room) max = room;
  let n = 0;
  let d = domNext(first);
  while (d >= 0 && n < max) {
    domInfo(d, out + <usize>n * 64);
    n++;
    d = domNext(d + 1);
  }
  return n;
}
export function setMaxMem(d: i32, pages: u32): i32 { return domSetMaxMem(d, pages); }
export function setHandle(d: i32): i32 { return domSetHandle(d); }

// ---- memory ----
export function increaseReservation(d: i32, n: i32): i32 { return memIncrease(d, n); }
export function decreaseReservation(d: i32, n: i32): i32 { return memDecrease(d, n); }
export function freePages(): i32 { return load<i32>(H_FREE); }
export function totalPages(): i32 { return load<i32>(H_TOTAL); }

// ---- vCPUs and scheduler ----
export function vcpuInfo(d: i32, v: i32): i32 { return vcpuInfoImpl(d, v, <usize>load<u32>(H_SCRATCH)); }
export function vcpuUp(d: i32, v: i32): i32 { return vcpuSetOnline(d, v, true); }
export function vcpuDown(d: i32, v: i32): i32 { return vcpuSetOnline(d, v, false); }
export function schedCreditGet(d: i32): i32 { return schedGet(d, <usize>load<u32>(H_SCRATCH)); }
export function schedCreditSet(d: i32, w: i32, cap: i32): i32 { return schedSet(d, w, cap); }
export function vcpuBlock(d: i32, v: i32): i32 {
  const g = vcpuGid(d, v);
  if (g < 0) return g;
  schedBlock(g, hostNow());
  return 0;
}
export function vcpuWake(d: i32, v: i32): i32 {
  const g = vcpuGid(d, v);
  if (g < 0) return g;
  schedWake(g, hostNow());
  return 0;
}
export function vcpuYield(d: i32, v: i32): i32 {
  const g = vcpuGid(d, v);
  if (g < 0) return g;
  schedYield(g, hostNow());
  return 0;
}
export function vcpuCheck(d: i32, v: i32): i32 {
  const da = liveDom(d);
  if (da == 0 || v < 0 || v >= load<i32>(da + D_NRVCPUS)) return V_DEAD;
  return schedCheck(gidOf(d, v), da);
}
export function vcpuMayRun(d: i32, v: i32): i32 {
  const da = liveDom(d);
  if (da == 0 || v < 0 || v >= load<i32>(da + D_NRVCPUS)) return 0;
  return schedMayRun(gidOf(d, v), da) ? 1 : 0;
}
export function tick(): void { schedTick(hostNow()); }

// ---- event channels ----
export function evtchnAllocUnbound(caller: i32, dom: i32, remote: i32): i32 { return evtAllocUnbound(caller, dom, remote); }
export function evtchnBindInterdomain(caller: i32, rdom: i32, rport: i32): i32 { return evtBindInterdomain(caller, rdom, rport); }
export function evtchnBindVirq(caller: i32, virq: i32, vcpu: i32): i32 { return evtBindVirq(caller, virq, vcpu); }
export function evtchnBindIpi(caller: i32, vcpu: i32): i32 { return evtBindIpi(caller, vcpu); }
export function evtchnClose(caller: i32, port: i32): i32 { return evtClose(caller, port); }
export function evtchnSend(caller: i32, port: i32): i32 { return evtSend(caller, port); }
export function evtchnStatus(caller: i32, dom: i32, port: i32): i32 { return evtStatus(caller, dom, port); }
export function evtchnBindVcpu(caller: i32, port: i32, vcpu: i32): i32 { return evtBindVcpu(caller, port, vcpu); }
export function evtchnUnmask(caller: i32, port: i32): i32 { return evtUnmask(caller, port); }
export function evtchnReset(dom: i32): i32 { return evtReset(dom); }
export function raiseVirq(d: i32, virq: i32, vcpu: i32): i32 { return raiseVirqImpl(d, virq, vcpu); }

// ---- grant tables ----
export function grantSetupTable(d: i32, nr: i32): i32 { return grantSetup(d, nr); }
export function grantQuerySize(d: i32): i32 { return grantQuery(d); }
export function grantMapRecord(grantee: i32, granter: i32, gref: i32, ro: i32): i32 { return grantMap(grantee, granter, gref, ro); }
export function grantUnmapRecord(grantee: i32, h: i32): i32 { return grantUnmap(grantee, h); }
export function grantPins(granter: i32, gref: i32): i32 { return grantPinsImpl(granter, gref); }

// ---- console ring ----
/** Append `len` bytes the wrapper put in the scratch area. */
export function consoleWrite(len: i32): void { consWriteBytes(<usize>load<u32>(H_SCRATCH), len); }
export function consoleBase(): u32 { return load<u32>(H_CONSBASE); }
export function consoleProd(): u32 { return load<u32>(H_CONSPROD); }
export function consoleCleared(): u32 { return load<u32>(H_CONSCLEARED); }
export function consoleClear(): void { store<u32>(H_CONSCLEARED, load<u32>(H_CONSPROD)); }

export const DOMID_SELF_VALUE: i32 = DOMID_SELF;
