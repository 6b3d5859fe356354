// netfront: the PV network frontend (xen-facts 4.4, 4.6, 4.8). A tx ring
// (12-byte slots) and an rx ring (8-byte slots), 256 slots each, one event
// channel, and a pool of pages granted to the backend once: NET_TX_BUFS
// read-only pages for frames going out, NET_RX_BUFS writable pages posted on
// the rx ring for the backend to copy frames into (request-rx-copy). A frame
// fits one page; no fragments, no extra-info slots.
//
// Blocking calls (open, wait) must be direct calls from xen_start; send and
// poll never block, so event handlers and rx handlers may call them.
import { alloc_pages } from "./pages";
import { gnttab_ensure_frames, gnttab_grant_access } from "./gnttab";
import { evtchn_alloc_unbound, evtchn_send, evtchn_count } from "./evtchn";
import { wait_port } from "./wait";
import { xenbus_read, XenbusStateInitWait, XenbusStateInitialised, XenbusStateConnected } from "./xenbus";
import { FrontendInfo, frontend_lookup, frontend_wait_backend, frontend_publish, frontend_set_state } from "./frontend";

export const NET_RING_SIZE: u32 = 256;
export const NET_TX_BUFS: u32 = 256;
export const NET_RX_BUFS: u32 = 256;
export const NET_MAX_FRAME: u32 = 4096;
export const NETIF_RSP_OKAY: i16 = 0;
export const NETIF_RSP_ERROR: i16 = -1;
const TX_SLOT: usize = 12;
const RX_SLOT: usize = 8;

const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 4;
const RSP_PROD: usize = 8;
const RSP_EVENT: usize = 12;
const RING_HDR: usize = 64;

/** Called for each received frame (ptr, len); the page is reposted when it returns, so copy what you keep. */
export type NetRxHandler = (ptr: usize, len: u32) => void;

function push_requests(ring: usize, pvt: u32): bool {
  const old = atomic.load<u32>(ring + REQ_PROD);
  if (old == pvt) return false;
  atomic.store<u32>(ring + REQ_PROD, pvt);
  const ev = atomic.load<u32>(ring + REQ_EVENT);
  return pvt - ev < pvt - old;
}

export class Netfront {
  info: FrontendInfo;
  devid: u32;
  mac: StaticArray<u8> = new StaticArray<u8>(6);
  macString: string = "";
  port: u32 = 0;
  connected: bool = false;
  error: string = "";
  txRing: usize = 0;
  rxRing: usize = 0;
  private txPool: usize = 0;
  private rxPool: usize = 0;
  private txGref: StaticArray<i32> = new StaticArray<i32>(NET_TX_BUFS);
  private rxGref: StaticArray<i32> = new StaticArray<i32>(NET_RX_BUFS);
  private txFree: StaticArray<u16> = new StaticArray<u16>(NET_TX_BUFS);
  private txFreeN: u32 = 0;
  private txProdPvt: u32 = 0;
  private txCons: u32 = 0;
  private rxProdPvt: u32 = 0;
  private rxCons: u32 = 0;
  txFrames: u64 = 0;
  txBytes: u64 = 0;
  rxFrames: u64 = 0;
  rxBytes: u64 = 0;
  txErrors: u32 = 0;
  rxErrors: u32 = 0;
  txDropped: u32 = 0;

  constructor(info: FrontendInfo, devid: u32) {
    this.info = info;
    this.devid = devid;
  }

