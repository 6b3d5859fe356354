// console-echo: reads lines typed on its console (xm console) and echoes
// them back as `echo: <line>`; `quit` powers it off. It also honours
// control/shutdown between lines only through xm destroy (it does not watch).
import { xen_init, printk, console_read_line, poweroff } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  printk("console-echo: ready");
  while (true) {
    const line = console_read_line();
    if (line == "quit") {
      printk("console-echo: bye");
      poweroff();
    }
    printk("echo: " + line);
  }
}
