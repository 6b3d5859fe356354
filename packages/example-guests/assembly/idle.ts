// idle: blocks waiting for events until it is shut down from outside. A
// blocked vCPU holds no thread, so thousands of these cost only memory.
import { xen_init, sched_block } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  while (true) sched_block();
}