  connect(): bool {
    const be = this.info.backendId;
    const m = xenbus_read(this.info.node + "/mac");
    if (m === null || !parse_mac(m, this.mac)) { this.error = "no usable mac"; return false; }
    this.macString = m;
    let st = frontend_wait_backend(this.info, XenbusStateInitWait);
    if (st != XenbusStateInitWait && st != XenbusStateConnected) {
      this.error = "backend in state " + st.toString() + " before the handshake";
      return false;
    }
    if (gnttab_ensure_frames(8) != 0) { this.error = "grant table setup failed"; return false; }
    this.txRing = alloc_pages(1);
    this.rxRing = alloc_pages(1);
    for (let i = 0; i < 2; i++) {
      const r = i == 0 ? this.txRing : this.rxRing;
      store<u32>(r + REQ_EVENT, 1);
      store<u32>(r + RSP_EVENT, 1);
    }
    const txRef = gnttab_grant_access(be, <u32>(this.txRing >> 12), false);
    const rxRef = gnttab_grant_access(be, <u32>(this.rxRing >> 12), false);
    if (txRef < 0 || rxRef < 0) { this.error = "no grant entries for the rings"; return false; }
    this.txPool = alloc_pages(NET_TX_BUFS);
    this.rxPool = alloc_pages(NET_RX_BUFS);
    for (let i: u32 = 0; i < NET_TX_BUFS; i++) {
      const g = gnttab_grant_access(be, <u32>((this.txPool >> 12) + i), true);
      if (g < 0) { this.error = "no grant entries for tx buffers"; return false; }
      unchecked(this.txGref[i] = g);
      unchecked(this.txFree[i] = <u16>i);
    }
    this.txFreeN = NET_TX_BUFS;
    for (let i: u32 = 0; i < NET_RX_BUFS; i++) {
      const g = gnttab_grant_access(be, <u32>((this.rxPool >> 12) + i), false);
      if (g < 0) { this.error = "no grant entries for rx buffers"; return false; }
      unchecked(this.rxGref[i] = g);
      this.post_rx(<u16>i);
    }
    push_requests(this.rxRing, this.rxProdPvt); // before the backend looks: no notify needed
    const p = evtchn_alloc_unbound(be);
    if (p < 0) { this.error = "alloc_unbound: " + p.toString(); return false; }
    this.port = <u32>p;
    const keys = ["tx-ring-ref", "rx-ring-ref", "event-channel", "request-rx-copy"];
    const vals = [txRef.toString(), rxRef.toString(), this.port.toString(), "1"];
    const r = frontend_publish(this.info.node, keys, vals, XenbusStateInitialised);
    if (r != 0) { this.error = "publishing the rings failed: " + r.toString(); return false; }
    st = frontend_wait_backend(this.info, XenbusStateConnected);
    if (st != XenbusStateConnected) { this.error = "backend went to state " + st.toString() + " instead of Connected"; return false; }
    frontend_set_state(this.info.node, XenbusStateConnected);
    this.connected = true;
    return true;
  }

  private post_rx(id: u16): void {
    const req = this.rxRing + RING_HDR + <usize>(this.rxProdPvt & (NET_RING_SIZE - 1)) * RX_SLOT;
    store<u16>(req, id);
    store<u16>(req, 0, 2);
    store<u32>(req, <u32>unchecked(this.rxGref[id]), 4);
    this.rxProdPvt++;
  }

  /** Takes tx responses: their pages are free again. */
  private reclaim_tx(): void {
    while (true) {
      const prod = atomic.load<u32>(this.txRing + RSP_PROD);
      if (prod - this.txCons > NET_RING_SIZE) return; // a broken backend: stop trusting it
      while (this.txCons != prod) {
        const rsp = this.txRing + RING_HDR + <usize>(this.txCons & (NET_RING_SIZE - 1)) * TX_SLOT;
        const id = load<u16>(rsp);
        const st = load<i16>(rsp, 2);
        this.txCons++;
        if (st < 0) this.txErrors++;
        if (<u32>id < NET_TX_BUFS && this.txFreeN < NET_TX_BUFS) unchecked(this.txFree[this.txFreeN++] = id);
      }
      atomic.store<u32>(this.txRing + RSP_EVENT, this.txCons + 1);
      if (atomic.load<u32>(this.txRing + RSP_PROD) == this.txCons) return;
    }
  }

  /** A free tx page to build a frame in place (then send_buffer), or -1. */
  tx_buffer(): i32 {
    if (this.txFreeN == 0) this.reclaim_tx();
    if (this.txFreeN == 0) return -1;
    return <i32>unchecked(this.txFree[--this.txFreeN]);
  }
  tx_addr(id: i32): usize { return this.txPool + (<usize>id << 12); }

