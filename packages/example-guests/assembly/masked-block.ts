// masked-block: SCHEDOP_block must re-enable event delivery, as Xen's does.
// With upcalls masked it arms its timer and waits, yielding, until the
// timer's event is pending (masked: not delivered). Then it blocks. The
// event that came while masked must end the block at once; a hypervisor
// that left the mask set would never wake it. Prints
// `masked-block: woken, mask 0, timer upcalls 1` and powers off.
import { xen_init, printk, poweroff } from "@xenwasm/guest-sdk/assembly/index";
import { sched_block, sched_yield } from "@xenwasm/guest-sdk/assembly/sched";
import { now_ns, set_timer, timer_port } from "@xenwasm/guest-sdk/assembly/time";
import { set_upcall_mask, upcall_mask, upcall_pending } from "@xenwasm/guest-sdk/assembly/shared_info";
import { evtchn_count } from "@xenwasm/guest-sdk/assembly/evtchn";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  const port = timer_port();
  if (port < 0) {
    printk("masked-block: no timer port");
    poweroff();
    return;
  }
  set_upcall_mask(0, true);
  set_timer(now_ns() + 1000000);
  while (!upcall_pending(0)) sched_yield();
  const before = evtchn_count(<u32>port);
  sched_block();
  printk("masked-block: woken, mask " + (upcall_mask(0) ? "1" : "0") + ", timer upcalls " + (evtchn_count(<u32>port) - before).toString());
  poweroff();
}
