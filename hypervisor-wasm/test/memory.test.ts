import test from 'ava';
import { bootCore, code, guest, uuid } from './_helpers.js';

test('increase_reservation is all-or-nothing against max_pages and free pages', (t) => {
  const { core } = bootCore({ totalPages: 10000, dom0Pages: 2000 });
  const d = core.createDomain(uuid(1), {});
  t.is(code(() => core.increaseReservation(d, 1)), 'ENOMEM'); // max_pages starts at 0
  core.setMaxMem(d, 4 * 5000);
  core.increaseReservation(d, 4000);
  t.is(code(() => core.increaseReservation(d, 1001)), 'ENOMEM');
  t.is(core.getDomainInfo(d).totPages, 4000);
  const e = core.createDomain(uuid(2), {});
  core.setMaxMem(e, 4 * 8000);
  t.is(code(() => core.increaseReservation(e, 4001)), 'ENOMEM'); // only 4000 free
  t.is(core.physinfo().freePages, 4000);
  core.increaseReservation(e, 4000);
  t.is(core.physinfo().freePages, 0);
  t.is(code(() => core.increaseReservation(d, 1)), 'ENOMEM');
  t.is(code(() => core.increaseReservation(d, -1)), 'EINVAL');
  t.is(code(() => core.increaseReservation(77, 1)), 'ESRCH');
});

test('decrease_reservation returns pages; more than held is EINVAL', (t) => {
  const { core } = bootCore({ totalPages: 10000, dom0Pages: 0 });
  const d = guest(core, { pages: 1000 });
  core.decreaseReservation(d, 400);
  t.is(core.getDomainInfo(d).totPages, 600);
  t.is(core.physinfo().freePages, 9400);
  t.is(code(() => core.decreaseReservation(d, 601)), 'EINVAL');
});

test('max_mem below tot_pages is accepted; growth is then refused', (t) => {
  const { core } = bootCore();
  const d = guest(core, { pages: 1000 });
  core.setMaxMem(d, 400 * 4);
  const i = core.getDomainInfo(d);
  t.is(i.maxPages, 400);
  t.is(i.totPages, 1000);
  t.is(code(() => core.increaseReservation(d, 1)), 'ENOMEM');
  core.decreaseReservation(d, 700);
  core.increaseReservation(d, 100);
  t.is(core.getDomainInfo(d).totPages, 400);
});

test('destroy returns every page to the pool', (t) => {
  const { core } = bootCore({ totalPages: 50000, dom0Pages: 10000 });
  const before = core.physinfo().freePages;
  const ds = [guest(core, { pages: 5000 }), guest(core, { pages: 7000 }), guest(core, { pages: 1 })];
  t.is(core.physinfo().freePages, before - 12001);
  for (const d of ds) core.destroyDomain(d);
  t.is(core.physinfo().freePages, before);
  t.is(core.getDomainInfo(0).totPages, 10000);
});
