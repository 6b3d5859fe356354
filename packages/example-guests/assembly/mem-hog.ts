// mem-hog: grows memory one wasm page (64 KiB) at a time until memory.grow
// fails (the builder turns it into increase_reservation), reports, powers off.
// With `fill` on its command line it writes every byte of each new page, so
// the host really backs all of it.
import { xen_init, printk, poweroff, cmdline_has } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  const before = memory.size();
  const fill = cmdline_has("fill");
  let got = 0;
  while (memory.grow(1) >= 0) {
    // Touch the new page so it is really there.
    const page = <usize>(memory.size() - 1) << 16;
    if (fill) memory.fill(page, 0x5a, 65536);
    store<u32>(page, 0x58454e21);
    got++;
  }
  printk("mem-hog: grew " + got.toString() + " pages from " + before.toString() +
    " to " + memory.size().toString() + " pages of 64 KiB");
  poweroff();
}
