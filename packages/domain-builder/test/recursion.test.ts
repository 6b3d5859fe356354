// Small loop-free recursive functions get unchecked copies (rewrite.ts,
// "unrolled along the call graph"): the results stay the same, the fuel still
// counts every call, and cycles through copies, mutual recursion and
// call_indirect all reach preempt, with a bounded number of calls per unit of fuel.
import test from 'ava';
import { GuestExit } from '../src/index.js';
import { loadWat } from './host.js';
import { RECURSION_UNROLL } from '../src/rewrite.js';

const MODULE = `(module
  (import "xen" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory 3)
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $h)
  ;; tree(d): 2^(d+1) - 1 calls
  (func $tree (export "tree") (param $d i32) (result i32)
    (if (result i32) (local.get $d)
      (then (i32.add (i32.const 1) (i32.add (call $tree (i32.sub (local.get $d) (i32.const 1))) (call $tree (i32.sub (local.get $d) (i32.const 1))))))
      (else (i32.const 1))))
  ;; even/odd by mutual recursion
  (func $even (export "even") (param $n i32) (result i32)
    (if (result i32) (local.get $n) (then (call $odd (i32.sub (local.get $n) (i32.const 1)))) (else (i32.const 1))))
  (func $odd (param $n i32) (result i32)
    (if (result i32) (local.get $n) (then (call $even (i32.sub (local.get $n) (i32.const 1)))) (else (i32.const 0))))
  ;; g -> (call_indirect h) -> g
  (func $g (export "g") (param $n i32) (result i32)
    (if (result i32) (local.get $n) (then (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))) (else (i32.const 7))))
  (func $h (param $n i32) (result i32) (i32.add (call $g (local.get $n)) (i32.const 1)))
  (func (export "xen_start") (param i32)))`;

const load = (onPreempt: (calls: number) => number) => loadWat(MODULE, onPreempt);

test('unrolled recursive functions compute the same results', (t) => {
  const { ex, info } = load(() => 10000);
  t.true(RECURSION_UNROLL >= 2);
  t.is(info.unrolledFunctions, 5);
  t.is(ex.tree!(12), 2 ** 13 - 1);
  t.is(ex.even!(1001), 0);
  t.is(ex.even!(1000), 1);
  t.is(ex.g!(500), 7 + 500);
});

test('the fuel still counts every call of an unrolled recursion', (t) => {
  const { ex, state } = load(() => 1000);
  const calls = 2 ** 21 - 1;
  t.is(ex.tree!(20), calls);
  // A check every RECURSION_UNROLL levels charges RECURSION_UNROLL units and covers at most
  // 1 + 2 + ... + 2^(RECURSION_UNROLL-1) calls of this binary recursion: bounded calls per unit.
  const perUnit = (2 ** RECURSION_UNROLL - 1) / RECURSION_UNROLL;
  t.true(state.preempts >= Math.floor((calls - 10000 * perUnit) / (1000 * perUnit)) - 1, `${state.preempts} preempts for ${calls} calls`);
});

test('mutual recursion and call_indirect cycles reach preempt', (t) => {
  for (const fn of ['even', 'g', 'tree'] as const) {
    const { ex, state } = load((n) => { if (n >= 3) throw new GuestExit('stop'); return 100; });
    t.throws(() => ex[fn]!(fn === 'tree' ? 24 : 20000), { instanceOf: GuestExit }, fn);
    t.is(state.preempts, 3);
  }
});
