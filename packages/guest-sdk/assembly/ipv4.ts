// A minimal IPv4 host on one netfront: answers ARP for its address and
// ICMP echo requests, resolves neighbours with ARP, and pings. Addresses
// are u32 in host order (10.0.0.1 = 0x0a000001). One interface per guest.
import { Netfront } from "./netfront";
import { now_ns } from "./time";

export const ETH_P_IP: u16 = 0x0800;
export const ETH_P_ARP: u16 = 0x0806;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ARP_TABLE: i32 = 16;
/** ICMP payload bytes of a ping (as ping's default: 56 + 8-byte header = 64). */
export const PING_DATA: u32 = 56;

let nif: Netfront | null = null;
let myIp: u32 = 0;
const arpIp = new StaticArray<u32>(ARP_TABLE);
const arpMac = new StaticArray<u8>(ARP_TABLE * 6);
let arpNext: i32 = 0;

// The ping in progress: its id/seq, and when the reply came (0 = not yet).
let pingId: u16 = 0x5857;
let pingSeq: u16 = 0;
let pingReplyAt: u64 = 0;
let pingReplyTtl: u8 = 0;

/** Counters, for reports. */
export let ip_echo_answered: u32 = 0;
export let ip_arp_answered: u32 = 0;

const FRAME = memory.data(1600, 8);

function be16(p: usize): u16 { return bswap<u16>(load<u16>(p)); }
function put16(p: usize, v: u16): void { store<u16>(p, bswap<u16>(v)); }
function be32(p: usize): u32 { return bswap<u32>(load<u32>(p)); }
function put32(p: usize, v: u32): void { store<u32>(p, bswap<u32>(v)); }

/** The Internet checksum of len bytes at p. */
export function inet_checksum(p: usize, len: u32): u16 {
  let sum: u32 = 0;
  let i: u32 = 0;
  for (; i + 1 < len; i += 2) sum += <u32>be16(p + i);
  if (i < len) sum += <u32>load<u8>(p + i) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return <u16>~sum;
}

/** "10.0.0.1" to 0x0a000001; 0 when malformed. */
export function parse_ipv4(s: string): u32 {
  const parts = s.split(".");
  if (parts.length != 4) return 0;
  let a: u32 = 0;
  for (let i = 0; i < 4; i++) {
    const p = unchecked(parts[i]);
    if (p.length == 0 || p.length > 3) return 0;
    let v: u32 = 0;
    for (let j = 0; j < p.length; j++) {
      const c = p.charCodeAt(j);
      if (c < 48 || c > 57) return 0;
      v = v * 10 + <u32>(c - 48);
    }
    if (v > 255) return 0;
    a = (a << 8) | v;
  }
  return a;
}

export function ipv4_string(a: u32): string {
  return (a >> 24).toString() + "." + ((a >> 16) & 255).toString() + "." + ((a >> 8) & 255).toString() + "." + (a & 255).toString();
}

/** Binds the stack to an interface and an address. */
export function ip_init(n: Netfront, addr: u32): void {
  nif = n;
  myIp = addr;
}
export function ip_addr(): u32 { return myIp; }

function arp_find(ip: u32): i32 {
  for (let i = 0; i < ARP_TABLE; i++) if (unchecked(arpIp[i]) == ip && ip != 0) return i;
  return -1;
}
function arp_learn(ip: u32, mac: usize): void {
  let i = arp_find(ip);
  if (i < 0) {
    i = arpNext;
    arpNext = (arpNext + 1) % ARP_TABLE;
    unchecked(arpIp[i] = ip);
  }
  memory.copy(changetype<usize>(arpMac) + <usize>i * 6, mac, 6);
}
/** True when ip's MAC is known. */
export function arp_known(ip: u32): bool { return arp_find(ip) >= 0; }

function eth_header(f: usize, dst: usize, type: u16): void {
  memory.copy(f, dst, 6);
  memory.copy(f + 6, changetype<usize>(nif!.mac), 6);
  put16(f + 12, type);
}

