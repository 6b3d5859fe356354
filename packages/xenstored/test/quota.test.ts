// Quotas with Xen's defaults and names, applied to unprivileged domains, and
// the bounded watch-event queue that stops a watch storm eating memory.

import test from 'ava';
import { SharedMemoryRingProvider } from '../src/ring.js';
import { DEFAULT_QUOTAS } from '../src/core.js';
import { GuestRing, RawClient, outcome, startInProcess, T } from './helpers.js';

async function guest(quotas = {}, limits = {}) {
  const provider = new SharedMemoryRingProvider();
  const d = await startInProcess({ ringProvider: provider, quotas, limits });
  const tools = await RawClient.connect(d.socketPath);
  const g = new GuestRing(provider, 1, 77, 5);
  await tools.req(T.WRITE, '/local/domain/1\0');
  await tools.req(T.SET_PERMS, '/local/domain/1\0n1\0');
  await tools.req(T.INTRODUCE, '1\0' + '77\0' + '5\0');
  return { d, tools, g };
}

test('defaults are Xen\'s', (t) => {
  t.deepEqual(
    { entryNb: DEFAULT_QUOTAS.entryNb, entrySize: DEFAULT_QUOTAS.entrySize, watchNb: DEFAULT_QUOTAS.watchNb, transaction: DEFAULT_QUOTAS.transaction },
    { entryNb: 1000, entrySize: 2048, watchNb: 128, transaction: 10 },
  );
});

test('entries per domain, entry size, watches, transactions', async (t) => {
  const { d, tools, g } = await guest({ entryNb: 20, watchNb: 5, transaction: 3 });
  // /local/domain/1 itself counts: 19 more
  for (let i = 0; i < 19; i++) t.is(outcome(await g.req(T.WRITE, `n${i}\0x`)), 'OK\0');
  t.is(outcome(await g.req(T.WRITE, 'one-too-many\0x')), 'ENOSPC');
  t.is(outcome(await g.req(T.WRITE, 'n0\0rewrite is fine')), 'OK\0');
  t.is(outcome(await g.req(T.WRITE, 'n1\0' + 'z'.repeat(2100))), 'ENOSPC');
  // dom0 is not limited
  t.is(outcome(await tools.req(T.WRITE, '/local/domain/1/big\0' + 'z'.repeat(3000))), 'OK\0');
  for (let i = 0; i < 5; i++) t.is(outcome(await g.req(T.WATCH, `n${i}\0w${i}\0`)), 'OK\0');
  t.is(outcome(await g.req(T.WATCH, 'n6\0w6\0')), 'E2BIG');
  for (let i = 0; i < 3; i++) t.is(outcome(await g.req(T.TRANSACTION_START, '\0')).length > 0, true);
  t.is(outcome(await g.req(T.TRANSACTION_START, '\0')), 'ENOSPC');
  tools.close();
  await d.close();
});

test('watch storm: deleting a large watched subtree with many watchers keeps queues bounded', async (t) => {
  const { d, tools, g } = await guest({}, { maxWatchEvents: 64 });
  // a socket watcher that reads normally
  const reader = await RawClient.connect(d.socketPath);
  for (let i = 0; i < 200; i++) await tools.req(T.WRITE, `/storm/n${i}/leaf\0x`);
  // the guest sets many watches and never services its ring: its events pile up
  await tools.req(T.SET_PERMS, '/storm\0r1\0');
  for (let i = 0; i < 100; i++) await g.req(T.WATCH, `/storm/n${i}\0g${i}\0`);
  await reader.req(T.WATCH, '/storm\0r\0');
  await reader.waitEvents(1);
  (g as unknown as { service: () => void }).service = () => undefined; // the guest stops reading
  for (let round = 0; round < 5; round++) {
    await tools.req(T.RM, '/storm\0');
    for (let i = 0; i < 200; i += 10) await tools.req(T.WRITE, `/storm/n${i}/leaf\0x`);
  }
  const st = d.stats();
  t.true(st.maxQueuedEvents <= 64, `queued ${st.maxQueuedEvents}`);
  t.true(st.droppedEvents > 0);
  // the well-behaved watcher saw every change and the daemon still answers
  await reader.waitEvents(1 + 5 + 5 * 20);
  t.is((await tools.req(T.READ, '/storm/n0/leaf\0')).text, 'x');
  reader.close();
  tools.close();
  await d.close();
});
