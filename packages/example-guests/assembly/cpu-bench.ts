// cpu-bench: a fixed, deterministic CPU-bound computation (~1 s by default),
// the same module run under the hypervisor and directly in Node to measure
// what the builder's rewriting costs. Prints
// `cpu-bench: rounds=R checksum=0x...` and powers off (default 6000 rounds). `rounds=R` on the
// command line changes the amount of work, `kernels=M` the mix.
import { xen_init, printk, cmdline_int, poweroff } from "@xenwasm/guest-sdk/assembly/index";
export { xen_upcall } from "@xenwasm/guest-sdk/assembly/evtchn";

const BUF_SIZE: i32 = 16384;
const BUF: usize = memory.data(BUF_SIZE, 16);
const SIEVE_N: i32 = 32768;
const SIEVE: usize = memory.data(SIEVE_N, 16);
const MAT_N: i32 = 24;
const MAT_A: usize = memory.data(MAT_N * MAT_N * 4, 16);
const MAT_B: usize = memory.data(MAT_N * MAT_N * 4, 16);
const MAT_C: usize = memory.data(MAT_N * MAT_N * 4, 16);
const CRC_TABLE: usize = memory.data(256 * 4, 16);

function fill(seed: u32): void {
  let x = seed | 1;
  for (let i = 0; i < BUF_SIZE; i += 4) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    store<u32>(BUF + <usize>i, x);
  }
}

function fnv1a(): u32 {
  let h: u32 = 2166136261;
  for (let i = 0; i < BUF_SIZE; i++) {
    h = (h ^ load<u8>(BUF + <usize>i)) * 16777619;
  }
  return h;
}

function crc_init(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(CRC_TABLE + (<usize>n << 2), c);
  }
}

function crc32(): u32 {
  let c: u32 = 0xffffffff;
  for (let i = 0; i < BUF_SIZE; i++) {
    c = load<u32>(CRC_TABLE + (<usize>((c ^ load<u8>(BUF + <usize>i)) & 0xff) << 2)) ^ (c >>> 8);
  }
  return c ^ 0xffffffff;
}

function sieve(): u32 {
  memory.fill(SIEVE, 1, SIEVE_N);
  let count: u32 = 0;
  for (let i = 2; i < SIEVE_N; i++) {
    if (load<u8>(SIEVE + <usize>i) != 0) {
      count++;
      for (let j = i * i; j < SIEVE_N; j += i) store<u8>(SIEVE + <usize>j, 0);
    }
  }
  return count;
}

function matmul(seed: u32): u32 {
  for (let i = 0; i < MAT_N * MAT_N; i++) {
    store<i32>(MAT_A + (<usize>i << 2), <i32>((<u32>i * 2654435761 + seed) >> 20));
    store<i32>(MAT_B + (<usize>i << 2), <i32>((<u32>i * 40503 + seed) >> 18));
  }
  let sum: u32 = 0;
  for (let i = 0; i < MAT_N; i++) {
    for (let j = 0; j < MAT_N; j++) {
      let acc: i32 = 0;
      for (let k = 0; k < MAT_N; k++) {
        acc += load<i32>(MAT_A + (<usize>(i * MAT_N + k) << 2)) * load<i32>(MAT_B + (<usize>(k * MAT_N + j) << 2));
      }
      store<i32>(MAT_C + (<usize>(i * MAT_N + j) << 2), acc);
      sum += <u32>acc;
    }
  }
  return sum;
}

function fib(n: i32): i32 {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** One round; exported so the optimiser keeps it a function of its own (hot code must not sit in a function entered once: V8 has no on-stack replacement for wasm). */
export function bench_round(r: u32, mask: u32): u32 {
  let h: u32 = 0;
  fill(r * 2654435761 + 1);
  if (mask & 1) h = fnv1a();
  if (mask & 2) h = h * 31 + crc32();
  if (mask & 4) h = h * 31 + sieve();
  if (mask & 8) h = h * 31 + matmul(r);
  if (mask & 16) h = h * 31 + <u32>fib(16 + <i32>(r & 3));
  return h;
}

export function xen_start(start_info: u32): void {
  xen_init(start_info);
  const rounds = <u32>cmdline_int("rounds", 6000);
  // kernels=M runs a subset (bit 0 fnv1a, 1 crc32, 2 sieve, 3 matmul, 4 fib), to see where time goes.
  const mask = <u32>cmdline_int("kernels", 31);
  crc_init();
  let sum: u32 = 0;
  for (let r: u32 = 0; r < rounds; r++) sum = (sum * 0x9e3779b1) ^ bench_round(r, mask);
  printk("cpu-bench: rounds=" + rounds.toString() + " checksum=0x" + sum.toString(16));
  poweroff();
}
