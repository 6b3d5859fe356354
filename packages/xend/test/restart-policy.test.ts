import test from 'ava';
import { decideShutdown, parseVmSxp, restartRefusal, stateString, MINIMUM_RESTART_TIME } from '../src/index.js';

const config = (extra: unknown[] = []) => parseVmSxp(['vm', ['name', 'g'], ...(extra as never[]), ['image', ['linux', ['kernel', '/k']]]]);
const flags = (f: Partial<{ dying: boolean; crashed: boolean; shutdown: boolean; shutdown_reason: number }>) =>
  ({ dying: false, crashed: false, shutdown: false, shutdown_reason: 0, ...f });

test('refreshShutdown maps the libxc state and the on_* modes to actions', (t) => {
  const c = config([['on_poweroff', 'preserve'], ['on_reboot', 'rename-restart'], ['on_crash', 'restart']]);
  t.deepEqual(decideShutdown(flags({}), c), { kind: 'none' });
  t.deepEqual(decideShutdown(undefined, c), { kind: 'cleanup' });
  t.deepEqual(decideShutdown(flags({ dying: true }), c), { kind: 'cleanup' });
  t.deepEqual(decideShutdown(flags({ shutdown: true, shutdown_reason: 0 }), c), { kind: 'preserve', reason: 'poweroff' });
  t.deepEqual(decideShutdown(flags({ shutdown: true, shutdown_reason: 1 }), c), { kind: 'restart', reason: 'reboot', rename: true });
  t.deepEqual(decideShutdown(flags({ shutdown: true, crashed: true, shutdown_reason: 3 }), c), { kind: 'restart', reason: 'crash', rename: false });
  t.deepEqual(decideShutdown(flags({ shutdown: true, shutdown_reason: 2 }), c), { kind: 'suspended' });
  // xend's defaults: destroy on poweroff, restart on reboot and crash.
  const d = config();
  t.deepEqual(decideShutdown(flags({ shutdown: true, shutdown_reason: 0 }), d), { kind: 'destroy', reason: 'poweroff' });
  t.deepEqual(decideShutdown(flags({ shutdown: true, shutdown_reason: 4 }), d), { kind: 'destroy', reason: 'halt' });
  t.deepEqual(decideShutdown(flags({ shutdown: true, shutdown_reason: 1 }), d), { kind: 'restart', reason: 'reboot', rename: false });
});

test('a restart within MINIMUM_RESTART_TIME of the previous one is refused', (t) => {
  t.is(MINIMUM_RESTART_TIME, 20);
  t.is(restartRefusal('g', 1000, undefined), undefined);
  t.is(restartRefusal('g', 1000, 1000 - 20), undefined);
  t.regex(restartRefusal('g', 1000, 995.5)!, /^VM g restarting too fast \(4\.500000 seconds since the last restart\)\.  Refusing to restart to avoid loops\.$/);
  t.truthy(restartRefusal('g', 1000, undefined, true));
});

test('the state string puts c for a crash and s only for other shutdowns', (t) => {
  const base = { running: false, blocked: false, paused: false, shutdown: false, crashed: false, dying: false };
  t.is(stateString({ ...base, blocked: true }), '-b----');
  t.is(stateString({ ...base, running: true }), 'r-----');
  t.is(stateString({ ...base, paused: true }), '--p---');
  t.is(stateString({ ...base, shutdown: true }), '---s--');
  t.is(stateString({ ...base, shutdown: true, crashed: true }), '----c-');
  t.is(stateString({ ...base, dying: true }), '-----d');
});
