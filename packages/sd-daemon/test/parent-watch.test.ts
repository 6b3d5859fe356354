import test from 'ava';
import { PARENT_PID_ENV, parentWatchEnv, watchParent } from '../src/index.js';

test('nothing is watched without XEN_PARENT_PID (systemd, a shell)', (t) => {
  t.is(watchParent(() => t.fail(), { env: {} }), undefined);
});

test('a XEN_PARENT_PID naming another process than our parent was inherited from further up: not ours', (t) => {
  t.is(watchParent(() => t.fail(), { env: { [PARENT_PID_ENV]: String(process.pid) } }), undefined);
  t.is(watchParent(() => t.fail(), { env: { [PARENT_PID_ENV]: 'x' } }), undefined);
});

test('our own parent named: watched', (t) => {
  const w = watchParent(() => t.fail(), { env: parentWatchEnv(process.ppid) });
  t.truthy(w);
  w!.stop();
});
