import test from 'ava';
import { Worker } from 'node:worker_threads';
import binaryen from 'binaryen';
import { GuestInstance, GuestExit, runDirect, type GuestState } from '../src/index.js';
import { readGuestWasm } from '@xenwasm/example-guests';
import { createDomain, raiseEvent, runUntil, makeCallbacks, compileGuest, newMemory, type TestDomain } from './host.js';

test('hello prints its command line through console_io and powers off', (t) => {
  const d = createDomain('hello', 'root=/dev/xvda1 quiet');
  const r = d.guest.boot();
  t.deepEqual(r, { kind: 'exit', reason: 0 });
  t.is(d.console, 'Hello from XenWasm! cmdline: root=/dev/xvda1 quiet\n');
  t.is(d.guest.status, 'exited');
});

test('xen_start returning is reported as returned', (t) => {
  const d = createDomain('hello', 'x');
  d.callbacks.schedOp = () => 0; // shutdown "returns": xen_start then returns
  t.deepEqual(d.guest.boot(), { kind: 'returned' });
});

test('idle blocks (unwound) and blocks again after each resume', (t) => {
  const d = createDomain('idle');
  t.deepEqual(d.guest.boot(), { kind: 'blocked', cmd: 1, arg: 0 });
  t.is(d.guest.status, 'blocked');
  for (let i = 0; i < 3; i++) t.deepEqual(d.guest.resume(0), { kind: 'blocked', cmd: 1, arg: 0 });
  t.throws(() => d.guest.boot(), { message: /boot of a guest that is blocked/ });
});

test('an event wakes the pingpong server, its handler echoes through the upcall', (t) => {
  const d = createDomain('evtchn-pingpong', 'role=server port=5');
  d.ports.set(5, [d, 7]); // echo lands on port 7 of itself, which nobody handles
  t.is(d.guest.boot().kind, 'blocked');
  t.regex(d.console, /pingpong: server on port 5/);
  t.true(raiseEvent(d.memory, 5));
  t.deepEqual(d.guest.resume(0), { kind: 'blocked', cmd: 1, arg: 0 });
  const sends = d.callbacks.hypercalls.filter(([nr, cmd]) => nr === 32 && cmd === 4);
  t.is(sends.length, 1);
  const words = new Uint32Array(d.memory.buffer);
  t.is(words[(4096 + 2048) / 4] & (1 << 5), 0, 'port 5 pending bit cleared by the guest');
  t.is(words[(4096 + 2048) / 4] & (1 << 7), 0, 'the echo raised during the handler was taken in the same upcall');
  t.is(new Uint8Array(d.memory.buffer)[4096], 0, 'upcall_pending cleared');
});

test('a blocked guest moves to a new instance with its globals and heap intact', (t) => {
  const d = createDomain('evtchn-pingpong', 'role=server port=3');
  d.ports.set(3, [d, 9]);
  t.is(d.guest.boot().kind, 'blocked');
  const state = structuredClone(d.guest.saveState());
  t.is(d.guest.status, 'moved');
  t.throws(() => d.guest.resume(0));
  // Dirty the old instance's view of nothing: the new instance only has memory + state.
  const g2 = GuestInstance.restore(d.module, d.memory, d.callbacks, state);
  d.guest = g2;
  raiseEvent(d.memory, 3);
  t.deepEqual(g2.resume(0), { kind: 'blocked', cmd: 1, arg: 0 });
  t.is(d.callbacks.hypercalls.filter(([nr, cmd]) => nr === 32 && cmd === 4).length, 1, 'handler registered before the move ran after it');
  // And once more, moved again.
  const g3 = GuestInstance.restore(d.module, d.memory, d.callbacks, g2.saveState());
  raiseEvent(d.memory, 3);
  t.is(g3.resume(0).kind, 'blocked');
  t.is(d.callbacks.hypercalls.filter(([nr, cmd]) => nr === 32 && cmd === 4).length, 2);
});

