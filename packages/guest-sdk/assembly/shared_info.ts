// shared_info (pfn 1) accessors, 32-bit layout. The hypervisor writes these
// words from other threads: every access to the event words is atomic.
import { shared_info_addr } from "./start_info";

export const VCPU_INFO_SIZE: u32 = 64;
export const EVTCHN_PENDING_OFF: u32 = 2048;
export const EVTCHN_MASK_OFF: u32 = 2176;
export const WC_VERSION_OFF: u32 = 2304;
export const NR_EVENT_CHANNELS: u32 = 1024;

export function vcpu_info_addr(vcpu: u32): u32 { return shared_info_addr() + vcpu * VCPU_INFO_SIZE; }
export function upcall_pending(vcpu: u32): bool { return atomic.load<u8>(vcpu_info_addr(vcpu)) != 0; }
export function upcall_mask(vcpu: u32): bool { return atomic.load<u8>(vcpu_info_addr(vcpu) + 1) != 0; }
/** Masks (true) or unmasks event upcalls for a vCPU; returns the previous state. */
export function set_upcall_mask(vcpu: u32, masked: bool): bool {
  return atomic.xchg<u8>(vcpu_info_addr(vcpu) + 1, masked ? 1 : 0) != 0;
}
export function pending_word_addr(word: u32): u32 { return shared_info_addr() + EVTCHN_PENDING_OFF + word * 4; }
export function mask_word_addr(word: u32): u32 { return shared_info_addr() + EVTCHN_MASK_OFF + word * 4; }
export function evtchn_is_pending(port: u32): bool {
  return (atomic.load<u32>(pending_word_addr(port >> 5)) & (1 << (port & 31))) != 0;
}
export function evtchn_is_masked(port: u32): bool {
  return (atomic.load<u32>(mask_word_addr(port >> 5)) & (1 << (port & 31))) != 0;
}
/** Wall clock at system time 0: seconds and nanoseconds. */
export function wallclock_sec(): u32 { return atomic.load<u32>(shared_info_addr() + WC_VERSION_OFF + 4); }
export function wallclock_nsec(): u32 { return atomic.load<u32>(shared_info_addr() + WC_VERSION_OFF + 8); }
