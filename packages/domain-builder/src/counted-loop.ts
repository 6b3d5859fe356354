// Counted loops: the shape `loop $L (if (v < K) (then ... v = v + s ... (br $L)))`
// that compilers emit for `for (v = ...; v < K; v += s)`, where K and s are
// constants or locals the body never writes, v is written once per
// iteration (at the top level of the body, so every iteration that goes
// round again has advanced it) and nothing else branches back to $L.
//
// Such a loop needs no fuel check per iteration: when 0 < s and v + s
// cannot wrap, its trip count is known when it is entered. The builder runs
// it in chunks of at most CHUNK iterations by lowering the bound it compares
// against (v < lim, lim <= K), and charges each chunk's iterations to the
// fuel before running it. Where s or K are locals, whether that holds is
// known only at run time: a copy of the loop with the ordinary check runs
// instead when it does not.
import binaryen from 'binaryen';
import { walkExpression, ExpressionIds as X } from './walk.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const B = binaryen as any;

/** Iterations per chunk: the most a counted loop runs between two fuel charges. */
export const CHUNK = 1024;
const CHUNK_SHIFT = 10;
/** Largest step handled: s * CHUNK stays below 2^31. */
export const MAX_STEP = 1 << 20;

export type Operand = { konst: number } | { local: number };

export interface CountedLoop {
  name: string;
  /** The comparison `v < K`, whose right operand becomes the chunk's limit. */
  cond: number;
  signed: boolean;
  v: number;
  bound: Operand;
  step: Operand;
}

const id = (e: number) => binaryen.getExpressionId(e);
const isI32Const = (e: number) => id(e) === X.Const && binaryen.getExpressionType(e) === binaryen.i32;

function operand(e: number, v: number): Operand | null {
  if (isI32Const(e)) return { konst: B.Const.getValueI32(e) as number };
  if (id(e) === X.LocalGet && binaryen.getExpressionType(e) === binaryen.i32) {
    const l = B.LocalGet.getIndex(e) as number;
    return l === v ? null : { local: l };
  }
  return null;
}

/**
 * True when inside `root` every local.set passes `writeOk` and no branch
 * but `last` (br, br_table or delegate) goes back to loop `name`: the
 * counter moves only where the matcher saw it move, once per iteration.
 */
function loopIsClosed(root: number, funcName: string, name: string, last: number, writeOk: (local: number, set: number) => boolean): boolean {
  let ok = true;
  walkExpression(root, () => { throw new Error('root replaced'); }, funcName, (e, eid) => {
    if (!ok) return;
    if (eid === X.LocalSet) {
      if (!writeOk(B.LocalSet.getIndex(e) as number, e)) ok = false;
    } else if (eid === X.Break) {
      if (B.Break.getName(e) === name && e !== last) ok = false;
    } else if (eid === X.Switch) {
      const names = B.Switch.getNames(e) as string[];
      if (names.includes(name) || B.Switch.getDefaultName(e) === name) ok = false;
    } else if (eid === X.Try) {
      if (B.Try.getDelegateTarget(e) === name) ok = false;
    }
  });
  return ok;
}

/** The loop's counted shape, or null. Call before anything else rewrites the loop's body. */
export function matchCountedLoop(loop: number, funcName: string): CountedLoop | null {
  const name = B.Loop.getName(loop) as string | null;
  if (!name || binaryen.getExpressionType(loop) !== binaryen.none) return null;
  let body = B.Loop.getBody(loop) as number;
  if (id(body) === X.Block && !B.Block.getName(body) && B.Block.getNumChildren(body) === 1) body = B.Block.getChildAt(body, 0);
  if (id(body) !== X.If || B.If.getIfFalse(body)) return null;
  const cond = B.If.getCondition(body) as number;
  if (id(cond) !== X.Binary) return null;
  const op = B.Binary.getOp(cond) as number;
  if (op !== binaryen.LtSInt32 && op !== binaryen.LtUInt32) return null;
  const left = B.Binary.getLeft(cond) as number;
  if (id(left) !== X.LocalGet) return null;
  const v = B.LocalGet.getIndex(left) as number;
  const bound = operand(B.Binary.getRight(cond), v);
  if (!bound) return null;

  const then = B.If.getIfTrue(body) as number;
  if (id(then) !== X.Block) return null;
  const n = B.Block.getNumChildren(then) as number;
  if (n < 2) return null;
  const last = B.Block.getChildAt(then, n - 1) as number;
  if (id(last) !== X.Break || B.Break.getName(last) !== name || B.Break.getCondition(last) || B.Break.getValue(last)) return null;

  // The one write of v: a top-level `v = v + s`.
  let step: Operand | null = null;
  let inc = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = B.Block.getChildAt(then, i) as number;
    if (id(c) !== X.LocalSet || B.LocalSet.getIndex(c) !== v || B.LocalSet.isTee(c)) continue;
    if (inc) return null;
    inc = c;
    const add = B.LocalSet.getValue(c) as number;
    if (id(add) !== X.Binary || B.Binary.getOp(add) !== binaryen.AddInt32) return null;
    const a = B.Binary.getLeft(add) as number, b = B.Binary.getRight(add) as number;
    const isV = (e: number) => id(e) === X.LocalGet && B.LocalGet.getIndex(e) === v;
    step = isV(a) ? operand(b, v) : isV(b) ? operand(a, v) : null;
    if (!step) return null;
  }
  if (!step) return null;
  if ('konst' in step && (step.konst <= 0 || step.konst > MAX_STEP)) return null;

  // Nothing else writes v, K or s, and nothing else goes back to the header.
  const fixed = new Set<number>();
  if ('local' in bound) fixed.add(bound.local);
  if ('local' in step) fixed.add(step.local);
  const ok = loopIsClosed(then, funcName, name, last, (l, e) => !fixed.has(l) && (l !== v || e === inc));
  return ok ? { name, cond, signed: op === binaryen.LtSInt32, v, bound, step } : null;
}

