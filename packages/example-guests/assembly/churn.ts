// churn: allocates and drops strings worth `mib=` MiB (default 64, many
// times its own memory), some of them held across a block (the vCPU unwinds
// and may resume on another thread), checks they survived intact, prints
// `churn: ok N MiB in R rounds`. Then it leaves the heap full of holes (every
// other string kept), takes heap_headroom() bytes in one allocation, prints
// `churn: headroom K KiB taken, memory grew by G pages` and powers off. A
// guest whose runtime never frees (AssemblyScript's stub) runs out of
// memory and crashes instead.
import { xen_init, printk, poweroff, cmdline_int } from "@xenwasm/guest-sdk/assembly/index";
import { sleep_ns } from "@xenwasm/guest-sdk/assembly/time";
import { heap_headroom } from "@xenwasm/guest-sdk/assembly/pages";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

/** Every other string of the last round, kept to leave holes in the heap. */
const kept = new Array<string>(0);

function fill(round: i32, i: i32): string {
  return "r" + round.toString() + "." + i.toString() + ":" + "x".repeat(1000);
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  const limit = <i64>cmdline_int("mib", 64) << 20;
  let bytes: i64 = 0;
  let round: i32 = 0;
  while (bytes < limit) {
    const held = new Array<string>(0);
    for (let i = 0; i < 64; i++) {
      const s = fill(round, i);
      bytes += <i64>s.length << 1;
      held.push(s);
    }
    // Every 16th round blocks with the strings live in a local.
    if ((round & 15) == 0) sleep_ns(1000);
    for (let i = 0; i < 64; i++) {
      if (held[i] != fill(round, i)) {
        printk("churn: round " + round.toString() + " string " + i.toString() + " damaged");
        unreachable();
      }
    }
    round++;
  }
  printk("churn: ok " + (bytes >> 20).toString() + " MiB in " + round.toString() + " rounds");
  for (let i = 0; i < 256; i++) {
    const s = fill(round, i);
    if (i & 1) kept.push(s);
  }
  __collect();
  const room = heap_headroom();
  const pages = memory.size();
  heap.alloc(room);
  printk("churn: headroom " + (room >> 10).toString() + " KiB taken, memory grew by " + (memory.size() - pages).toString() + " pages");
  poweroff();
}
