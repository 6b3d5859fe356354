// Counted loops run in fuel-charged chunks instead of a check per iteration
// (src/counted-loop.ts): same results as the loop unrewritten, fuel charged
// for every iteration, and loops whose step or bound make the count unknown
// (step 0, wrapping) still reach preempt through the checked copy.
import test from 'ava';
import binaryen from 'binaryen';
import { rewriteGuest, GuestInstance, GuestExit } from '../src/index.js';

const MODULE = `(module
  (import "xen" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory 3)
  ;; for (i = 0; i < n; i += s) acc += i   (signed)
  (func $sum (export "sum") (param $n i32) (param $s i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l (if (i32.lt_s (local.get $i) (local.get $n)) (then
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $s) (local.get $i)))
      (br $l))))
    (local.get $acc))
  ;; the same, unsigned
  (func $sumu (export "sumu") (param $n i32) (param $s i32) (result i32) (local $i i32) (local $acc i32)
    (loop $l (if (i32.lt_u (local.get $i) (local.get $n)) (then
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (local.get $s)))
      (br $l))))
    (local.get $acc))
  ;; constant step and bound, a nested counted loop and an early break
  (func $nest (export "nest") (param $stop i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
    (block $out
      (loop $l (if (i32.lt_s (local.get $i) (i32.const 3000)) (then
        (local.set $j (i32.const 0))
        (loop $m (if (i32.lt_u (local.get $j) (i32.const 700)) (then
          (local.set $acc (i32.add (local.get $acc) (i32.xor (local.get $i) (local.get $j))))
          (local.set $j (i32.add (local.get $j) (i32.const 3)))
          (br $m))))
        (br_if $out (i32.eq (local.get $i) (local.get $stop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))))
    (local.get $acc))
  ;; about 2^32 iterations with constant bounds
  (func $long (export "long") (local $i i32)
    (loop $l (if (i32.lt_u (local.get $i) (i32.const 0xffe00000)) (then
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))))
  (func (export "xen_start") (param i32)))`;

function jsSum(n: number, s: number, unsigned: boolean): number {
  let acc = 0;
  let i = 0;
  for (let k = 0; (unsigned ? (i >>> 0) < (n >>> 0) : i < n) && k < 1e8; k++) {
    acc = (acc + i) | 0;
    i = (i + s) | 0;
  }
  return acc;
}

function jsNest(stop: number): number {
  let acc = 0;
  for (let i = 0; i < 3000; i++) {
    for (let j = 0; j < 700; j += 3) acc = (acc + (i ^ j)) | 0;
    if (i === stop) break;
  }
  return acc;
}

function load(onPreempt: (calls: number) => number) {
  const mod = binaryen.parseText(MODULE);
  const bytes = mod.emitBinary();
  mod.dispose();
  const { wasm, info } = rewriteGuest(bytes, { maxMemoryPages: 4 });
  const memory = new WebAssembly.Memory({ initial: 3, maximum: 4, shared: true });
  const state = { preempts: 0 };
  const g = new GuestInstance(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), memory, {
    hypercall: () => -38,
    schedOp: () => 0,
    preempt: () => onPreempt(++state.preempts),
    rdtsc: () => process.hrtime.bigint(),
  });
  const ex = g.exports as Record<string, (...a: number[]) => number>;
  return { ex, info, state };
}

test('counted loops are recognised and keep their results', (t) => {
  const { ex, info } = load(() => 10000);
  t.is(info.countedLoops, 5);
  for (const [n, s] of [[100000, 1], [100000, 7], [5, 1], [0, 1], [-5, 1], [(1 << 20) + 3, 3], [1 << 24, 1 << 20], [1000, (1 << 20) + 1]]) {
    t.is(ex.sum!(n!, s!), jsSum(n!, s!, false), `sum(${n}, ${s})`);
    if (n! >= 0) t.is(ex.sumu!(n!, s!), jsSum(n!, s!, true), `sumu(${n}, ${s})`);
  }
  for (const stop of [-1, 0, 17, 2999]) t.is(ex.nest!(stop), jsNest(stop), `nest(${stop})`);
});

test('every iteration of a counted loop is charged to the fuel', (t) => {
  const { ex, state } = load(() => 10000);
  ex.sum!(10_000_000, 1);
  // One iteration per unit of fuel: at most fuel + one chunk (1024) iterations between two preempts.
  t.true(state.preempts >= Math.floor((10_000_000 - 10000) / (10000 + 1024)), `${state.preempts} preempts`);
  const before = state.preempts;
  ex.nest!(-1); // 3000 * 234 inner iterations
  t.true(state.preempts - before >= Math.floor(3000 * 234 / (10000 + 1024)) - 1, `${state.preempts - before} preempts`);
});

test('a loop of about 2^32 iterations with constant bounds reaches preempt', (t) => {
  const { ex, state } = load((n) => { if (n >= 5) throw new GuestExit('stop'); return 10000; });
  t.throws(() => ex.long!(), { instanceOf: GuestExit });
  t.is(state.preempts, 5);
});

test('a step of 0 or a wrapping step still reaches preempt', (t) => {
  for (const [fn, n, s] of [['sum', 100, 0], ['sumu', 100, 0], ['sum', 0x7fffffff, 0x40000000], ['sumu', -1, 0x10000000]] as const) {
    const { ex, state } = load((k) => { if (k >= 3) throw new GuestExit('stop'); return 10000; });
    t.throws(() => ex[fn]!(n, s), { instanceOf: GuestExit }, `${fn}(${n}, ${s})`);
    t.is(state.preempts, 3);
  }
});
