// The xenbus client: xenstore requests over the guest's store ring page
// (xs_wire.h struct xenstore_domain_interface at store_mfn), driven by the
// store event channel. Messages are xs_wire frames (16-byte header: type,
// req_id, tx_id, len) that may straddle the ring's end and span several
// fills of it; replies are matched by req_id, watch events are queued.
// Every call that waits blocks the vCPU: call them through direct calls from
// xen_start, never from an event handler.
import { store_mfn, store_evtchn } from "./start_info";
import { evtchn_send, evtchn_count } from "./evtchn";
import { sched_block } from "./sched";
import { PAGE_SHIFT, EINVAL } from "./xen";

export const XS_DIRECTORY: u32 = 1;
export const XS_READ: u32 = 2;
export const XS_WATCH: u32 = 4;
export const XS_UNWATCH: u32 = 5;
export const XS_TRANSACTION_START: u32 = 6;
export const XS_TRANSACTION_END: u32 = 7;
export const XS_GET_DOMAIN_PATH: u32 = 10;
export const XS_WRITE: u32 = 11;
export const XS_MKDIR: u32 = 12;
export const XS_RM: u32 = 13;
export const XS_WATCH_EVENT: u32 = 15;
export const XS_ERROR: u32 = 16;

export const XENSTORE_RING_SIZE: u32 = 1024;
export const XENSTORE_PAYLOAD_MAX: u32 = 4096;
const REQ: u32 = 0;
const RSP: u32 = 1024;
const REQ_CONS: u32 = 2048;
const REQ_PROD: u32 = 2052;
const RSP_CONS: u32 = 2056;
const RSP_PROD: u32 = 2060;

/** xenbus states (io/xenbus.h). */
export const XenbusStateUnknown: i32 = 0;
export const XenbusStateInitialising: i32 = 1;
export const XenbusStateInitWait: i32 = 2;
export const XenbusStateInitialised: i32 = 3;
export const XenbusStateConnected: i32 = 4;
export const XenbusStateClosing: i32 = 5;
export const XenbusStateClosed: i32 = 6;

export const EAGAIN: i32 = 11;
export const EIO: i32 = 5;

/** A watch firing: the path that changed and the watch's token. */
export class XenbusEvent {
  constructor(public path: string, public token: string) {}
}

let ready: bool = false;
let nextReqId: u32 = 1;
let lastError: string = "";

// Reassembly of the message being received.
const HDR = memory.data(16, 8);
const BODY = memory.data(4096 + 1);
let hdrGot: u32 = 0;
let bodyGot: u32 = 0;

// The reply being waited for.
let waitId: u32 = 0;
let replyType: u32 = 0;
let replyDone: bool = false;
let reply: string = "";
let replyLen: u32 = 0;
const REPLY = memory.data(4096 + 1);

const events = new Array<XenbusEvent>();
let eventHead: i32 = 0;

function page(): usize { return <usize>store_mfn() << PAGE_SHIFT; }

/** Call once after xen_init; false when the domain has no store ring. */
export function xenbus_init(): bool {
  if (store_evtchn() == 0 || store_mfn() == 0) return false;
  ready = true;
  return true;
}
export function xenbus_ready(): bool { return ready; }

/** The error name (ENOENT, EACCES, ...) of the last failed call. */
export function xenbus_last_error(): string { return lastError; }

function errno_of(name: string): i32 {
  if (name == "ENOENT") return 2;
  if (name == "EIO") return 5;
  if (name == "EAGAIN") return 11;
  if (name == "EACCES") return 13;
  if (name == "EEXIST") return 17;
  if (name == "EISDIR") return 21;
  if (name == "ENOSPC") return 28;
  if (name == "ENOSYS") return 38;
  if (name == "EBUSY") return 16;
  if (name == "ENOTEMPTY") return 39;
  if (name == "EROFS") return 30;
  if (name == "ENOMEM") return 12;
  return EINVAL;
}

/** Takes every complete message off the rsp ring; non-blocking. Returns bytes consumed. */
export function xenbus_poll(): u32 {
  if (!ready) return 0;
  const p = page();
  let total: u32 = 0;
  while (true) {
    let cons = atomic.load<u32>(p + RSP_CONS);
    const prod = atomic.load<u32>(p + RSP_PROD);
    let avail = prod - cons;
    if (avail == 0) break;
    if (avail > XENSTORE_RING_SIZE) { lastError = "EIO"; return total; } // xenstored broke the ring
    while (avail > 0) {
      const b = load<u8>(p + RSP + (cons & (XENSTORE_RING_SIZE - 1)));
      cons++;
      avail--;
      total++;
      if (hdrGot < 16) {
        store<u8>(HDR + hdrGot, b);
        hdrGot++;
        if (hdrGot == 16 && load<u32>(HDR, 12) == 0) deliver();
      } else {
        const len = load<u32>(HDR, 12);
        if (bodyGot < XENSTORE_PAYLOAD_MAX) store<u8>(BODY + bodyGot, b);
        bodyGot++;
        if (bodyGot == len) deliver();
      }
    }
    atomic.store<u32>(p + RSP_CONS, cons);
  }
  if (total > 0) evtchn_send(store_evtchn());
  return total;
}

