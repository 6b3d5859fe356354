// Bad guests: garbage ring indexes, requests naming grants they do not
// hold (never granted, granted to another domain, a frame beyond their
// memory), a ring granted to the wrong domain, and frontends that never
// answer. The backend fails only that device, logs why, never touches what
// was not granted; healthy guests beside them keep working.
import test from 'ava';
import path from 'node:path';
import { Xs } from '@xenwasm/xs';
import { checkDiskTestImage, startTestStack, waitFileMatch, type TestStack } from '../src/index.js';

let s: TestStack;
let xs: Xs;
test.before(async () => {
  s = await startTestStack();
  xs = await Xs.connect({ path: path.join(s.stateDir, 'run', 'xenstored', 'socket') });
});
test.after.always(async () => {
  await xs?.close().catch(() => undefined);
  if (s) await s.stop();
});

const bad = (name: string, mode: string, dev: string) => {
  s.cfg(`${name}.cfg`, 'bad-ring', `name = "${name}"\nmemory = 8\n${dev}\nextra = "mode=${mode}"`);
  return s.xm('create', `${name}.cfg`);
};
async function waitStderr(re: RegExp): Promise<void> {
  for (let i = 0; i < 1000 && !re.test(s.stderr()); i++) await new Promise((r) => setTimeout(r, 10));
}

test.serial('bad guests lose only their own devices; healthy guests beside them keep working', async (t) => {
  // A healthy guest that answers pings throughout.
  s.cfg('answer.cfg', 'net-pair', `name = "answer"\nmemory = 8\nvif = ['mac=00:16:3e:00:02:01']\nextra = "ip=10.0.0.1"`);
  t.is((await s.xm('create', 'answer.cfg')).code, 0);
  await waitFileMatch(s.consoleLog('answer'), /net-pair: 10\.0\.0\.1 up/);

  const creates = await Promise.all([
    bad('bad-index', 'blk-index', `disk = ['file:${s.image('i.img', 1 << 20)},xvda,w']`),
    bad('bad-grants', 'blk-grants', `disk = ['file:${s.image('g.img', 1 << 20)},xvda,w']`),
    bad('bad-ringref', 'blk-ring-grant', `disk = ['file:${s.image('r.img', 1 << 20)},xvda,w']`),
    bad('bad-net', 'net-index', `vif = ['mac=00:16:3e:00:02:09']`),
  ]);
  for (const r of creates) t.is(r.code, 0, r.err);
  // A guest whose frontends never answer the handshake at all.
  s.cfg('deaf.cfg', 'idle', `name = "deaf"\nmemory = 2\ndisk = ['file:${s.image('d.img', 1 << 20)},xvda,w']\nvif = ['mac=00:16:3e:00:02:0a']\nextra = "ignore_shutdown"`);
  t.is((await s.xm('create', 'deaf.cfg')).code, 0);

  // Garbage producer index: the device fails, with the reason logged and in xenstore.
  const idx = await waitFileMatch(s.consoleLog('bad-index'), /bad-ring: backend state \d/);
  t.regex(idx, /bad-ring: backend state 5/);
  const di = await s.domid('bad-index');
  await waitStderr(/vbd-\d+-51712: failed: bad ring: req_prod/);
  t.regex(s.stderr(), new RegExp(`blkback: vbd-${di}-51712: failed: bad ring: req_prod \\d+ is 1000 requests ahead`));
  t.regex(await xs.read(`/local/domain/0/error/backend/vbd/${di}/51712/error`), /bad ring/);

  // Grants it does not hold: every such request fails, nothing ungranted is written, the device lives on.
  const g = await waitFileMatch(s.consoleLog('bad-grants'), /a good read afterwards/);
  t.regex(g, /statuses never-granted=-1 other-domain=-1 beyond-memory=-1 bad-op=-2 200-segments=-1/);
  // The same refusals through indirect requests with persistent grants on (the cache never takes a refused gref).
  t.regex(g, /indirect 16 segs, persistent on: never-granted=-1 other-domain=-1 descriptors-never-granted=-1/);
  t.regex(g, /bad-ring: sentinel intact/);
  t.regex(g, /a good read afterwards: ok/);
  t.regex(s.stderr(), /not granted to domain 0/);
  t.regex(s.stderr(), /beyond the domain's memory/);

  // The ring itself granted to someone else: the backend refuses to connect.
  t.regex(await waitFileMatch(s.consoleLog('bad-ringref'), /backend state \d/), /backend state 5/);
  t.regex(s.stderr(), /cannot map ring-ref \d+: .*not granted to domain 0/);

  // netback: a tx index beyond the ring fails that vif only.
  t.regex(await waitFileMatch(s.consoleLog('bad-net'), /backend state \d/), /backend state 5/);
  t.regex(s.stderr(), /netback: vif-\d+-0: failed: bad ring: req_prod 5000/);

  // Healthy guests still work: a full disk-test, and a ping to the guest that was up all along.
  const img = s.image('ok.img', 2 << 20);
  s.cfg('ok-disk.cfg', 'disk-test', `name = "ok-disk"\nmemory = 8\ndisk = ['file:${img},xvda,w']`);
  s.cfg('ok-ping.cfg', 'net-pair', `name = "ok-ping"\nmemory = 8\nvif = ['mac=00:16:3e:00:02:02']\nextra = "ip=10.0.0.2 peer=10.0.0.1 count=2 interval_ms=20"`);
  t.is((await s.xm('create', 'ok-disk.cfg')).code, 0);
  t.is((await s.xm('create', 'ok-ping.cfg')).code, 0);
  t.regex(await waitFileMatch(s.consoleLog('ok-disk'), /disk-test: (read back|.*fail|MISMATCH)/), /read back 4096 sectors: OK/);
  t.is(checkDiskTestImage(img), -1);
  t.regex(await waitFileMatch(s.consoleLog('ok-ping'), /packets transmitted/), /2 packets transmitted, 2 received/);
  // Every bad guest is still alive (none crashed, none hung the host), and the deaf one goes away on destroy.
  const list = (await s.xm('list')).out;
  for (const n of ['bad-index', 'bad-grants', 'bad-ringref', 'bad-net', 'deaf', 'answer']) t.regex(list, new RegExp(`^${n} `, 'm'));
  t.is((await s.xm('destroy', 'deaf')).code, 0);
  t.notRegex((await s.xm('list')).out, /^deaf /m);
});
