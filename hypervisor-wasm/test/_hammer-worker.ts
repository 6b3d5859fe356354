// A thread that attaches to a core booted elsewhere and hammers it; see threads.test.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { XenCore } from '../src/index.js';
import { hammer, type HammerJob } from './_hammer.js';

const job = workerData as HammerJob;
const core = XenCore.attach(job.share, { setPending: () => true, kick: () => {} });
parentPort!.postMessage(hammer(core, job));
