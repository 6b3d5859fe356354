// The PV ABI's numbers as the builder and the guest runner need them
// (docs/pv-abi.md is the contract; keep the two in step).

export const XEN_PAGE_SHIFT = 12;
export const XEN_PAGE_SIZE = 1 << XEN_PAGE_SHIFT;
export const WASM_PAGE_SIZE = 65536;
export const XEN_PAGES_PER_WASM_PAGE = WASM_PAGE_SIZE / XEN_PAGE_SIZE;

/** Guest addresses of the reserved low memory (pfn << 12). */
export const SHARED_INFO_ADDR = 1 << XEN_PAGE_SHIFT;
export const START_INFO_ADDR = 2 << XEN_PAGE_SHIFT;
export const XENSTORE_RING_PFN = 3;
export const CONSOLE_RING_PFN = 4;
export const GRANT_TABLE_PFN = 8;
export const NR_GRANT_FRAMES = 8;
/** pfn 16..31: asyncify save area for blocked vCPUs. */
export const ASYNCIFY_AREA_START = 16 << XEN_PAGE_SHIFT;
export const ASYNCIFY_AREA_END = 32 << XEN_PAGE_SHIFT;
/** Guest data must start at or above this (asc --memoryBase 131072). */
export const GUEST_DATA_BASE = ASYNCIFY_AREA_END;

/** Imports (module `xen`). */
export const IMPORT_MODULE = 'xen';
export const IMPORT_HYPERCALL = 'hypercall';
export const IMPORT_SCHED_OP = 'sched_op';
export const IMPORT_RDTSC = 'rdtsc';
/** Builder-injected: the preemption check's way out to the scheduler. Returns the new fuel. */
export const IMPORT_PREEMPT = 'preempt';
export const IMPORT_MEMORY = 'memory';
/** Builder-injected: every memory.grow of the guest. (delta wasm pages) -> old size in pages, or -1. */
export const IMPORT_MEMORY_GROW = 'memory_grow';
/** The module HVM guests import from (WASI preview1): left alone by the rewriter, served by the device model. */
export const HVM_IMPORT_MODULE = 'wasi_snapshot_preview1';

/** Exports. */
export const EXPORT_START = 'xen_start';
export const EXPORT_UPCALL = 'xen_upcall';
export const EXPORT_MEMORY = 'memory';
export const EXPORT_INIT_MEMORY = '__xen_init_memory';
export const EXPORT_GLOBAL_PREFIX = '__xen_global_';

/** Hypercalls and sub-commands the runner or the injected code use. */
export const HYPERVISOR_memory_op = 12;
export const XENMEM_increase_reservation = 0;
export const HYPERVISOR_console_io = 18;
export const CONSOLEIO_write = 0;
export const HYPERVISOR_sched_op = 29;

export const SCHEDOP_yield = 0;
export const SCHEDOP_block = 1;
export const SCHEDOP_shutdown = 2;
export const SCHEDOP_poll = 3;

export const SHUTDOWN_poweroff = 0;
export const SHUTDOWN_reboot = 1;
export const SHUTDOWN_suspend = 2;
export const SHUTDOWN_crash = 3;

export const DOMID_SELF = 0x7ff0;

/** start_info layout (32-bit). */
export const START_INFO_MAGIC = 'xen-3.0-wasm32';
export const SI_MAGIC = 0;
export const SI_NR_PAGES = 32;
export const SI_SHARED_INFO = 36;
export const SI_FLAGS = 40;
export const SI_STORE_MFN = 44;
export const SI_STORE_EVTCHN = 48;
export const SI_CONSOLE_MFN = 52;
export const SI_CONSOLE_EVTCHN = 56;
export const SI_CMD_LINE = 80;
export const MAX_GUEST_CMDLINE = 1024;
export const SIF_PRIVILEGED = 1;
export const SIF_INITDOMAIN = 2;

/** shared_info layout (32-bit). */
export const VCPU_INFO_SIZE = 64;
export const VI_UPCALL_PENDING = 0;
export const VI_UPCALL_MASK = 1;
export const VI_PENDING_SEL = 4;
export const VI_TIME = 32;
export const SH_EVTCHN_PENDING = 2048;
export const SH_EVTCHN_MASK = 2176;
export const SH_WC_VERSION = 2304;
