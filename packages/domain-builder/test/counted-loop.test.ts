// Counted loops run in fuel-charged chunks instead of a check per iteration
// (src/counted-loop.ts): same results as the loop unrewritten, fuel charged
// for every iteration, and loops whose step or bound make the count unknown
// (step 0, wrapping) still reach preempt through the checked copy.
import test from 'ava';
import { GuestExit } from '../src/index.js';
import { loadWat } from './host.js';

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

const load = (onPreempt: (calls: number) => number, text = MODULE) => loadWat(text, onPreempt);

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

// Bottom-tested loops counted down to 0 by a constant step (clang's shape
// for a count known on entry): charged once up front when the count is at
// most 1024, else, and whenever the count is not exact, the checked copy.
const DOWN = `(module
  (import "xen" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory 3)
  ;; v = n; do { acc = acc * 31 + v; v -= 4 } while (v)
  (func $down (export "down") (param $n i32) (result i32) (local $v i32) (local $acc i32)
    (local.set $v (local.get $n))
    (loop $l
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (local.get $v)))
      (br_if $l (local.tee $v (i32.add (local.get $v) (i32.const -4)))))
    (local.get $acc))
  ;; v = -n; do { acc += v; if (acc == stop) break; v += 3 } while (v != 0)
  (func $up (export "up") (param $n i32) (param $stop i32) (result i32) (local $v i32) (local $acc i32)
    (local.set $v (i32.sub (i32.const 0) (local.get $n)))
    (block $out
      (loop $l
        (local.set $acc (i32.add (local.get $acc) (local.get $v)))
        (br_if $out (i32.eq (local.get $acc) (local.get $stop)))
        (br_if $l (i32.ne (local.tee $v (i32.add (i32.const 3) (local.get $v))) (i32.const 0)))))
    (local.get $acc))
  ;; k times: the down loop of n with step 1 (i32.sub), inside a plain loop
  (func $rep (export "rep") (param $k i32) (param $n i32) (result i32) (local $v i32) (local $acc i32)
    (loop $o
      (local.set $v (local.get $n))
      (loop $l
        (local.set $acc (i32.xor (i32.add (local.get $acc) (local.get $v)) (local.get $k)))
        (br_if $l (local.tee $v (i32.sub (local.get $v) (i32.const 1)))))
      (br_if $o (local.tee $k (i32.sub (local.get $k) (local.get $n)))))
    (local.get $acc))
  ;; not counted: v is written again in the body
  (func $forged (export "forged") (local $v i32)
    (local.set $v (i32.const 8))
    (loop $l
      (if (i32.eq (local.get $v) (i32.const 4)) (then (local.set $v (i32.const 8))))
      (br_if $l (local.tee $v (i32.add (local.get $v) (i32.const -4))))))
  (func (export "xen_start") (param i32)))`;

function jsDown(n: number): number {
  let acc = 0;
  let v = n;
  do { acc = (Math.imul(acc, 31) + v) | 0; v = (v - 4) | 0; } while (v);
  return acc;
}

function jsUp(n: number, stop: number): number {
  let acc = 0;
  let v = -n | 0;
  do { acc = (acc + v) | 0; if (acc === stop) break; v = (v + 3) | 0; } while (v !== 0);
  return acc;
}

function jsRep(k: number, n: number): number {
  let acc = 0;
  do {
    let v = n;
    do { acc = ((acc + v) ^ k) | 0; v = (v - 1) | 0; } while (v);
    k = (k - n) | 0;
  } while (k);
  return acc;
}

test('bottom-tested down-counted loops are recognised and keep their results', (t) => {
  const { ex, info } = load(() => 10000, DOWN);
  // down, up, rep's inner loop; rep's outer loop (step a local) and forged are not.
  t.is(info.countedLoops, 3);
  for (const n of [4, 8, 400, 4096, 4100, 40000, 1 << 20]) t.is(ex.down!(n), jsDown(n), `down(${n})`);
  for (const [n, stop] of [[3, 0], [3000, 0], [3072, 0], [3075, 0], [30000, 0], [3000, -2997], [3000, -5997], [30000, -59997]]) {
    t.is(ex.up!(n!, stop!), jsUp(n!, stop!), `up(${n}, ${stop})`);
  }
  for (const [k, n] of [[1, 1], [1000, 10], [4000, 1000], [6000, 2000], [2050, 1025]]) t.is(ex.rep!(k!, n!), jsRep(k!, n!), `rep(${k}, ${n})`);
});

test('every iteration of a down-counted loop is charged to the fuel', (t) => {
  const { ex, state } = load(() => 10000, DOWN);
  // 10^7 inner iterations in runs of 1000 (charged up front), 10^4 outer ones.
  ex.rep!(10_000_000, 1000);
  t.true(state.preempts >= Math.floor(10_010_000 / (10000 + 1024)), `${state.preempts} preempts`);
  const before = state.preempts;
  ex.down!(1 << 24); // 2^22 iterations, more than a chunk: the checked copy
  t.true(state.preempts - before >= Math.floor((1 << 22) / 10000), `${state.preempts - before} preempts`);
});

test('a down-counted loop whose count is not exact, negative or too long reaches preempt', (t) => {
  // Not a multiple of the step: v steps over 0 and runs forever.
  for (const [fn, args] of [['down', [4001]], ['down', [-4]], ['down', [0]], ['down', [0x7ffffffc]], ['up', [3001, 1]], ['up', [0, 1]], ['up', [-3, 1]], ['forged', []]] as const) {
    const { ex, state } = load((k) => { if (k >= 3) throw new GuestExit('stop'); return 10000; }, DOWN);
    t.throws(() => ex[fn]!(...args), { instanceOf: GuestExit }, `${fn}(${args.join(', ')})`);
    t.is(state.preempts, 3);
  }
});