  /** Queues the frame built in tx page id; push_tx() (or send) publishes it. */
  queue_buffer(id: i32, len: u32): void {
    const req = this.txRing + RING_HDR + <usize>(this.txProdPvt & (NET_RING_SIZE - 1)) * TX_SLOT;
    store<u32>(req, <u32>unchecked(this.txGref[id]));
    store<u16>(req, 0, 4);
    store<u16>(req, 0, 6);
    store<u16>(req, <u16>id, 8);
    store<u16>(req, <u16>len, 10);
    this.txProdPvt++;
    this.txFrames++;
    this.txBytes += len;
  }

  push_tx(): void {
    if (push_requests(this.txRing, this.txProdPvt)) evtchn_send(this.port);
  }

  /** Sends a copy of the frame; false (dropped) when every tx page is in flight or it is too long. */
  send(buf: usize, len: u32): bool {
    if (!this.connected || len > NET_MAX_FRAME || len < 14) return false;
    const id = this.tx_buffer();
    if (id < 0) { this.txDropped++; return false; }
    memory.copy(this.tx_addr(id), buf, len);
    this.queue_buffer(id, len);
    this.push_tx();
    return true;
  }

  /** Handles every received frame (non-blocking), reposts their pages, reclaims tx; returns frames handled. */
  poll(handler: NetRxHandler): u32 {
    if (!this.connected) return 0;
    this.reclaim_tx();
    let n: u32 = 0;
    while (true) {
      const prod = atomic.load<u32>(this.rxRing + RSP_PROD);
      if (prod - this.rxCons > NET_RING_SIZE) return n;
      while (this.rxCons != prod) {
        const rsp = this.rxRing + RING_HDR + <usize>(this.rxCons & (NET_RING_SIZE - 1)) * RX_SLOT;
        const id = load<u16>(rsp);
        const off = <u32>load<u16>(rsp, 2);
        const st = load<i16>(rsp, 6);
        this.rxCons++;
        if (<u32>id >= NET_RX_BUFS) { this.rxErrors++; continue; }
        if (st > 0 && off + <u32>st <= 4096) {
          this.rxFrames++;
          this.rxBytes += <u64>st;
          n++;
          handler(this.rxPool + (<usize>id << 12) + off, <u32>st);
        } else this.rxErrors++;
        this.post_rx(id);
      }
      if (push_requests(this.rxRing, this.rxProdPvt)) evtchn_send(this.port);
      atomic.store<u32>(this.rxRing + RSP_EVENT, this.rxCons + 1);
      if (atomic.load<u32>(this.rxRing + RSP_PROD) == this.rxCons) break;
    }
    this.push_tx();
    return n;
  }

  /** Blocks until the device's event channel fires or system time reaches deadline (0: none). */
  wait(seen: u32, deadline: u64 = 0): bool {
    return wait_port(this.port, seen, deadline);
  }
  /** The count to pass to wait(): take it before the last poll. */
  events(): u32 { return evtchn_count(this.port); }
}

function hexval(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** "00:16:3e:01:02:03" into out; false when malformed. */
export function parse_mac(s: string, out: StaticArray<u8>): bool {
  if (s.length != 17) return false;
  for (let i = 0; i < 6; i++) {
    const hi = hexval(s.charCodeAt(i * 3));
    const lo = hexval(s.charCodeAt(i * 3 + 1));
    if (hi < 0 || lo < 0 || (i < 5 && s.charCodeAt(i * 3 + 2) != 58)) return false;
    unchecked(out[i] = <u8>((hi << 4) | lo));
  }
  return true;
}

/** Opens device/vif/<devid> and runs the handshake; check .connected / .error. */
export function netfront_open(devid: u32 = 0): Netfront {
  const node = "device/vif/" + devid.toString();
  const info = frontend_lookup(node);
  if (info === null) {
    const n = new Netfront(new FrontendInfo(node, "", 0), devid);
    n.error = "no such device";
    return n;
  }
  const n = new Netfront(info, devid);
  n.connect();
  return n;
}
