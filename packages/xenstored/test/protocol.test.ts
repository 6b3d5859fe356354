// Wire-level behaviour over the unix socket: every message type, error
// strings, req_id/tx_id echo, argument rules, paths, permissions, watches
// (including the old testsuite's 01-07, 12 and 14 cases that apply to 3.2).

import test from 'ava';
import fs from 'node:fs';
import { RawClient, outcome, startInProcess, T } from './helpers.js';

async function setup() {
  const d = await startInProcess();
  const c = await RawClient.connect(d.socketPath);
  return { d, c };
}

test('socket files are 0600 and under XEN_STATE_DIR', async (t) => {
  const { d, c } = await setup();
  t.true(d.socketPath.startsWith(d.dir));
  t.is(fs.statSync(d.socketPath).mode & 0o777, 0o600);
  t.is(fs.statSync(d.roSocketPath).mode & 0o777, 0o600);
  c.close();
  await d.close();
});

test('initial tree, read/write/directory, req_id and tx_id echoed (01-03)', async (t) => {
  const { d, c } = await setup();
  const dir = await c.req(T.DIRECTORY, '/\0', 0, 77);
  t.is(dir.reqId, 77);
  t.is(dir.type, T.DIRECTORY);
  t.is(dir.text, 'tool\0');
  const w = await c.req(T.WRITE, '/test/a/b\0hello', 0, 0xdeadbeef);
  t.is(w.reqId, 0xdeadbeef);
  t.is(w.text, 'OK\0');
  const r = await c.req(T.READ, '/test/a/b\0');
  t.is(r.text, 'hello'); // no trailing NUL
  t.is((await c.req(T.READ, '/test/a\0')).text, ''); // implicit parent, empty value
  t.is((await c.req(T.DIRECTORY, '/test\0')).text, 'a\0');
  await c.req(T.WRITE, '/test/a/b\0bye');
  t.is((await c.req(T.READ, '/test/a/b\0')).text, 'bye');
  // data may contain NULs and runs to the end of the payload
  await c.req(T.WRITE, Buffer.from('/bin\0a\0b\0'));
  t.deepEqual([...(await c.req(T.READ, '/bin\0')).payload], [97, 0, 98, 0]);
  const tx = await c.req(T.TRANSACTION_START, '\0');
  const id = parseInt(tx.text, 10);
  t.is(id, 1);
  const inTx = await c.req(T.READ, '/test/a/b\0', id, 5);
  t.is(inTx.txId, id);
  t.is(inTx.reqId, 5);
  const err = await c.req(T.READ, '/nope\0', id);
  t.is(err.type, T.ERROR);
  t.is(err.txId, id);
  t.is(outcome(err), 'ENOENT');
  c.close();
  await d.close();
});

test('mkdir and rm semantics (02, 04)', async (t) => {
  const { d, c } = await setup();
  t.is(outcome(await c.req(T.MKDIR, '/d/e/f\0')), 'OK\0');
  t.is((await c.req(T.DIRECTORY, '/d/e\0')).text, 'f\0');
  t.is(outcome(await c.req(T.MKDIR, '/d/e\0')), 'OK\0'); // existing: fine
  await c.req(T.WRITE, '/d/e/f/file\0x');
  t.is(outcome(await c.req(T.RM, '/d/missing\0')), 'OK\0'); // parent exists
  t.is(outcome(await c.req(T.RM, '/nope/missing\0')), 'ENOENT');
  t.is(outcome(await c.req(T.RM, '/d\0')), 'OK\0'); // recursive
  t.is(outcome(await c.req(T.READ, '/d/e/f/file\0')), 'ENOENT');
  t.is(outcome(await c.req(T.RM, '/\0')), 'EINVAL');
  c.close();
  await d.close();
});

