import test from 'ava';
import { bootCore, code, guest } from './_helpers.js';

test('setup_table grows up to 8 frames and never shrinks; query_size', (t) => {
  const { core } = bootCore();
  const d = guest(core);
  t.deepEqual(core.grantQuerySize(d), { nrFrames: 1, maxNrFrames: 8 });
  core.grantSetupTable(d, 4);
  core.grantSetupTable(d, 2);
  t.is(core.grantQuerySize(d).nrFrames, 4);
  t.is(code(() => core.grantSetupTable(d, 9)), 'EINVAL');
  t.is(code(() => core.grantQuerySize(99)), 'ESRCH');
});

test('map/unmap keep reader and writer pins; last reader / last writer flags', (t) => {
  const { core } = bootCore();
  const front = guest(core);
  const h1 = core.grantMapRecord(0, front, 5, false);
  const h2 = core.grantMapRecord(0, front, 5, true);
  const h3 = core.grantMapRecord(0, front, 5, false);
  t.deepEqual(core.grantPins(front, 5), { readers: 1, writers: 2 });
  t.deepEqual(core.grantPins(front, 6), { readers: 0, writers: 0 });
  let r = core.grantUnmapRecord(0, h1);
  t.deepEqual(r, { granter: front, gref: 5, readonly: false, lastReader: false, lastWriter: false });
  r = core.grantUnmapRecord(0, h3);
  t.deepEqual(r, { granter: front, gref: 5, readonly: false, lastReader: false, lastWriter: true });
  r = core.grantUnmapRecord(0, h2);
  t.deepEqual(r, { granter: front, gref: 5, readonly: true, lastReader: true, lastWriter: false });
  t.deepEqual(core.grantPins(front, 5), { readers: 0, writers: 0 });
});

test('unmap with a bad handle or by another domain is EINVAL; gref past the table is EINVAL', (t) => {
  const { core } = bootCore();
  const front = guest(core);
  const other = guest(core);
  const h = core.grantMapRecord(0, front, 1, true);
  t.is(code(() => core.grantUnmapRecord(other, h)), 'EINVAL');
  t.is(code(() => core.grantUnmapRecord(0, h + 1)), 'EINVAL');
  t.is(code(() => core.grantUnmapRecord(0, -3)), 'EINVAL');
  core.grantUnmapRecord(0, h);
  t.is(code(() => core.grantUnmapRecord(0, h)), 'EINVAL');
  t.is(code(() => core.grantMapRecord(0, front, 512, true)), 'EINVAL'); // one frame = 512 entries
  core.grantSetupTable(front, 2);
  t.is(typeof core.grantMapRecord(0, front, 1023, true), 'number');
  t.is(code(() => core.grantMapRecord(0, 99, 1, true)), 'ESRCH');
});

test('maptrack full is ENOSPC', (t) => {
  const { core } = bootCore({ maptrackEntries: 64, maptrackPerDomain: 10 });
  const front = guest(core);
  for (let i = 0; i < 10; i++) core.grantMapRecord(0, front, i, true);
  t.is(code(() => core.grantMapRecord(0, front, 11, true)), 'ENOSPC');
});

test('a granter destroyed while mapped stays dying until the backend unmaps; then DOM_EXC', (t) => {
  const { core, rec } = bootCore({ totalPages: 20000, dom0Pages: 1000 });
  const exc = core.evtchnBindVirq(0, 3, 0);
  const front = guest(core, { pages: 3000 });
  const h = core.grantMapRecord(0, front, 3, false);
  core.destroyDomain(front);
  const i = core.getDomainInfo(front);
  t.true(i.dying);
  t.is(i.totPages, 0);
  t.is(core.physinfo().freePages, 19000); // pages back at once
  t.deepEqual(core.grantPins(front, 3), { readers: 0, writers: 1 });
  t.is(code(() => core.grantMapRecord(0, front, 3, true)), 'ESRCH');
  rec.pending.length = 0;
  const r = core.grantUnmapRecord(0, h);
  t.true(r.lastWriter);
  t.is(code(() => core.getDomainInfo(front)), 'ESRCH');
  t.deepEqual(rec.pending, [[0, exc, 0]]);
});

test('destroying a grantee drops the mappings it holds', (t) => {
  const { core } = bootCore();
  const front = guest(core);
  const back = guest(core);
  core.grantMapRecord(back, front, 1, false);
  core.grantMapRecord(back, front, 2, true);
  core.destroyDomain(back);
  t.deepEqual(core.grantPins(front, 1), { readers: 0, writers: 0 });
  t.deepEqual(core.grantPins(front, 2), { readers: 0, writers: 0 });
});
