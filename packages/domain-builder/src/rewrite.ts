// The domain builder's module rewriting (docs/pv-abi.md, "What the builder
// does"): imported shared memory, passive data applied once, preemption
// checks, memory.grow as increase_reservation, exported mutable globals, and
// an asyncify limited to xen.sched_op.
import binaryen from 'binaryen';
import { XenError } from '@xenwasm/xen-errno';
import { walkFunction, ExpressionIds } from './walk.js';
import { matchCountedLoop, matchDownCountedLoop, downCountExprs, staticallySafe, guardExpr, operandExpr, chunkSpan, lastChunkIterations, renameLabels, CHUNK, type CountedLoop } from './counted-loop.js';
import { rewriteKey } from './rewrite-key.js';

// What needs binaryen, in one place: `@xenwasm/domain-builder/rewrite`.
export { CHUNK as COUNTED_LOOP_CHUNK } from './counted-loop.js';
export { UnsupportedExpressionError } from './walk.js';
import {
  IMPORT_MODULE, IMPORT_HYPERCALL, IMPORT_SCHED_OP, IMPORT_RDTSC, IMPORT_PREEMPT, IMPORT_MEMORY_GROW,
  EXPORT_MEMORY, EXPORT_INIT_MEMORY, EXPORT_GLOBAL_PREFIX, GUEST_DATA_BASE, HVM_IMPORT_MODULE,
} from './abi.js';

export interface RewriteOptions {
  /** The domain's max_pages in 64 KiB wasm pages: the memory's maximum. */
  maxMemoryPages: number;
  /** At least this many wasm pages at start (default: what the module declares). */
  initialMemoryPages?: number;
  /** Default true. false leaves asyncify out even if the guest imports sched_op (for measuring its cost only: such a guest cannot block). */
  asyncify?: boolean;
  /**
   * An HVM guest: an unmodified WASI program. Its wasi_snapshot_preview1
   * imports stay (the host traps them to the device model), its data may
   * start anywhere (it has no start_info, shared_info or save area).
   */
  hvm?: boolean;
}

export interface RewriteInfo {
  /** Hash of (input, options, rewriter version): the cache key. */
  hash: string;
  inputBytes: number;
  outputBytes: number;
  rewriteMs: number;
  /** Wasm pages the memory needs at start (>= the module's own minimum, >= 2 for the reserved pages). */
  initialMemoryPages: number;
  maxMemoryPages: number;
  dataSegments: number;
  dataBytes: number;
  /** The module's start function now runs inside __xen_init_memory. */
  startFunctionMoved: boolean;
  loopChecks: number;
  /** Loops run in fuel-charged chunks, without a check per iteration (counted-loop.ts). */
  countedLoops: number;
  entryChecks: number;
  recursiveFunctions: number;
  /** Recursive functions given unchecked copies (RECURSION_UNROLL). */
  unrolledFunctions: number;
  memoryGrowSites: number;
  /** Export names of the module's mutable globals, in global order. */
  exportedGlobals: string[];
  /** False when the module does not import xen.sched_op (it can never block). */
  asyncify: boolean;
  /** Fuel the injected global starts with. */
  initialFuel: number;
}

export interface RewriteResult {
  wasm: Uint8Array;
  info: RewriteInfo;
}

/** Bump when the output changes for the same input: it is part of the cache key. */
export const INITIAL_FUEL = 10000;
/** Calls per entry check along a cycle of small loop-free recursive functions (see "unrolled along the call graph"). */
export const RECURSION_UNROLL = 4;
/** Expressions in a function's body above which it is not unrolled (its own work dwarfs the check). */
const UNROLL_MAX_SIZE = 100;

const FEATURES =
  binaryen.Features.MutableGlobals | binaryen.Features.NontrappingFPToInt | binaryen.Features.SIMD128 |
  binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt | binaryen.Features.SignExt |
  binaryen.Features.Atomics | binaryen.Features.Multivalue | binaryen.Features.ReferenceTypes |
  binaryen.Features.TailCall | binaryen.Features.ExceptionHandling;