test('a blocked guest resumes in a new instance on another thread', async (t) => {
  const d = createDomain('evtchn-pingpong', 'role=server port=4');
  t.is(d.guest.boot().kind, 'blocked');
  const state: GuestState = d.guest.saveState();
  raiseEvent(d.memory, 4);
  const worker = new Worker(new URL('./resume-worker.js', import.meta.url), {
    workerData: { module: d.module, memory: d.memory, state },
  });
  const msg = await new Promise<{ result: { kind: string }; sends: number[] }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  t.is(msg.result.kind, 'blocked');
  t.deepEqual(msg.sends, [4], 'the handler, registered on the main thread, echoed on port 4 from the worker');
});

test('a collected heap moves with the guest: churn allocates 64x its memory, moved to a new instance at every yield', (t) => {
  const d = createDomain('churn', 'mib=64');
  // No timer here, so churn's sleep yields until the clock passes its
  // deadline: each yield unwinds, and the guest resumes in a fresh instance.
  // The clock moves 400 ns a reading, so every sleep yields.
  let clock = 0n;
  d.callbacks.rdtsc = () => (clock += 400n);
  const inner = d.callbacks.schedOp;
  d.callbacks.schedOp = (cmd, arg) => (cmd === 0 ? 'block' : inner(cmd, arg));
  let r = d.guest.boot();
  let moves = 0;
  while (r.kind === 'blocked') {
    d.guest = GuestInstance.restore(d.module, d.memory, d.callbacks, structuredClone(d.guest.saveState()));
    moves++;
    r = d.guest.resume(0);
  }
  t.deepEqual(r, { kind: 'exit', reason: 0 }, d.console);
  t.regex(d.console, /churn: ok 64 MiB/);
  // The SDK's heap_headroom, on a heap full of holes, is what one allocation gets without growing memory.
  const room = /churn: headroom (\d+) KiB taken, memory grew by (\d+) pages/.exec(d.console);
  t.truthy(room, d.console);
  t.true(Number(room![1]) > 0, d.console);
  t.is(room![2], '0');
  t.true(moves >= 16);
  t.true(d.memory.buffer.byteLength <= 16 << 16);
});

test('sleep_ns arms its timer again when VIRQ_TIMER comes early (Xen may run a timer 50 us before its time)', (t) => {
  const d = createDomain('timer-test', 'us=1000 count=3');
  const TIMER_PORT = 7;
  let clock = 1_000_000_000n;
  let armed = 0n;
  let early = 0;
  d.callbacks.rdtsc = () => clock;
  d.onHypercall = (dom, [nr, a1, a2]) => {
    if (nr === 32 && a1 === 1) { // EVTCHNOP_bind_virq: the port goes in the third word
      new DataView(dom.memory.buffer).setUint32(a2! + 8, TIMER_PORT, true);
      return 0;
    }
    if (nr === 15) { // set_timer_op
      armed = (BigInt(a2! >>> 0) << 32n) | BigInt(a1! >>> 0);
      return 0;
    }
    return undefined;
  };
  let r = d.guest.boot();
  // The guest blocks only to wait for its timer: each armed timer fires, every other one 10 us early.
  for (let steps = 0; r.kind === 'blocked' && steps < 1000; steps++) {
    t.not(armed, 0n, 'blocked with no timer armed: it would sleep for good');
    if (armed === 0n) break;
    clock = steps % 2 === 0 ? armed - 10_000n : armed;
    if (clock < armed) early++;
    armed = 0n;
    raiseEvent(d.memory, TIMER_PORT);
    r = d.guest.resume(0);
  }
  t.deepEqual(r, { kind: 'exit', reason: 0 }, d.console);
  t.regex(d.console, /timer-test: 3 timers of 1000 us, 0 early, .*; 3 sleeps done/);
  t.true(early >= 3);
});

