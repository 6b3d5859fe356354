// console-garble: a bad guest. Prints one line properly, then puts garbage in
// its console ring's producer index (far ahead of the consumer) and kicks
// dom0, then blocks. xenconsoled must drop this console and keep serving
// everyone else.
import { xen_init, printk, console_mfn, console_evtchn, evtchn_send, sched_block, XENCONS_OUT_CONS, XENCONS_OUT_PROD } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  printk("console-garble: about to garble the ring");
  const p = <usize>console_mfn() << 12;
  atomic.store<u32>(p + XENCONS_OUT_PROD, atomic.load<u32>(p + XENCONS_OUT_CONS) + 0x10000);
  evtchn_send(console_evtchn());
  while (true) sched_block();
}
