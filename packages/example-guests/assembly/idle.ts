// idle: blocks waiting for events until it is shut down. It watches
// control/shutdown and honours `xm shutdown` / `xm reboot` as a PV guest
// does (unless its command line says `ignore_shutdown`); a domain without
// a store ring just blocks. A blocked vCPU holds no
// thread, so thousands of these cost only memory.
import { xen_init, sched_block, cmdline_has, xenbus_init, xenbus_wait_event, control_watch, control_take_shutdown, control_do_shutdown, CONTROL_SHUTDOWN_TOKEN } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  // `ignore_shutdown` on the command line: a guest that never answers xm shutdown.
  if (cmdline_has("ignore_shutdown") || !xenbus_init() || control_watch() != 0) {
    while (true) sched_block();
  }
  while (true) {
    const ev = xenbus_wait_event();
    if (ev.token == CONTROL_SHUTDOWN_TOKEN) control_do_shutdown(control_take_shutdown());
  }
}
