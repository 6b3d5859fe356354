// net-bench: guest-to-guest frame throughput over the bridge.
//   role=sink                      counts frames of ethertype 0x88b5; once frames stop for
//                                  200 ms prints `net-bench: rx frames=N bytes=B ns=T`
//                                  (first to last frame) and waits for more
//   role=source dst=MAC count=N size=S   sends N frames of S bytes (default 1514) to dst as
//                                  fast as its tx pages come back, then prints `net-bench: tx frames=N`
import { xen_init, printk, cmdline_get, cmdline_int, xenbus_init, block_forever, rdtsc, now_ns } from "@xenwasm/guest-sdk/assembly/index";
import { netfront_open, Netfront, parse_mac } from "@xenwasm/guest-sdk/assembly/netfront";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

let frames: u64 = 0;
let bytes: u64 = 0;
let first: i64 = 0;
let last: i64 = 0;

function on_frame(p: usize, len: u32): void {
  if (len < 14 || load<u16>(p + 12) != 0xb588) return;
  const t = rdtsc();
  if (frames == 0) first = t;
  last = t;
  frames++;
  bytes += len;
}

function sink(n: Netfront): void {
  printk("net-bench: sink ready on " + n.macString);
  while (true) {
    const c = n.events();
    n.poll(on_frame);
    if (frames > 0 && <i64>now_ns() - last > 200_000_000) {
      printk("net-bench: rx frames=" + frames.toString() + " bytes=" + bytes.toString() + " ns=" + (last - first).toString());
      frames = 0;
      bytes = 0;
      continue;
    }
    n.wait(c, frames > 0 ? <u64>last + 210_000_000 : 0);
  }
}

function source(n: Netfront): void {
  const dst = new StaticArray<u8>(6);
  const d = cmdline_get("dst");
  if (d === null || !parse_mac(d, dst)) { printk("net-bench: source needs dst=MAC"); return; }
  const count = <u32>cmdline_int("count", 100000);
  const size = <u32>min<i64>(4096, max<i64>(60, cmdline_int("size", 1514)));
  let sent: u32 = 0;
  while (sent < count) {
    const c = n.events();
    let id = n.tx_buffer();
    if (id < 0) {
      n.push_tx();
      n.poll(on_frame);
      id = n.tx_buffer();
      if (id < 0) { n.wait(c, now_ns() + 10_000_000); continue; }
    }
    const f = n.tx_addr(id);
    memory.copy(f, changetype<usize>(dst), 6);
    memory.copy(f + 6, changetype<usize>(n.mac), 6);
    store<u16>(f + 12, 0xb588);
    store<u32>(f + 14, sent);
    n.queue_buffer(id, size);
    sent++;
    if ((sent & 15) == 0) n.push_tx();
  }
  n.push_tx();
  printk("net-bench: tx frames=" + sent.toString());
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  if (!xenbus_init()) { printk("net-bench: no xenstore ring"); return; }
  const n = netfront_open(0);
  if (!n.connected) { printk("net-bench: cannot open vif: " + n.error); return; }
  const role = cmdline_get("role");
  if (role == "sink") sink(n);
  else if (role == "source") source(n);
  else printk("net-bench: role=sink|source");
  block_forever();
}
