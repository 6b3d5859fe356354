// The PV console end to end: guests print through their console ring,
// xenconsoled logs it per guest and serves `xm console` with input.
import test from 'ava';
import fs from 'node:fs';
import { once } from 'node:events';
import { startTestStack, waitFileMatch, waitStreamMatch, type TestStack } from '../src/index.js';

let s: TestStack;
test.before(async () => {
  s = await startTestStack();
});
test.after.always(async () => {
  if (s) await s.stop();
});

test.serial('xenconsoled is started by the stack and a guest\'s printk lands in its console log', async (t) => {
  t.true(s.stack.daemons.some((d) => d.spec.name === 'xenconsoled'));
  s.cfg('hello.cfg', 'hello', 'name = "hello1"\nmemory = 2\nextra = "from the console test"');
  const r = await s.xm('create', 'hello.cfg');
  t.is(r.code, 0, r.err);
  const text = await waitFileMatch(s.consoleLog('hello1'), /Hello from XenWasm! cmdline: from the console test\n/);
  t.regex(text, /^Hello from XenWasm/m);
});

test.serial('xm console shows the guest\'s output, sends input, and Ctrl-] detaches', async (t) => {
  s.cfg('echo.cfg', 'console-echo', 'name = "echo1"\nmemory = 2');
  t.is((await s.xm('create', 'echo.cfg')).code, 0);
  await waitFileMatch(s.consoleLog('echo1'), /console-echo: ready/);
  const xm = s.xmSpawn('console', 'echo1');
  await waitStreamMatch(xm.stdout!, /console-echo: ready/);
  const seen = waitStreamMatch(xm.stdout!, /echo: typed at the console/);
  xm.stdin!.write('typed at the console\r');
  await seen;
  xm.stdin!.write(Buffer.from([0x1d]));
  const [code] = await once(xm, 'exit');
  t.is(code, 0);
  // The log has it too, and the guest still runs after the detach.
  await waitFileMatch(s.consoleLog('echo1'), /echo: typed at the console/);
  const list = await s.xm('list', 'echo1');
  t.is(list.code, 0);
});

test.serial('xm create -c attaches to the new guest\'s console', async (t) => {
  s.cfg('echo2.cfg', 'console-echo', 'name = "echo2"\nmemory = 2');
  const xm = s.xmSpawn('create', '-c', 'echo2.cfg');
  let err = '';
  xm.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await waitStreamMatch(xm.stdout!, /console-echo: ready/).catch((e: Error) => {
    throw new Error(`${e.message}; xm stderr: ${JSON.stringify(err)}; console log: ${JSON.stringify(fs.existsSync(s.consoleLog('echo2')) ? fs.readFileSync(s.consoleLog('echo2'), 'utf8') : '(none)')}`);
  });
  xm.stdin!.write('quit\r');
  await waitStreamMatch(xm.stdout!, /console-echo: bye/);
  const [code] = await once(xm, 'exit');
  t.is(code, 0);
});

test.serial('xm console on a domain without a console fails cleanly', async (t) => {
  const r = await s.xm('console', 'Domain-0');
  t.not(r.code, 0);
  t.regex(r.err, /console/i);
});

test.serial('a guest that garbles its console ring loses only its own console', async (t) => {
  s.cfg('garble.cfg', 'console-garble', 'name = "garble1"\nmemory = 2');
  t.is((await s.xm('create', 'garble.cfg')).code, 0);
  // xenconsoled says why on its stderr, and goes on serving others.
  for (let i = 0; i < 3000 && !/garble1\): console ring broken/.test(s.stderr()); i++) await new Promise((r) => setTimeout(r, 10));
  t.regex(s.stderr(), /domain \d+ \(garble1\): console ring broken, no longer served: .*producer index/);
  s.cfg('hello2.cfg', 'hello', 'name = "hello2"\nmemory = 2\nextra = "after the garbler"');
  t.is((await s.xm('create', 'hello2.cfg')).code, 0);
  await waitFileMatch(s.consoleLog('hello2'), /cmdline: after the garbler/);
  const r = await s.xm('console', 'garble1');
  t.not(r.code, 0);
  t.regex(r.err, /broken/);
});

test.serial('xm shutdown reaches an idle guest through its xenstore ring and it powers off', async (t) => {
  s.cfg('idle.cfg', 'idle', 'name = "idle1"\nmemory = 2');
  t.is((await s.xm('create', 'idle.cfg')).code, 0);
  const r = await s.xm('shutdown', '-w', 'idle1');
  t.is(r.code, 0, r.err);
  t.regex(r.out, /Domain idle1 terminated/);
  t.notRegex((await s.xm('list')).out, /^idle1 /m);
});