const BCAST = memory.data<u8>([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function arp_send(op: u16, dstMac: usize, tha: usize, tpa: u32): void {
  const f = FRAME;
  eth_header(f, dstMac, ETH_P_ARP);
  const a = f + 14;
  put16(a, 1);          // htype Ethernet
  put16(a + 2, ETH_P_IP);
  store<u8>(a + 4, 6);
  store<u8>(a + 5, 4);
  put16(a + 6, op);
  memory.copy(a + 8, changetype<usize>(nif!.mac), 6);
  put32(a + 14, myIp);
  memory.copy(a + 18, tha, 6);
  put32(a + 24, tpa);
  nif!.send(f, 60); // padded to the Ethernet minimum
}

/** Broadcasts "who has ip". */
export function arp_request(ip: u32): void {
  memory.fill(FRAME + 14 + 18, 0, 6);
  arp_send(1, BCAST, FRAME + 14 + 18, ip);
}

function handle_arp(f: usize, len: u32): void {
  if (len < 42) return;
  const a = f + 14;
  if (be16(a) != 1 || be16(a + 2) != ETH_P_IP || load<u8>(a + 4) != 6 || load<u8>(a + 5) != 4) return;
  const op = be16(a + 6);
  const spa = be32(a + 14);
  const tpa = be32(a + 24);
  if (spa != 0) arp_learn(spa, a + 8);
  if (op == 1 && tpa == myIp) {
    const sha = memory.data(6);
    memory.copy(sha, a + 8, 6);
    arp_send(2, sha, sha, spa);
    ip_arp_answered++;
  }
}

function ip_send(dst: u32, dstMac: usize, proto: u8, payload: usize, plen: u32): void {
  const f = FRAME;
  eth_header(f, dstMac, ETH_P_IP);
  const h = f + 14;
  store<u8>(h, 0x45);
  store<u8>(h + 1, 0);
  put16(h + 2, <u16>(20 + plen));
  put16(h + 4, 0);
  put16(h + 6, 0x4000); // don't fragment
  store<u8>(h + 8, 64);
  store<u8>(h + 9, proto);
  put16(h + 10, 0);
  put32(h + 12, myIp);
  put32(h + 16, dst);
  put16(h + 10, inet_checksum(h, 20));
  if (payload != h + 20) memory.copy(h + 20, payload, plen);
  nif!.send(f, max<u32>(60, 34 + plen));
}

function handle_ip(f: usize, len: u32): void {
  if (len < 34) return;
  const h = f + 14;
  const vihl = load<u8>(h);
  if ((vihl >> 4) != 4) return;
  const ihl = <u32>(vihl & 15) << 2;
  const total = <u32>be16(h + 2);
  if (ihl < 20 || total < ihl || <u32>14 + total > len) return;
  if (inet_checksum(h, ihl) != 0) return;
  if (be32(h + 16) != myIp) return;
  const src = be32(h + 12);
  arp_learn(src, f + 6);
  if (load<u8>(h + 9) != 1) return; // ICMP only
  const icmp = h + ihl;
  const ilen = total - ihl;
  if (ilen < 8 || inet_checksum(icmp, ilen) != 0) return;
  const type = load<u8>(icmp);
  if (type == ICMP_ECHO_REQUEST) {
    // Reply in place: same id, seq and data.
    const out = FRAME + 14 + 20;
    memory.copy(out, icmp, ilen);
    store<u8>(out, ICMP_ECHO_REPLY);
    put16(out + 2, 0);
    put16(out + 2, inet_checksum(out, ilen));
    const mac = memory.data(6);
    memory.copy(mac, f + 6, 6);
    ip_send(src, mac, 1, out, ilen);
    ip_echo_answered++;
  } else if (type == ICMP_ECHO_REPLY) {
    if (be16(icmp + 4) == pingId && be16(icmp + 6) == pingSeq && pingReplyAt == 0) {
      pingReplyAt = now_ns();
      pingReplyTtl = load<u8>(h + 8);
    }
  }
}

/** The rx handler: give it to Netfront.poll. */
export function ip_input(f: usize, len: u32): void {
  if (len < 14) return;
  const type = be16(f + 12);
  if (type == ETH_P_ARP) handle_arp(f, len);
  else if (type == ETH_P_IP) handle_ip(f, len);
}

/** Handles whatever arrived (non-blocking). */
export function ip_poll(): u32 { return nif!.poll(ip_input); }

/** Blocks until an event on the interface or the deadline; then handles what came. */
export function ip_wait(deadline: u64): void {
  const n = nif!;
  const c = n.events();
  if (ip_poll() > 0) return;
  n.wait(c, deadline);
  ip_poll();
}

/** Resolves ip's MAC with ARP (retrying every 100 ms) until timeout_ns; true when known. */
export function arp_resolve(ip: u32, timeout_ns: u64): bool {
  const end = now_ns() + timeout_ns;
  ip_poll();
  while (!arp_known(ip)) {
    const now = now_ns();
    if (now >= end) return false;
    arp_request(ip);
    const next = min<u64>(end, now + 100_000_000);
    while (!arp_known(ip) && now_ns() < next) ip_wait(next);
  }
  return true;
}

/** Sends one echo request (56 data bytes) and waits for its reply: the round trip in ns, or -1 on timeout. */
export function ping(ip: u32, seq: u16, timeout_ns: u64): i64 {
  const deadline = now_ns() + timeout_ns;
  if (!arp_known(ip) && !arp_resolve(ip, timeout_ns)) return -1;
  const i = arp_find(ip);
  const mac = memory.data(6);
  memory.copy(mac, changetype<usize>(arpMac) + <usize>i * 6, 6);
  const icmp = FRAME + 14 + 20;
  store<u8>(icmp, ICMP_ECHO_REQUEST);
  store<u8>(icmp + 1, 0);
  put16(icmp + 2, 0);
  put16(icmp + 4, pingId);
  put16(icmp + 6, seq);
  for (let k: u32 = 0; k < PING_DATA; k++) store<u8>(icmp + 8 + k, <u8>(k + 0x10));
  put16(icmp + 2, inet_checksum(icmp, 8 + PING_DATA));
  pingSeq = seq;
  pingReplyAt = 0;
  const t0 = now_ns();
  ip_send(ip, mac, 1, icmp, 8 + PING_DATA);
  while (pingReplyAt == 0) {
    if (now_ns() >= deadline) return -1;
    ip_wait(deadline);
  }
  return <i64>(pingReplyAt - t0);
}

/** TTL of the last echo reply. */
export function ping_ttl(): u8 { return pingReplyTtl; }

/** "0.123" for 123456 ns, as ping prints milliseconds. */
export function format_ms(ns: i64): string {
  const us = ns / 1000;
  const ms = us / 1000;
  const frac = us % 1000;
  let f = frac.toString();
  while (f.length < 3) f = "0" + f;
  return ms.toString() + "." + f;
}
