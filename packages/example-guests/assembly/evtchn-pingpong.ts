// evtchn-pingpong: event channel round trips between two guests.
//
// The toolstack allocates the server's port and passes it on the command line;
// the client binds to it itself (an interdomain bind is done by the binding
// domain), or is given an already bound local port:
//   server: role=server port=P
//   client: role=client remote_dom=D remote_port=P count=N
//       or: role=client port=L count=N
// The server echoes every event on its port back on it. The client sends,
// blocks until the echo, N times, timing each round trip with rdtsc, then
// prints `pingpong: n=N p50_ns=X p99_ns=Y min_ns=Z` and powers off.
import {
  xen_init, printk, cmdline_get, cmdline_int, evtchn_send, evtchn_count,
  evtchn_bind_handler, evtchn_bind_interdomain, sched_block, poweroff, rdtsc,
} from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

function echo(port: u32): void {
  evtchn_send(port);
}

function server(): void {
  const port = cmdline_int("port", -1);
  if (port < 0) { printk("pingpong: server needs port=P"); return; }
  evtchn_bind_handler(<u32>port, echo);
  printk("pingpong: server on port " + port.toString());
  while (true) sched_block();
}

function client(): void {
  let port = cmdline_int("port", -1);
  const rdom = cmdline_int("remote_dom", -1);
  if (port < 0 && rdom >= 0) {
    port = evtchn_bind_interdomain(<u16>rdom, <u32>cmdline_int("remote_port", 0));
    if (port < 0) { printk("pingpong: bind_interdomain failed: " + port.toString()); return; }
  }
  if (port < 0) { printk("pingpong: client needs port=L or remote_dom=D remote_port=P"); return; }
  const n = <i32>cmdline_int("count", 1000);
  if (n <= 0) { printk("pingpong: count must be > 0"); return; }
  printk("pingpong: client on port " + port.toString() + " count=" + n.toString());
  const rtt = new Array<i64>(n);
  const p = <u32>port;
  for (let i = 0; i < n; i++) {
    const c = evtchn_count(p);
    const t0 = rdtsc();
    evtchn_send(p);
    while (evtchn_count(p) == c) sched_block();
    unchecked(rtt[i] = rdtsc() - t0);
  }
  rtt.sort((a: i64, b: i64): i32 => <i32>(a > b) - <i32>(a < b));
  const p99 = min(n - 1, (n * 99) / 100);
  printk("pingpong: n=" + n.toString() + " p50_ns=" + rtt[n >> 1].toString() +
    " p99_ns=" + rtt[p99].toString() + " min_ns=" + rtt[0].toString());
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  const role = cmdline_get("role");
  if (role == "server") server();
  else if (role == "client") client();
  else printk("pingpong: role=server or role=client");
  poweroff();
}
