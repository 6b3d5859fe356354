// Rewrite cost per example guest, and the cost of the injected checks alone
// (rewrite.checks_vs_direct.ratio): cpu-bench rewritten and run by
// GuestInstance on one thread vs the same unrewritten module run directly.
// The full-hypervisor figure, cpu.guest_vs_direct.ratio, is the host's
// (packages/xen/bench/machine.bench.ts).
import { GuestInstance, GuestExit, runDirect, writeStartInfo, initSharedInfo } from '../src/index.js';
import { rewriteGuest } from '../src/rewrite.js';
import { readGuestWasm, GUEST_NAMES } from '@xenwasm/example-guests';

type Row = { id: string; value: number; unit: string; baseline: number | null; note: string };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runRewritten(wasm: Uint8Array, initialPages: number, cmdline: string): { ms: number; console: string; preempts: number } {
  const module = new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
  const memory = new WebAssembly.Memory({ initial: initialPages, maximum: 64, shared: true });
  initSharedInfo(memory);
  writeStartInfo(memory, { cmdline });
  let out = '';
  let preempts = 0;
  const g = new GuestInstance(module, memory, {
    hypercall(nr, a1, a2, a3) {
      if (nr === 18 && a1 === 0) { out += Buffer.from(new Uint8Array(memory.buffer, a3, a2)).toString(); return a2; }
      return -38;
    },
    schedOp(cmd) { if (cmd === 2) throw new GuestExit(0); return 0; },
    // A real host checks the clock and the scheduler here: give it the same ~10k-iteration slice.
    preempt() { preempts++; return 10000; },
    rdtsc: () => process.hrtime.bigint(),
  });
  const t0 = performance.now();
  const r = g.boot();
  const ms = performance.now() - t0;
  if (r.kind !== 'exit') throw new Error(`cpu-bench under GuestInstance ended with ${r.kind}`);
  return { ms, console: out, preempts };
}

export default async function bench(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const name of GUEST_NAMES) {
    const bytes = readGuestWasm(name);
    rewriteGuest(bytes, { maxMemoryPages: 64 }); // warm binaryen
    const times: number[] = [];
    let out = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      out = rewriteGuest(bytes, { maxMemoryPages: 64 }).wasm.byteLength;
      times.push(performance.now() - t0);
    }
    rows.push({
      id: `rewrite.ms.${name}`, value: +median(times).toFixed(2), unit: 'ms', baseline: null,
      note: `domain-builder rewrite of ${name}.wasm (${bytes.byteLength} -> ${out} bytes, median of 3, uncached)`,
    });
  }

  // What asyncify (limited to sched_op) costs: size and rewrite time, on the biggest guest.
  {
    const pp = readGuestWasm('evtchn-pingpong');
    const withA: number[] = [], withoutA: number[] = [];
    let sizeWith = 0, sizeWithout = 0;
    for (let i = 0; i < 3; i++) {
      let t0 = performance.now();
      sizeWith = rewriteGuest(pp, { maxMemoryPages: 64 }).wasm.byteLength;
      withA.push(performance.now() - t0);
      t0 = performance.now();
      sizeWithout = rewriteGuest(pp, { maxMemoryPages: 64, asyncify: false }).wasm.byteLength;
      withoutA.push(performance.now() - t0);
    }
    rows.push({
      id: 'rewrite.asyncify.size_ratio', value: +(sizeWith / sizeWithout).toFixed(3), unit: 'x', baseline: 1,
      note: `evtchn-pingpong rewritten with asyncify limited to xen.sched_op (${sizeWith} bytes) / without asyncify (${sizeWithout} bytes)`,
    });
    rows.push({
      id: 'rewrite.asyncify.ms', value: +(median(withA) - median(withoutA)).toFixed(2), unit: 'ms', baseline: +median(withoutA).toFixed(2),
      note: 'evtchn-pingpong: rewrite time added by the asyncify pass (baseline: the rest of the rewrite)',
    });
  }

  // Block (unwind) + resume (rewind) of an idle guest, and moving it to a fresh instance.
  {
    const { wasm: iw, info: ii } = rewriteGuest(readGuestWasm('idle'), { maxMemoryPages: 8 });
    const module = new WebAssembly.Module(iw as Uint8Array<ArrayBuffer>);
    const memory = new WebAssembly.Memory({ initial: ii.initialMemoryPages, maximum: 8, shared: true });
    initSharedInfo(memory);
    writeStartInfo(memory, {});
    const cbs = { hypercall: () => -38, schedOp: (): 'block' => 'block', preempt: () => 10000, rdtsc: () => process.hrtime.bigint() };
    let g = new GuestInstance(module, memory, cbs);
    g.boot();
    const N = 20000;
    let t0 = performance.now();
    for (let i = 0; i < N; i++) g.resume(0);
    const cycleUs = ((performance.now() - t0) * 1000) / N;
    const M = 500;
    t0 = performance.now();
    for (let i = 0; i < M; i++) {
      g = GuestInstance.restore(module, memory, cbs, g.saveState());
      g.resume(0);
    }
    const moveUs = ((performance.now() - t0) * 1000) / M;
    rows.push({
      id: 'guest.block_resume_us', value: +cycleUs.toFixed(2), unit: 'us', baseline: null,
      note: 'idle guest: resume (asyncify rewind) until it blocks again (unwind), one thread, mean of 20000',
    });
    rows.push({
      id: 'guest.move_us', value: +moveUs.toFixed(1), unit: 'us', baseline: +cycleUs.toFixed(2),
      note: 'idle guest: saveState + restore in a new instance (same module and memory) + resume until it blocks, mean of 500; baseline: resume in the same instance',
    });
  }

  const bytes = readGuestWasm('cpu-bench');
  const { wasm, info } = rewriteGuest(bytes, { maxMemoryPages: 64 });
  const cmdline = process.env.CPU_BENCH_ROUNDS ? `rounds=${process.env.CPU_BENCH_ROUNDS}` : '';
  const guest: number[] = [];
  const direct: number[] = [];
  let preempts = 0;
  for (let i = 0; i < 3; i++) {
    const d = await runDirect(new WebAssembly.Module(bytes), cmdline);
    direct.push(d.ms);
    const g = runRewritten(wasm, info.initialMemoryPages, cmdline);
    guest.push(g.ms);
    preempts = g.preempts;
    if (g.console !== d.console) throw new Error(`cpu-bench output differs: ${g.console} vs ${d.console}`);
  }
  const g = median(guest);
  const d = median(direct);
  rows.push({
    id: 'rewrite.checks_vs_direct.ratio', value: +(g / d).toFixed(3), unit: 'x', baseline: 1,
    note: `cpu-bench: rewritten module under GuestInstance on one thread (${g.toFixed(0)} ms, ${preempts} preempt calls) / ` +
      `the unrewritten module run directly (${d.toFixed(0)} ms), medians of 3 alternated runs. ` +
      'The injected checks alone, on one thread; cpu.guest_vs_direct.ratio is the same under the whole hypervisor.',
  });
  return rows;
}
