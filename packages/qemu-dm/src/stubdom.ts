// Starting a stub domain (the device model on a worker thread of the host).
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { DmConfig } from './config.js';

export interface Stubdom {
  ports: number[];
  worker: Worker;
  stop(): Promise<void>;
}

export async function startStubdom(config: DmConfig, page: SharedArrayBuffer, onDeath: (why: string) => void): Promise<Stubdom> {
  const worker = new Worker(fileURLToPath(new URL('./stubdom-worker.js', import.meta.url)), { workerData: { config, page } });
  let stopping = false;
  const ports = await new Promise<number[]>((resolve, reject) => {
    worker.on('message', (m: { kind: string; ports?: number[]; message?: string }) => {
      if (m.kind === 'ready') resolve(m.ports!);
      else if (m.kind === 'error') reject(new Error(`stub domain: ${m.message}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`stub domain exited with ${code}`)));
  });
  worker.on('error', (e) => { if (!stopping) onDeath(e.message); });
  worker.on('exit', (code) => { if (!stopping) onDeath(`exited with ${code}`); });
  return {
    ports,
    worker,
    async stop() {
      stopping = true;
      await worker.terminate();
      if (config.consoleSocket) fs.rmSync(config.consoleSocket, { force: true });
    },
  };
}
