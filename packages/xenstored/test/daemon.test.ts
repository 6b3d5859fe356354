// The `xenstored` binary as a process: readiness (stderr line and systemd
// notify), durability across kill -9, clean SIGTERM, env overrides.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { RawClient, outcome, spawnDaemon, tmpdir, T } from './helpers.js';

const require = createRequire(import.meta.url);

test('kill -9 after acknowledged writes and a commit loses nothing; an open transaction is gone', async (t) => {
  const dir = tmpdir();
  const d1 = await spawnDaemon(dir);
  const c = await RawClient.connect(d1.socketPath);
  const writes: Array<Promise<unknown>> = [];
  for (let i = 0; i < 200; i++) writes.push(c.req(T.WRITE, `/dur/n${i}\0value-${i}`));
  for (const r of await Promise.all(writes)) t.is(outcome(r as never), 'OK\0');
  await c.req(T.SET_PERMS, '/dur/n7\0r3\0');
  await c.req(T.RM, '/dur/n9\0');
  const tx = parseInt((await c.req(T.TRANSACTION_START, '\0')).text, 10);
  await c.req(T.WRITE, '/committed/a\0' + '1', tx);
  await c.req(T.WRITE, '/committed/b\0' + '2', tx);
  t.is(outcome(await c.req(T.TRANSACTION_END, 'T\0', tx)), 'OK\0');
  const open = parseInt((await c.req(T.TRANSACTION_START, '\0')).text, 10);
  t.is(outcome(await c.req(T.WRITE, '/uncommitted/x\0' + '1', open)), 'OK\0');
  await c.req(T.WATCH, '/dur\0stale\0');
  d1.proc.kill('SIGKILL');
  t.is((await d1.exited).signal, 'SIGKILL');

  const d2 = await spawnDaemon(dir);
  const c2 = await RawClient.connect(d2.socketPath);
  for (let i = 0; i < 200; i++) {
    const r = await c2.req(T.READ, `/dur/n${i}\0`);
    t.is(outcome(r), i === 9 ? 'ENOENT' : `value-${i}`);
  }
  t.is((await c2.req(T.GET_PERMS, '/dur/n7\0')).text, 'r3\0');
  t.is((await c2.req(T.READ, '/committed/a\0')).text, '1');
  t.is((await c2.req(T.READ, '/committed/b\0')).text, '2');
  t.is(outcome(await c2.req(T.READ, '/uncommitted/x\0')), 'ENOENT');
  t.is(outcome(await c2.req(T.READ, '/uncommitted\0')), 'ENOENT');
  // children keep their creation order across the restart
  const names = (await c2.req(T.DIRECTORY, '/dur\0')).text.split('\0').filter(Boolean);
  t.deepEqual(names.slice(0, 3), ['n0', 'n1', 'n2']);
  // watches were connection state: nothing stale fires
  await c2.req(T.WRITE, '/dur/n0\0new');
  t.is(c2.events.length, 0);
  c2.close();
  d2.proc.kill('SIGTERM');
  t.is((await d2.exited).code, 0);
});

test('SIGTERM: listeners closed, sockets removed, exit 0; env overrides honoured', async (t) => {
  const dir = tmpdir();
  const rundir = path.join(dir, 'elsewhere');
  const sockPath = path.join(dir, 'custom.sock');
  const d = await spawnDaemon(dir, [], { XENSTORED_RUNDIR: rundir, XENSTORED_PATH: sockPath });
  t.is(d.socketPath, sockPath);
  t.true(fs.existsSync(path.join(rundir, 'socket_ro')));
  t.true(fs.existsSync(path.join(dir, 'lib', 'xenstored')));
  const c = await RawClient.connect(sockPath);
  t.is((await c.req(T.DIRECTORY, '/\0')).text, 'tool\0');
  d.proc.kill('SIGTERM');
  const { code } = await d.exited;
  t.is(code, 0);
  await c.closed;
  t.false(fs.existsSync(sockPath));
});

test('readiness is sent to $NOTIFY_SOCKET', async (t) => {
  const { DgramSocket } = require('node-unix-socket') as typeof import('node-unix-socket');
  const dir = tmpdir();
  const notifyPath = path.join(dir, 'notify.sock');
  const recv = new DgramSocket();
  recv.bind(notifyPath);
  const got = new Promise<string>((resolve) => recv.on('data', (b: Buffer) => resolve(b.toString())));
  const d = await spawnDaemon(dir, ['--entry-nb', '50'], { NOTIFY_SOCKET: notifyPath });
  const msg = await got;
  t.regex(msg, /READY=1/);
  t.regex(msg, new RegExp(`MAINPID=${d.proc.pid}`));
  recv.close();
  d.proc.kill('SIGTERM');
  t.is((await d.exited).code, 0);
});

test('bad flags are refused with usage', async (t) => {
  const dir = tmpdir();
  await t.throwsAsync(spawnDaemon(dir, ['--no-such-flag']), { message: /unknown option/ });
});
