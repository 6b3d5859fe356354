// blkfront: the PV block frontend (xen-facts 4.3, 4.6, 4.7). One shared
// ring page of 108-byte blkif slots (x86_32-abi: 32 slots), an event
// channel, and a pool of I/O pages granted to the backend once at setup:
// slot i owns BLK_SEGS pages, so up to 32 requests of up to 44 KiB are in
// flight at a time. Asked for larger requests, and offered them by the
// backend's feature-max-indirect-segments, a slot owns `segs` pages plus one
// page of segment descriptors (BLKIF_OP_INDIRECT), and fewer slots are used
// when a full ring would take more grant entries than BLK_GRANT_BUDGET. Data is copied between the caller's buffer and the
// slot's pages (the caller's memory needs no grant). Those grants never
// change, so the driver advertises feature-persistent: a backend that also
// does maps each page once rather than once per request.
//
// Blocking calls (open, wait, read, write, flush, close) must be direct
// calls from xen_start, never from an event handler.
import { alloc_pages } from "./pages";
import { gnttab_ensure_frames, gnttab_grant_access, gnttab_end_access } from "./gnttab";
import { evtchn_alloc_unbound, evtchn_send, evtchn_count, evtchn_close } from "./evtchn";
import { wait_port } from "./wait";
import { xenbus_read_int, XenbusStateInitWait, XenbusStateInitialised, XenbusStateConnected, XenbusStateClosing, XenbusStateClosed } from "./xenbus";
import { FrontendInfo, frontend_lookup, frontend_wait_backend, frontend_publish, frontend_set_state } from "./frontend";
import { EINVAL } from "./xen";

export const BLKIF_OP_READ: u8 = 0;
export const BLKIF_OP_WRITE: u8 = 1;
export const BLKIF_OP_WRITE_BARRIER: u8 = 2;
export const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
export const BLKIF_RSP_OKAY: i16 = 0;
export const BLKIF_RSP_ERROR: i16 = -1;
export const BLKIF_RSP_EOPNOTSUPP: i16 = -2;
export const BLKIF_MAX_SEGMENTS_PER_REQUEST: u32 = 11;
export const VDISK_CDROM: u32 = 1;
export const VDISK_REMOVABLE: u32 = 2;
export const VDISK_READONLY: u32 = 4;

/** x86_32-abi layout: request 108 bytes, ring of 32 slots. */
export const BLKIF_REQ_SIZE: u32 = 108;
export const BLK_RING_SIZE: u32 = 32;
export const BLK_SEGS: u32 = BLKIF_MAX_SEGMENTS_PER_REQUEST;
/** Largest request this driver issues without indirect segments (bytes). */
export const BLK_MAX_REQUEST: u32 = BLK_SEGS << 12;
export const BLKIF_OP_INDIRECT: u8 = 6;
/** Segment descriptors in one indirect page. */
export const BLKIF_SEGS_PER_INDIRECT_FRAME: u32 = 512;
/** Grant entries the I/O pages may take (of 4096; the rest is for the ring, other devices, the toolstack). */
export const BLK_GRANT_BUDGET: u32 = 3584;
const SECTOR: u32 = 512;

// ring.h header words
const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 4;
const RSP_PROD: usize = 8;
const RSP_EVENT: usize = 12;
const RING_HDR: usize = 64;

export class Blkfront {
  info: FrontendInfo;
  devid: u32;
  ring: usize = 0;
  ringRef: i32 = -1;
  port: u32 = 0;
  sectors: u64 = 0;
  sectorSize: u32 = SECTOR;
  vdiskInfo: u32 = 0;
  featureFlush: bool = false;
  featureBarrier: bool = false;
  /** Both ends keep the I/O pages' grants for the life of the ring (Linux's persistent grants). */
  featurePersistent: bool = false;
  connected: bool = false;
  /** Why open() failed, for the console. */
  error: string = "";

  private reqProdPvt: u32 = 0;
  private rspCons: u32 = 0;
  private pool: usize = 0;
  private grefs: StaticArray<i32> = new StaticArray<i32>(0);
  /** One page of segment descriptors per slot, for indirect requests (0 without). */
  private ind: usize = 0;
  private indRefs: StaticArray<i32> = new StaticArray<i32>(0);
  /** Segments (pages) per request: 11, or more with the backend's feature-max-indirect-segments. */
  segs: u32 = BLK_SEGS;
  /** Requests in flight at most (the ring's 32, fewer when large requests would exhaust the grant table). */
  nslots: u32 = BLK_RING_SIZE;
  private wantSegs: u32;
  // per slot: busy, the caller's buffer and length, op, status
  private busy: StaticArray<bool> = new StaticArray<bool>(BLK_RING_SIZE);
  private dst: StaticArray<usize> = new StaticArray<usize>(BLK_RING_SIZE);
  private len: StaticArray<u32> = new StaticArray<u32>(BLK_RING_SIZE);
  private op: StaticArray<u8> = new StaticArray<u8>(BLK_RING_SIZE);
  private status: StaticArray<i16> = new StaticArray<i16>(BLK_RING_SIZE);
  private nbusy: u32 = 0;
  /** Requests that completed with an error status since open. */
  errors: u32 = 0;
  completed: u64 = 0;