test('two guests ping-pong over an event channel', (t) => {
  const server = createDomain('evtchn-pingpong', 'role=server port=1');
  const client = createDomain('evtchn-pingpong', 'role=client port=2 count=50');
  server.ports.set(1, [client, 2]);
  client.ports.set(2, [server, 1]);
  runUntil([server, client], () => client.guest.status === 'exited');
  t.is(client.guest.status, 'exited');
  t.regex(client.console, /pingpong: n=50 p50_ns=\d+ p99_ns=\d+ min_ns=\d+/);
  t.is(server.callbacks.hypercalls.filter(([nr, cmd]) => nr === 32 && cmd === 4).length, 50);
});

test('a trapping guest reports a trap after its output', (t) => {
  const d = createDomain('crash');
  const r = d.guest.boot();
  t.is(r.kind, 'trap');
  t.true(r.kind === 'trap' && r.error instanceof WebAssembly.RuntimeError);
  t.is(d.console, 'crash: about to hit unreachable\n');
  t.is(d.guest.status, 'dead');
});

test('a busy loop reaches preempt, and the host can stop it there', (t) => {
  const d = createDomain('burn');
  d.onPreempt = (dom) => {
    if (dom.callbacks.preemptCalls >= 20) throw new GuestExit('paused');
    return 1000;
  };
  t.deepEqual(d.guest.boot(), { kind: 'exit', reason: 'paused' });
  t.is(d.callbacks.preemptCalls, 20);
});

test('preempt delivers a pending upcall to a running guest', (t) => {
  // The pingpong client blocks only after its send; make the upcall arrive
  // through preempt instead: raise the event while it runs.
  const d = createDomain('burn');
  let delivered = 0;
  d.onPreempt = (dom) => {
    if (dom.callbacks.preemptCalls === 1) raiseEvent(dom.memory, 2);
    if (dom.callbacks.preemptCalls === 3) {
      delivered = new Uint8Array(dom.memory.buffer)[4096] === 0 ? 1 : 0;
      throw new GuestExit('done');
    }
    return 1000;
  };
  d.guest.boot();
  t.is(delivered, 1, 'upcall_pending was cleared by the guest\'s xen_upcall after preempt');
  t.is(new Uint8Array(d.memory.buffer)[4096 + 1], 0, 'mask cleared after the upcall');
});

// A guest with recursion and no loop at all: f(d) = d ? f(d-1) + f(d-1) : 1.
function recursionModule(): Uint8Array {
  const mod = binaryen.parseText(`(module
    (import "xen" "hypercall" (func $hc (param i32 i32 i32 i32 i32 i32) (result i32)))
    (memory 3)
    (func $f (param $d i32) (result i32)
      (if (result i32) (local.get $d)
        (then (i32.add (call $f (i32.sub (local.get $d) (i32.const 1))) (call $f (i32.sub (local.get $d) (i32.const 1)))))
        (else (i32.const 1))))
    (func (export "xen_start") (param i32) (drop (call $f (i32.const 40)))))`);
  const out = mod.emitBinary();
  mod.dispose();
  return out;
}

test('a recursion without loops reaches preempt', (t) => {
  const { module } = compileGuestFrom(recursionModule());
  const memory = newMemory(3, 4);
  const d = { memory, console: '', ports: new Map() } as unknown as TestDomain;
  const cb = makeCallbacks(d);
  d.onPreempt = () => { if (cb.preemptCalls >= 5) throw new GuestExit('stop'); return 1000; };
  const g = new GuestInstance(module, memory, cb);
  t.deepEqual(g.boot(), { kind: 'exit', reason: 'stop' });
  t.is(cb.preemptCalls, 5);
});

import { rewriteGuest } from '../src/rewrite.js';
function compileGuestFrom(bytes: Uint8Array) {
  const r = rewriteGuest(bytes, { maxMemoryPages: 4 });
  return { module: new WebAssembly.Module(r.wasm as Uint8Array<ArrayBuffer>), info: r.info };
}

