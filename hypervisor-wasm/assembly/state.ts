// Where every piece of mutable state lives in the shared memory.
//
// AssemblyScript globals are per instance (each thread has its own), so the
// core keeps nothing in globals: a fixed header at HDR (below --memoryBase)
// holds the configuration and the addresses of the tables, which boot()
// lays out above the module's static data. See README.md for the map.

// ---- host imports (module "core") ----
// @ts-ignore: decorator
@external("core", "now")
export declare function hostNow(): i64;
// @ts-ignore: decorator
@external("core", "setPending")
export declare function hostSetPending(domid: i32, port: i32, vcpu: i32): i32;
// @ts-ignore: decorator
@external("core", "kick")
export declare function hostKick(domid: i32, vcpu: i32, pcpu: i32): void;
// @ts-ignore: decorator
@external("core", "unmask")
export declare function hostUnmask(domid: i32, port: i32, vcpu: i32): i32;
// Atomics.wait in JS: memory.atomic.wait is miscompiled by Liftoff on V8 11.3.
// @ts-ignore: decorator
@external("core", "wait")
export declare function hostWait(addr: usize, expected: i32): void;

// ---- header ----
export const HDR: usize = 64;
export const MAGIC: u32 = 0x58574331; // "XWC1"
export const H_MAGIC: usize = HDR + 0;
export const H_LOCK: usize = HDR + 4;
export const H_LOCKOWNER: usize = HDR + 8;
export const H_ATTACH: usize = HDR + 12;
export const H_NRCPUS: usize = HDR + 16;
export const H_TOTAL: usize = HDR + 20;
export const H_FREE: usize = HDR + 24;
export const H_MAXDOM: usize = HDR + 28;
export const H_MAXVCPU: usize = HDR + 32;
export const H_DOMBASE: usize = HDR + 36;
export const H_VCPUBASE: usize = HDR + 40;
export const H_PCPUBASE: usize = HDR + 44;
export const H_POOLBASE: usize = HDR + 48;
export const H_POOLCOUNT: usize = HDR + 52;
export const H_POOLFREE: usize = HDR + 56;
export const H_POOLAVAIL: usize = HDR + 60;
export const H_MTBASE: usize = HDR + 64;
export const H_MTCOUNT: usize = HDR + 68;
export const H_MTFREE: usize = HDR + 72;
export const H_MTPERDOM: usize = HDR + 76;
export const H_CONSBASE: usize = HDR + 80;
export const H_CONSSIZE: usize = HDR + 84;
export const H_CONSPROD: usize = HDR + 88;
export const H_CONSCLEARED: usize = HDR + 92;
export const H_SCRATCH: usize = HDR + 96;
export const H_SCRATCHSIZE: usize = HDR + 100;
export const H_ROVER: usize = HDR + 104;
export const H_LIVEHEAD: usize = HDR + 108;
export const H_RQHEAD: usize = HDR + 112; // 3 x i32: BOOST, UNDER, OVER
export const H_RQTAIL: usize = HDR + 124; // 3 x i32
export const H_DOM0PORTS: usize = HDR + 136;
export const H_PORTS: usize = HDR + 140;
export const H_END: usize = HDR + 144;
export const H_LASTACCT: usize = HDR + 152; // i64
export const H_LASTTICK: usize = HDR + 160; // i64
export const H_TICKS: usize = HDR + 168;
export const H_QUEUED: usize = HDR + 172;
export const HDR_END: usize = HDR + 256;

// ---- domain record ----
export const D_SIZE: usize = 256;
export const D_INUSE: usize = 0; // u8
export const D_DYING: usize = 1; // u8
export const D_HVM: usize = 2; // u8
export const D_SHUTDOWN: usize = 3; // u8
export const D_REASON: usize = 4; // u8
export const D_PRIV: usize = 5; // u8
export const D_PAUSE: usize = 8;
export const D_SSIDREF: usize = 12;
export const D_HANDLE: usize = 16; // 16 bytes
export const D_TOT: usize = 32;
export const D_MAX: usize = 36;
export const D_NRVCPUS: usize = 40;
export const D_WEIGHT: usize = 44;
export const D_CAP: usize = 48;
export const D_NRPORTS: usize = 52;
export const D_GFRAMES: usize = 56;
export const D_MTCOUNT: usize = 60; // maptrack entries held as grantee
export const D_FOREIGN: usize = 64; // maptrack entries (anyone's) naming this domain as granter
export const D_NEXT: usize = 68; // live list
export const D_PREV: usize = 72;
export const D_ACTIVE: usize = 76; // scratch of the accounting pass
export const D_BUCKETS: usize = 80; // 16 x u32 pool block index + 1
export const D_GBLOCKS: usize = 144; // 8 x u32 pool block index + 1
export const MAX_BUCKETS: i32 = 16;

