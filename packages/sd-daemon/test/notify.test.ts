import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { notify, ready, reloading, stopping, startWatchdog, watchdogUsec, NotifyListener, parseNotify } from '../src/index.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'sd-daemon-'));
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

test('no NOTIFY_SOCKET: nothing sent, false', async (t) => {
  t.false(await notify('READY=1', { env: {} }));
  t.false(await notify('READY=1', { env: { NOTIFY_SOCKET: 'relative/path' } }));
});

test('a datagram reaches a python3 AF_UNIX/SOCK_DGRAM listener (the receiving side systemd has)', async (t) => {
  if (!has('python3')) return t.pass('skipped: no python3');
  const sock = path.join(tmp(), 'notify');
  const py = spawn('python3', ['-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
data = s.recv(4096)
print(repr(data.decode()), flush=True)
`, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  py.stdout.setEncoding('utf8');
  await new Promise<void>((r) => py.stdout.on('data', (c: string) => { out += c; if (out.includes('listening')) r(); }));
  t.true(await ready('serving', { env: { NOTIFY_SOCKET: sock } }));
  await new Promise((r) => py.once('exit', r));
  t.regex(out, new RegExp(`'READY=1\\\\nMAINPID=${process.pid}\\\\nSTATUS=serving'`));
});

test('NotifyListener receives ours and systemd-notify\'s; abstract names work', async (t) => {
  const l = NotifyListener.open(path.join(tmp(), 'n'));
  t.teardown(() => l.close());
  t.true(await stopping('bye', { env: { NOTIFY_SOCKET: l.path } }));
  t.deepEqual(await l.waitFor((m) => m.STOPPING === '1'), { STOPPING: '1', STATUS: 'bye' });
  t.true(await reloading(undefined, { env: { NOTIFY_SOCKET: l.path } }));
  const r = await l.waitFor((m) => m.RELOADING === '1');
  t.regex(r.MONOTONIC_USEC!, /^\d+$/);
  if (has('systemd-notify')) {
    const res = spawnSync('systemd-notify', ['--no-block', 'STATUS=from-systemd-notify'], { env: { ...process.env, NOTIFY_SOCKET: l.path } });
    t.is(res.status, 0);
    t.is((await l.waitFor((m) => m.STATUS === 'from-systemd-notify')).STATUS, 'from-systemd-notify');
  }
  const name = `xenwasm-test-${process.pid}`;
  const a = NotifyListener.open('\0' + name);
  t.teardown(() => a.close());
  t.true(await notify({ STATUS: 'abstract' }, { env: { NOTIFY_SOCKET: '@' + name } }));
  t.is((await a.waitFor((m) => m.STATUS === 'abstract')).STATUS, 'abstract');
});

test('nobody listening: false and a log line, no throw', async (t) => {
  const lines: string[] = [];
  t.false(await notify('READY=1', { env: { NOTIFY_SOCKET: path.join(tmp(), 'absent') }, log: (m) => lines.push(m) }));
  t.is(lines.length, 1);
  t.regex(lines[0]!, /READY=1/);
});

test('watchdog: pings at half WATCHDOG_USEC, only for our pid', async (t) => {
  t.is(watchdogUsec({ WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid + 1) }), undefined);
  t.is(watchdogUsec({}), undefined);
  const l = NotifyListener.open(path.join(tmp(), 'w'));
  t.teardown(() => l.close());
  const wd = startWatchdog({ env: { NOTIFY_SOCKET: l.path, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid) } });
  t.truthy(wd);
  t.is(wd!.intervalMs, 50);
  await l.waitFor((m) => m.WATCHDOG === '1');
  await l.waitFor((m) => m.WATCHDOG === '1', l.messages.length);
  wd!.stop();
  t.true(l.messages.filter((m) => m.WATCHDOG === '1').length >= 2);
});

test('parseNotify', (t) => {
  t.deepEqual(parseNotify('READY=1\nSTATUS=a=b\n'), { READY: '1', STATUS: 'a=b' });
});
