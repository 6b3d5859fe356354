// The old testsuite's 08transaction.test and 08transaction.slowtest replayed
// over the wire, in both conflict modes, plus the traces documented at the
// top of src/transaction.ts (disjoint device creations must both commit).

import test from 'ava';
import type { ConflictMode } from '../src/transaction.js';
import { RawClient, outcome, startInProcess, T } from './helpers.js';

async function setup(conflictMode: ConflictMode = 'node') {
  const d = await startInProcess({ conflictMode });
  const c0 = await RawClient.connect(d.socketPath);
  const c1 = await RawClient.connect(d.socketPath);
  const c2 = await RawClient.connect(d.socketPath);
  return { d, c0, c1, c2, all: [c0, c1, c2] };
}
const start = async (c: RawClient) => parseInt((await c.req(T.TRANSACTION_START, '\0')).text, 10);

test('08transaction.test: isolation, abort, rm, held-back watches', async (t) => {
  const { d, c0, c1, c2, all } = await setup();
  await c0.req(T.MKDIR, '/test\0');
  // create inside a transaction: visible only inside until commit
  let tx = await start(c1);
  await c1.req(T.WRITE, '/test/entry1\0contents', tx);
  t.is((await c2.req(T.DIRECTORY, '/test\0')).text, '');
  t.is((await c1.req(T.DIRECTORY, '/test\0', tx)).text, 'entry1\0');
  t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'OK\0');
  t.is((await c2.req(T.READ, '/test/entry1\0')).text, 'contents');
  await c0.req(T.RM, '/test/entry1\0');
  // create and abort
  tx = await start(c1);
  await c1.req(T.WRITE, '/test/entry1\0contents', tx);
  t.is((await c1.req(T.DIRECTORY, '/test\0', tx)).text, 'entry1\0');
  t.is(outcome(await c1.req(T.TRANSACTION_END, 'F\0', tx)), 'OK\0');
  t.is((await c2.req(T.DIRECTORY, '/test\0')).text, '');
  // delete in a transaction, commit
  await c0.req(T.WRITE, '/test/entry1\0contents');
  tx = await start(c1);
  await c1.req(T.RM, '/test/entry1\0', tx);
  t.is((await c2.req(T.DIRECTORY, '/test\0')).text, 'entry1\0');
  t.is((await c1.req(T.DIRECTORY, '/test\0', tx)).text, '');
  await c1.req(T.TRANSACTION_END, 'T\0', tx);
  t.is((await c2.req(T.DIRECTORY, '/test\0')).text, '');
  // delete in a transaction, abort
  await c0.req(T.WRITE, '/test/entry1\0contents');
  tx = await start(c1);
  await c1.req(T.RM, '/test/entry1\0', tx);
  await c1.req(T.TRANSACTION_END, 'F\0', tx);
  t.is((await c2.req(T.DIRECTORY, '/test\0')).text, 'entry1\0');
  // watches fire only on a successful commit
  await c0.req(T.MKDIR, '/test/dir\0');
  await c1.req(T.WATCH, '/test\0token\0');
  await c1.waitEvents(1);
  tx = await start(c2);
  await c2.req(T.MKDIR, '/test/dir/sub\0', tx);
  await c2.req(T.TRANSACTION_END, 'F\0', tx);
  tx = await start(c2);
  await c2.req(T.MKDIR, '/test/dir/sub\0', tx);
  // a marker write outside: if the aborted or pending mkdir had fired, it would precede it
  t.is(c1.events.length, 1);
  await c2.req(T.TRANSACTION_END, 'T\0', tx);
  t.deepEqual((await c1.waitEvents(2))[1], { path: '/test/dir/sub', token: 'token' });
  // rm inside a transaction notifies watches below
  await c0.req(T.WATCH, '/test/dir/sub\0below\0');
  await c0.waitEvents(1);
  tx = await start(c2);
  await c2.req(T.RM, '/test/dir\0', tx);
  await c2.req(T.TRANSACTION_END, 'T\0', tx);
  t.deepEqual((await c0.waitEvents(2))[1], { path: '/test/dir/sub', token: 'below' });
  // several events from one transaction, in order
  tx = await start(c2);
  await c2.req(T.WRITE, '/test/1\0contents', tx);
  await c2.req(T.WRITE, '/test/2\0contents', tx);
  await c2.req(T.WRITE, '/test/1\0again', tx); // duplicate path: one event
  await c2.req(T.TRANSACTION_END, 'T\0', tx);
  const evs = await c1.waitEvents(5);
  t.deepEqual(evs.slice(3).map((e) => e.path), ['/test/1', '/test/2']);
  await new Promise((r) => setImmediate(r));
  t.is(c1.events.filter((e) => e.path === '/test/1').length, 1);
  for (const c of all) c.close();
  await d.close();
});

