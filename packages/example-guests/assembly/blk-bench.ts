// blk-bench: PV block throughput and latency on xvda, timed with rdtsc.
//   mode=seqwrite | seqread   the whole disk, requests of segs pages (segs=N, default 11 =
//                             44 KiB; more through indirect segments, e.g. segs=256 = 1 MiB)
//                             with every slot kept busy; data in the granted pages
//   warmup=MiB                that much first, untimed (seqwrite/seqread)
//   mode=randread count=N     N 4 KiB reads at random 4 KiB-aligned offsets, ring kept full
//   mode=nop count=N          N requests of an unknown op, one at a time: the backend answers
//                             EOPNOTSUPP at once, so this is the guest <-> dom0 backend round trip
// Prints `blk-bench: mode=M bytes=B ops=N ns=T` (and `p50_ns=X` for nop), then powers off.
import { xen_init, printk, cmdline_get, cmdline_int, xenbus_init, poweroff, rdtsc } from "@xenwasm/guest-sdk/assembly/index";
import { blkfront_open, Blkfront, BLKIF_OP_READ, BLKIF_OP_WRITE } from "@xenwasm/guest-sdk/assembly/blkfront";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

let seed: u64 = 0x9e3779b97f4a7c15;
function rnd(): u64 {
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return seed;
}

function stream(b: Blkfront, op: u8, limit: u64 = 0): u64 {
  const total = limit > 0 ? min<u64>(limit, b.sectors << 9) : b.sectors << 9;
  let off: u64 = 0;
  let ops: u64 = 0;
  while (off < total) {
    const n = <u32>min<u64>(b.max_request, total - off);
    const s = b.queue(op, off >> 9, 0, n);
    if (s == -1) { b.push(); b.wait(); continue; }
    if (s < 0) { printk("blk-bench: queue failed " + s.toString()); return ops; }
    off += n;
    ops++;
  }
  b.push();
  b.drain();
  return ops;
}

function randread(b: Blkfront, count: u32): void {
  const blocks = b.sectors >> 3;
  let issued: u32 = 0;
  while (issued < count) {
    const s = b.queue(BLKIF_OP_READ, (rnd() % blocks) << 3, 0, 4096);
    if (s == -1) { b.push(); b.wait(); continue; }
    issued++;
  }
  b.push();
  b.drain();
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  if (!xenbus_init()) { printk("blk-bench: no xenstore ring"); return; }
  const b = blkfront_open(51712, <u32>cmdline_int("segs", 11));
  if (!b.connected) { printk("blk-bench: cannot open xvda: " + b.error); return; }
  const mode = cmdline_get("mode");
  const count = <u32>cmdline_int("count", 10000);
  // The data to write is in place before the clock starts, as the Node baseline's buffer is.
  if (mode == "seqwrite" || mode == "seqread") {
    for (let i: u32 = 0; i < b.nslots; i++) memory.fill(b.slot_buffer(i), <u8>(0x41 + i), b.max_request);
  }
  // warmup=MiB: that much of the disk first, untimed, so that the figure is the steady
  // state rather than the JIT compiling the freshly built guest and the backend.
  const warm = <u64>cmdline_int("warmup", 0) << 20;
  if (warm > 0 && (mode == "seqwrite" || mode == "seqread")) stream(b, mode == "seqwrite" ? BLKIF_OP_WRITE : BLKIF_OP_READ, warm);
  const t0 = rdtsc();
  let bytes: u64 = 0;
  let ops: u64 = 0;
  if (mode == "seqwrite" || mode == "seqread") {
    ops = stream(b, mode == "seqwrite" ? BLKIF_OP_WRITE : BLKIF_OP_READ);
    bytes = b.sectors << 9;
  } else if (mode == "randread") {
    randread(b, count);
    ops = count;
    bytes = <u64>count << 12;
  } else if (mode == "nop") {
    const rtt = new Array<i64>(count);
    for (let i: u32 = 0; i < count; i++) {
      const t = rdtsc();
      b.queue(77, 0, 0, 512);
      b.push();
      b.drain();
      unchecked(rtt[i] = rdtsc() - t);
    }
    rtt.sort((x: i64, y: i64): i32 => <i32>(x > y) - <i32>(x < y));
    printk("blk-bench: mode=nop ops=" + count.toString() + " p50_ns=" + rtt[count >> 1].toString() + " p99_ns=" + rtt[min<u32>(count - 1, count * 99 / 100)].toString());
    poweroff();
    return;
  } else {
    printk("blk-bench: mode=seqwrite|seqread|randread|nop");
    return;
  }
  const ns = rdtsc() - t0;
  printk("blk-bench: mode=" + mode! + " bytes=" + bytes.toString() + " ops=" + ops.toString() + " errors=" + b.errors.toString() + " ns=" + ns.toString() +
    " request=" + b.max_request.toString() + " inflight=" + b.nslots.toString());
  poweroff();
}
