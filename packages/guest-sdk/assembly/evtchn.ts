// Event channels: the event_channel_op wrappers, and the upcall that scans
// Xen's two-level pending bitmaps and dispatches to registered handlers.
import { hypercall, __HYPERVISOR_event_channel_op, DOMID_SELF, EINVAL } from "./xen";
import {
  vcpu_info_addr, pending_word_addr, mask_word_addr, NR_EVENT_CHANNELS,
} from "./shared_info";

export const EVTCHNOP_bind_interdomain: i32 = 0;
export const EVTCHNOP_bind_virq: i32 = 1;
export const EVTCHNOP_close: i32 = 3;
export const EVTCHNOP_send: i32 = 4;
export const EVTCHNOP_status: i32 = 5;
export const EVTCHNOP_alloc_unbound: i32 = 6;
export const EVTCHNOP_bind_ipi: i32 = 7;
export const EVTCHNOP_unmask: i32 = 9;

export const VIRQ_TIMER: u32 = 0;
export const VIRQ_DEBUG: u32 = 1;
export const VIRQ_CONSOLE: u32 = 2;
export const VIRQ_DOM_EXC: u32 = 3;

// Argument structures are built here (24 bytes is the largest: evtchn_status).
const ARG: usize = memory.data(32, 8);

function op(cmd: i32): i32 {
  return hypercall(__HYPERVISOR_event_channel_op, cmd, <i32>ARG, 0, 0, 0);
}

/** A new unbound port of this domain that remote_dom may bind. Returns the port or -errno. */
export function evtchn_alloc_unbound(remote_dom: u16): i32 {
  store<u16>(ARG, DOMID_SELF);        // dom
  store<u16>(ARG, remote_dom, 2);     // remote_dom
  store<u32>(ARG, 0, 4);              // port (out)
  const r = op(EVTCHNOP_alloc_unbound);
  return r < 0 ? r : load<i32>(ARG, 4);
}

/** Binds to remote_dom's unbound port. Returns the local port or -errno. */
export function evtchn_bind_interdomain(remote_dom: u16, remote_port: u32): i32 {
  store<u16>(ARG, remote_dom);        // remote_dom
  store<u16>(ARG, 0, 2);
  store<u32>(ARG, remote_port, 4);    // remote_port
  store<u32>(ARG, 0, 8);              // local_port (out)
  const r = op(EVTCHNOP_bind_interdomain);
  return r < 0 ? r : load<i32>(ARG, 8);
}

/** Binds a virtual IRQ on a vCPU. Returns the port or -errno. */
export function evtchn_bind_virq(virq: u32, vcpu: u32 = 0): i32 {
  store<u32>(ARG, virq);
  store<u32>(ARG, vcpu, 4);
  store<u32>(ARG, 0, 8);
  const r = op(EVTCHNOP_bind_virq);
  return r < 0 ? r : load<i32>(ARG, 8);
}

/** An inter-processor port on a vCPU. Returns the port or -errno. */
export function evtchn_bind_ipi(vcpu: u32 = 0): i32 {
  store<u32>(ARG, vcpu);
  store<u32>(ARG, 0, 4);
  const r = op(EVTCHNOP_bind_ipi);
  return r < 0 ? r : load<i32>(ARG, 4);
}

export function evtchn_send(port: u32): i32 {
  store<u32>(ARG, port);
  return op(EVTCHNOP_send);
}

export function evtchn_close(port: u32): i32 {
  store<u32>(ARG, port);
  const r = op(EVTCHNOP_close);
  if (r == 0 && port < NR_EVENT_CHANNELS) unchecked(handlers[port] = 0);
  return r;
}

/** Clears the port's mask (through the hypervisor, which re-raises a pending event). */
export function evtchn_unmask(port: u32): i32 {
  store<u32>(ARG, port);
  return op(EVTCHNOP_unmask);
}

/** Sets the port's mask bit locally: no upcall for it until unmasked. */
export function evtchn_mask(port: u32): void {
  atomic.or<u32>(mask_word_addr(port >> 5), 1 << (port & 31));
}

/** EVTCHNSTAT_* of a port of dom (DOMID_SELF by default), or -errno. */
export function evtchn_status(port: u32, dom: u16 = DOMID_SELF): i32 {
  store<u16>(ARG, dom);
  store<u32>(ARG, port, 4);
  const r = op(EVTCHNOP_status);
  return r < 0 ? r : load<i32>(ARG, 8);
}

// Handlers are function-table indices: the upcall calls them indirectly, so a
// handler must not block (the builder only unwinds direct-call paths).
export type EvtchnHandler = (port: u32) => void;
const handlers = new StaticArray<usize>(NR_EVENT_CHANNELS);
const counts = new StaticArray<u32>(NR_EVENT_CHANNELS);

/** Registers fn for port (replacing any previous one). */
export function evtchn_bind_handler(port: u32, fn: EvtchnHandler): i32 {
  if (port >= NR_EVENT_CHANNELS) return -EINVAL;
  unchecked(handlers[port] = changetype<usize>(fn));
  return 0;
}

export function evtchn_unbind_handler(port: u32): void {
  if (port < NR_EVENT_CHANNELS) unchecked(handlers[port] = 0);
}

/**
 * How many events the upcall has taken off port so far, handler or not. A
 * guest waits without a handler: `const c = evtchn_count(p); ...;
 * while (evtchn_count(p) == c) sched_block();`
 */
export function evtchn_count(port: u32): u32 {
  return port < NR_EVENT_CHANNELS ? atomic.load<u32>(changetype<usize>(counts) + (<usize>port << 2)) : 0;
}

// Set while xen_upcall runs handlers: code that might block (printk on a full
// console ring) checks it and does not.
let inUpcall: bool = false;
/** True inside an event handler (where blocking is a crash). */
export function in_upcall(): bool { return inUpcall; }

function dispatch(port: u32): void {
  const p = changetype<usize>(counts) + (<usize>port << 2);
  atomic.store<u32>(p, atomic.load<u32>(p) + 1);
  const h = unchecked(handlers[port]);
  if (h != 0) changetype<EvtchnHandler>(h)(port);
}

/**
 * The `xen_upcall` export: re-export it from the guest's entry file
 * (`export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn"`).
 * Clears the upcall flag, then takes the selector, then each pending and
 * unmasked port's bit (always before its handler runs), and goes round again
 * if the hypervisor raised a new upcall meanwhile, so no event is lost.
 */
export function xen_upcall(): void {
  const vi = vcpu_info_addr(0);
  const was = inUpcall;
  inUpcall = true;
  do {
    atomic.store<u8>(vi, 0);
    let sel = atomic.xchg<u32>(vi + 4, 0);
    while (sel != 0) {
      const w = ctz(sel);
      sel &= sel - 1;
      const pend = pending_word_addr(w);
      let bits = atomic.load<u32>(pend) & ~atomic.load<u32>(mask_word_addr(w));
      while (bits != 0) {
        const b = ctz(bits);
        bits &= bits - 1;
        atomic.and<u32>(pend, ~(<u32>1 << b));
        dispatch((w << 5) + b);
      }
    }
  } while (atomic.load<u8>(vi) != 0);
  inUpcall = was;
}
