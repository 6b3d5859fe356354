// sched_op: the only import that may suspend the guest. Call these helpers
// directly (never through a function reference) on the path from xen_start.
import { sched_op } from "./xen";

export const SCHEDOP_yield: i32 = 0;
export const SCHEDOP_block: i32 = 1;
export const SCHEDOP_shutdown: i32 = 2;
export const SCHEDOP_poll: i32 = 3;

export const SHUTDOWN_poweroff: u32 = 0;
export const SHUTDOWN_reboot: u32 = 1;
export const SHUTDOWN_suspend: u32 = 2;
export const SHUTDOWN_crash: u32 = 3;

const ARG: usize = memory.data(24, 8);

export function sched_yield(): i32 { return sched_op(SCHEDOP_yield, 0); }

/** Blocks until an event is pending for this vCPU (returns at once if one is). */
export function sched_block(): i32 { return sched_op(SCHEDOP_block, 0); }

/** Blocks until one of nr ports (u32 array at ports) is pending or system time reaches timeout (0 = none). */
export function sched_poll(ports: usize, nr: u32, timeout: u64 = 0): i32 {
  store<u32>(ARG, <u32>ports);
  store<u32>(ARG, nr, 4);
  store<u64>(ARG, timeout, 8);
  return sched_op(SCHEDOP_poll, <i32>ARG);
}

/** Polls a single port. */
export function sched_poll_port(port: u32, timeout: u64 = 0): i32 {
  store<u32>(ARG, port, 16);
  return sched_poll(ARG + 16, 1, timeout);
}

export function sched_shutdown(reason: u32): i32 {
  store<u32>(ARG, reason);
  return sched_op(SCHEDOP_shutdown, <i32>ARG);
}

export function poweroff(): i32 { return sched_shutdown(SHUTDOWN_poweroff); }
export function reboot(): i32 { return sched_shutdown(SHUTDOWN_reboot); }
export function crash(): i32 { return sched_shutdown(SHUTDOWN_crash); }

/** Blocks forever (until the domain is shut down or destroyed from outside). */
export function block_forever(): void {
  while (true) sched_block();
}
