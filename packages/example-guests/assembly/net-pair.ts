// net-pair: one of two guests on a bridge. Brings up its vif with the IPv4
// address from `ip=`, answers ARP and ICMP echo, and pings `peer=` `count=`
// times (every `interval_ms=`, default 200), printing as ping does:
//   64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.123 ms
// then `net-pair: N packets transmitted, M received` and keeps answering
// (until xm shutdown / destroy). Without `peer=` it only answers.
import {
  xen_init, printk, cmdline_get, cmdline_int, xenbus_init, now_ns,
  control_watch, xenbus_next_event, control_take_shutdown, control_do_shutdown, CONTROL_SHUTDOWN_TOKEN,
} from "@xenwasm/guest-sdk/assembly/index";
import { netfront_open } from "@xenwasm/guest-sdk/assembly/netfront";
import { ip_init, parse_ipv4, ipv4_string, ping, ping_ttl, format_ms, ip_wait, arp_resolve, PING_DATA } from "@xenwasm/guest-sdk/assembly/ipv4";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

function check_shutdown(): void {
  const ev = xenbus_next_event();
  if (ev !== null && ev.token == CONTROL_SHUTDOWN_TOKEN) control_do_shutdown(control_take_shutdown());
}

function run(): void {
  const ipS = cmdline_get("ip");
  const ip = ipS === null ? 0 : parse_ipv4(ipS);
  if (ip == 0) { printk("net-pair: needs ip=A.B.C.D"); return; }
  const nf = netfront_open(<u32>cmdline_int("vif", 0));
  if (!nf.connected) { printk("net-pair: cannot open vif: " + nf.error); return; }
  ip_init(nf, ip);
  control_watch();
  printk("net-pair: " + ipv4_string(ip) + " up on " + nf.macString);
  const peerS = cmdline_get("peer");
  const peer = peerS === null ? 0 : parse_ipv4(peerS);
  if (peer != 0) {
    const count = <i32>cmdline_int("count", 4);
    const interval = <u64>cmdline_int("interval_ms", 200) * 1000000;
    if (!arp_resolve(peer, 30_000_000_000)) printk("net-pair: " + ipv4_string(peer) + " does not answer ARP");
    else {
      let got = 0;
      for (let seq = 1; seq <= count; seq++) {
        const t = now_ns();
        const rtt = ping(peer, <u16>seq, 1_000_000_000);
        if (rtt < 0) printk("Request timeout for icmp_seq " + seq.toString());
        else {
          got++;
          printk((PING_DATA + 8).toString() + " bytes from " + ipv4_string(peer) + ": icmp_seq=" + seq.toString() +
            " ttl=" + ping_ttl().toString() + " time=" + format_ms(rtt) + " ms");
        }
        check_shutdown();
        const next = t + interval;
        while (seq < count && now_ns() < next) ip_wait(next);
      }
      printk("net-pair: " + count.toString() + " packets transmitted, " + got.toString() + " received");
    }
  }
  while (true) {
    ip_wait(now_ns() + 1_000_000_000);
    check_shutdown();
  }
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  if (!xenbus_init()) { printk("net-pair: no xenstore ring"); return; }
  run();
}
