// Issue 7's done-when: the installed daemons under systemd's rules, from a
// temporary root: readiness and stopping through NOTIFY_SOCKET, a managed
// domain surviving a restart of xend, a config reload by SIGHUP, xendomains,
// and a clean SIGTERM stop of everything with nothing acknowledged lost.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Xs } from '@xenwasm/xs';
import { installInto, Services, tempRoot } from './helpers.js';

function row(list: string, name: string): { id: string; state: string } | undefined {
  for (const line of list.split('\n').slice(1)) {
    const m = /^(\S+)\s+(\d*)\s+\d+\s+\d+\s+(\S*)\s+[\d.]+$/.exec(line);
    if (m && m[1] === name) return { id: m[2]!, state: m[3]! };
  }
  return undefined;
}

test('installed services: notify readiness, managed domain across an xend restart, SIGHUP reload, xendomains, clean stop', async (t) => {
  const root = tempRoot('svc');
  const layout = installInto(root);
  // A small machine for the test (the admin's knob, as on a host).
  fs.writeFileSync(path.join(root, 'etc/default/xen'), 'XEN_ARGS="--nr-cpus 2 --mem 256 --dom0-mem 64"\n');
  const guest = path.join(root, layout.prefix, 'lib/xenwasm/node_modules/@xenwasm/example-guests/build/idle.wasm');
  const cfg = (name: string, extra = '') =>
    `kernel = "${guest}"\nname = "${name}"\nmemory = 2\nvcpus = 1\non_poweroff = 'destroy'\non_reboot = 'restart'\non_crash = 'destroy'\n${extra}`;
  fs.writeFileSync(path.join(root, 'etc/xen/svc1.cfg'), cfg('svc1'));
  fs.writeFileSync(path.join(root, 'etc/xen/auto/auto1.cfg'), cfg('auto1'));

  const svc = new Services(layout);
  t.teardown(() => svc.kill());
  const order = svc.daemonOrder();
  t.deepEqual(order.filter((u) => u !== 'xenconsoled.service'), ['xen.service', 'xenstored.service', 'xend.service']);
  for (const u of order) {
    const s = await svc.start(u);
    const ready = await s.notify.waitFor((m) => m.READY === '1');
    t.is(ready.MAINPID, String(s.proc.pid), `${u}: READY=1 from the main process (the wrapper exec'd node)`);
  }
  // xend pings the watchdog that its unit asks for.
  await svc.running.get('xend.service')!.notify.waitFor((m) => m.WATCHDOG === '1');

  const xm = async (...args: string[]) => {
    const r = await svc.run('xm', args);
    t.is(r.status, 0, `xm ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  // A managed domain: defined (blank ID and state), then started.
  await xm('new', path.join(root, 'etc/xen/svc1.cfg'));
  t.deepEqual(row(await xm('list'), 'svc1'), { id: '', state: '' });
  t.true(fs.existsSync(path.join(root, 'var/lib/xen/lib/xend/domains')));
  await xm('start', 'svc1');
  const before = row(await xm('list'), 'svc1')!;
  t.regex(before.id, /^\d+$/);

  // An acknowledged xenstore write, checked after a full restart.
  const xs = await Xs.connect({ path: path.join(root, 'var/lib/xen/run/xenstored/socket') });
  await xs.write('/tool/test-acked', 'yes');
  await xs.close();

  // Restart xend: SIGTERM, exit 0, STOPPING=1; start; the domain still runs.
  const stopped = await svc.stop('xend.service');
  t.is(stopped.code, 0);
  t.truthy(stopped.stopping);
  await svc.start('xend.service');
  const after = row(await xm('list'), 'svc1')!;
  t.is(after.id, before.id, 'same domain, still there');
  t.notRegex(after.state, /[sd]/);

  // Reload: change xend-config.sxp, SIGHUP, RELOADING=1 then READY=1; domains untouched.
  const xend = svc.running.get('xend.service')!;
  fs.appendFileSync(path.join(root, 'etc/xen/xend-config.sxp'), '(console-limit 2048)\n');
  const from = xend.notify.messages.length;
  xend.proc.kill('SIGHUP');
  await xend.notify.waitFor((m) => m.RELOADING === '1', from);
  const i = xend.notify.messages.findIndex((m, k) => k >= from && m.RELOADING === '1');
  await xend.notify.waitFor((m) => m.READY === '1', i + 1);
  t.regex(xend.stderr(), /changed console-limit/);
  t.is(row(await xm('list'), 'svc1')!.id, before.id);

  // xendomains: start brings up /etc/xen/auto; stop shuts every guest down.
  const xd = svc.command('xendomains.service').env;
  const started = await svc.run('xendomains', ['start'], { ...xd, XENDOMAINS_AUTO: path.join(root, 'etc/xen/auto') });
  t.is(started.status, 0, started.stderr);
  t.regex(row(await xm('list'), 'auto1')?.id ?? '', /^\d+$/);
  const again = await svc.run('xendomains', ['start'], { XENDOMAINS_AUTO: path.join(root, 'etc/xen/auto') });
  t.regex(again.stderr, /auto1 .* is already running/);
  const halt = await svc.run('xendomains', ['stop'], { XENDOMAINS_AUTO: path.join(root, 'etc/xen/auto'), XENDOMAINS_STOP_MAXWAIT: '5' });
  t.is(halt.status, 0, halt.stderr);
  // Clean shutdowns when the guest honours control/shutdown, destroyed after the wait otherwise.
  t.regex(halt.stderr, /shut down (\d+), destroyed (\d+), failed 0/);
  const [, down, destroyed] = /shut down (\d+), destroyed (\d+)/.exec(halt.stderr)!;
  t.is(Number(down) + Number(destroyed), 2);
  const list = await xm('list');
  t.is(row(list, 'auto1'), undefined);
  t.deepEqual(row(list, 'svc1'), { id: '', state: '' }, 'the managed domain is defined, halted');

  // Stop everything (reverse order): each says STOPPING=1 and exits 0.
  const all = await svc.stopAll();
  t.deepEqual(all.map((s) => s.unit), [...order].reverse());
  for (const s of all) {
    t.is(s.code, 0, `${s.unit} exit code`);
    t.true(s.stopping, `${s.unit} STOPPING=1`);
  }

  // Nothing acknowledged was lost: a fresh start finds the definition and the store.
  for (const u of order) await svc.start(u);
  t.deepEqual(row(await xm('list'), 'svc1'), { id: '', state: '' });
  const xs2 = await Xs.connect({ path: path.join(root, 'var/lib/xen/run/xenstored/socket') });
  t.is(await xs2.read('/tool/test-acked'), 'yes');
  await xs2.close();
  await xm('delete', 'svc1');
  t.is(row(await xm('list'), 'svc1'), undefined);
  for (const s of await svc.stopAll()) t.is(s.code, 0, `${s.unit} exit code (second stop)`);
});