function deliver(): void {
  const type = load<u32>(HDR);
  const id = load<u32>(HDR, 4);
  const len = min<u32>(load<u32>(HDR, 12), XENSTORE_PAYLOAD_MAX);
  hdrGot = 0;
  bodyGot = 0;
  if (type == XS_WATCH_EVENT) {
    // "<path>\0<token>\0"
    let i: u32 = 0;
    while (i < len && load<u8>(BODY + i) != 0) i++;
    const path = String.UTF8.decodeUnsafe(BODY, i, false);
    let j = i + 1;
    while (j < len && load<u8>(BODY + j) != 0) j++;
    const token = i + 1 <= j ? String.UTF8.decodeUnsafe(BODY + i + 1, j - i - 1, false) : "";
    events.push(new XenbusEvent(path, token));
    return;
  }
  if (id != waitId || replyDone) return; // a reply nobody waits for
  replyType = type;
  replyLen = len;
  memory.copy(REPLY, BODY, len);
  replyDone = true;
}

/** Waits until the store channel fires (or returns at once if it already did since c). */
function wait_store(c: u32): void {
  if (evtchn_count(store_evtchn()) == c) sched_block();
}

function put_bytes(src: usize, len: u32): void {
  const p = page();
  let done: u32 = 0;
  while (done < len) {
    const c = evtchn_count(store_evtchn());
    const cons = atomic.load<u32>(p + REQ_CONS);
    let prod = atomic.load<u32>(p + REQ_PROD);
    if (prod - cons > XENSTORE_RING_SIZE) return;
    let room = XENSTORE_RING_SIZE - (prod - cons);
    if (room == 0) {
      xenbus_poll(); // replies may be what keeps xenstored from reading on
      wait_store(c);
      continue;
    }
    while (room > 0 && done < len) {
      store<u8>(p + REQ + (prod & (XENSTORE_RING_SIZE - 1)), load<u8>(src + done));
      prod++;
      done++;
      room--;
    }
    atomic.store<u32>(p + REQ_PROD, prod);
    evtchn_send(store_evtchn());
  }
}

const OUT_HDR = memory.data(16, 8);

/**
 * One request: type, transaction, payload (already NUL-separated bytes).
 * Returns the reply's payload as raw bytes in REPLY/replyLen; false on an
 * XS_ERROR reply (lastError names it) or a broken ring.
 */
function request(type: u32, tx: u32, payload: Uint8Array): bool {
  if (!ready) { lastError = "ENODEV"; return false; }
  const id = nextReqId++;
  if (nextReqId == 0) nextReqId = 1;
  store<u32>(OUT_HDR, type);
  store<u32>(OUT_HDR, id, 4);
  store<u32>(OUT_HDR, tx, 8);
  store<u32>(OUT_HDR, <u32>payload.length, 12);
  waitId = id;
  replyDone = false;
  put_bytes(OUT_HDR, 16);
  put_bytes(payload.dataStart, <u32>payload.length);
  while (true) {
    const c = evtchn_count(store_evtchn());
    xenbus_poll();
    if (replyDone) break;
    wait_store(c);
  }
  waitId = 0;
  if (replyType == XS_ERROR) {
    let n: u32 = 0;
    while (n < replyLen && load<u8>(REPLY + n) != 0) n++;
    lastError = String.UTF8.decodeUnsafe(REPLY, n, false);
    return false;
  }
  return true;
}

function enc(s: string, nul: bool): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s, nul));
}
function enc2(a: string, b: string, nulB: bool): Uint8Array {
  const x = String.UTF8.encode(a, true);
  const y = String.UTF8.encode(b, nulB);
  const out = new Uint8Array(x.byteLength + y.byteLength);
  memory.copy(out.dataStart, changetype<usize>(x), x.byteLength);
  memory.copy(out.dataStart + <usize>x.byteLength, changetype<usize>(y), y.byteLength);
  return out;
}
function reply_string(): string { return String.UTF8.decodeUnsafe(REPLY, replyLen, false); }

