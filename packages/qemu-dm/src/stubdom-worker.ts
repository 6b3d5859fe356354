// A stub domain: the device model of one HVM guest on its own thread of the
// hypervisor host, sharing the guest's ioreq page (no Domain-0 process, no
// socket in between).
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceModel } from './device-model.js';
import { guestConsole } from './console-sink.js';
import { IoreqPage } from './ioreq.js';
import { servePage } from './serve-page.js';
import type { DmConfig } from './config.js';

const { config, page } = workerData as { config: DmConfig; page: SharedArrayBuffer };
// Atomics.waitAsync holds no reference on the event loop: the port does.
parentPort!.on('message', () => undefined);
try {
  const con = await guestConsole(config);
  const dm = await DeviceModel.start(config, con);
  parentPort!.postMessage({ kind: 'ready', ports: dm.listenerPorts });
  await servePage(new IoreqPage(page), dm, () => parentPort!.postMessage({ kind: 'shutdown' }));
} catch (e) {
  parentPort!.postMessage({ kind: 'error', message: (e as Error).message });
}
