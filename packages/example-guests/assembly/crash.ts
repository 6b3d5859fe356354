// crash: prints, then traps (unreachable): the domain shows as crashed.
import { xen_init, printk } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  printk("crash: about to hit unreachable");
  unreachable();
}
