// grant-offer: grants one page of its memory to the domain given as
// `domid=D` (`ro=1` for readonly), fills it with a known pattern (byte i of
// the page is (i & 0xff) ^ 0xa5), prints `gref=<n> pfn=<p>`, then blocks.
import {
  xen_init, printk, cmdline_int, gnttab_setup_table, gnttab_grant_access, sched_block,
} from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

const PAGE: usize = memory.data(4096, 4096);

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  const domid = <u16>cmdline_int("domid", 0);
  const ro = cmdline_int("ro", 0) != 0;
  for (let i: usize = 0; i < 4096; i++) store<u8>(PAGE + i, <u8>((i & 0xff) ^ 0xa5));
  const st = gnttab_setup_table(1);
  if (st != 0) printk("grant-offer: setup_table returned " + st.toString() + ", using pfn 8 anyway");
  const pfn = <u32>(PAGE >> 12);
  const gref = gnttab_grant_access(domid, pfn, ro);
  if (gref < 0) {
    printk("grant-offer: no free grant entry (" + gref.toString() + ")");
    return;
  }
  printk("gref=" + gref.toString() + " pfn=" + pfn.toString() + " domid=" + domid.toString() + " ro=" + (ro ? "1" : "0"));
  while (true) sched_block();
}