  constructor(info: FrontendInfo, devid: u32, wantSegs: u32 = BLK_SEGS) {
    this.info = info;
    this.devid = devid;
    this.wantSegs = wantSegs;
  }

  get readonly(): bool { return (this.vdiskInfo & VDISK_READONLY) != 0; }
  get inflight(): u32 { return this.nbusy; }
  get bytes(): u64 { return this.sectors * <u64>this.sectorSize; }
  /** Largest request (bytes): segs pages. */
  get max_request(): u32 { return this.segs << 12; }

  /** Slot i's I/O pages (max_request bytes), for callers that fill them in place. */
  slot_buffer(i: u32): usize { return this.pool + ((<usize>i * this.segs) << 12); }

  /** Status of the last request that ran in slot i. */
  slot_status(i: u32): i16 { return unchecked(this.status[i]); }

  /** The xenbus handshake (frontend side). */
  connect(): bool {
    const be = this.info.backendId;
    let st = frontend_wait_backend(this.info, XenbusStateInitWait);
    if (st != XenbusStateInitWait && st != XenbusStateConnected) {
      this.error = "backend in state " + st.toString() + " before the handshake";
      return false;
    }
    if (gnttab_ensure_frames(8) != 0) { this.error = "grant table setup failed"; return false; }
    this.ring = alloc_pages(1);
    store<u32>(this.ring + REQ_EVENT, 1);
    store<u32>(this.ring + RSP_EVENT, 1);
    this.ringRef = gnttab_grant_access(be, <u32>(this.ring >> 12), false);
    if (this.ringRef < 0) { this.error = "no grant entry for the ring"; return false; }
    // Larger requests when asked for and the backend takes indirect segments.
    const maxInd = <u32>xenbus_read_int(this.info.backend + "/feature-max-indirect-segments", 0);
    if (this.wantSegs > BLK_SEGS && maxInd > BLK_SEGS) {
      this.segs = min<u32>(min<u32>(this.wantSegs, maxInd), BLKIF_SEGS_PER_INDIRECT_FRAME);
      this.nslots = min<u32>(BLK_RING_SIZE, BLK_GRANT_BUDGET / (this.segs + 1));
    }
    const npages = this.nslots * this.segs;
    this.grefs = new StaticArray<i32>(npages);
    this.pool = alloc_pages(npages);
    for (let i: u32 = 0; i < npages; i++) {
      const g = gnttab_grant_access(be, <u32>((this.pool >> 12) + i), false);
      if (g < 0) { this.error = "no grant entries for the I/O pages"; return false; }
      unchecked(this.grefs[i] = g);
    }
    if (this.segs > BLK_SEGS) {
      this.ind = alloc_pages(this.nslots);
      this.indRefs = new StaticArray<i32>(this.nslots);
      for (let i: u32 = 0; i < this.nslots; i++) {
        const g = gnttab_grant_access(be, <u32>((this.ind >> 12) + i), false);
        if (g < 0) { this.error = "no grant entries for the indirect pages"; return false; }
        unchecked(this.indRefs[i] = g);
      }
    }
    const p = evtchn_alloc_unbound(be);
    if (p < 0) { this.error = "alloc_unbound: " + p.toString(); return false; }
    this.port = <u32>p;
    // feature-persistent: the I/O pages stay granted for the life of the ring,
    // so the backend may keep them mapped instead of mapping per request.
    const keys = ["ring-ref", "event-channel", "protocol", "feature-persistent"];
    const vals = [this.ringRef.toString(), this.port.toString(), "x86_32-abi", "1"];
    const r = frontend_publish(this.info.node, keys, vals, XenbusStateInitialised);
    if (r != 0) { this.error = "publishing the ring failed: " + r.toString(); return false; }
    st = frontend_wait_backend(this.info, XenbusStateConnected);
    if (st != XenbusStateConnected) {
      this.error = "backend went to state " + st.toString() + " instead of Connected";
      return false;
    }
    const b = this.info.backend;
    this.sectors = <u64>xenbus_read_int(b + "/sectors", 0);
    this.sectorSize = <u32>xenbus_read_int(b + "/sector-size", SECTOR);
    this.vdiskInfo = <u32>xenbus_read_int(b + "/info", 0);
    this.featureFlush = xenbus_read_int(b + "/feature-flush-cache", 0) == 1;
    this.featureBarrier = xenbus_read_int(b + "/feature-barrier", 0) == 1;
    this.featurePersistent = xenbus_read_int(b + "/feature-persistent", 0) == 1;
    frontend_set_state(this.info.node, XenbusStateConnected);
    this.connected = true;
    return true;
  }

