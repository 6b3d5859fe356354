// Test helper: resumes a saved guest on a worker thread and reports.
import { parentPort, workerData } from 'node:worker_threads';
import { GuestInstance } from '../src/index.js';

const { module, memory, state } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; state: never };
const sends: number[] = [];
const g = GuestInstance.restore(module, memory, {
  hypercall(nr, a1, a2) {
    if (nr === 32 && a1 === 4) sends.push(new DataView(memory.buffer).getUint32(a2, true));
    return 0;
  },
  schedOp: (cmd) => (cmd === 1 && new Uint8Array(memory.buffer)[4096] === 0 ? 'block' : 0),
  preempt: () => 10000,
  rdtsc: () => process.hrtime.bigint(),
}, state);
const result = g.resume(0);
parentPort!.postMessage({ result: { kind: result.kind }, sends });