/**
 * Whether v + s cannot wrap for any v < K and 0 < s <= MAX_STEP: true/false
 * when both are constants, else null (a run-time guard decides).
 */
export function staticallySafe(c: CountedLoop): boolean | null {
  const kOk = (k: number) => (c.signed ? k <= 0x7fffffff - MAX_STEP : (k >>> 0) <= 0xffffffff - MAX_STEP);
  if ('konst' in c.bound && !kOk(c.bound.konst)) return false;
  if ('local' in c.bound || 'local' in c.step) return null;
  return true;
}

/** The run-time guard: 0 < s <= MAX_STEP and K far enough from the top of the range. */
export function guardExpr(mod: binaryen.Module, c: CountedLoop): number {
  const parts: number[] = [];
  if ('local' in c.step) {
    parts.push(mod.i32.lt_u(mod.i32.sub(mod.local.get(c.step.local, binaryen.i32), mod.i32.const(1)), mod.i32.const(MAX_STEP)));
  }
  if ('local' in c.bound) {
    const k = mod.local.get(c.bound.local, binaryen.i32);
    parts.push(c.signed ? mod.i32.le_s(k, mod.i32.const(0x7fffffff - MAX_STEP)) : mod.i32.le_u(k, mod.i32.const((0xffffffff - MAX_STEP) | 0)));
  }
  return parts.reduce((a, b) => mod.i32.and(a, b));
}

export function operandExpr(mod: binaryen.Module, o: Operand): number {
  return 'konst' in o ? mod.i32.const(o.konst) : mod.local.get(o.local, binaryen.i32);
}

/** s * CHUNK (< 2^31 for s <= MAX_STEP). */
export function chunkSpan(mod: binaryen.Module, step: Operand): number {
  return 'konst' in step ? mod.i32.const(step.konst * CHUNK) : mod.i32.shl(mod.local.get(step.local, binaryen.i32), mod.i32.const(CHUNK_SHIFT));
}

/** Iterations of a last chunk of distance d (1 + d / s, at most one too many). */
export function lastChunkIterations(mod: binaryen.Module, d: number, step: Operand): number {
  let q: number;
  if ('konst' in step && (step.konst & (step.konst - 1)) === 0) {
    const sh = 31 - Math.clz32(step.konst);
    q = sh ? mod.i32.shr_u(d, mod.i32.const(sh)) : d;
    // s = 1: d iterations exactly.
    if (!sh) return q;
  } else {
    q = mod.i32.div_u(d, operandExpr(mod, step));
  }
  return mod.i32.add(q, mod.i32.const(1));
}

/** Gives every label defined in a copied expression a new name (binaryen wants names unique in a function). */
export function renameLabels(root: number, suffix: string, funcName: string): void {
  const map = new Map<string, string>();
  const def = (cls: string, e: number) => {
    const n = B[cls].getName(e) as string | null;
    if (n) { map.set(n, n + suffix); B[cls].setName(e, n + suffix); }
  };
  const ref = (n: string | null) => (n && map.get(n)) || n;
  walkExpression(root, () => { throw new Error('root replaced'); }, funcName, (e, eid) => {
    if (eid === X.Block) def('Block', e);
    else if (eid === binaryen.LoopId) def('Loop', e);
    else if (eid === X.Try) {
      def('Try', e);
      const d = B.Try.getDelegateTarget(e) as string | null;
      if (d) B.Try.setDelegateTarget(e, ref(d));
    } else if (eid === X.Break) B.Break.setName(e, ref(B.Break.getName(e)));
    else if (eid === X.Switch) {
      const names = (B.Switch.getNames(e) as string[]).map((n) => ref(n)!);
      B.Switch.setNames(e, names);
      B.Switch.setDefaultName(e, ref(B.Switch.getDefaultName(e)));
    } else if (eid === X.Rethrow) B.Rethrow.setTarget(e, ref(B.Rethrow.getTarget(e)));
  });
}

