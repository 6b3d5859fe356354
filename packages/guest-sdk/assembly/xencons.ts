// The PV console ring (console.h struct xencons_interface) at console_mfn:
// `in` (1024 bytes, dom0 -> guest), `out` (2048 bytes, guest -> dom0) and
// their free-running u32 indexes. xenconsoled drains `out` into the guest's
// log and `xm console`, and fills `in` with what the user types.
import { console_mfn, console_evtchn } from "./start_info";
import { evtchn_send, evtchn_count, in_upcall } from "./evtchn";
import { sched_poll_port } from "./sched";
import { now_ns } from "./time";
import { PAGE_SHIFT } from "./xen";

export const XENCONS_IN: u32 = 0;
export const XENCONS_IN_SIZE: u32 = 1024;
export const XENCONS_OUT: u32 = 1024;
export const XENCONS_OUT_SIZE: u32 = 2048;
export const XENCONS_IN_CONS: u32 = 3072;
export const XENCONS_IN_PROD: u32 = 3076;
export const XENCONS_OUT_CONS: u32 = 3080;
export const XENCONS_OUT_PROD: u32 = 3084;

/** How long printk waits for xenconsoled to make room before it drops output. */
const FULL_WAIT_NS: u64 = 20_000_000;

function page(): usize { return <usize>console_mfn() << PAGE_SHIFT; }

/** The toolstack gave this domain a console ring (a domain built without one has port 0). */
export function xencons_ready(): bool { return console_evtchn() != 0 && console_mfn() != 0; }

/**
 * Puts len bytes at ptr into the out ring and notifies dom0. When the ring is
 * full it waits (briefly, and never inside an event handler) for xenconsoled
 * to drain it; what still does not fit is dropped. Returns bytes written.
 */
export function xencons_write(ptr: usize, len: i32): i32 {
  if (!xencons_ready()) return 0;
  const p = page();
  const port = console_evtchn();
  let done: i32 = 0;
  let deadline: u64 = 0;
  while (done < len) {
    const cons = atomic.load<u32>(p + XENCONS_OUT_CONS);
    let prod = atomic.load<u32>(p + XENCONS_OUT_PROD);
    if (prod - cons > XENCONS_OUT_SIZE) return done; // dom0 wrote garbage: stop
    let room = XENCONS_OUT_SIZE - (prod - cons);
    if (room == 0) {
      if (in_upcall()) break;
      if (deadline == 0) deadline = now_ns() + FULL_WAIT_NS;
      else if (now_ns() >= deadline) break;
      evtchn_send(port);
      sched_poll_port(port, deadline);
      continue;
    }
    while (room > 0 && done < len) {
      store<u8>(p + XENCONS_OUT + (prod & (XENCONS_OUT_SIZE - 1)), load<u8>(ptr + <usize>done));
      prod++;
      done++;
      room--;
    }
    atomic.store<u32>(p + XENCONS_OUT_PROD, prod); // seq-cst: the bytes are visible first
  }
  evtchn_send(port);
  return done;
}

/** Bytes waiting in the in ring. */
export function xencons_input_avail(): u32 {
  if (!xencons_ready()) return 0;
  const p = page();
  const n = atomic.load<u32>(p + XENCONS_IN_PROD) - atomic.load<u32>(p + XENCONS_IN_CONS);
  return n > XENCONS_IN_SIZE ? 0 : n;
}

/** Takes up to max input bytes into buf; returns how many (0 if none). */
export function xencons_read(buf: usize, max: i32): i32 {
  if (!xencons_ready()) return 0;
  const p = page();
  let cons = atomic.load<u32>(p + XENCONS_IN_CONS);
  const prod = atomic.load<u32>(p + XENCONS_IN_PROD);
  if (prod - cons > XENCONS_IN_SIZE) return 0;
  let n: i32 = 0;
  while (cons != prod && n < max) {
    store<u8>(buf + <usize>n, load<u8>(p + XENCONS_IN + (cons & (XENCONS_IN_SIZE - 1))));
    cons++;
    n++;
  }
  if (n > 0) {
    atomic.store<u32>(p + XENCONS_IN_CONS, cons);
    evtchn_send(console_evtchn());
  }
  return n;
}

const LINE = memory.data(1024);
let lineLen: i32 = 0;
const ONE = memory.data(4);

/**
 * Blocks until a whole line (ending in \r or \n) was typed; returns it without
 * the terminator. Call it through direct calls from xen_start only.
 */
export function console_read_line(): string {
  const port = console_evtchn();
  while (true) {
    const c = evtchn_count(port);
    while (xencons_read(ONE, 1) == 1) {
      const ch = load<u8>(ONE);
      if (ch == 13 || ch == 10) {
        if (ch == 10 && lineLen == 0) continue; // the \n of a \r\n
        const s = String.UTF8.decodeUnsafe(LINE, <usize>lineLen, false);
        lineLen = 0;
        return s;
      }
      if (lineLen < 1024) { store<u8>(LINE + <usize>lineLen, ch); lineLen++; }
    }
    if (evtchn_count(port) == c) sched_poll_port(port, 0);
  }
}
