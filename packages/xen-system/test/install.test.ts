import test from 'ava';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseXendConfig, xendConfigDefaults } from '@xenwasm/xend';
import { defaultLayout, install, MARKER, startOrder, uninstall, unitValues } from '../src/index.js';
import { has, installInto, readUnits, tempRoot } from './helpers.js';

/** Every path under root with what it is (file hash, link target, dir). */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(root, p);
      if (e.isSymbolicLink()) out.set(rel, `-> ${fs.readlinkSync(p)}`);
      else if (e.isDirectory()) {
        out.set(rel, `dir ${(fs.statSync(p).mode & 0o777).toString(8)}`);
        walk(p);
      } else out.set(rel, `${(fs.statSync(p).mode & 0o777).toString(8)} ${createHash('sha1').update(fs.readFileSync(p)).digest('hex')}`);
    }
  };
  walk(root);
  return out;
}

test('install: programs, runtime, /etc/xen, units, state with links into /run and /var/log', (t) => {
  const root = tempRoot('tree');
  const l = installInto(root);
  const at = (p: string) => path.join(root, p);
  for (const prog of ['xm', 'xend', 'xenstored', 'xen', 'xendomains']) {
    const f = at(`/usr/local/bin/${prog}`);
    t.true((fs.statSync(f).mode & 0o111) !== 0, `${prog} executable`);
    t.true(fs.readFileSync(f, 'utf8').includes(MARKER));
  }
  const lib = at('/usr/local/lib/xenwasm/node_modules/@xenwasm');
  t.true(fs.existsSync(path.join(lib, 'xend/dist/src/main.js')));
  t.true(fs.existsSync(path.join(lib, 'hypervisor-wasm/build/core.wasm')));
  t.false(fs.existsSync(path.join(lib, 'xend/dist/test')), 'tests are not installed');
  t.false(fs.existsSync(path.join(lib, 'xend/src')), 'sources are not installed');
  t.false(fs.existsSync(at('/usr/local/lib/xenwasm/node_modules/typescript')), 'dev dependencies are not installed');

  // xend-config.sxp parses cleanly and documents every key xend knows.
  const cfg = fs.readFileSync(at('/etc/xen/xend-config.sxp'), 'utf8');
  t.deepEqual(parseXendConfig(cfg, '/var/lib/xen').warnings, []);
  for (const key of xendConfigDefaults('/x').keys()) t.regex(cfg, new RegExp(`^#?\\(${key} `, 'm'), `${key} documented`);

  // Example configs point at the installed guests.
  const hello = fs.readFileSync(at('/etc/xen/examples/hello.cfg'), 'utf8');
  const kernel = /^kernel\s*=\s*"(.*)"/m.exec(hello)![1]!;
  t.is(kernel, '/usr/local/lib/xenwasm/node_modules/@xenwasm/example-guests/build/hello.wasm');
  t.true(fs.existsSync(at(kernel)));
  t.true(fs.statSync(at('/etc/xen/auto')).isDirectory());

  t.is(fs.readlinkSync(at('/var/lib/xen/run')), '../../../run/xen');
  t.is(fs.readlinkSync(at('/var/lib/xen/log')), '../../log/xen');
  t.is(fs.readlinkSync(at('/var/lib/xen/xend-config.sxp')), '../../../etc/xen/xend-config.sxp');
  t.is(fs.statSync(at('/var/lib/xen')).mode & 0o777, 0o700);
  t.regex(fs.readFileSync(at('/etc/tmpfiles.d/xenwasm.conf'), 'utf8'), /^d \/run\/xen 0700 root root -$/m);

  // The wrapper runs the installed code (with the node that installed it).
  const r = spawnSync(at('/usr/local/bin/xm'), ['help'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /Usage: xm <subcommand>/);
  t.is(l.root, root);
});

test('units: xencommons order, Requires=, Type=notify, restart policy, reload, sandboxing', (t) => {
  const root = tempRoot('units');
  const units = readUnits(installInto(root));
  const order = startOrder(units);
  const consoled = units.has('xenconsoled.service');
  t.deepEqual(order, ['xen.service', 'xenstored.service', ...(consoled ? ['xenconsoled.service'] : []), 'xend.service', 'xendomains.service']);
  const v = (u: string, k: string, split = false) => unitValues(units.get(u)!, k === 'After' || k === 'Requires' || k === 'Wants' ? 'Unit' : 'Service', k, split);
  t.deepEqual(v('xenstored.service', 'Requires', true), ['xen.service']);
  t.deepEqual(v('xend.service', 'Requires', true), ['xen.service', 'xenstored.service']);
  t.deepEqual(v('xendomains.service', 'Requires', true), ['xend.service']);
  for (const u of ['xen.service', 'xenstored.service', 'xend.service', ...(consoled ? ['xenconsoled.service'] : [])]) {
    t.deepEqual(v(u, 'Type'), ['notify'], u);
    t.deepEqual(v(u, 'Restart'), [u === 'xen.service' ? 'no' : 'on-failure'], u);
    for (const k of ['NoNewPrivileges', 'PrivateTmp']) t.deepEqual(v(u, k), ['yes'], `${u} ${k}`);
    t.is(v(u, 'ProtectSystem').length, 1, `${u} ProtectSystem`);
    t.deepEqual(v(u, 'MemoryDenyWriteExecute'), [], 'V8 needs W+X pages');
  }
  t.deepEqual(v('xend.service', 'ExecReload'), ['/bin/kill -HUP $MAINPID']);
  t.deepEqual(v('xendomains.service', 'ExecStop'), ['/usr/local/bin/xendomains stop']);
});

test('systemd-analyze verify passes on every installed unit', (t) => {
  if (!has('systemd-analyze') || !fs.existsSync('/usr/lib/systemd/system/sysinit.target')) {
    t.log('skipped: systemd-analyze (Debian package systemd) is not installed');
    return t.pass();
  }
  const root = tempRoot('verify');
  installInto(root);
  // The root must look like a host: systemd's own units, and /bin/kill of ExecReload.
  fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.copyFileSync(fs.realpathSync('/bin/kill'), path.join(root, 'bin/kill'));
  fs.chmodSync(path.join(root, 'bin/kill'), 0o755);
  const dir = path.join(root, 'etc/systemd/system');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.service')).map((f) => path.join(dir, f));
  t.true(files.length >= 4);
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...files], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr.trim(), '', 'no warnings either');
});

