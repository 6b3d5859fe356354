// Xen's two-level event delivery, written into a domain's shared_info page.
// Any thread may deliver to any domain, so every word is touched with Atomics:
// the guest clears these bits from its own thread at the same time.
import {
  NR_EVENT_CHANNELS,
  SHARED_INFO,
  SI_EVTCHN_MASK,
  SI_EVTCHN_PENDING,
  VCPU_INFO_SIZE,
  VI_PENDING_SEL,
} from './abi.js';

// Guests have the 32-bit layout (1024 ports). Domain-0 is the host itself and
// has 4096 ports (as a 64-bit dom0 does), so its bitmaps are laid out wider in
// its own buffer; `nr` tells which.
const PENDING_W = (SHARED_INFO + SI_EVTCHN_PENDING) >> 2;
const MASK_W = (SHARED_INFO + SI_EVTCHN_MASK) >> 2;
export const DOM0_PORTS = 4096;
const DOM0_PENDING_W = 8192 >> 2;
const DOM0_MASK_W = 12288 >> 2;
export const DOM0_SHARED_BYTES = 16384;
const pendingW = (mem: Int32Array) => (mem.length === DOM0_SHARED_BYTES >> 2 ? DOM0_PENDING_W : PENDING_W);
const maskW = (mem: Int32Array) => (mem.length === DOM0_SHARED_BYTES >> 2 ? DOM0_MASK_W : MASK_W);
const nrPorts = (mem: Int32Array) => (mem.length === DOM0_SHARED_BYTES >> 2 ? DOM0_PORTS : NR_EVENT_CHANNELS);
const vcpuWord = (vcpu: number) => (SHARED_INFO + vcpu * VCPU_INFO_SIZE) >> 2; // bytes 0..3: pending, mask, pad, pad
const selWord = (vcpu: number) => (SHARED_INFO + vcpu * VCPU_INFO_SIZE + VI_PENDING_SEL) >> 2;

/**
 * Mark `port` pending. Returns true when the vCPU needs an upcall: the bit was
 * newly set and the port is not masked (Xen's evtchn_set_pending).
 */
export function setPending(mem: Int32Array, port: number, vcpu: number): boolean {
  if (port <= 0 || port >= nrPorts(mem)) return false;
  const w = port >>> 5;
  const bit = 1 << (port & 31);
  const old = Atomics.or(mem, pendingW(mem) + w, bit);
  if (old & bit) return false;
  if (Atomics.load(mem, maskW(mem) + w) & bit) return false;
  Atomics.or(mem, selWord(vcpu), 1 << (w & 31));
  const prev = Atomics.or(mem, vcpuWord(vcpu), 1);
  void prev;
  return true;
}

/** Unmask `port`; if it is pending, raise the upcall as Xen's evtchn_unmask does. */
export function unmask(mem: Int32Array, port: number, vcpu: number): boolean {
  if (port <= 0 || port >= nrPorts(mem)) return false;
  const w = port >>> 5;
  const bit = 1 << (port & 31);
  Atomics.and(mem, maskW(mem) + w, ~bit);
  if (!(Atomics.load(mem, pendingW(mem) + w) & bit)) return false;
  Atomics.or(mem, selWord(vcpu), 1 << (w & 31));
  Atomics.or(mem, vcpuWord(vcpu), 1);
  return true;
}

export function isPending(mem: Int32Array, port: number): boolean {
  if (port <= 0 || port >= nrPorts(mem)) return false;
  return (Atomics.load(mem, pendingW(mem) + (port >>> 5)) & (1 << (port & 31))) !== 0;
}

export function clearPending(mem: Int32Array, port: number): void {
  Atomics.and(mem, pendingW(mem) + (port >>> 5), ~(1 << (port & 31)));
}

/** evtchn_upcall_pending set and evtchn_upcall_mask clear. */
export function upcallDue(mem: Int32Array, vcpu: number): boolean {
  const v = Atomics.load(mem, vcpuWord(vcpu));
  return (v & 0xff) !== 0 && ((v >>> 8) & 0xff) === 0;
}

export function setUpcallMask(mem: Int32Array, vcpu: number, masked: boolean): void {
  if (masked) Atomics.or(mem, vcpuWord(vcpu), 0x100);
  else Atomics.and(mem, vcpuWord(vcpu), ~0xff00);
}

export function upcallMasked(mem: Int32Array, vcpu: number): boolean {
  return ((Atomics.load(mem, vcpuWord(vcpu)) >>> 8) & 0xff) !== 0;
}

/** Ports with their pending bit set (dom0's device layer scans this). */
export function takePending(mem: Int32Array, ports: Iterable<number>): number[] {
  const out: number[] = [];
  for (const p of ports) {
    const w = pendingW(mem) + (p >>> 5);
    const bit = 1 << (p & 31);
    if (Atomics.and(mem, w, ~bit) & bit) out.push(p);
  }
  return out;
}
