// The balloon driver in the idle guest follows memory/target: xm mem-set
// moves the domain's reservation down and back up.
import test from 'ava';
import { startTestStack, waitFileMatch, type TestStack } from '../src/index.js';

let s: TestStack;
test.before(async () => {
  s = await startTestStack();
});
test.after.always(async () => {
  if (s) await s.stop();
});

const memOf = async (name: string) => {
  const out = (await s.xm('list', name)).out.split('\n')[1]!.trim().split(/\s+/);
  return Number(out[2]);
};

test.serial('xm mem-set: the idle guest balloons down to the target and back up', async (t) => {
  s.cfg('balloon.cfg', 'idle', 'name = "balloon1"\nmemory = 16\nmaxmem = 32');
  t.is((await s.xm('create', 'balloon.cfg')).code, 0);
  const log = s.consoleLog('balloon1');
  let r = await s.xm('mem-set', 'balloon1', '6');
  t.is(r.code, 0, r.err);
  await waitFileMatch(log, /balloon: target 6144 KiB, reservation 6144 KiB\n/);
  t.is(await memOf('balloon1'), 6);
  r = await s.xm('mem-set', 'balloon1', '12');
  t.is(r.code, 0, r.err);
  await waitFileMatch(log, /balloon: target 12288 KiB, reservation 12288 KiB\n/);
  t.is(await memOf('balloon1'), 12);
});