test('install twice is the same tree; a changed xend-config.sxp is kept', (t) => {
  const root = tempRoot('idem');
  installInto(root);
  const first = snapshot(root);
  installInto(root);
  t.deepEqual(snapshot(root), first);
  const cfg = path.join(root, 'etc/xen/xend-config.sxp');
  fs.appendFileSync(cfg, '(console-limit 2048)\n');
  const report = install({ layout: defaultLayout({ root }), systemctl: false });
  t.deepEqual(report.kept, [cfg]);
  t.regex(fs.readFileSync(cfg, 'utf8'), /\(console-limit 2048\)\n$/);
});

test('uninstall leaves only state and logs, twice over; --purge removes those too', (t) => {
  const root = tempRoot('uninst');
  const layout = installInto(root);
  fs.writeFileSync(path.join(root, 'var/lib/xen/keep-me'), 'state');
  fs.writeFileSync(path.join(root, 'var/log/xen/xend.log'), 'log');
  fs.writeFileSync(path.join(root, 'etc/xen/mine.cfg'), 'name = "mine"\n');
  uninstall({ layout, systemctl: false });
  const left = [...snapshot(root).keys()].sort();
  t.deepEqual(left, ['etc', 'etc/xen', 'etc/xen/mine.cfg', 'var', 'var/lib', 'var/lib/xen', 'var/lib/xen/keep-me', 'var/log', 'var/log/xen', 'var/log/xen/xend.log']);
  uninstall({ layout, systemctl: false });
  t.deepEqual([...snapshot(root).keys()].sort(), left);
  uninstall({ layout, systemctl: false, purge: true });
  t.deepEqual([...snapshot(root).keys()].sort(), ['etc', 'etc/xen', 'etc/xen/mine.cfg', 'var', 'var/lib', 'var/log']);
});