test('error replies: unknown types, bad arguments, invalid paths', async (t) => {
  const { d, c } = await setup();
  t.is(outcome(await c.req(20, '/\0')), 'ENOSYS');
  t.is(outcome(await c.req(999, '')), 'ENOSYS');
  t.is(outcome(await c.req(T.WATCH_EVENT, 'a\0b\0')), 'ENOSYS');
  t.is(outcome(await c.req(T.READ, '/tool')), 'EINVAL'); // no NUL
  t.is(outcome(await c.req(T.READ, '/tool\0\0')), 'EINVAL'); // two NULs
  t.is(outcome(await c.req(T.READ, '')), 'EINVAL');
  t.is(outcome(await c.req(T.WRITE, '/nonul')), 'EINVAL');
  t.is(outcome(await c.req(T.READ, 'relative\0')), 'EINVAL'); // sockets get no home
  t.is(outcome(await c.req(T.READ, '/a//b\0')), 'EINVAL');
  t.is(outcome(await c.req(T.READ, '/a/\0')), 'EINVAL');
  t.is(outcome(await c.req(T.READ, '/a.b\0')), 'EINVAL');
  t.is(outcome(await c.req(T.READ, '/a b\0')), 'EINVAL');
  t.is(outcome(await c.req(T.WRITE, '/' + 'x'.repeat(3072) + '\0v')), 'EINVAL');
  t.is(outcome(await c.req(T.READ, '/tool\0', 42)), 'ENOENT'); // unknown tx id
  t.is(outcome(await c.req(T.WATCH, '/tool\0tok\0', 42)), 'ENOENT'); // even for WATCH
  t.is(outcome(await c.req(T.TRANSACTION_END, 'T\0')), 'ENOENT'); // tx 0
  t.is(outcome(await c.req(T.WATCH, '/tool\0tok\0extra\0')), 'EINVAL');
  t.is(outcome(await c.req(T.SET_PERMS, '/tool\0')), 'EINVAL');
  t.is(outcome(await c.req(T.SET_PERMS, '/tool\0x5\0')), 'EINVAL');
  t.is(outcome(await c.req(T.INTRODUCE, '5\0')), 'EINVAL');
  t.is(outcome(await c.req(T.INTRODUCE, '5\x00100\0' + '0\0')), 'EINVAL'); // evtchn <= 0
  t.is(outcome(await c.req(T.RELEASE, '0\0')), 'EINVAL');
  t.is(outcome(await c.req(T.RELEASE, '9\0')), 'ENOENT');
  t.is(outcome(await c.req(T.RESUME, '9\0')), 'ENOENT');
  // the daemon still answers normally
  t.is((await c.req(T.DIRECTORY, '/\0')).text, 'tool\0');
  c.close();
  await d.close();
});

test('permissions: perm strings, inheritance, get/set (05, 06)', async (t) => {
  const { d, c } = await setup();
  t.is((await c.req(T.GET_PERMS, '/\0')).text, 'n0\0');
  t.is(outcome(await c.req(T.GET_PERMS, '/nope\0')), 'ENOENT');
  await c.req(T.WRITE, '/p\0x');
  t.is((await c.req(T.GET_PERMS, '/p\0')).text, 'n0\0'); // inherits /
  t.is(outcome(await c.req(T.SET_PERMS, '/p\0r5\0b0x7\0n9\0')), 'OK\0');
  t.is((await c.req(T.GET_PERMS, '/p\0')).text, 'r5\0b7\0n9\0'); // hex in, decimal out
  await c.req(T.WRITE, '/p/q/r\0y');
  t.is((await c.req(T.GET_PERMS, '/p/q/r\0')).text, 'r5\0b7\0n9\0'); // children inherit
  c.close();
  await d.close();
});

test('read-only socket: reads, watches and transactions work, changes get EACCES (12)', async (t) => {
  const d = await startInProcess();
  const rw = await RawClient.connect(d.socketPath);
  const ro = await RawClient.connect(d.roSocketPath);
  await rw.req(T.WRITE, '/ro/x\0v');
  t.is((await ro.req(T.READ, '/ro/x\0')).text, 'v');
  t.is((await ro.req(T.DIRECTORY, '/ro\0')).text, 'x\0');
  t.is((await ro.req(T.GET_PERMS, '/ro\0')).text, 'n0\0');
  t.is(outcome(await ro.req(T.WRITE, '/ro/x\0w')), 'EACCES');
  t.is(outcome(await ro.req(T.MKDIR, '/ro/y\0')), 'EACCES');
  t.is(outcome(await ro.req(T.RM, '/ro/x\0')), 'EACCES');
  t.is(outcome(await ro.req(T.SET_PERMS, '/ro/x\0b0\0')), 'EACCES');
  t.is(outcome(await ro.req(T.INTRODUCE, '3\x00100\0' + '5\0')), 'EACCES');
  const tx = parseInt((await ro.req(T.TRANSACTION_START, '\0')).text, 10);
  t.is(outcome(await ro.req(T.TRANSACTION_END, 'T\0', tx)), 'OK\0');
  t.is(outcome(await ro.req(T.WATCH, '/ro\0t\0')), 'OK\0');
  await ro.waitEvents(1);
  await rw.req(T.WRITE, '/ro/x\0changed');
  const ev = await ro.waitEvents(2);
  t.deepEqual(ev[1], { path: '/ro/x', token: 't' });
  t.is(outcome(await ro.req(T.UNWATCH, '/ro\0t\0')), 'OK\0');
  rw.close();
  ro.close();
  await d.close();
});

