// PV network end to end: two net-pair guests on one bridge resolve each
// other with ARP and ping each other (netfront -> netback -> learning
// bridge -> netback -> netfront), as their console logs show.
import test from 'ava';
import { startTestStack, waitFileMatch, type TestStack } from '../src/index.js';

let s: TestStack;
test.before(async () => {
  s = await startTestStack();
});
test.after.always(async () => {
  if (s) await s.stop();
});

const pair = (name: string, ip: string, peer: string, mac: string, extra = '') =>
  `name = "${name}"\nmemory = 8\nvif = ['bridge=xenbr0,mac=00:16:3e:00:01:${mac}']\nextra = "ip=${ip} peer=${peer} count=3 interval_ms=50 ${extra}"`;

test.serial('net-pair guests answer ARP and ICMP echo and ping each other', async (t) => {
  s.cfg('net-pair-a.cfg', 'net-pair', pair('pair-a', '10.0.0.1', '10.0.0.2', '01'));
  s.cfg('net-pair-b.cfg', 'net-pair', pair('pair-b', '10.0.0.2', '10.0.0.1', '02'));
  t.is((await s.xm('create', 'net-pair-a.cfg')).code, 0);
  t.is((await s.xm('create', 'net-pair-b.cfg')).code, 0);
  const a = await waitFileMatch(s.consoleLog('pair-a'), /packets transmitted/);
  const b = await waitFileMatch(s.consoleLog('pair-b'), /packets transmitted/);
  t.regex(a, /net-pair: 10\.0\.0\.1 up on 00:16:3e:00:01:01/);
  t.regex(a, /^64 bytes from 10\.0\.0\.2: icmp_seq=1 ttl=64 time=\d+\.\d{3} ms$/m);
  t.regex(b, /^64 bytes from 10\.0\.0\.1: icmp_seq=3 ttl=64 time=\d+\.\d{3} ms$/m);
  t.regex(a, /3 packets transmitted, 3 received/);
  t.regex(b, /3 packets transmitted, 3 received/);
});
