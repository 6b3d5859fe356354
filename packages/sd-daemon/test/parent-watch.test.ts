import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PARENT_PID_ENV, parentWatchEnv, watchParent } from '../src/index.js';

const sdDaemonJs = fileURLToPath(new URL('../src/index.js', import.meta.url));

test('nothing is watched without XEN_PARENT_PID (systemd, a shell)', (t) => {
  t.is(watchParent(() => t.fail(), { env: {} }), undefined);
});

test('a XEN_PARENT_PID naming another live process than our parent was inherited from further up: not ours', (t) => {
  t.is(watchParent(() => t.fail(), { env: { [PARENT_PID_ENV]: String(process.pid) } }), undefined);
  t.is(watchParent(() => t.fail(), { env: { [PARENT_PID_ENV]: 'x' } }), undefined);
});

test('our own parent named: watched', (t) => {
  const w = watchParent(() => t.fail(), { env: parentWatchEnv(process.ppid) });
  t.truthy(w);
  w!.stop();
});

// A child that loads sd-daemon, says so, waits until it has been orphaned
// (as a daemon still starting up may be), and only then calls watchParent.
const lateWatcher = `
  const { watchParent } = await import(${JSON.stringify(sdDaemonJs)});
  const first = process.ppid;
  console.log('loaded ' + process.pid);
  const t = setInterval(() => {
    if (process.ppid === first) return;
    clearInterval(t);
    const w = watchParent(() => { console.log('gone'); process.exit(0); }, { intervalMs: 20 });
    if (!w) { console.log('not watched'); process.exit(0); }
  }, 20);`;

const lines = (stream: NodeJS.ReadableStream) => createInterface({ input: stream })[Symbol.asyncIterator]();

test('a supervisor killed before its daemon starts watching is still noticed', async (t) => {
  // The supervisor starts the watcher with its own pid in the variable, prints nothing of its own, and idles.
  const sup = spawn(process.execPath, ['--input-type=module', '-e', `
    import { spawn } from 'node:child_process';
    spawn(process.execPath, ['--input-type=module', '-e', ${JSON.stringify(lateWatcher)}],
      { env: { ...process.env, ${PARENT_PID_ENV}: String(process.pid) }, stdio: ['ignore', 'inherit', 'inherit'] });
    setInterval(() => {}, 1 << 30);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = lines(sup.stdout!);
  const loaded = (await out.next()).value as string;
  t.regex(loaded, /^loaded \d+$/);
  sup.kill('SIGKILL');
  await once(sup, 'exit');
  // The watcher holds our pipe after its parent died; it ends with its verdict.
  t.is((await out.next()).value, 'gone');
});

test('a supervisor already gone when the daemon looks: gone at once', async (t) => {
  const dead = spawn(process.execPath, ['-e', '']);
  await once(dead, 'exit');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { watchParent } = await import(${JSON.stringify(sdDaemonJs)});
    const w = watchParent(() => { console.log('gone'); process.exit(0); }, { intervalMs: 60_000 });
    if (!w) console.log('not watched');`], { env: { ...process.env, [PARENT_PID_ENV]: String(dead.pid) }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.is((await lines(child.stdout!).next()).value, 'gone');
});
