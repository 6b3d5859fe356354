// Waiting on one event channel with a deadline: the evtchn_count pattern
// (no event is lost between the check and the block) plus the one-shot
// timer (VIRQ_TIMER), so a wait can time out.
import { evtchn_count } from "./evtchn";
import { sched_block } from "./sched";
import { now_ns, set_timer, timer_port } from "./time";

/**
 * Blocks until `port` has fired since its count was `seen`, or system time
 * reaches `deadline` (0: no deadline). True if the port fired.
 */
export function wait_port(port: u32, seen: u32, deadline: u64 = 0): bool {
  if (deadline != 0) {
    if (timer_port() < 0) return evtchn_count(port) != seen;
    set_timer(deadline);
  }
  while (evtchn_count(port) == seen) {
    if (deadline != 0 && now_ns() >= deadline) return false;
    sched_block();
    if (deadline != 0 && evtchn_count(port) == seen && now_ns() < deadline) set_timer(deadline);
  }
  return true;
}
