// Time: rdtsc gives system time in ns; set_timer_op fires VIRQ_TIMER at an
// absolute system time.
import { hypercall, rdtsc, __HYPERVISOR_set_timer_op } from "./xen";
import { evtchn_bind_virq, VIRQ_TIMER } from "./evtchn";
import { sched_block, sched_yield } from "./sched";

/** System time in nanoseconds. */
export function now_ns(): u64 { return <u64>rdtsc(); }

/** Arms the one-shot timer for absolute system time deadline (0 cancels). */
export function set_timer(deadline: u64): i32 {
  return hypercall(__HYPERVISOR_set_timer_op, <i32>(deadline & 0xffffffff), <i32>(deadline >> 32), 0, 0, 0);
}

let timerPort: i32 = -1;

/** VIRQ_TIMER's port, bound on first use (-errno if binding failed). */
export function timer_port(): i32 {
  if (timerPort < 0) timerPort = evtchn_bind_virq(VIRQ_TIMER, 0);
  return timerPort;
}

/** Sleeps ns nanoseconds, blocking (holding no thread) when the timer works, yielding otherwise. */
export function sleep_ns(ns: u64): void {
  const deadline = now_ns() + ns;
  const port = timer_port();
  if (port < 0 || set_timer(deadline) < 0) {
    while (now_ns() < deadline) sched_yield();
    return;
  }
  while (now_ns() < deadline) {
    sched_block();
    // Any event wakes us, and a timer armed by someone else may have gone
    // off: whatever woke us, if time is left, the timer is armed again
    // (a one-shot timer that already fired would otherwise leave us
    // blocked for good).
    if (now_ns() < deadline) set_timer(deadline);
  }
}

export function sleep_ms(ms: u32): void { sleep_ns(<u64>ms * 1000000); }