// Bottom-tested counted loops: the shape clang emits for a loop with a
// count known on entry, a counter run to zero by a constant step:
//   loop $L (block ... (br_if $L (local.tee $v (i32.add (local.get $v) (i32.const c)))))
// (or the condition `i32.ne (tee ...) (i32.const 0)`, or `i32.sub v S`),
// where v is written nowhere else in the loop and nothing else branches to
// $L. Every iteration that goes round again has run the update once, so
// entered with v = v0 the loop runs at most |v0| / |c| iterations when that
// division is exact and v0 has the sign opposite to c: v reaches 0 without
// wrapping and the back edge is not taken. When that count is at most
// CHUNK (checked at run time), it is charged to the fuel once before the
// loop, which then runs without a check; otherwise a copy with the ordinary
// check runs.
export interface DownCountedLoop {
  v: number;
  /** The update's constant: v += delta each iteration (nonzero, |delta| <= MAX_STEP). */
  delta: number;
}

/** The loop's bottom-tested counted shape, or null. */
export function matchDownCountedLoop(loop: number, funcName: string): DownCountedLoop | null {
  const name = B.Loop.getName(loop) as string | null;
  if (!name || binaryen.getExpressionType(loop) !== binaryen.none) return null;
  const body = B.Loop.getBody(loop) as number;
  // A named body block could be left by a branch that falls out of the loop
  // past the back edge: harmless, but keep the shape simple and known.
  if (id(body) !== X.Block || B.Block.getName(body)) return null;
  const n = B.Block.getNumChildren(body) as number;
  if (n < 1) return null;
  const last = B.Block.getChildAt(body, n - 1) as number;
  if (id(last) !== X.Break || B.Break.getName(last) !== name || B.Break.getValue(last)) return null;
  let cond = B.Break.getCondition(last) as number;
  if (!cond) return null;
  if (id(cond) === X.Binary && B.Binary.getOp(cond) === binaryen.NeInt32) {
    const r = B.Binary.getRight(cond) as number;
    if (!isI32Const(r) || B.Const.getValueI32(r) !== 0) return null;
    cond = B.Binary.getLeft(cond);
  }
  if (id(cond) !== X.LocalSet || !B.LocalSet.isTee(cond)) return null;
  const tee = cond;
  const v = B.LocalSet.getIndex(tee) as number;
  const upd = B.LocalSet.getValue(tee) as number;
  if (id(upd) !== X.Binary) return null;
  const op = B.Binary.getOp(upd) as number;
  const a = B.Binary.getLeft(upd) as number, b = B.Binary.getRight(upd) as number;
  const isV = (e: number) => id(e) === X.LocalGet && B.LocalGet.getIndex(e) === v;
  let delta: number;
  if (op === binaryen.AddInt32 && isV(a) && isI32Const(b)) delta = B.Const.getValueI32(b);
  else if (op === binaryen.AddInt32 && isV(b) && isI32Const(a)) delta = B.Const.getValueI32(a);
  else if (op === binaryen.SubInt32 && isV(a) && isI32Const(b)) delta = -(B.Const.getValueI32(b) as number);
  else return null;
  if (delta === 0 || Math.abs(delta) > MAX_STEP) return null;

  const ok = loopIsClosed(body, funcName, name, last, (l, e) => l !== v || e === tee);
  return ok ? { v, delta } : null;
}

/**
 * `if (guard) { f -= count } ...` for a bottom-tested loop: guard holds when
 * the loop, entered now, runs at most CHUNK iterations (w = v or -v, the
 * distance to 0 against the step, with 0 < w <= S*CHUNK and S dividing w);
 * count is then w / S.
 */
export function downCountExprs(mod: binaryen.Module, c: DownCountedLoop): { guard: number; count: number } {
  const S = Math.abs(c.delta);
  const w = () => (c.delta < 0 ? mod.local.get(c.v, binaryen.i32) : mod.i32.sub(mod.i32.const(0), mod.local.get(c.v, binaryen.i32)));
  let guard = mod.i32.lt_u(mod.i32.sub(w(), mod.i32.const(1)), mod.i32.const(S * CHUNK));
  let count: number;
  if ((S & (S - 1)) === 0) {
    const sh = 31 - Math.clz32(S);
    if (sh) guard = mod.i32.and(guard, mod.i32.eqz(mod.i32.and(w(), mod.i32.const(S - 1))));
    count = sh ? mod.i32.shr_u(w(), mod.i32.const(sh)) : w();
  } else {
    guard = mod.i32.and(guard, mod.i32.eqz(mod.i32.rem_u(w(), mod.i32.const(S))));
    count = mod.i32.div_u(w(), mod.i32.const(S));
  }
  return { guard, count };
}
