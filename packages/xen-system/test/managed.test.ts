// Managed domains through the installed xm: the errors of Xen's xend for the
// wrong state, on_xend_start at an xend start, and definitions that survive.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { installInto, Services, tempRoot } from './helpers.js';

test('xm new/start/delete: state errors, name clashes, on_xend_start, suspend reported missing', async (t) => {
  const root = tempRoot('managed');
  const layout = installInto(root);
  fs.writeFileSync(path.join(root, 'etc/default/xen'), 'XEN_ARGS="--nr-cpus 1 --mem 128 --dom0-mem 32"\n');
  const guest = path.join(root, layout.prefix, 'lib/xenwasm/node_modules/@xenwasm/example-guests/build/idle.wasm');
  const cfg = (name: string, extra = '') => {
    const f = path.join(root, `etc/xen/${name}.cfg`);
    fs.writeFileSync(f, `kernel = "${guest}"\nname = "${name}"\nmemory = 2\n${extra}`);
    return f;
  };
  const svc = new Services(layout);
  t.teardown(() => svc.kill());
  for (const u of svc.daemonOrder()) await svc.start(u);
  const xm = (...a: string[]) => svc.run('xm', a);

  t.is((await xm('new', cfg('m1'))).status, 0);
  t.is((await xm('new', cfg('boot1', "on_xend_start = 'start'"))).status, 0);
  // The same name from another config (another UUID) is refused, by new and by create.
  const dupNew = await xm('new', cfg('m1-again'));
  t.is(dupNew.status, 0, 'a different name is fine');
  fs.writeFileSync(path.join(root, 'etc/xen/clash.cfg'), `kernel = "${guest}"\nname = "m1"\nmemory = 2\n`);
  const clash = await xm('create', path.join(root, 'etc/xen/clash.cfg'));
  t.is(clash.status, 1);
  t.regex(clash.stderr, /VM name 'm1' already exists/);

  t.is((await xm('start', 'm1')).status, 0);
  const twice = await xm('start', 'm1');
  t.is(twice.status, 1);
  t.regex(twice.stderr, /Domain is already running/);
  const del = await xm('delete', 'm1');
  t.is(del.status, 1);
  t.regex(del.stderr, /Domain is still running/);
  const missing = await xm('start', 'nosuch');
  t.regex(missing.stderr, /Domain 'nosuch' does not exist/);
  const susp = await xm('suspend', 'm1');
  t.is(susp.status, 1);
  t.regex(susp.stderr, /save/);

  // xend starts on_xend_start domains when it starts.
  t.regex((await xm('list', 'boot1')).stdout, /^boot1\s+ +\s/m, 'halted before');
  await svc.stop('xend.service');
  await svc.start('xend.service');
  const list = (await xm('list')).stdout;
  t.regex(list, /^boot1\s+\d+\s/m, 'started by xend');
  t.regex(list, /^m1\s+\d+\s/m, 'm1 still running');
  t.regex(list, /^m1-again\s+ +\s/m, 'm1-again defined, halted');

  t.is((await xm('destroy', 'm1')).status, 0);
  t.regex((await xm('list', 'm1')).stdout, /^m1\s+ +\s/m, 'destroyed: halted again, still defined');
  t.is((await xm('delete', 'm1')).status, 0);
  t.is((await xm('list', 'm1')).status, 1);
  const long = (await xm('list', '--long', 'm1-again')).stdout;
  t.regex(long, /\(status 0\)/);
  t.notRegex(long, /\(domid /);
  for (const s of await svc.stopAll()) t.is(s.code, 0, s.unit);
});
