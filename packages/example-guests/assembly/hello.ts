// hello: prints its command line through the console, then powers off.
import { xen_init, printk, cmdline, poweroff } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  printk("Hello from XenWasm! cmdline: " + cmdline());
  poweroff();
}
