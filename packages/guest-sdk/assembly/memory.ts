// memory_op wrappers. Growing linear memory (memory.grow) is an
// increase_reservation: the builder rewrites memory.grow into one.
import { hypercall, __HYPERVISOR_memory_op, __HYPERVISOR_xen_version, DOMID_SELF } from "./xen";

export const XENMEM_increase_reservation: i32 = 0;
export const XENMEM_decrease_reservation: i32 = 1;
export const XENMEM_maximum_ram_page: i32 = 2;
export const XENMEM_current_reservation: i32 = 3;
export const XENMEM_maximum_reservation: i32 = 4;

const ARG: usize = memory.data(24, 8);

/** Pages (4 KiB) this domain holds, or -errno. */
export function current_reservation(): i32 {
  store<u16>(ARG, DOMID_SELF);
  return hypercall(__HYPERVISOR_memory_op, XENMEM_current_reservation, <i32>ARG, 0, 0, 0);
}

/** The domain's max_pages, or -errno. */
export function maximum_reservation(): i32 {
  store<u16>(ARG, DOMID_SELF);
  return hypercall(__HYPERVISOR_memory_op, XENMEM_maximum_reservation, <i32>ARG, 0, 0, 0);
}

function reservation(cmd: i32, extents: usize, nr: u32, order: u32): i32 {
  store<u32>(ARG, <u32>extents);  // extent_start
  store<u32>(ARG, nr, 4);         // nr_extents
  store<u32>(ARG, order, 8);      // extent_order
  store<u32>(ARG, 0, 12);         // address_bits
  store<u16>(ARG, DOMID_SELF, 16);
  return hypercall(__HYPERVISOR_memory_op, cmd, <i32>ARG, 0, 0, 0);
}

/** Asks for nr extents of 2^order pages (added at the top of memory); returns how many were granted or -errno. */
export function increase_reservation(nr: u32, order: u32 = 0): i32 {
  return reservation(XENMEM_increase_reservation, 0, nr, order);
}

/** Gives back the nr pages whose pfns are in the u32 array at pfns; returns how many were released or -errno. */
export function decrease_reservation(pfns: usize, nr: u32): i32 {
  return reservation(XENMEM_decrease_reservation, pfns, nr, 0);
}

/** (major << 16) | minor. */
export function xen_version(): i32 {
  return hypercall(__HYPERVISOR_xen_version, 0, 0, 0, 0, 0);
}
