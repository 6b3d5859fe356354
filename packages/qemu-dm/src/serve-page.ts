// The device model's side of an ioreq page shared through memory (the stub
// domain): wait for REQUEST, answer, flip to RESPONSE.
//
// Back-to-back requests (a guest writing byte by byte) are caught by a short
// synchronous wait, which costs no event-loop turn; after that the loop
// waits asynchronously so sockets and timers keep running.
import { IoreqPage, REQUEST, RESPONSE, S_STATE, OP_SHUTDOWN, S_OP } from './ioreq.js';
import type { DeviceModel } from './device-model.js';

const SPIN_WAIT_MS = 2;
// A spin of a few microseconds only: the guest's vCPU needs a core to make
// its next request, and a longer spin took it (see SPIN in xen's hvm-vcpu.ts).
const SPIN = 300;

export async function servePage(page: IoreqPage, dm: DeviceModel, onShutdown?: () => void): Promise<never> {
  const i32 = page.i32;
  for (;;) {
    let v = Atomics.load(i32, S_STATE);
    // A short spin first: a guest in a tight loop of calls is back within microseconds.
    for (let k = 0; k < SPIN && v !== REQUEST; k++) v = Atomics.load(i32, S_STATE);
    if (v !== REQUEST) {
      Atomics.wait(i32, S_STATE, v, SPIN_WAIT_MS);
      v = Atomics.load(i32, S_STATE);
      while (v !== REQUEST) {
        const w = Atomics.waitAsync(i32, S_STATE, v);
        if (w.async) await w.value;
        v = Atomics.load(i32, S_STATE);
      }
    }
    const op = i32[S_OP];
    let resp;
    try {
      const r = dm.handle(page.readRequest());
      resp = r instanceof Promise ? await r : r;
    } catch {
      resp = { errno: 29 /* EIO */ };
    }
    page.writeResponse(resp);
    Atomics.store(i32, S_STATE, RESPONSE);
    Atomics.notify(i32, S_STATE);
    if (op === OP_SHUTDOWN) onShutdown?.();
  }
}
