// The PV ABI imports (docs/pv-abi.md) and the numbers guests pass through them.

/** Every hypercall but sched_op. Pointers are guest addresses; returns >= 0 or -errno. */
@external("xen", "hypercall")
export declare function hypercall(nr: i32, a1: i32, a2: i32, a3: i32, a4: i32, a5: i32): i32;

/** The one import that may suspend the guest (block, poll): call it only through direct calls. */
@external("xen", "sched_op")
export declare function sched_op(cmd: i32, arg: i32): i32;

/** System time in nanoseconds. */
@external("xen", "rdtsc")
export declare function rdtsc(): i64;

// Hypercall numbers (xen.h).
export const __HYPERVISOR_memory_op: i32 = 12;
export const __HYPERVISOR_set_timer_op: i32 = 15;
export const __HYPERVISOR_xen_version: i32 = 17;
export const __HYPERVISOR_console_io: i32 = 18;
export const __HYPERVISOR_grant_table_op: i32 = 20;
export const __HYPERVISOR_vcpu_op: i32 = 24;
export const __HYPERVISOR_event_channel_op: i32 = 32;

export const DOMID_SELF: u16 = 0x7ff0;

// errno values the SDK itself returns (Xen's, as negative numbers).
export const EINVAL: i32 = 22;
export const ENOSPC: i32 = 28;
export const ENOSYS: i32 = 38;

/** Page geometry. */
export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 4096;

/** Fixed addresses of the reserved low memory. */
export const SHARED_INFO_ADDR: u32 = 1 << 12;
export const START_INFO_ADDR: u32 = 2 << 12;
export const XENSTORE_RING_ADDR: u32 = 3 << 12;
export const CONSOLE_RING_ADDR: u32 = 4 << 12;
export const GRANT_TABLE_ADDR: u32 = 8 << 12;
