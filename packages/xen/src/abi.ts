// The PV ABI as the host uses it. The numbers are the domain builder's
// (packages/domain-builder/src/abi.ts, the one module for docs/pv-abi.md);
// here they get the host's shorter names, plus grant entry flags.
import * as B from '@xenwasm/domain-builder/abi';

export const PAGE_SIZE = B.XEN_PAGE_SIZE;
export const PAGE_SHIFT = B.XEN_PAGE_SHIFT;
export const WASM_PAGE = B.WASM_PAGE_SIZE;
/** A guest's memory is one wasm32 memory: at most 65536 pages of 64 KiB. */
export const MAX_GUEST_MB = (65536 * B.WASM_PAGE_SIZE) / (1024 * 1024);
export const XEN_PAGES_PER_WASM_PAGE = B.XEN_PAGES_PER_WASM_PAGE;

export const PFN_XENSTORE = B.XENSTORE_RING_PFN;
export const PFN_CONSOLE = B.CONSOLE_RING_PFN;
export const PFN_GRANT_TABLE = B.GRANT_TABLE_PFN;
export const GRANT_TABLE_MAX_FRAMES = B.NR_GRANT_FRAMES;
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / 8;
export const RESERVED_BYTES = B.GUEST_DATA_BASE;

export const SHARED_INFO = B.SHARED_INFO_ADDR;
export const START_INFO = B.START_INFO_ADDR;

export const VCPU_INFO_SIZE = B.VCPU_INFO_SIZE;
export const VI_PENDING_SEL = B.VI_PENDING_SEL;
export const SI_EVTCHN_PENDING = B.SH_EVTCHN_PENDING;
export const SI_EVTCHN_MASK = B.SH_EVTCHN_MASK;
export const NR_EVENT_CHANNELS = 1024; // 32-bit guests: sizeof(long)^2 * 64

// grant_entry_v1 { u16 flags; u16 domid; u32 frame; } (grant_table.h)
export const GTF_invalid = 0;
export const GTF_permit_access = 1;
export const GTF_accept_transfer = 2;
export const GTF_type_mask = 3;
export const GTF_readonly = 1 << 2;
export const GTF_reading = 1 << 3;
export const GTF_writing = 1 << 4;