  private free_slot(): i32 {
    for (let i: u32 = 0; i < this.nslots; i++) if (!unchecked(this.busy[i])) return <i32>i;
    return -1;
  }

  /**
   * Queues one request (not yet visible to the backend: push() publishes).
   * buf/nbytes: the caller's data (sector multiple, at most BLK_MAX_REQUEST;
   * buf 0 = the slot's own pages are already filled / to be left filled).
   * Returns the slot, -1 when all are busy, or -EINVAL.
   */
  queue(op: u8, sector: u64, buf: usize, nbytes: u32): i32 {
    if (!this.connected) return -EINVAL;
    if (op != BLKIF_OP_FLUSH_DISKCACHE && (nbytes == 0 || nbytes > this.max_request || (nbytes & (SECTOR - 1)) != 0)) return -EINVAL;
    const s = this.free_slot();
    if (s < 0) return -1;
    const slot = <u32>s;
    const pages = this.slot_buffer(slot);
    if ((op == BLKIF_OP_WRITE || op == BLKIF_OP_WRITE_BARRIER) && buf != 0) memory.copy(pages, buf, nbytes);
    const req = this.ring + RING_HDR + <usize>(this.reqProdPvt & (BLK_RING_SIZE - 1)) * BLKIF_REQ_SIZE;
    const nseg: u32 = op == BLKIF_OP_FLUSH_DISKCACHE ? 0 : (nbytes + 4095) >> 12;
    let segs = req + 20;
    if (nseg > BLK_SEGS) {
      // blkif_request_indirect: the segments go in this slot's indirect page.
      store<u8>(req, BLKIF_OP_INDIRECT);
      store<u8>(req, op, 1);
      store<u16>(req, <u16>nseg, 2);
      store<u64>(req, <u64>slot, 4);
      store<u64>(req, sector, 12);
      store<u16>(req, <u16>this.devid, 20);
      store<u32>(req, <u32>unchecked(this.indRefs[slot]), 24);
      segs = this.ind + (<usize>slot << 12);
    } else {
      store<u8>(req, op);
      store<u8>(req, <u8>nseg, 1);
      store<u16>(req, <u16>this.devid, 2);
      store<u64>(req, <u64>slot, 4);
      store<u64>(req, sector, 12);
    }
    let left = nbytes >> 9;
    for (let k: u32 = 0; k < nseg; k++) {
      const n = min<u32>(left, 8);
      const seg = segs + (<usize>k << 3);
      store<u32>(seg, <u32>unchecked(this.grefs[slot * this.segs + k]));
      store<u8>(seg, 0, 4);
      store<u8>(seg, <u8>(n - 1), 5);
      left -= n;
    }
    unchecked(this.busy[slot] = true);
    unchecked(this.dst[slot] = buf);
    unchecked(this.len[slot] = nbytes);
    unchecked(this.op[slot] = op);
    this.nbusy++;
    this.reqProdPvt++;
    return s;
  }

  /** The ring slot of the request queued last (test guests tamper with it before push). */
  last_request(): usize {
    return this.ring + RING_HDR + <usize>((this.reqProdPvt - 1) & (BLK_RING_SIZE - 1)) * BLKIF_REQ_SIZE;
  }
  /** The indirect page of the request queued last (0 if it went direct): test guests tamper with it. */
  last_indirect(): usize {
    const req = this.last_request();
    if (load<u8>(req) != BLKIF_OP_INDIRECT) return 0;
    return this.ind + (<usize>load<u64>(req, 4) << 12);
  }
  /** Private producer index (test guests publish garbage beyond it). */
  get req_prod_pvt(): u32 { return this.reqProdPvt; }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY. */
  push(): void {
    const old = atomic.load<u32>(this.ring + REQ_PROD);
    const now = this.reqProdPvt;
    if (old == now) return;
    atomic.store<u32>(this.ring + REQ_PROD, now);
    const ev = atomic.load<u32>(this.ring + REQ_EVENT);
    if (now - ev < now - old) evtchn_send(this.port);
  }