const FUEL = '__xen_fuel';
/** The only module besides xen an HVM guest may import from. */
const PREEMPT = '__xen_preempt';
const MEMORY_GROW = '__xen_memory_grow';
const INIT_MEMORY = '__xen_init_memory';
const START_BODY = '__xen_start_function';

const KNOWN_IMPORTS: Record<string, { params: number[]; results: number[] }> = {
  [IMPORT_HYPERCALL]: { params: Array(6).fill(binaryen.i32), results: [binaryen.i32] },
  [IMPORT_SCHED_OP]: { params: [binaryen.i32, binaryen.i32], results: [binaryen.i32] },
  [IMPORT_RDTSC]: { params: [], results: [binaryen.i64] },
  [IMPORT_PREEMPT]: { params: [], results: [binaryen.i32] },
  [IMPORT_MEMORY_GROW]: { params: [binaryen.i32], results: [binaryen.i32] },
};

function invalid(message: string, context: Record<string, unknown> = {}): XenError {
  return new XenError('GUEST_INVALID', message, context);
}

function sameTypes(t: number, want: number[]): boolean {
  const got = binaryen.expandType(t);
  return got.length === want.length && got.every((x, i) => x === want[i]);
}

/** Rewrites a guest module; throws XenError('GUEST_INVALID' | 'GUEST_UNSUPPORTED' | 'ENOMEM' | 'EINVAL') on what it refuses. */
export function rewriteGuest(input: Uint8Array, opts: RewriteOptions): RewriteResult {
  const t0 = performance.now();
  if (!Number.isInteger(opts.maxMemoryPages) || opts.maxMemoryPages < 1 || opts.maxMemoryPages > 65536) {
    throw new XenError('EINVAL', `maxMemoryPages must be an integer in 1..65536, got ${opts.maxMemoryPages}`);
  }
  let mod: binaryen.Module;
  try {
    mod = binaryen.readBinary(input);
  } catch (e) {
    throw invalid(`not a WebAssembly module: ${(e as Error).message}`);
  }
  try {
    mod.setFeatures(FEATURES);
    return rewriteModule(mod, input.byteLength, rewriteKey(input, opts), opts, t0);
  } finally {
    mod.dispose();
  }
}

