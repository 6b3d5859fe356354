// Device setup through xm: xend writes both trees, the backends in the
// hypervisor host answer (hotplug-status, InitWait), hotplug attach/detach
// on a running guest, and a frontend that never answers cannot hold a
// backend or xend up.
import test from 'ava';
import path from 'node:path';
import { Xs } from '@xenwasm/xs';
import { startTestStack, type TestStack } from '../src/index.js';

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


test.serial('xm create with a disk and a vif: both trees as xend writes them, backends in InitWait', async (t) => {
  const img = s.image('a.img', 1 << 20);
  // hello-less: `crash`-free idle guest whose frontends never answer.
  s.cfg('dev.cfg', 'idle', `name = "dev1"\nmemory = 2\ndisk = ['file:${img},xvda,w']\nvif = ['bridge=xenbr0,mac=00:16:3e:00:00:01']`);
  const r = await s.xm('create', 'dev.cfg');
  t.is(r.code, 0, r.err);
  const id = await s.domid('dev1');
  const be = `/local/domain/0/backend/vbd/${id}/51712`;
  const fe = `/local/domain/${id}/device/vbd/51712`;
  t.is(await xs.read(`${fe}/backend`), be);
  t.is(await xs.read(`${fe}/virtual-device`), '51712');
  t.is(await xs.read(`${be}/frontend`), fe);
  t.is(await xs.read(`${be}/params`), img);
  t.is(await xs.read(`${be}/type`), 'file');
  t.is(await xs.read(`${be}/mode`), 'w');
  t.is(await xs.read(`${be}/hotplug-status`), 'connected');
  t.is(await xs.read(`${be}/sectors`), String((1 << 20) / 512));
  t.is(await xs.read(`${be}/sector-size`), '512');
  t.is(await xs.read(`${be}/info`), '0');
  t.is(await xs.read(`${be}/feature-flush-cache`), '1');
  t.is(await xs.read(`${be}/state`), '2');
  const vbe = `/local/domain/0/backend/vif/${id}/0`;
  t.is(await xs.read(`${vbe}/mac`), '00:16:3e:00:00:01');
  t.is(await xs.read(`${vbe}/bridge`), 'xenbr0');
  t.is(await xs.read(`${vbe}/hotplug-status`), 'connected');
  t.is(await xs.read(`/local/domain/${id}/device/vif/0/mac`), '00:16:3e:00:00:01');
  const bl = await s.xm('block-list', 'dev1');
  t.is(bl.code, 0, bl.err);
  t.regex(bl.out, /^Vdev  BE handle state evt-ch ring-ref BE-path\n51712 +0 +51712 +1 /);
  const nl = await s.xm('network-list', 'dev1');
  t.regex(nl.out, /^Idx BE     MAC Addr\./);
  t.regex(nl.out, /00:16:3e:00:00:01/);
});

test.serial('hotplug: block-attach read-only, block-detach of a frontend that never answers', async (t) => {
  const img = s.image('b.img', 64 * 512);
  t.is((await s.xm('block-attach', 'dev1', `file:${img}`, 'xvdb', 'r')).code, 0);
  const id = await s.domid('dev1');
  const be = `/local/domain/0/backend/vbd/${id}/51728`;
  t.is(await xs.read(`${be}/info`), '4');
  t.is(await xs.read(`${be}/sectors`), '64');
  t.regex((await s.xm('block-list', 'dev1')).out, /51728/);
  const d = await s.xm('block-detach', 'dev1', 'xvdb');
  t.is(d.code, 0, d.err);
  t.is(await xs.tryRead(`${be}/state`), undefined);
  t.notRegex((await s.xm('block-list', 'dev1')).out, /51728/);
  t.is((await s.xm('network-attach', 'dev1', 'mac=00:16:3e:00:00:02')).code, 0);
  t.regex((await s.xm('network-list', 'dev1')).out, /00:16:3e:00:00:02/);
  t.is((await s.xm('network-detach', 'dev1', '1')).code, 0);
  t.notRegex((await s.xm('network-list', 'dev1')).out, /00:16:3e:00:00:02/);
});

test.serial('a disk that does not exist fails xm create with the backend\'s reason', async (t) => {
  s.cfg('bad.cfg', 'idle', `name = "bad1"\nmemory = 2\ndisk = ['file:/nonexistent/disk.img,xvda,w']`);
  const r = await s.xm('create', 'bad.cfg');
  t.not(r.code, 0);
  t.regex(r.err, /nonexistent\/disk\.img/);
});

test.serial('xm destroy removes the backend trees', async (t) => {
  const id = await s.domid('dev1');
  t.is((await s.xm('destroy', 'dev1')).code, 0);
  t.is(await xs.tryRead(`/local/domain/0/backend/vbd/${id}`), undefined);
  t.is(await xs.tryRead(`/local/domain/0/backend/vif/${id}`), undefined);
});

test.serial('xm create with a disk image that does not exist fails, names it, and leaves no domain behind', async (t) => {
  const missing = path.join(s.dir, 'no-such.img');
  s.cfg('missing.cfg', 'idle', `name = "nodisk"\nmemory = 2\ndisk = ['file:${missing},xvda,w']`);
  const r = await s.xm('create', 'missing.cfg');
  t.is(r.code, 1);
  t.regex(r.err, /could not be connected/);
  t.true(r.err.includes(missing));
  t.notRegex((await s.xm('list')).out, /^nodisk /m);
});