// ---- vCPU record ----
export const VC_SIZE: usize = 128;
export const VC_EXISTS: usize = 0; // u8
export const VC_ONLINE: usize = 1; // u8
export const VC_BLOCKED: usize = 2; // u8
export const VC_PARKED: usize = 3; // u8 (cap)
export const VC_PCPU: usize = 4; // i32, -1 = holds none
export const VC_PRI: usize = 8;
export const VC_QLIST: usize = 12; // -1 = not queued
export const VC_QNEXT: usize = 16;
export const VC_QPREV: usize = 20;
export const VC_CREDIT: usize = 24; // i64 ns
export const VC_CPUTIME: usize = 32; // i64 ns
export const VC_LAST: usize = 40; // i64: charged up to this instant
export const VC_PERIOD: usize = 48; // i64 ns run in this accounting period
export const VC_LASTPCPU: usize = 56;
export const VC_VIRQ: usize = 64; // 24 x u16 port

// ---- pCPU record ----
export const P_SIZE: usize = 32;
export const P_CUR: usize = 0; // gid of the vCPU holding it, -1 idle
export const P_PREEMPT: usize = 4;
export const P_SLICE: usize = 8; // i64 slice start

// ---- pool of 2 KiB blocks (event-channel buckets, grant pin tables) ----
export const BLOCK_SIZE: usize = 2048;
export const PORTS_PER_BUCKET: i32 = 256; // 8-byte port entries
export const PORT_SIZE: usize = 8;

// ---- maptrack entry ----
export const MT_SIZE: usize = 16;

// ---- console ring ----
export const CONS_SIZE: u32 = 65536;

// ---- accessors ----
// @ts-ignore: decorator
@inline export function hget(off: usize): i32 { return load<i32>(off); }
// @ts-ignore: decorator
@inline export function hset(off: usize, v: i32): void { store<i32>(off, v); }

export function maxDomains(): i32 { return load<i32>(H_MAXDOM); }
export function maxVcpus(): i32 { return load<i32>(H_MAXVCPU); }
export function nrCpus(): i32 { return load<i32>(H_NRCPUS); }

export function domAddr(d: i32): usize { return <usize>load<u32>(H_DOMBASE) + <usize>d * D_SIZE; }
export function gidOf(d: i32, v: i32): i32 { return d * maxVcpus() + v; }
export function vcpuAddr(gid: i32): usize { return <usize>load<u32>(H_VCPUBASE) + <usize>gid * VC_SIZE; }
export function pcpuAddr(p: i32): usize { return <usize>load<u32>(H_PCPUBASE) + <usize>p * P_SIZE; }
export function blockAddr(i: i32): usize { return <usize>load<u32>(H_POOLBASE) + <usize>i * BLOCK_SIZE; }
export function mtAddr(i: i32): usize { return <usize>load<u32>(H_MTBASE) + <usize>i * MT_SIZE; }

/** A live (created, not yet released) domain, or 0. */
export function liveDom(d: i32): usize {
  if (d < 0 || d >= maxDomains()) return 0;
  const a = domAddr(d);
  return load<u8>(a + D_INUSE) != 0 ? a : 0;
}

/** Take a zeroed block from the pool; -1 when empty. */
export function blockAlloc(): i32 {
  const i = load<i32>(H_POOLFREE);
  if (i < 0) return -1;
  const a = blockAddr(i);
  store<i32>(H_POOLFREE, load<i32>(a));
  store<i32>(H_POOLAVAIL, load<i32>(H_POOLAVAIL) - 1);
  memory.fill(a, 0, BLOCK_SIZE);
  return i;
}

export function blockFree(i: i32): void {
  store<i32>(blockAddr(i), load<i32>(H_POOLFREE));
  store<i32>(H_POOLFREE, i);
  store<i32>(H_POOLAVAIL, load<i32>(H_POOLAVAIL) + 1);
}