for (const mode of ['node', 'global'] as const) {
  test(`08transaction.slowtest clashes (${mode} conflicts)`, async (t) => {
    const { d, c0, c1, all } = await setup(mode);
    await c0.req(T.MKDIR, '/test\0');
    await c0.req(T.WRITE, '/test/entry1\0contents');
    // an outside read does not break the commit
    let tx = await start(c1);
    await c1.req(T.WRITE, '/test/entry1\0contents2', tx);
    t.is((await c0.req(T.READ, '/test/entry1\0')).text, 'contents');
    t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'OK\0');
    t.is((await c0.req(T.READ, '/test/entry1\0')).text, 'contents2');
    // an aborted rival does not either
    tx = await start(c1);
    await c1.req(T.WRITE, '/test/entry1\0contents3', tx);
    let rival = await start(c0);
    await c0.req(T.WRITE, '/test/entry1\0contents', rival);
    await c0.req(T.TRANSACTION_END, 'F\0', rival);
    t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'OK\0');
    t.is((await c0.req(T.READ, '/test/entry1\0')).text, 'contents3');
    // an outside write does
    tx = await start(c1);
    await c1.req(T.WRITE, '/test/entry1\0contents4', tx);
    await c0.req(T.WRITE, '/test/entry1\0contents');
    t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'EAGAIN');
    t.is((await c0.req(T.READ, '/test/entry1\0')).text, 'contents');
    // and so does a rival commit
    tx = await start(c1);
    await c1.req(T.WRITE, '/test/entry1\0contents4', tx);
    rival = await start(c0);
    await c0.req(T.WRITE, '/test/entry1\0contents5', rival);
    t.is(outcome(await c0.req(T.TRANSACTION_END, 'T\0', rival)), 'OK\0');
    t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'EAGAIN');
    t.is((await c0.req(T.READ, '/test/entry1\0')).text, 'contents5');
    // the failed transaction is gone
    t.is(outcome(await c1.req(T.READ, '/test/entry1\0', tx)), 'ENOENT');
    for (const c of all) c.close();
    await d.close();
  });
}

async function deviceCreation(c: RawClient, fe: number, tx: number): Promise<void> {
  const be = `/local/domain/0/backend/vbd/${fe}/51712`;
  const fp = `/local/domain/${fe}/device/vbd/51712`;
  for (const [k, v] of [['frontend', fp], ['frontend-id', String(fe)], ['state', '1']]) await c.req(T.WRITE, `${be}/${k}\0${v}`, tx);
  for (const [k, v] of [['backend', be], ['backend-id', '0'], ['state', '1']]) await c.req(T.WRITE, `${fp}/${k}\0${v}`, tx);
}

test('two device creations for different domains both commit (per-node conflicts)', async (t) => {
  const { d, c0, c1, c2, all } = await setup('node');
  await c0.req(T.MKDIR, '/local/domain/0/backend/vbd\0');
  await c0.req(T.MKDIR, '/local/domain/1\0');
  await c0.req(T.MKDIR, '/local/domain/2\0');
  const a = await start(c1);
  const b = await start(c2);
  await deviceCreation(c1, 1, a);
  await deviceCreation(c2, 2, b);
  // unrelated traffic meanwhile
  await c0.req(T.WRITE, '/local/domain/0/memory/target\0' + '524288');
  t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', a)), 'OK\0');
  t.is(outcome(await c2.req(T.TRANSACTION_END, 'T\0', b)), 'OK\0');
  t.is((await c0.req(T.DIRECTORY, '/local/domain/0/backend/vbd\0')).text, '1\0' + '2\0');
  t.is((await c0.req(T.READ, '/local/domain/2/device/vbd/51712/backend-id\0')).text, '0');
  t.is(d.core.checkTree(), undefined);
  for (const c of all) c.close();
  await d.close();
});

test('the same pair in 3.2 global mode: the second commit gets EAGAIN', async (t) => {
  const { d, c0, c1, c2, all } = await setup('global');
  await c0.req(T.MKDIR, '/local/domain/0/backend/vbd\0');
  const a = await start(c1);
  const b = await start(c2);
  await deviceCreation(c1, 1, a);
  await deviceCreation(c2, 2, b);
  t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', a)), 'OK\0');
  t.is(outcome(await c2.req(T.TRANSACTION_END, 'T\0', b)), 'EAGAIN');
  for (const c of all) c.close();
  await d.close();
});

test('stale directory listing and rm of a grown subtree conflict (traces 6 and 7)', async (t) => {
  const { d, c0, c1, all } = await setup('node');
  await c0.req(T.WRITE, '/t/e1\0x');
  let tx = await start(c1);
  await c1.req(T.DIRECTORY, '/t\0', tx);
  await c0.req(T.WRITE, '/t/new\0y');
  await c1.req(T.WRITE, '/t/count\0' + '1', tx);
  t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'EAGAIN');
  tx = await start(c1);
  await c1.req(T.RM, '/t\0', tx);
  await c0.req(T.WRITE, '/t/e2\0z');
  t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'EAGAIN');
  t.is((await c0.req(T.READ, '/t/e2\0')).text, 'z');
  // an unrelated change does not
  tx = await start(c1);
  await c1.req(T.READ, '/t/e1\0', tx);
  await c1.req(T.WRITE, '/t/e1\0changed', tx);
  await c0.req(T.WRITE, '/elsewhere\0q');
  t.is(outcome(await c1.req(T.TRANSACTION_END, 'T\0', tx)), 'OK\0');
  for (const c of all) c.close();
  await d.close();
});

test('transaction ids: start at 1, per connection, no nesting (EBUSY)', async (t) => {
  const { d, c0, c1, all } = await setup();
  t.is(await start(c0), 1);
  t.is(await start(c0), 2);
  t.is(await start(c1), 1);
  t.is(outcome(await c0.req(T.TRANSACTION_START, '\0', 1)), 'EBUSY');
  t.is(outcome(await c0.req(T.TRANSACTION_END, 'X\0', 1)), 'EINVAL');
  for (const c of all) c.close();
  await d.close();
});
