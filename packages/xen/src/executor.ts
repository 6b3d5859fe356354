// An executor thread: runs whichever vCPUs the dispatcher hands it, one at a
// time, on its own copy of the core. See dispatch.ts for who runs what, and
// vcpu.ts for how one vCPU runs.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { XenCore, type CoreShare } from '@xenwasm/hypervisor-wasm';
import { Dispatch, EXEC_BUSY, EXEC_IDLE, VF_DISPATCHED, VF_ON_THREAD, type DispatchShare } from './dispatch.js';
import { GuestRegistry } from './guest-registry.js';
import { makeHooks } from './core-hooks.js';
import { VcpuRunner } from './vcpu.js';

export interface ExecutorData {
  core: CoreShare;
  dispatch: DispatchShare;
  registryPort: MessagePort;
}

const data = workerData as ExecutorData;
const dispatch = new Dispatch(data.dispatch);
const registry = new GuestRegistry(data.registryPort);
const core = XenCore.attach(data.core, makeHooks(registry, dispatch));
const me = dispatch.registerExecutor();
const runner = new VcpuRunner({
  core,
  registry,
  dispatch,
  executor: me,
  setTimer(domid, vcpu, deadline) {
    parentPort!.postMessage({ kind: 'timer', domid, vcpu, deadline: deadline.toString() });
  },
  log(msg) {
    parentPort!.postMessage({ kind: 'log', msg });
  },
});
registry.onRemove((domid) => runner.forget(domid));

// The executor is a plain synchronous loop: between vCPUs it sleeps in
// Atomics.wait on its doorbell, which wakes in microseconds, where an
// event-loop wait (waitAsync) would add the loop's latency to every event
// a blocked guest receives. Registry news is pulled synchronously.
function loop(): never {
  const bell = dispatch.doorbellIndex(me);
  for (;;) {
    dispatch.setExecState(me, EXEC_BUSY);
    registry.drain();
    for (let item = dispatch.popFor(me); item >= 0; item = dispatch.popFor(me)) {
      const [domid, vcpu] = Dispatch.unpack(item);
      try {
        runner.run(domid, vcpu);
      } catch (e) {
        // One vCPU's bad luck (its domain destroyed under it, say) must not
        // take the executor, and every vCPU it could run, with it.
        parentPort!.postMessage({ kind: 'log', msg: `executor ${me}: domain ${domid} vcpu ${vcpu}: ${(e as Error).stack ?? e}` });
        runner.forget(domid);
        dispatch.clearFlags(domid, vcpu, VF_ON_THREAD | VF_DISPATCHED);
      }
    }
    const seen = Atomics.load(dispatch.i32, bell);
    dispatch.setExecState(me, EXEC_IDLE);
    // Work pushed to the overflow queue while we were busy has nobody else to
    // take it; work pushed to us after this point rings the bell.
    if (dispatch.overflowLength() > 0 && dispatch.casExecState(me, EXEC_IDLE, EXEC_BUSY)) continue;
    if (dispatch.execState(me) !== EXEC_IDLE) continue;
    Atomics.wait(dispatch.i32, bell, seen, 1000);
  }
}

parentPort!.postMessage({ kind: 'ready', executor: me });
loop();