/** The value at path (relative paths are under /local/domain/<domid>), or null (see xenbus_last_error). */
export function xenbus_read(path: string, tx: u32 = 0): string | null {
  if (!request(XS_READ, tx, enc(path, true))) return null;
  return reply_string();
}

/** Integer value at path, or def when missing or not a number. */
export function xenbus_read_int(path: string, def: i64, tx: u32 = 0): i64 {
  const v = xenbus_read(path, tx);
  if (v === null || v.length == 0) return def;
  let n: i64 = 0;
  let neg = false;
  for (let i = 0; i < v.length; i++) {
    const ch = v.charCodeAt(i);
    if (i == 0 && ch == 45) { neg = true; continue; }
    if (ch < 48 || ch > 57) return def;
    n = n * 10 + (ch - 48);
  }
  return neg ? -n : n;
}

/** Writes value at path; 0 or -errno. */
export function xenbus_write(path: string, value: string, tx: u32 = 0): i32 {
  return request(XS_WRITE, tx, enc2(path, value, false)) ? 0 : -errno_of(lastError);
}
export function xenbus_mkdir(path: string, tx: u32 = 0): i32 {
  return request(XS_MKDIR, tx, enc(path, true)) ? 0 : -errno_of(lastError);
}
export function xenbus_rm(path: string, tx: u32 = 0): i32 {
  return request(XS_RM, tx, enc(path, true)) ? 0 : -errno_of(lastError);
}

/** Child names of path, or null. */
export function xenbus_directory(path: string, tx: u32 = 0): Array<string> | null {
  if (!request(XS_DIRECTORY, tx, enc(path, true))) return null;
  const out = new Array<string>();
  let start: u32 = 0;
  for (let i: u32 = 0; i < replyLen; i++) {
    if (load<u8>(REPLY + i) == 0) {
      out.push(String.UTF8.decodeUnsafe(REPLY + start, i - start, false));
      start = i + 1;
    }
  }
  return out;
}

/** Registers a watch; xenstored fires it once at once. 0 or -errno. */
export function xenbus_watch(path: string, token: string): i32 {
  return request(XS_WATCH, 0, enc2(path, token, true)) ? 0 : -errno_of(lastError);
}
export function xenbus_unwatch(path: string, token: string): i32 {
  return request(XS_UNWATCH, 0, enc2(path, token, true)) ? 0 : -errno_of(lastError);
}

/** A new transaction id, or 0 on failure. */
export function xenbus_transaction_start(): u32 {
  if (!request(XS_TRANSACTION_START, 0, enc("", true))) return 0;
  let n: u32 = 0;
  for (let i: u32 = 0; i < replyLen; i++) {
    const ch = load<u8>(REPLY + i);
    if (ch < 48 || ch > 57) break;
    n = n * 10 + (ch - 48);
  }
  return n;
}

/** Commits (or aborts) tx: 0, -EAGAIN when someone else changed the store meanwhile, or -errno. */
export function xenbus_transaction_end(tx: u32, abort: bool = false): i32 {
  return request(XS_TRANSACTION_END, tx, enc(abort ? "F" : "T", true)) ? 0 : -errno_of(lastError);
}

/** The domain's home (/local/domain/<domid>), or null. */
export function xenbus_get_domain_path(domid: u32): string | null {
  if (!request(XS_GET_DOMAIN_PATH, 0, enc(domid.toString(), true))) return null;
  let n: u32 = 0;
  while (n < replyLen && load<u8>(REPLY + n) != 0) n++;
  return String.UTF8.decodeUnsafe(REPLY, n, false);
}

/** True when a watch event is queued (after taking what the ring holds). */
export function xenbus_event_pending(): bool {
  xenbus_poll();
  return eventHead < events.length;
}

/** The next queued watch event, or null; non-blocking. */
export function xenbus_next_event(): XenbusEvent | null {
  xenbus_poll();
  if (eventHead >= events.length) {
    if (eventHead > 0) { events.length = 0; eventHead = 0; }
    return null;
  }
  return unchecked(events[eventHead++]);
}

/** Blocks until a watch event arrives and returns it. */
export function xenbus_wait_event(): XenbusEvent {
  while (true) {
    const c = evtchn_count(store_evtchn());
    const ev = xenbus_next_event();
    if (ev !== null) return ev;
    wait_store(c);
  }
}

/** Blocks until the integer at path is one of [lo, hi]; returns it. Uses a watch with token. */
export function xenbus_wait_int_range(path: string, lo: i64, hi: i64, token: string): i64 {
  xenbus_watch(path, token);
  while (true) {
    const v = xenbus_read_int(path, -1);
    if (v >= lo && v <= hi) { xenbus_unwatch(path, token); return v; }
    const ev = xenbus_wait_event();
    void ev;
  }
}