test('mem-hog grows to the maximum, then memory.grow fails', (t) => {
  const d = createDomain('mem-hog', '', 8);
  t.deepEqual(d.guest.boot(), { kind: 'exit', reason: 0 });
  t.is(d.console, 'mem-hog: grew 5 pages from 3 to 8 pages of 64 KiB\n');
  t.is(d.memory.buffer.byteLength, 8 * 65536);
});

test('mem-hog is refused when the host says no', (t) => {
  const d = createDomain('mem-hog', '', 64);
  let asked = 0;
  d.grow = (delta) => (++asked <= 2 ? d.memory.grow(delta) : -1);
  t.deepEqual(d.guest.boot(), { kind: 'exit', reason: 0 });
  t.is(d.console, 'mem-hog: grew 2 pages from 3 to 5 pages of 64 KiB\n');
  t.is(asked, 3);
});

test('grant-offer writes a readonly grant entry and its pattern page, then blocks', (t) => {
  const d = createDomain('grant-offer', 'domid=3 ro=1');
  t.is(d.guest.boot().kind, 'blocked');
  const m = /gref=(\d+) pfn=(\d+) domid=3 ro=1/.exec(d.console);
  t.truthy(m, d.console);
  const gref = Number(m![1]);
  const pfn = Number(m![2]);
  t.is(gref, 8, 'first ref after the 8 reserved for the toolstack');
  const dv = new DataView(d.memory.buffer);
  const e = 8 * 4096 + gref * 8;
  t.is(dv.getUint16(e, true), 1 | 4, 'GTF_permit_access | GTF_readonly');
  t.is(dv.getUint16(e + 2, true), 3);
  t.is(dv.getUint32(e + 4, true), pfn);
  const page = new Uint8Array(d.memory.buffer, pfn * 4096, 4096);
  t.true(page.every((b, i) => b === ((i & 0xff) ^ 0xa5)));
});

test('cpu-bench computes the same checksum rewritten and direct', async (t) => {
  const d = createDomain('cpu-bench', 'rounds=3');
  t.deepEqual(d.guest.boot(), { kind: 'exit', reason: 0 });
  const direct = await runDirect(readGuestWasm('cpu-bench'), 'rounds=3');
  t.is(direct.shutdownReason, 0);
  t.regex(direct.console, /^cpu-bench: rounds=3 checksum=0x[0-9a-f]+\n$/);
  t.is(d.console, direct.console);
});

test('blocking inside an upcall handler is refused as a trap', (t) => {
  const mod = binaryen.parseText(`(module
    (import "xen" "sched_op" (func $sched_op (param i32 i32) (result i32)))
    (memory 3)
    (func (export "xen_upcall") (drop (call $sched_op (i32.const 1) (i32.const 0))))
    (func (export "xen_start") (param i32) (drop (call $sched_op (i32.const 0) (i32.const 0)))))`);
  const { module } = compileGuestFrom(mod.emitBinary());
  mod.dispose();
  const memory = newMemory(3, 4);
  const d = { memory, console: '', ports: new Map() } as unknown as TestDomain;
  const cb = makeCallbacks(d);
  cb.schedOp = (cmd) => (cmd === 1 ? 'block' : 0);
  raiseEvent(memory, 1);
  const r = new GuestInstance(module, memory, cb).boot();
  t.is(r.kind, 'trap');
  t.regex(String((r as { error: Error }).error.message), /blocked inside an event upcall/);
});

test('a raw upcall runs on a blocked guest before it is resumed', (t) => {
  const d = createDomain('idle');
  t.is(d.guest.boot().kind, 'blocked');
  raiseEvent(d.memory, 1);
  d.guest.upcall();
  t.is(new Uint8Array(d.memory.buffer)[4096], 0, 'raw upcall cleared upcall_pending');
  t.is(d.guest.resume(0).kind, 'blocked');
});

test('compileGuest helper exposes rewrite info', (t) => {
  const { info } = compileGuest('idle');
  t.true(info.asyncify);
  t.true(info.loopChecks > 0);
});
