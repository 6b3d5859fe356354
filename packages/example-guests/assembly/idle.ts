// idle: blocks waiting for events until it is shut down. It watches
// control/shutdown and honours `xm shutdown` / `xm reboot` as a PV guest
// does; a domain without a store ring just blocks. A blocked vCPU holds no
// thread, so thousands of these cost only memory.
import { xen_init, sched_block, xenbus_init, xenbus_wait_event, control_watch, control_take_shutdown, control_do_shutdown, CONTROL_SHUTDOWN_TOKEN } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  if (!xenbus_init() || control_watch() != 0) {
    while (true) sched_block();
  }
  while (true) {
    const ev = xenbus_wait_event();
    if (ev.token == CONTROL_SHUTDOWN_TOKEN) control_do_shutdown(control_take_shutdown());
  }
}