test('watches: initial event, what fires, recursive rm, order, unwatch (07)', async (t) => {
  const d = await startInProcess();
  const a = await RawClient.connect(d.socketPath);
  const b = await RawClient.connect(d.socketPath);
  await a.req(T.MKDIR, '/w/sub\0');
  t.is(outcome(await a.req(T.WATCH, '/w\0ta\0')), 'OK\0');
  t.deepEqual(await a.waitEvents(1), [{ path: '/w', token: 'ta' }]);
  t.is(outcome(await a.req(T.WATCH, '/w\0ta\0')), 'EEXIST');
  t.is(outcome(await b.req(T.WATCH, '/w/sub/deep\0tb\0')), 'OK\0');
  await b.waitEvents(1);
  await b.req(T.READ, '/w\0'); // reads do not fire
  await b.req(T.WRITE, '/w/x/y\0v'); // one event, for the node written
  await b.req(T.MKDIR, '/w/sub\0'); // existing: no event
  await b.req(T.SET_PERMS, '/w/x\0n0\0');
  await b.req(T.RM, '/w/sub\0'); // fires a (child) and b (watch below)
  const ea = await a.waitEvents(4);
  t.deepEqual(ea.slice(1).map((e) => e.path), ['/w/x/y', '/w/x', '/w/sub']);
  const eb = await b.waitEvents(2);
  t.deepEqual(eb[1], { path: '/w/sub/deep', token: 'tb' });
  t.is(outcome(await a.req(T.UNWATCH, '/w\0ta\0')), 'OK\0');
  t.is(outcome(await a.req(T.UNWATCH, '/w\0ta\0')), 'ENOENT');
  await b.req(T.WRITE, '/w/z\0v');
  // a watch on "/" also sees special events
  t.is(outcome(await a.req(T.WATCH, '/\0root\0')), 'OK\0');
  t.is(outcome(await a.req(T.WATCH, '@introduceDomain\0intro\0')), 'OK\0');
  await a.waitEvents(6);
  await b.req(T.INTRODUCE, '4\0' + '1234\0' + '9\0');
  const more = await a.waitEvents(8);
  t.deepEqual(more.slice(6).map((e) => `${e.path}:${e.token}`).sort(), ['@introduceDomain:intro', '@introduceDomain:root']);
  t.is(a.events.filter((e) => e.path === '/w/z').length, 0); // unwatched before the write
  a.close();
  b.close();
  await d.close();
});

test('domain management over the socket: introduce without a ring, paths, release', async (t) => {
  const d = await startInProcess();
  const c = await RawClient.connect(d.socketPath);
  t.is((await c.req(T.GET_DOMAIN_PATH, '7\0')).text, '/local/domain/7\0');
  t.is((await c.req(T.IS_DOMAIN_INTRODUCED, '7\0')).text, 'F\0');
  t.is((await c.req(T.IS_DOMAIN_INTRODUCED, '0\0')).text, 'T\0');
  t.is((await c.req(T.IS_DOMAIN_INTRODUCED, String(0x7ff0) + '\0')).text, 'T\0');
  await c.req(T.WATCH, '@releaseDomain\0rel\0');
  await c.waitEvents(1);
  t.is(outcome(await c.req(T.INTRODUCE, '7\0' + '555\0' + '3\0')), 'OK\0');
  t.is((await c.req(T.IS_DOMAIN_INTRODUCED, '7\0')).text, 'T\0');
  t.is(outcome(await c.req(T.INTRODUCE, '7\0' + '555\0' + '4\0')), 'OK\0'); // same page: rebind
  t.is(outcome(await c.req(T.INTRODUCE, '7\0' + '556\0' + '4\0')), 'EINVAL');
  t.is(outcome(await c.req(T.RESUME, '7\0')), 'OK\0');
  t.is(outcome(await c.req(T.SET_TARGET, '7\0' + '0\0')), 'OK\0');
  t.is(outcome(await c.req(T.RESET_WATCHES, '\0')), 'OK\0');
  await c.req(T.WATCH, '@releaseDomain\0rel\0');
  await c.waitEvents(2);
  t.is(d.domainShutdown(7), true);
  t.is(d.domainShutdown(7), false); // once until RESUME
  await c.waitEvents(3);
  t.is(outcome(await c.req(T.RELEASE, '7\0')), 'OK\0');
  await c.waitEvents(4);
  t.deepEqual(c.events.slice(2).map((e) => e.path), ['@releaseDomain', '@releaseDomain']);
  t.is((await c.req(T.IS_DOMAIN_INTRODUCED, '7\0')).text, 'F\0');
  t.is(outcome(await c.req(T.CONTROL, 'print\0hello from test\0')), 'OK\0');
  t.is(outcome(await c.req(T.CONTROL, 'check\0')), 'OK\0');
  t.is(d.core.checkTree(), undefined);
  c.close();
  await d.close();
});

test('large directories: E2BIG for DIRECTORY, complete listing through DIRECTORY_PART', async (t) => {
  const d = await startInProcess();
  const c = await RawClient.connect(d.socketPath);
  const names: string[] = [];
  for (let i = 0; i < 400; i++) names.push(`child-number-${i}`);
  await Promise.all(names.map((n) => c.req(T.WRITE, `/big/${n}\0`)));
  t.is(outcome(await c.req(T.DIRECTORY, '/big\0')), 'E2BIG');
  const got: string[] = [];
  let off = 0;
  for (;;) {
    const r = await c.req(T.DIRECTORY_PART, `/big\0${off}\0`);
    t.not(r.type, T.ERROR);
    t.true(r.payload.length <= 4096);
    const body = r.payload.subarray(r.payload.indexOf(0) + 1);
    const done = body.length >= 2 && body[body.length - 1] === 0 && body[body.length - 2] === 0;
    got.push(...body.toString().split('\0').filter((s) => s !== ''));
    if (done) break;
    off += body.length;
  }
  t.deepEqual(got, names);
  c.close();
  await d.close();
});
