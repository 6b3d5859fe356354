import test from 'ava';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import binaryen from 'binaryen';
import { RewriteCache, rewriteKey } from '../src/index.js';
import { rewriteGuest, recursiveFunctions } from '../src/rewrite.js';
import { readGuestWasm } from '@xenwasm/example-guests';

function wat(text: string): Uint8Array {
  const m = binaryen.parseText(text);
  try { return m.emitBinary(); } finally { m.dispose(); }
}

test('the rewritten module imports shared xen.memory and exports what the runner needs', (t) => {
  const { wasm, info } = rewriteGuest(readGuestWasm('idle'), { maxMemoryPages: 32, initialMemoryPages: 5 });
  const mod = new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
  const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}:${i.kind}`);
  t.true(imports.includes('xen.memory:memory'));
  t.true(imports.includes('xen.sched_op:function'));
  t.true(imports.includes('xen.preempt:function'));
  t.true(imports.every((i) => i.startsWith('xen.')));
  const exports = WebAssembly.Module.exports(mod).map((e) => e.name);
  for (const e of ['xen_start', 'xen_upcall', 'memory', '__xen_init_memory', 'asyncify_start_unwind', ...info.exportedGlobals]) {
    t.true(exports.includes(e), e);
  }
  t.is(info.initialMemoryPages, 5);
  t.is(info.maxMemoryPages, 32);
  t.true(info.asyncify);
  t.true(info.startFunctionMoved);
  t.is(info.hash, rewriteKey(readGuestWasm('idle'), { maxMemoryPages: 32, initialMemoryPages: 5 }));
  // A memory too small for the import's minimum is refused at instantiate: the declared minimum is real.
  t.throws(() => new WebAssembly.Instance(mod, { xen: { memory: new WebAssembly.Memory({ initial: 3, maximum: 32, shared: true }) } }));
});

test('a guest without sched_op is not asyncified', (t) => {
  const { info, wasm } = rewriteGuest(readGuestWasm('burn'), { maxMemoryPages: 8 });
  t.false(info.asyncify);
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>)).map((e) => e.name);
  t.false(exports.includes('asyncify_start_unwind'));
});

test('data in the reserved first 128 KiB is refused', (t) => {
  const bytes = wat('(module (memory 3) (data (i32.const 4096) "oops") (func (export "xen_start") (param i32)))');
  const e = t.throws(() => rewriteGuest(bytes, { maxMemoryPages: 4 }));
  t.is((e as { code?: string }).code, 'GUEST_INVALID');
  t.regex(e!.message, /reserved first 131072 bytes/);
});

test('imports outside the PV ABI are refused with a hint', (t) => {
  const bytes = wat(`(module (import "env" "abort" (func (param i32 i32 i32 i32))) (memory 3)
    (func (export "xen_start") (param i32)))`);
  const e = t.throws(() => rewriteGuest(bytes, { maxMemoryPages: 4 }));
  t.is((e as { code?: string }).code, 'GUEST_INVALID');
  t.regex(e!.message, /env\.abort.*--use abort=/);
});

test('a wrong signature for a xen import is refused', (t) => {
  const bytes = wat('(module (import "xen" "rdtsc" (func (result i32))) (memory 3) (func (export "xen_start") (param i32)))');
  t.throws(() => rewriteGuest(bytes, { maxMemoryPages: 4 }), { message: /wrong signature/ });
});

test('a guest needing more memory than the domain has is refused with ENOMEM', (t) => {
  const e = t.throws(() => rewriteGuest(readGuestWasm('hello'), { maxMemoryPages: 2 }));
  t.is((e as { code?: string }).code, 'ENOMEM');
});

test('garbage is refused', (t) => {
  const e = t.throws(() => rewriteGuest(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]), { maxMemoryPages: 4 }));
  t.is((e as { code?: string }).code, 'GUEST_INVALID');
});

test('recursive functions are found through cycles and self-calls only', (t) => {
  const g = new Map<string, Set<string>>([
    ['main', new Set(['a', 'self', 'leaf', 'import'])],
    ['a', new Set(['b'])],
    ['b', new Set(['c', 'leaf'])],
    ['c', new Set(['a'])],
    ['self', new Set(['self'])],
    ['leaf', new Set()],
  ]);
  t.deepEqual([...recursiveFunctions(g)].sort(), ['a', 'b', 'c', 'self']);
});

test('the rewrite cache answers from memory, then from its directory', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xenwasm-rewrite-'));
  try {
    const bytes = readGuestWasm('hello');
    const c1 = new RewriteCache(dir);
    const a = await c1.rewrite(bytes, { maxMemoryPages: 8 });
    const b = await c1.rewrite(bytes, { maxMemoryPages: 8 });
    t.false(a.cached);
    t.true(b.cached);
    const c2 = new RewriteCache(dir);
    const c = await c2.rewrite(bytes, { maxMemoryPages: 8 });
    t.true(c.cached);
    t.deepEqual(Buffer.from(c.wasm), Buffer.from(a.wasm));
    t.is(c.info.hash, a.info.hash);
    const d = await c2.rewrite(bytes, { maxMemoryPages: 9 });
    t.false(d.cached, 'other options, other entry');
    t.is((await readdir(dir)).filter((f) => f.endsWith('.wasm')).length, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
