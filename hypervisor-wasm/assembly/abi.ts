// Numbers from Xen's public headers and sched_credit.c that the core works with.
// Errnos are returned negated, as hypercalls do.

export const EPERM: i32 = 1;
export const ENOENT: i32 = 2;
export const ESRCH: i32 = 3;
export const ENOMEM: i32 = 12;
export const EBUSY: i32 = 16;
export const EEXIST: i32 = 17;
export const EINVAL: i32 = 22;
export const ENOSPC: i32 = 28;

export const DOMID_SELF: i32 = 0x7ff0;
export const DOMID_FIRST_RESERVED: i32 = 0x7ff0;

// EVTCHNSTAT_* (what evtchn status reports) doubles as the port state;
// RESERVED is internal: port 0 of every domain, never handed out.
export const ECS_FREE: i32 = 0;
export const ECS_UNBOUND: i32 = 1;
export const ECS_INTERDOMAIN: i32 = 2;
export const ECS_PIRQ: i32 = 3;
export const ECS_VIRQ: i32 = 4;
export const ECS_IPI: i32 = 5;
export const ECS_RESERVED: i32 = 6;

export const NR_VIRQS: i32 = 24;
export const VIRQ_TIMER: i32 = 0;
export const VIRQ_DEBUG: i32 = 1;
export const VIRQ_DOM_EXC: i32 = 3;
export const VIRQ_XENOPROF: i32 = 7;

export const SHUTDOWN_CRASH: i32 = 3;

// Grant tables: v1 entries are 8 bytes, 512 per 4 KiB frame.
export const GRANT_ENTRIES_PER_FRAME: i32 = 512;
export const MAX_GRANT_FRAMES: i32 = 8;
export const INITIAL_GRANT_FRAMES: i32 = 1;

// Credit scheduler, with credit kept in nanoseconds: 100 credits = one 10 ms
// tick, so 1 credit = 100 us and the 300-credit slice is 30 ms.
export const TICK_NS: i64 = 10_000_000;
export const SLICE_NS: i64 = 30_000_000;
export const ACCT_NS: i64 = 30_000_000;
export const PRI_BOOST: i32 = 0;
export const PRI_UNDER: i32 = -1;
export const PRI_OVER: i32 = -2;
export const DEFAULT_WEIGHT: i32 = 256;

// vcpuCheck verdicts.
export const V_RUN: i32 = 0;
export const V_PARK: i32 = 1;
export const V_DEAD: i32 = 2;