function rewriteModule(mod: binaryen.Module, inputBytes: number, hash: string, opts: RewriteOptions, t0: number): RewriteResult {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const B = binaryen as any;

  // --- Imports: only the ABI's, with the ABI's signatures.
  const importByBase = new Map<string, string>(); // base -> internal name
  const defined: Array<{ ref: number; name: string }> = [];
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const ref = mod.getFunctionByIndex(i);
    const fi = binaryen.getFunctionInfo(ref);
    if (fi.module) {
      if (opts.hvm && fi.module === HVM_IMPORT_MODULE) continue;
      const spec = KNOWN_IMPORTS[fi.base!];
      if (fi.module !== IMPORT_MODULE || !spec) {
        throw invalid(`guest imports ${fi.module}.${fi.base}, which the PV ABI does not provide` +
          (fi.base === 'abort' ? ' (AssemblyScript: build with --use abort=~lib/@xenwasm/guest-sdk/assembly/abort/xen_abort)' : ''),
          { import: `${fi.module}.${fi.base}` });
      }
      if (!sameTypes(fi.params, spec.params) || !sameTypes(fi.results, spec.results)) {
        throw invalid(`guest imports ${fi.module}.${fi.base} with the wrong signature`);
      }
      importByBase.set(fi.base!, fi.name);
    } else {
      defined.push({ ref, name: fi.name });
    }
  }
  for (let i = 0; i < mod.getNumGlobals(); i++) {
    const gi = binaryen.getGlobalInfo(mod.getGlobalByIndex(i));
    if (gi.module) throw invalid(`guest imports global ${gi.module}.${gi.base}, which the PV ABI does not provide`);
  }
  for (let i = 0; i < mod.getNumTables(); i++) {
    const ti = binaryen.getTableInfo(mod.getTableByIndex(i));
    if (ti.module) throw invalid(`guest imports table ${ti.module}.${ti.base}, which the PV ABI does not provide`);
  }
  if (!mod.hasMemory()) throw invalid('guest has no memory');
  const mem = mod.getMemoryInfo();
  if (mem.is64) throw invalid('guest uses a 64-bit memory');
  if (mem.module && !(mem.module === IMPORT_MODULE && mem.base === 'memory') && !(mem.module === 'env' && mem.base === 'memory')) {
    throw invalid(`guest imports its memory as ${mem.module}.${mem.base}`);
  }

  // --- Analysis: one walk over every defined function.
  type Site = { expr: number; replace: (r: number) => void };
  const callees = new Map<string, Set<string>>();
  const indirectCallers = new Set<string>();
  const loopsOf = new Map<string, Site[]>();
  const callsOf = new Map<string, Site[]>();
  const returnsOf = new Map<string, Site[]>();
  const growSites: Site[] = [];
  const addressTaken = new Set<string>();
  for (const { ref, name } of defined) {
    const out = new Set<string>();
    const loops: Site[] = [];
    const calls: Site[] = [];
    const returns: Site[] = [];
    callees.set(name, out);
    walkFunction(ref, name, (expr, id, replace) => {
      if (id === ExpressionIds.Loop) loops.push({ expr, replace });
      else if (id === ExpressionIds.Call) { out.add(B.Call.getTarget(expr)); calls.push({ expr, replace }); }
      else if (id === ExpressionIds.CallIndirect) { indirectCallers.add(name); calls.push({ expr, replace }); }
      else if (id === ExpressionIds.MemoryGrow) growSites.push({ expr, replace });
      else if (id === ExpressionIds.Return) returns.push({ expr, replace });
      else if (id === ExpressionIds.RefFunc) addressTaken.add((binaryen.getExpressionInfo(expr) as binaryen.RefFuncInfo).func);
    });
    loopsOf.set(name, loops);
    callsOf.set(name, calls);
    returnsOf.set(name, returns);
  }
  // call_indirect may reach any function in a table or whose address is taken.
  for (let i = 0; i < mod.getNumElementSegments(); i++) {
    for (const f of binaryen.getElementSegmentInfo(mod.getElementSegmentByIndex(i)).data) addressTaken.add(f);
  }
  for (const caller of indirectCallers) for (const f of addressTaken) callees.get(caller)!.add(f);
  const recursive = recursiveFunctions(callees);

  // --- Imports the injected code needs.
  const i32 = binaryen.i32;
  const ensureImport = (base: string, internal: string): string => {
    const have = importByBase.get(base);
    if (have) return have;
    const spec = KNOWN_IMPORTS[base];
    mod.addFunctionImport(internal, IMPORT_MODULE, base, binaryen.createType(spec.params), binaryen.createType(spec.results));
    importByBase.set(base, internal);
    return internal;
  };
  const preempt = ensureImport(IMPORT_PREEMPT, PREEMPT);

  // --- memory.grow goes to the hypervisor (xen.memory_grow), which accounts
  // the pages against max_pages and the host's free memory, grows the shared
  // memory or refuses with -1.
  if (growSites.length) {
    const grow = ensureImport(IMPORT_MEMORY_GROW, MEMORY_GROW);
    for (const site of growSites) site.replace(mod.call(grow, [B.MemoryGrow.getDelta(site.expr)], i32));
  }

  // --- Small recursive functions without loops are unrolled along the call
  // graph: each gets RECURSION_UNROLL - 1 unchecked copies, and a direct call
  // to such a function from the original goes to its first copy, from copy
  // i to copy i + 1, from the last copy back to the (checked) original. Every
  // call-graph cycle then passes an original (indirect calls and calls to
  // other functions reach originals) at least once per RECURSION_UNROLL calls,
  // so the entry check is paid once per RECURSION_UNROLL calls along a chain
  // and charges that much fuel (one check bounds the work of the copies
  // below it: at most 1 + b + ... + b^(RECURSION_UNROLL-1) bodies for b
  // recursive call sites per body; the host adapts the fuel to time anyway).
  // Charging that bound instead (1111 for a body with 10 such calls) made
  // preempts, and upcalls with them, ~1000x more frequent in the SDK's
  // allocation/abort functions, and evtchn-pingpong pairs under the host then
  // hung now and then (both blocked, nothing pending): a latent problem with
  // upcalls at those points, not yet understood.
  const unrolled = new Map<string, string[]>(); // original -> its copies
  for (const { ref, name } of defined) {
    if (!recursive.has(name) || loopsOf.get(name)!.length || RECURSION_UNROLL < 2) continue;
    let size = 0;
    walkFunction(ref, name, () => { size++; });
    if (size > UNROLL_MAX_SIZE) continue;
    const fi = binaryen.getFunctionInfo(ref);
    const copies: string[] = [];
    for (let i = 1; i < RECURSION_UNROLL; i++) {
      const copy = `${name}__xen_unroll${i}`;
      mod.addFunction(copy, fi.params, fi.results, fi.vars, mod.copyExpression(B.Function.getBody(ref)));
      copies.push(copy);
    }
    unrolled.set(name, copies);
  }
  const retarget = (fn: number, fnName: string, level: number) => {
    walkFunction(fn, fnName, (e, id) => {
      if (id !== ExpressionIds.Call) return;
      const copies = unrolled.get(B.Call.getTarget(e));
      if (copies) B.Call.setTarget(e, level < copies.length ? copies[level] : binaryen.getFunctionInfo(mod.getFunction(B.Call.getTarget(e))).name);
    });
  };
  for (const [name, copies] of unrolled) {
    retarget(mod.getFunction(name), name, 0);
    copies.forEach((c, i) => retarget(mod.getFunction(c), c, i + 1));
  }

  // --- Fuel checks at loop headers and at entries of recursive functions.
  // A function with loops keeps the fuel in a local (a register: a check is
  // a decrement and a branch), written back to the global before calls and
  // returns, reloaded after calls (the callee spent some). The call to
  // preempt is kept out of the loop: an exhausted check leaves the loop,
  // calls preempt and re-enters the loop at its header, so a loop without
  // calls stays one (V8's optimising tier allocates registers across a call
  // much worse). Functions without loops use the global directly.
  mod.addGlobal(FUEL, i32, true, mod.i32.const(INITIAL_FUEL));
  let entryChecks = 0;
  let loopChecks = 0;
  let countedLoops = 0;
  let label = 0;
  const isReturnCall = (e: number) => (binaryen.getExpressionId(e) === ExpressionIds.Call ? B.Call.isReturn(e) : B.CallIndirect.isReturn(e)) as boolean;
  for (const { ref, name } of defined) {
    const loops = loopsOf.get(name)!;
    const isRecursive = recursive.has(name);
    if (!loops.length) {
      if (isRecursive) {
        const t = B._BinaryenFunctionAddVar(ref, i32) as number;
        const body = B.Function.getBody(ref);
        B.Function.setBody(ref, mod.block(null, [
          mod.global.set(FUEL, mod.local.tee(t, mod.i32.sub(mod.global.get(FUEL, i32), mod.i32.const(unrolled.has(name) ? RECURSION_UNROLL : 1)), i32)),
          mod.if(mod.i32.le_s(mod.local.get(t, i32), mod.i32.const(0)), mod.global.set(FUEL, mod.call(preempt, [], i32))),
          body,
        ], binaryen.auto));
        entryChecks++;
      }
      continue;
    }
    const f = B._BinaryenFunctionAddVar(ref, i32) as number;
    const temps = new Map<number, number>();
    const temp = (type: number): number => {
      let t = temps.get(type);
      if (t === undefined) { t = B._BinaryenFunctionAddVar(ref, type) as number; temps.set(type, t); }
      return t;
    };
    const store = () => mod.global.set(FUEL, mod.local.get(f, i32));
    const reload = () => mod.local.set(f, mod.global.get(FUEL, i32));
    for (const site of callsOf.get(name)!) {
      const type = binaryen.getExpressionType(site.expr);
      if (isReturnCall(site.expr)) site.replace(mod.block(null, [store(), site.expr], binaryen.auto));
      else if (type === binaryen.none || type === binaryen.unreachable) site.replace(mod.block(null, [store(), site.expr, reload()], binaryen.auto));
      else {
        const t = temp(type);
        site.replace(mod.block(null, [store(), mod.local.set(t, site.expr), reload(), mod.local.get(t, type)], type));
      }
    }
    for (const site of returnsOf.get(name)!) {
      const value = B.Return.getValue(site.expr) as number;
      if (!value) { site.replace(mod.block(null, [store(), site.expr], binaryen.auto)); continue; }
      const type = binaryen.getExpressionType(value);
      if (type === binaryen.unreachable) continue; // never returns
      const t = temp(type);
      site.replace(mod.block(null, [mod.local.set(t, value), store(), mod.return(mod.local.get(t, type))], binaryen.auto));
    }
    // The ordinary check: block $done (loop $retry (block $out (br $done (loop ...))) (preempt) (br $retry))
    // with `f -= 1; br_if $out (f <= 0)` at the top of the loop's body.
    const checkLoop = (loop: number): number => {
      const n = label++;
      const out = `__xen_fuel_out${n}`, retry = `__xen_fuel_retry${n}`, done = `__xen_fuel_done${n}`;
      const type = binaryen.getExpressionType(loop);
      const body = B.Loop.getBody(loop);
      B.Loop.setBody(loop, mod.block(null, [
        mod.local.set(f, mod.i32.sub(mod.local.get(f, i32), mod.i32.const(1))),
        mod.br(out, mod.i32.le_s(mod.local.get(f, i32), mod.i32.const(0))),
        body,
      ], binaryen.auto));
      B.Loop.finalize(loop);
      const exitLoop = type === binaryen.unreachable ? loop : mod.br(done, 0, type === binaryen.none ? 0 : loop);
      return mod.block(done, [
        mod.loop(retry, mod.block(null, [
          mod.block(out, type === binaryen.none ? [loop, exitLoop] : [exitLoop], binaryen.none),
          mod.global.set(FUEL, mod.local.tee(f, mod.call(preempt, [], i32), i32)),
          mod.br(retry),
        ], binaryen.unreachable)),
      ], type === binaryen.unreachable ? binaryen.none : type);
    };
    // A counted loop runs in chunks of at most CHUNK iterations, each charged
    // to the fuel before it runs (counted-loop.ts); the loop itself is left
    // without a check:
    //   block $done (loop $retry
    //     (br_if $done (v >= K))
    //     d = K - v; if (d > s*CHUNK) {lim = v + s*CHUNK; n = CHUNK} else {lim = K; n = d/s + 1}
    //     f -= n; if (f <= 0) preempt
    //     (loop $L (if (v < lim) ...))  (br $retry))
    const chunkLoop = (c: CountedLoop, loop: number): number => {
      const n = label++;
      const done = `__xen_chunk_done${n}`, retry = `__xen_chunk_retry${n}`;
      const d = B._BinaryenFunctionAddVar(ref, i32) as number;
      const lim = B._BinaryenFunctionAddVar(ref, i32) as number;
      const v = () => mod.local.get(c.v, i32);
      const K = () => operandExpr(mod, c.bound);
      B.Binary.setRight(c.cond, mod.local.get(lim, i32));
      return mod.block(done, [
        mod.loop(retry, mod.block(null, [
          mod.br(done, c.signed ? mod.i32.ge_s(v(), K()) : mod.i32.ge_u(v(), K())),
          mod.local.set(d, mod.i32.sub(K(), v())),
          mod.if(mod.i32.gt_u(mod.local.get(d, i32), chunkSpan(mod, c.step)),
            mod.block(null, [
              mod.local.set(lim, mod.i32.add(v(), chunkSpan(mod, c.step))),
              mod.local.set(f, mod.i32.sub(mod.local.get(f, i32), mod.i32.const(CHUNK))),
            ], binaryen.none),
            mod.block(null, [
              mod.local.set(lim, K()),
              mod.local.set(f, mod.i32.sub(mod.local.get(f, i32), lastChunkIterations(mod, mod.local.get(d, i32), c.step))),
            ], binaryen.none)),
          mod.if(mod.i32.le_s(mod.local.get(f, i32), mod.i32.const(0)),
            mod.global.set(FUEL, mod.local.tee(f, mod.call(preempt, [], i32), i32))),
          loop,
          mod.br(retry),
        ], binaryen.none)),
      ], binaryen.none);
    };
    // Innermost loops first: an outer loop's body may be an inner loop's slot.
    for (const site of [...loops].reverse()) {
      const counted = matchCountedLoop(site.expr, name);
      const safe = counted ? staticallySafe(counted) : false;
      if (counted && safe !== false) {
        let fallback = 0;
        if (safe === null) {
          // Step or bound known at run time only: the ordinary loop, on a copy, when the guard fails.
          const copy = mod.copyExpression(site.expr);
          renameLabels(copy, `__xen_copy${label++}`, name);
          fallback = checkLoop(copy);
          loopChecks++;
        }
        const guard = safe === null ? guardExpr(mod, counted) : 0;
        const chunked = chunkLoop(counted, site.expr);
        site.replace(safe === null ? mod.if(guard, chunked, fallback) : chunked);
        countedLoops++;
        continue;
      }
      const down = matchDownCountedLoop(site.expr, name);
      if (down) {
        // Bottom-tested, counted down to 0: run unchecked when its count
        // (at most CHUNK) is charged up front, else the checked copy.
        const copy = mod.copyExpression(site.expr);
        renameLabels(copy, `__xen_copy${label++}`, name);
        const fallback = checkLoop(copy);
        loopChecks++;
        const { guard, count } = downCountExprs(mod, down);
        site.replace(mod.if(guard, mod.block(null, [
          mod.local.set(f, mod.i32.sub(mod.local.get(f, i32), count)),
          mod.if(mod.i32.le_s(mod.local.get(f, i32), mod.i32.const(0)),
            mod.global.set(FUEL, mod.local.tee(f, mod.call(preempt, [], i32), i32))),
          site.expr,
        ], binaryen.none), fallback));
        countedLoops++;
        continue;
      }
      site.replace(checkLoop(site.expr));
      loopChecks++;
    }
    const body = B.Function.getBody(ref);
    const entry = [reload()];
    if (isRecursive) {
      entry.push(
        mod.local.set(f, mod.i32.sub(mod.local.get(f, i32), mod.i32.const(1))),
        mod.if(mod.i32.le_s(mod.local.get(f, i32), mod.i32.const(0)), mod.local.set(f, mod.call(preempt, [], i32))),
        store(),
      );
      entryChecks++;
    }
    const bodyType = binaryen.getExpressionType(body);
    if (bodyType === binaryen.unreachable) {
      B.Function.setBody(ref, mod.block(null, [...entry, body], binaryen.auto));
    } else if (bodyType === binaryen.none) {
      B.Function.setBody(ref, mod.block(null, [...entry, body, store()], binaryen.auto));
    } else {
      const t = temp(bodyType);
      B.Function.setBody(ref, mod.block(null, [...entry, mod.local.set(t, body), store(), mod.local.get(t, bodyType)], bodyType));
    }
  }

  // --- Memory: imported shared xen.memory, passive data applied once.
  const memName = memoryInternalName(mod);
  const segments: Array<{ offset: number; data: Uint8Array }> = [];
  for (let i = 0; i < (mod as any).getNumDataSegments(); i++) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const seg = (mod as any).getDataSegmentInfo(mod.getDataSegmentByIndex(i)) as { name: string; offset: number | null; data: ArrayBuffer; passive: boolean };
    if (seg.passive) throw invalid('guest has passive data segments; only active ones are supported');
    const offset = seg.offset!;
    if (offset < GUEST_DATA_BASE && !opts.hvm) {
      throw invalid(`guest data segment at ${offset} lies in the ABI's reserved first ${GUEST_DATA_BASE} bytes ` +
        `(AssemblyScript: --memoryBase ${GUEST_DATA_BASE})`, { offset });
    }
    segments.push({ offset, data: new Uint8Array(seg.data) });
  }
  const merged = mergeSegments(segments);
  const dataEnd = merged.reduce((m, s) => Math.max(m, s.offset + s.data.byteLength), 0);
  const neededPages = Math.max(mem.initial, Math.ceil(dataEnd / 65536), 2, opts.initialMemoryPages ?? 0);
  if (neededPages > opts.maxMemoryPages) {
    throw new XenError('ENOMEM', `guest needs ${neededPages} wasm pages at start but the domain may have ${opts.maxMemoryPages}`,
      { neededPages, maxMemoryPages: opts.maxMemoryPages });
  }
  for (let i = mod.getNumExports() - 1; i >= 0; i--) {
    const e = binaryen.getExportInfo(mod.getExportByIndex(i));
    if (e.kind === binaryen.ExternalMemory) mod.removeExport(e.name);
  }
  mod.setMemory(neededPages, opts.maxMemoryPages, EXPORT_MEMORY,
    merged.map((s, i) => ({ name: segName(i), offset: 0, data: s.data, passive: true })), true, false, memName);
  mod.addMemoryImport(memName, IMPORT_MODULE, 'memory', true);

  // The start function would rerun (and reallocate over live data) in every
  // new instance of a moved guest: it runs once, in __xen_init_memory.
  const initBody: number[] = merged.map((s, i) => mod.memory.init(segName(i), mod.i32.const(s.offset), mod.i32.const(0), mod.i32.const(s.data.byteLength), memName));
  merged.forEach((_, i) => initBody.push(mod.data.drop(segName(i))));
  const start = mod.getStart();
  let startFunctionMoved = false;
  if (start) {
    const fi = binaryen.getFunctionInfo(start);
    mod.addFunction(START_BODY, binaryen.none, binaryen.none, fi.vars, fi.body);
    B.Function.setBody(start, mod.nop());
    initBody.push(mod.call(START_BODY, [], binaryen.none));
    startFunctionMoved = true;
  }
  mod.addFunction(INIT_MEMORY, binaryen.none, binaryen.none, [], mod.block(null, initBody.length ? initBody : [mod.nop()], binaryen.none));
  mod.addFunctionExport(INIT_MEMORY, EXPORT_INIT_MEMORY);

  // --- Mutable globals are exported so a blocked vCPU can move instances.
  const exportedGlobals: string[] = [];
  for (let i = 0; i < mod.getNumGlobals(); i++) {
    const gi = binaryen.getGlobalInfo(mod.getGlobalByIndex(i));
    if (!gi.mutable || gi.name === FUEL) continue;
    if (gi.type === binaryen.v128) throw new XenError('GUEST_UNSUPPORTED', `guest global ${gi.name} is a mutable v128, which cannot be saved`);
    const name = `${EXPORT_GLOBAL_PREFIX}${i}`;
    mod.addGlobalExport(gi.name, name);
    exportedGlobals.push(name);
  }

  // --- Asyncify, limited to the paths that reach xen.sched_op.
  const asyncify = importByBase.has(IMPORT_SCHED_OP) && opts.asyncify !== false;
  if (asyncify) {
    const prevOpt = binaryen.getOptimizeLevel();
    const prevShrink = binaryen.getShrinkLevel();
    try {
      binaryen.setOptimizeLevel(1);
      binaryen.setShrinkLevel(0);
      binaryen.setPassArgument('asyncify-imports', `${IMPORT_MODULE}.${IMPORT_SCHED_OP}`);
      binaryen.setPassArgument('asyncify-ignore-indirect', '');
      mod.runPasses(['asyncify']);
    } finally {
      binaryen.clearPassArguments();
      binaryen.setOptimizeLevel(prevOpt);
      binaryen.setShrinkLevel(prevShrink);
    }
  }

  if (!mod.validate()) throw new XenError('GUEST_UNSUPPORTED', 'rewritten guest module does not validate (binaryen printed why)');
  const wasm = mod.emitBinary();
  return {
    wasm,
    info: {
      hash,
      inputBytes,
      outputBytes: wasm.byteLength,
      rewriteMs: performance.now() - t0,
      initialMemoryPages: neededPages,
      maxMemoryPages: opts.maxMemoryPages,
      dataSegments: merged.length,
      dataBytes: merged.reduce((n, s) => n + s.data.byteLength, 0),
      startFunctionMoved,
      loopChecks,
      countedLoops,
      entryChecks,
      recursiveFunctions: recursive.size,
      unrolledFunctions: unrolled.size,
      memoryGrowSites: growSites.length,
      exportedGlobals,
      asyncify,
      initialFuel: INITIAL_FUEL,
    },
  };
}

