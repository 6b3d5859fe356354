// idle: blocks waiting for events until it is shut down. It watches
// control/shutdown and honours `xm shutdown` / `xm reboot` as a PV guest
// does (unless its command line says `ignore_shutdown`), and runs the
// balloon driver: `xm mem-set` moves its reservation to memory/target and it
// prints `balloon: target T KiB, reservation R KiB`. A domain without a
// store ring just blocks. A blocked vCPU holds no thread, so thousands of
// these cost only memory.
import {
  xen_init, sched_block, cmdline_has, printk, xenbus_init, xenbus_wait_event, control_watch, control_take_shutdown,
  control_do_shutdown, CONTROL_SHUTDOWN_TOKEN, balloon_init, balloon_apply, BALLOON_TOKEN, xenbus_read_int,
} from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  // `ignore_shutdown` on the command line: a guest that never answers xm shutdown.
  if (cmdline_has("ignore_shutdown") || !xenbus_init() || control_watch() != 0) {
    while (true) sched_block();
  }
  const ballooning = !cmdline_has("no_balloon") && balloon_init() == 0;
  let first = true;
  while (true) {
    const ev = xenbus_wait_event();
    if (ev.token == CONTROL_SHUTDOWN_TOKEN) control_do_shutdown(control_take_shutdown());
    else if (ballooning && ev.token == BALLOON_TOKEN) {
      const pages = balloon_apply();
      // The watch fires once when set: stay quiet unless there was something to do.
      if (!first || xenbus_read_int("memory/target", 0) != <i64>pages << 2) {
        printk("balloon: target " + xenbus_read_int("memory/target", 0).toString() + " KiB, reservation " + (pages << 2).toString() + " KiB");
      }
      first = false;
    }
  }
}
