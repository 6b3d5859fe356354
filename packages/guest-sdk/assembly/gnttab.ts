// Grant table v1: the guest writes entries (8 bytes: u16 flags, u16 domid,
// u32 frame) in its own frames at pfn 8..15; the hypervisor sets the
// reading/writing bits while another domain maps the page.
import { hypercall, __HYPERVISOR_grant_table_op, DOMID_SELF, ENOSPC, EINVAL, GRANT_TABLE_ADDR } from "./xen";

export const GNTTABOP_map_grant_ref: i32 = 0;
export const GNTTABOP_unmap_grant_ref: i32 = 1;
export const GNTTABOP_setup_table: i32 = 2;
export const GNTTABOP_query_size: i32 = 6;

export const GTF_invalid: u16 = 0;
export const GTF_permit_access: u16 = 1;
export const GTF_readonly: u16 = 1 << 2;
export const GTF_reading: u16 = 1 << 3;
export const GTF_writing: u16 = 1 << 4;

export const NR_GRANT_FRAMES: u32 = 8;
export const GRANT_ENTRIES_PER_FRAME: u32 = 512;
export const NR_GRANT_ENTRIES: u32 = NR_GRANT_FRAMES * GRANT_ENTRIES_PER_FRAME;
/** Refs below this are left to the toolstack (console, xenstore), as Linux does. */
export const NR_RESERVED_GRANTS: u32 = 8;

const ARG: usize = memory.data(48, 8);
const used = new StaticArray<u8>(NR_GRANT_ENTRIES);

function entry(ref: u32): usize { return <usize>GRANT_TABLE_ADDR + (<usize>ref << 3); }

/** GNTTABOP_setup_table for nr_frames frames of this domain; returns the GNTST status (0 okay) or -errno. */
export function gnttab_setup_table(nr_frames: u32 = NR_GRANT_FRAMES): i32 {
  const frames = ARG + 16;
  store<u16>(ARG, DOMID_SELF);      // dom
  store<u32>(ARG, nr_frames, 4);    // nr_frames
  store<i16>(ARG, 0, 8);            // status (out)
  store<u32>(ARG, <u32>frames, 12); // frame_list
  if (nr_frames > 8) return -EINVAL; // frame list scratch holds 8
  const r = hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_setup_table, <i32>ARG, 1, 0, 0);
  return r < 0 ? r : <i32>load<i16>(ARG, 8);
}

let framesSet: u32 = 0;
/** Makes sure the table has at least nr frames (setup_table once per growth); the GNTST status or -errno. */
export function gnttab_ensure_frames(nr: u32): i32 {
  if (nr <= framesSet) return 0;
  const r = gnttab_setup_table(nr);
  if (r == 0) framesSet = nr;
  return r;
}

// Lowest ref that may be free: drivers grant hundreds of pages at setup.
let freeHint: u32 = NR_RESERVED_GRANTS;

/** Grants domid access to frame pfn. Returns the grant reference or -ENOSPC. */
export function gnttab_grant_access(domid: u16, pfn: u32, readonly: bool): i32 {
  for (let ref = freeHint; ref < NR_GRANT_ENTRIES; ref++) {
    if (unchecked(used[ref]) != 0) continue;
    if (atomic.load<u16>(entry(ref)) != 0) continue;
    unchecked(used[ref] = 1);
    freeHint = ref + 1;
    gnttab_set_entry(ref, domid, pfn, readonly);
    return <i32>ref;
  }
  return -ENOSPC;
}

/** Fills entry ref (frame and domid first, flags last, so a reader never sees a half entry). */
export function gnttab_set_entry(ref: u32, domid: u16, pfn: u32, readonly: bool): void {
  const e = entry(ref);
  store<u32>(e, pfn, 4);
  store<u16>(e, domid, 2);
  atomic.store<u16>(e, GTF_permit_access | (readonly ? GTF_readonly : 0));
}

/** Revokes ref unless the grantee still maps it (then returns false and keeps it). */
export function gnttab_end_access(ref: u32): bool {
  if (ref >= NR_GRANT_ENTRIES) return false;
  const e = entry(ref);
  let flags = atomic.load<u16>(e);
  while (true) {
    if ((flags & (GTF_reading | GTF_writing)) != 0) return false;
    const seen = atomic.cmpxchg<u16>(e, flags, 0);
    if (seen == flags) break;
    flags = seen;
  }
  unchecked(used[ref] = 0);
  if (ref < freeHint && ref >= NR_RESERVED_GRANTS) freeHint = ref;
  return true;
}

/** Flags of entry ref as the hypervisor left them. */
export function gnttab_flags(ref: u32): u16 { return atomic.load<u16>(entry(ref)); }
