import test from 'ava';
import { Worker } from 'node:worker_threads';
import { bootCore, guest } from './_helpers.js';
import { hammer } from './_hammer.js';

test('four threads hammering one core leave it consistent', async (t) => {
  const { core } = bootCore({ nrCpus: 2, totalPages: 200000, dom0Pages: 1000, maxDomains: 256 });
  const shared = guest(core, { pages: 0 });
  core.setMaxMem(shared, 4 * 100000);
  const free0 = core.physinfo().freePages;
  const iterations = 1000;
  const barrier = new SharedArrayBuffer(4);
  const workers = [1, 2, 3].map((seed) => new Worker(new URL('./_hammer-worker.js', import.meta.url), {
    workerData: { share: core.share(), shared, iterations, seed, barrier, parties: 4 },
  }));
  const done = workers.map((w) => new Promise<{ created: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }));
  // The main thread joins in while the workers run.
  const mine = hammer(core, { shared, iterations, seed: 4, barrier, parties: 4 });
  const results = [mine, ...(await Promise.all(done))];
  await Promise.all(workers.map((w) => w.terminate()));
  t.is(results.reduce((n, r) => n + r.created, 0), 4 * iterations);
  t.deepEqual(core.listDomains(0, 1000).map((d) => d.domid), [0, shared]);
  t.is(core.getDomainInfo(shared).totPages, 4 * iterations); // every +1 under the lock counted once
  t.is(core.physinfo().freePages, free0 - 4 * iterations); // every guest's pages came back
  for (let gref = 0; gref < 512; gref++) {
    const pins = core.grantPins(shared, gref);
    if (pins.readers !== 0 || pins.writers !== 0) { t.fail(`gref ${gref} still pinned`); return; }
  }
  for (let port = 1; port < 64; port++) t.is(core.evtchnStatus(0, 0, port).status, 0);
  t.regex(core.consoleRead(false), /destroyed\n$/);
});
