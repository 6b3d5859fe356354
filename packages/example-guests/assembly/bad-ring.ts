// bad-ring: a test guest that misbehaves towards its backends, one way per
// `mode=`, and reports what it saw (the host must fail only that device):
//   blk-index      connects xvda, then publishes a req_prod 1000 beyond the ring
//   blk-grants     connects xvda, then sends requests naming a gref never granted,
//                  a page granted to another domain (filled with 0x5a: must stay so),
//                  a grant of a frame beyond its memory, an unknown op and 200
//                  segments (and, through indirect requests with persistent grants on, a
//                  descriptor naming a gref never granted or granted elsewhere, and a
//                  descriptor page never granted); prints each status, then checks
//                  the device still works
//   blk-ring-grant grants its ring page to domain 7 instead of the backend's
//   net-index      connects vif 0, then publishes a tx req_prod 5000 beyond the ring
// It then prints `bad-ring: backend state S` (where the backend ended) and blocks.
import {
  xen_init, printk, cmdline_get, xenbus_init, block_forever, evtchn_send, evtchn_alloc_unbound,
  gnttab_ensure_frames, gnttab_grant_access, gnttab_set_entry, alloc_pages, xenbus_read_int,
  FrontendInfo, frontend_lookup, frontend_publish, frontend_wait_backend, XenbusStateInitWait, XenbusStateInitialised, XenbusStateClosing,
} from "@xenwasm/guest-sdk/assembly/index";
import { blkfront_open, Blkfront, BLKIF_OP_READ } from "@xenwasm/guest-sdk/assembly/blkfront";
import { netfront_open } from "@xenwasm/guest-sdk/assembly/netfront";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

function wait_backend_gave_up(info: FrontendInfo): void {
  frontend_wait_backend(info, XenbusStateClosing);
  printk("bad-ring: backend state " + xenbus_read_int(info.backend + "/state", -1).toString());
}

/** One read of one sector whose first segment's gref is replaced; returns its status. */
function tampered_read(b: Blkfront, gref: u32, op: u8, nseg: u8): i32 {
  const s = b.queue(BLKIF_OP_READ, 0, 0, 512);
  if (s < 0) return -100;
  const req = b.last_request();
  store<u8>(req, op);
  store<u8>(req, nseg, 1);
  store<u32>(req + 20, gref);
  b.push();
  b.drain();
  return <i32>b.slot_status(<u32>s);
}

/** A 64 KiB read through an indirect request whose descriptor page is tampered with; returns its status. */
function tampered_indirect(b: Blkfront, segGref: u32, indGref: u32): i32 {
  const s = b.queue(BLKIF_OP_READ, 0, 0, 64 << 10);
  if (s < 0) return -100;
  const ind = b.last_indirect();
  if (ind == 0) return -101;
  if (segGref != 0) store<u32>(ind + 8 * 5, segGref);
  if (indGref != 0) store<u32>(b.last_request() + 24, indGref);
  b.push();
  b.drain();
  return <i32>b.slot_status(<u32>s);
}

function blk_grants(): void {
  // Indirect requests (segs > 11) and persistent grants on: refusals must hold for both.
  const b = blkfront_open(51712, 16);
  if (!b.connected) { printk("bad-ring: cannot open xvda: " + b.error); return; }
  // A sentinel page granted to domain 7, not to the backend's domain.
  const sentinel = alloc_pages(1);
  memory.fill(sentinel, 0x5a, 4096);
  const wrongDom = gnttab_grant_access(7, <u32>(sentinel >> 12), false);
  // A grant entry naming a frame far beyond this domain's memory.
  const beyond = gnttab_grant_access(b.info.backendId, <u32>(sentinel >> 12), false);
  gnttab_set_entry(<u32>beyond, b.info.backendId, 0xfffff, false);
  const s1 = tampered_read(b, 4000, BLKIF_OP_READ, 1);
  const s2 = tampered_read(b, <u32>wrongDom, BLKIF_OP_READ, 1);
  const s3 = tampered_read(b, <u32>beyond, BLKIF_OP_READ, 1);
  const s4 = tampered_read(b, 4000, 77, 1);
  const s5 = tampered_read(b, 4000, BLKIF_OP_READ, 200);
  const s6 = tampered_indirect(b, 4000, 0);
  const s7 = tampered_indirect(b, <u32>wrongDom, 0);
  const s8 = tampered_indirect(b, 0, 4000);
  printk("bad-ring: indirect " + b.segs.toString() + " segs, persistent " + (b.featurePersistent ? "on" : "off") +
    ": never-granted=" + s6.toString() + " other-domain=" + s7.toString() + " descriptors-never-granted=" + s8.toString());
  printk("bad-ring: statuses never-granted=" + s1.toString() + " other-domain=" + s2.toString() +
    " beyond-memory=" + s3.toString() + " bad-op=" + s4.toString() + " 200-segments=" + s5.toString());
  let intact = true;
  for (let i: usize = 0; i < 4096; i++) if (load<u8>(sentinel + i) != 0x5a) intact = false;
  printk("bad-ring: sentinel " + (intact ? "intact" : "CHANGED"));
  const buf = alloc_pages(1);
  const r = b.read(0, buf, 4096);
  printk("bad-ring: a good read afterwards: " + (r == 0 ? "ok" : r.toString()));
}

function blk_index(): void {
  const b = blkfront_open(51712);
  if (!b.connected) { printk("bad-ring: cannot open xvda: " + b.error); return; }
  atomic.store<u32>(b.ring, b.req_prod_pvt + 1000);
  evtchn_send(b.port);
  printk("bad-ring: published req_prod +1000");
  wait_backend_gave_up(b.info);
}

function blk_ring_grant(): void {
  const info = frontend_lookup("device/vbd/51712");
  if (info === null) { printk("bad-ring: no xvda"); return; }
  frontend_wait_backend(info, XenbusStateInitWait);
  gnttab_ensure_frames(1);
  const ring = alloc_pages(1);
  const ref = gnttab_grant_access(7, <u32>(ring >> 12), false);
  const port = evtchn_alloc_unbound(info.backendId);
  frontend_publish(info.node, ["ring-ref", "event-channel", "protocol"], [ref.toString(), port.toString(), "x86_32-abi"], XenbusStateInitialised);
  printk("bad-ring: ring granted to domain 7");
  wait_backend_gave_up(info);
}

function net_index(): void {
  const n = netfront_open(0);
  if (!n.connected) { printk("bad-ring: cannot open vif: " + n.error); return; }
  atomic.store<u32>(n.txRing, 5000);
  evtchn_send(n.port);
  printk("bad-ring: published tx req_prod 5000");
  wait_backend_gave_up(n.info);
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  if (!xenbus_init()) { printk("bad-ring: no xenstore ring"); return; }
  const mode = cmdline_get("mode");
  if (mode == "blk-index") blk_index();
  else if (mode == "blk-grants") blk_grants();
  else if (mode == "blk-ring-grant") blk_ring_grant();
  else if (mode == "net-index") net_index();
  else printk("bad-ring: mode=blk-index|blk-grants|blk-ring-grant|net-index");
  block_forever();
}
