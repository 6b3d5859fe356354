// The client library against the real daemon binary (spawned as a process).

import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { XenError } from '@xenwasm/xen-errno';
import { Xs, defaultSocketPath } from '../src/index.js';

// The daemon package is built beside this one (root `tsc -b`); no compile-time dependency on it.
const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.resolve(here, '..', '..', '..', 'xenstored', 'dist', 'src', 'main.js');

async function daemon() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xs-test-'));
  const proc = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH, XEN_STATE_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const socketPath = await new Promise<string>((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /ready on (\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    proc.on('exit', (c) => reject(new Error(`xenstored exited ${c}: ${err}`)));
  });
  const stop = () => new Promise<void>((r) => { proc.on('exit', () => r()); proc.kill('SIGTERM'); });
  return { dir, socketPath, stop };
}

test('socket path rules match the C tools', (t) => {
  t.is(defaultSocketPath({ XENSTORED_PATH: '/x/s' }), '/x/s');
  t.is(defaultSocketPath({ XENSTORED_RUNDIR: '/r' }), '/r/socket');
  t.is(defaultSocketPath({ XEN_STATE_DIR: '/st' }, true), '/st/run/xenstored/socket_ro');
});

test('read, write, mkdir, directory, perms, rm; errors are XenError with the wire name', async (t) => {
  const d = await daemon();
  const xs = await Xs.connect({ path: d.socketPath });
  await xs.write('/a/b', 'hello');
  t.is(await xs.read('/a/b'), 'hello');
  await xs.mkdir('/a/c');
  t.deepEqual(await xs.directory('/a'), ['b', 'c']);
  await xs.setPerms('/a/b', [{ id: 0, read: false, write: false }, 'r5']);
  t.deepEqual(await xs.getPerms('/a/b'), [{ id: 0, read: false, write: false }, { id: 5, read: true, write: false }]);
  const e = await t.throwsAsync(xs.read('/nope'));
  t.true(e instanceof XenError);
  t.is((e as XenError).code, 'ENOENT');
  t.is(await xs.tryRead('/nope'), undefined);
  await xs.rm('/a');
  t.is(await xs.tryRead('/a/b'), undefined);
  // many requests in flight, matched by req_id
  await Promise.all(Array.from({ length: 100 }, (_, i) => xs.write(`/many/${i}`, String(i))));
  const vals = await Promise.all(Array.from({ length: 100 }, (_, i) => xs.read(`/many/${i}`)));
  t.deepEqual(vals, Array.from({ length: 100 }, (_, i) => String(i)));
  // large directories fall back to DIRECTORY_PART
  await Promise.all(Array.from({ length: 500 }, (_, i) => xs.write(`/large/entry-with-long-name-${i}`, '')));
  t.is((await xs.directory('/large')).length, 500);
  await xs.close();
  await d.stop();
});

test('watches as async iterators and events; unwatch', async (t) => {
  const d = await daemon();
  const xs = await Xs.connect(d.socketPath);
  const other = await Xs.connect(d.socketPath);
  const w = await xs.watch('/dev');
  const seen: string[] = [];
  w.on('event', (ev: { path: string }) => seen.push(ev.path));
  const it = w[Symbol.asyncIterator]();
  t.is((await it.next()).value.path, '/dev'); // the initial event
  await other.write('/dev/vbd/1/state', '4');
  t.is((await it.next()).value.path, '/dev/vbd/1/state');
  await w.close();
  t.true((await it.next()).done);
  // the listener was added after the initial event had been delivered to the iterator queue
  t.deepEqual(seen, ['/dev/vbd/1/state']);
  const intro = await xs.watch('@introduceDomain', 'intro');
  await intro.next();
  await other.introduce(3, 1234, 5);
  t.deepEqual((await intro.next()).value, { path: '@introduceDomain', token: 'intro' });
  t.true(await xs.isDomainIntroduced(3));
  t.is(await xs.getDomainPath(3), '/local/domain/3');
  await xs.resume(3);
  await xs.release(3);
  t.false(await xs.isDomainIntroduced(3));
  await xs.close();
  await other.close();
  await d.stop();
});

test('transaction(fn) retries on EAGAIN and commits all or nothing', async (t) => {
  const d = await daemon();
  const a = await Xs.connect(d.socketPath);
  const b = await Xs.connect(d.socketPath);
  await a.write('/counter', '0');
  // 20 concurrent increments on one node: conflicts happen, retries make every one count
  await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).transaction(async (tx) => {
    const v = parseInt(await tx.read('/counter'), 10);
    await tx.write('/counter', String(v + 1));
  })));
  t.is(await a.read('/counter'), '20');
  // an error inside fn aborts
  await t.throwsAsync(a.transaction(async (tx) => {
    await tx.write('/aborted', 'x');
    throw new Error('boom');
  }), { message: 'boom' });
  t.is(await a.tryRead('/aborted'), undefined);
  // explicit EAGAIN
  const tx = await a.transactionStart();
  await a.write('/counter', '99', tx);
  await b.write('/counter', '100');
  const e = await t.throwsAsync(a.transactionEnd(tx));
  t.is((e as XenError).code, 'EAGAIN');
  await a.close();
  await b.close();
  await d.stop();
});
