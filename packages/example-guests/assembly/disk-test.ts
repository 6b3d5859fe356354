// disk-test: fills every 512-byte sector s of xvda with the 8-byte
// little-endian value s repeated 64 times, flushes, reads it all back,
// checks it, and reports on the console:
//   disk-test: xvda 8192 sectors (4 MiB)
//   disk-test: wrote 8192 sectors
//   disk-test: flushed
//   disk-test: read back 8192 sectors: OK        (or: MISMATCH at sector s)
// Command line: `dev=<devid>` (default 51712, xvda), `segs=N` (pages per
// request; above 11 through indirect segments), `stay` to keep running.
import { xen_init, printk, cmdline_int, cmdline_has, xenbus_init, poweroff, block_forever } from "@xenwasm/guest-sdk/assembly/index";
import { blkfront_open } from "@xenwasm/guest-sdk/assembly/blkfront";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

const CHUNK: u32 = 1 << 20;

function fill(buf: usize, first: u64, n: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    const s = first + <u64>i;
    const p = buf + (<usize>i << 9);
    for (let k: usize = 0; k < 64; k++) store<u64>(p + (k << 3), s);
  }
}

function check(buf: usize, first: u64, n: u32): i64 {
  for (let i: u32 = 0; i < n; i++) {
    const s = first + <u64>i;
    const p = buf + (<usize>i << 9);
    for (let k: usize = 0; k < 64; k++) if (load<u64>(p + (k << 3)) != s) return <i64>s;
  }
  return -1;
}

function run(): void {
  const devid = <u32>cmdline_int("dev", 51712);
  const blk = blkfront_open(devid, <u32>cmdline_int("segs", 11));
  if (!blk.connected) { printk("disk-test: cannot open vbd " + devid.toString() + ": " + blk.error); return; }
  const total = blk.sectors;
  printk("disk-test: xvda " + total.toString() + " sectors (" + (total >> 11).toString() + " MiB)");
  const buf = heap.alloc(CHUNK);
  const per = <u64>(CHUNK >> 9);
  for (let s: u64 = 0; s < total; s += per) {
    const n = <u32>min<u64>(per, total - s);
    fill(buf, s, n);
    const r = blk.write(s, buf, n << 9);
    if (r != 0) { printk("disk-test: write at sector " + s.toString() + " failed: " + r.toString()); return; }
  }
  printk("disk-test: wrote " + total.toString() + " sectors");
  const f = blk.flush();
  if (f != 0) { printk("disk-test: flush failed: " + f.toString()); return; }
  printk("disk-test: flushed");
  for (let s: u64 = 0; s < total; s += per) {
    const n = <u32>min<u64>(per, total - s);
    memory.fill(buf, 0xee, n << 9);
    const r = blk.read(s, buf, n << 9);
    if (r != 0) { printk("disk-test: read at sector " + s.toString() + " failed: " + r.toString()); return; }
    const bad = check(buf, s, n);
    if (bad >= 0) { printk("disk-test: MISMATCH at sector " + bad.toString()); return; }
  }
  printk("disk-test: read back " + total.toString() + " sectors: OK");
  blk.close();
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  if (!xenbus_init()) { printk("disk-test: no xenstore ring"); return; }
  run();
  if (cmdline_has("stay")) block_forever();
  poweroff();
}