const segName = (i: number) => `__xen_data_${i}`;

/** The memory's internal name (expressions refer to it by name). */
function memoryInternalName(mod: binaryen.Module): string {
  for (let i = 0; i < mod.getNumExports(); i++) {
    const e = binaryen.getExportInfo(mod.getExportByIndex(i));
    if (e.kind === binaryen.ExternalMemory) return e.value;
  }
  const m = /\(memory \$(\S+)/.exec(mod.emitText());
  if (!m) throw invalid('cannot find the guest memory');
  return m[1];
}

/** Joins segments closer than 64 bytes (asc emits one per string literal). */
function mergeSegments(segs: Array<{ offset: number; data: Uint8Array }>): Array<{ offset: number; data: Uint8Array }> {
  const sorted = [...segs].sort((a, b) => a.offset - b.offset);
  const out: Array<{ offset: number; parts: Array<{ offset: number; data: Uint8Array }>; end: number }> = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.offset < last.end) throw invalid(`guest data segments overlap at ${s.offset}`);
    if (last && s.offset - last.end <= 64) {
      last.parts.push(s);
      last.end = s.offset + s.data.byteLength;
    } else {
      out.push({ offset: s.offset, parts: [s], end: s.offset + s.data.byteLength });
    }
  }
  return out.map((g) => {
    const data = new Uint8Array(g.end - g.offset);
    for (const p of g.parts) data.set(p.data, p.offset - g.offset);
    return { offset: g.offset, data };
  });
}

/** Functions on a call-graph cycle (Tarjan's strongly connected components). */
export function recursiveFunctions(callees: Map<string, Set<string>>): Set<string> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result = new Set<string>();
  let next = 0;
  for (const root of callees.keys()) {
    if (index.has(root)) continue;
    // Iterative DFS: [node, iterator over its callees].
    const work: Array<[string, Iterator<string>]> = [];
    const enter = (v: string) => {
      index.set(v, next); low.set(v, next); next++;
      stack.push(v); onStack.add(v);
      work.push([v, (callees.get(v) ?? new Set<string>()).values()]);
    };
    enter(root);
    while (work.length) {
      const [v, it] = work[work.length - 1];
      const step = it.next();
      if (!step.done) {
        const w = step.value;
        if (!callees.has(w)) continue; // an import
        if (!index.has(w)) enter(w);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const comp: string[] = [];
        let w: string;
        do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== v);
        if (comp.length > 1 || callees.get(v)!.has(v)) for (const c of comp) result.add(c);
      }
    }
  }
  return result;
}
