// Guest memory layout and structure offsets of the PV ABI (docs/pv-abi.md).
// 32-bit Xen public-header layouts, little-endian.

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
export const WASM_PAGE = 65536;
export const XEN_PAGES_PER_WASM_PAGE = WASM_PAGE / PAGE_SIZE;

export const PFN_SHARED_INFO = 1;
export const PFN_START_INFO = 2;
export const PFN_XENSTORE = 3;
export const PFN_CONSOLE = 4;
export const PFN_GRANT_TABLE = 8;
export const GRANT_TABLE_MAX_FRAMES = 8;
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / 8;
export const RESERVED_BYTES = 131072;

export const SHARED_INFO = PFN_SHARED_INFO * PAGE_SIZE;
export const START_INFO = PFN_START_INFO * PAGE_SIZE;

// shared_info
export const VCPU_INFO_SIZE = 64;
export const VI_UPCALL_PENDING = 0; // u8
export const VI_UPCALL_MASK = 1; // u8
export const VI_PENDING_SEL = 4; // u32
export const VI_TIME = 32; // vcpu_time_info
export const SI_EVTCHN_PENDING = 2048;
export const SI_EVTCHN_MASK = 2176;
export const SI_WC_VERSION = 2304;
export const NR_EVENT_CHANNELS = 1024;

// start_info
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
export const START_INFO_MAGIC = 'xen-3.0-wasm32';
export const SIF_PRIVILEGED = 1;
export const SIF_INITDOMAIN = 2;

// grant_entry_v1 { u16 flags; u16 domid; u32 frame; }
export const GTF_invalid = 0;
export const GTF_permit_access = 1;
export const GTF_accept_transfer = 2;
export const GTF_type_mask = 3;
export const GTF_readonly = 1 << 2;
export const GTF_reading = 1 << 3;
export const GTF_writing = 1 << 4;