  /** Takes every response off the ring (non-blocking); returns how many completed. */
  poll(): u32 {
    let done: u32 = 0;
    while (true) {
      const prod = atomic.load<u32>(this.ring + RSP_PROD);
      if (prod - this.rspCons > BLK_RING_SIZE) return done; // the backend broke the ring: ignore it
      while (this.rspCons != prod) {
        const rsp = this.ring + RING_HDR + <usize>(this.rspCons & (BLK_RING_SIZE - 1)) * BLKIF_REQ_SIZE;
        const id = <u32>load<u64>(rsp);
        const st = load<i16>(rsp, 10);
        this.rspCons++;
        if (id >= BLK_RING_SIZE || !unchecked(this.busy[id])) continue;
        unchecked(this.status[id] = st);
        if (st != BLKIF_RSP_OKAY) this.errors++;
        else if (unchecked(this.op[id]) == BLKIF_OP_READ && unchecked(this.dst[id]) != 0) {
          memory.copy(unchecked(this.dst[id]), this.slot_buffer(id), unchecked(this.len[id]));
        }
        unchecked(this.busy[id] = false);
        this.nbusy--;
        this.completed++;
        done++;
      }
      // RING_FINAL_CHECK_FOR_RESPONSES: ask for an event at the next one, then look again.
      atomic.store<u32>(this.ring + RSP_EVENT, this.rspCons + 1);
      if (atomic.load<u32>(this.ring + RSP_PROD) == this.rspCons) return done;
    }
  }

  /** Blocks until at least one request completes (or none is in flight); returns how many did. */
  wait(): u32 {
    while (this.nbusy > 0) {
      const c = evtchn_count(this.port);
      const n = this.poll();
      if (n > 0) return n;
      wait_port(this.port, c);
    }
    return 0;
  }

  /** Waits for every request in flight. */
  drain(): void {
    while (this.nbusy > 0) this.wait();
  }

  /**
   * Synchronous transfer of nbytes at byte offset sector*512, split into
   * requests of up to BLK_MAX_REQUEST with the ring kept full. 0, or the
   * first error status (negative).
   */
  rw(op: u8, sector: u64, buf: usize, nbytes: u32): i32 {
    const errs = this.errors;
    let done: u32 = 0;
    while (done < nbytes) {
      const n = min<u32>(nbytes - done, this.max_request);
      const s = this.queue(op, sector + <u64>(done >> 9), buf + done, n);
      if (s == -1) {
        this.push();
        this.wait();
        continue;
      }
      if (s < 0) return s;
      done += n;
    }
    this.push();
    this.drain();
    return this.errors == errs ? 0 : <i32>BLKIF_RSP_ERROR;
  }

  read(sector: u64, buf: usize, nbytes: u32): i32 { return this.rw(BLKIF_OP_READ, sector, buf, nbytes); }
  write(sector: u64, buf: usize, nbytes: u32): i32 { return this.rw(BLKIF_OP_WRITE, sector, buf, nbytes); }

  /** Flushes the backend's cache (FLUSH_DISKCACHE); 0, or BLKIF_RSP_EOPNOTSUPP without the feature. */
  flush(): i32 {
    if (!this.featureFlush) return <i32>BLKIF_RSP_EOPNOTSUPP;
    this.drain();
    const s = this.queue(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0);
    if (s < 0) return s;
    this.push();
    this.drain();
    return <i32>unchecked(this.status[s]);
  }

  /** Closing, then Closed once the backend closed; grants ended. */
  close(): void {
    if (!this.connected) return;
    this.drain();
    frontend_set_state(this.info.node, XenbusStateClosing);
    frontend_wait_backend(this.info, XenbusStateClosing);
    frontend_set_state(this.info.node, XenbusStateClosed);
    this.connected = false;
    evtchn_close(this.port);
    gnttab_end_access(<u32>this.ringRef);
    for (let i = 0; i < this.grefs.length; i++) gnttab_end_access(<u32>unchecked(this.grefs[i]));
    for (let i = 0; i < this.indRefs.length; i++) gnttab_end_access(<u32>unchecked(this.indRefs[i]));
  }
}

/**
 * Opens device/vbd/<devid> (51712 = xvda) and runs the handshake; check
 * .connected / .error. segs > 11 asks for requests of up to segs pages
 * through indirect segments when the backend offers them (see .segs).
 */
export function blkfront_open(devid: u32 = 51712, segs: u32 = BLK_SEGS): Blkfront {
  const info = frontend_lookup("device/vbd/" + devid.toString());
  if (info === null) {
    const b = new Blkfront(new FrontendInfo("device/vbd/" + devid.toString(), "", 0), devid);
    b.error = "no such device";
    return b;
  }
  const b = new Blkfront(info, devid, segs);
  b.connect();
  return b;
}
