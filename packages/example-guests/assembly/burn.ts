// burn: spins forever doing integer work (scheduler tests and benchmarks).
import { xen_init } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

// The result lands in memory so the work cannot be optimised away.
const SINK: usize = memory.data(8, 8);

function round(x: u32): u32 {
  for (let i = 0; i < 4096; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
  }
  return x;
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  let x: u32 = 2463534242;
  while (true) {
    x = round(x);
    store<u32>(SINK, x);
  }
}
