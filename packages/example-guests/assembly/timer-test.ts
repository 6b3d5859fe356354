// timer-test: set_timer_op as a guest sees it. `count=` times (default 50)
// it arms the one-shot timer `us=` microseconds ahead (default 2000) and
// blocks until VIRQ_TIMER itself has come, counting the events that came
// more than Xen's timer slop (50 us) before the deadline. Then it sleeps
// as many times with sleep_ns, which must return. Prints `timer-test: N
// timers of U us, E early, late by L us on average; N sleeps done` and
// powers off.
import { xen_init, printk, poweroff, cmdline_int } from "@xenwasm/guest-sdk/assembly/index";
import { now_ns, set_timer, sleep_ns, timer_port } from "@xenwasm/guest-sdk/assembly/time";
import { evtchn_count } from "@xenwasm/guest-sdk/assembly/evtchn";
import { sched_block } from "@xenwasm/guest-sdk/assembly/sched";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  const us = <u64>cmdline_int("us", 2000);
  const n = <i32>cmdline_int("count", 50);
  const port = timer_port();
  if (port < 0) { printk("timer-test: no VIRQ_TIMER: " + port.toString()); poweroff(); return; }
  let early = 0;
  let late: u64 = 0;
  for (let i = 0; i < n; i++) {
    const c = evtchn_count(<u32>port);
    const deadline = now_ns() + us * 1000;
    set_timer(deadline);
    while (evtchn_count(<u32>port) == c) sched_block();
    const t = now_ns();
    if (t + 50_000 < deadline) early++;
    else if (t > deadline) late += t - deadline;
  }
  for (let i = 0; i < n; i++) sleep_ns(us * 1000);
  printk("timer-test: " + n.toString() + " timers of " + us.toString() + " us, " + early.toString() + " early, late by " +
    (late / <u64>max(1, n - early) / 1000).toString() + " us on average; " + n.toString() + " sleeps done");
  poweroff();
}
