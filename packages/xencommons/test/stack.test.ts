import net from 'node:net';
// End to end, as a user sees it: the stack started as `npm start` starts it
// (xencommons), driven through the real `xm` binary (and Python's
// xmlrpc.client over TCP), with real guests.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { guestWasmPath } from '@xenwasm/example-guests';
import { XendClient } from '@xenwasm/xm';
import { Xs } from '@xenwasm/xs';
import { Xc } from '@xenwasm/libxc';
import { childValue, type SxpValue } from '@xenwasm/sxp';
import { runXm, startStack, type Stack } from '../src/index.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.resolve(here, '../../../../examples');

let stack: Stack;
let dir: string;
let cfgDir: string;
let stderr = '';

const xm = (...args: string[]) => runXm(stack.stateDir, args, cfgDir);

/** A config file whose kernel path is relative to the file's own directory. */
function cfg(file: string, guest: string, extra: string): string {
  const p = path.join(cfgDir, file);
  writeFileSync(p, `# test config\nkernel = "${path.relative(cfgDir, guestWasmPath(guest))}"\nmemory = 2\n${extra}\n`);
  return file;
}

/** Re-asks xend (one round trip each) until `pred` holds over the domain list. */
async function until(pred: (doms: SxpValue[]) => boolean, what: string): Promise<SxpValue[]> {
  const c = new XendClient({ socketPath: path.join(stack.stateDir, 'run/xend/xmlrpc.sock') });
  try {
    for (let i = 0; i < 2000; i++) {
      const doms = await c.call<SxpValue[]>('xend.domains_with_state', true, 'all', 1);
      if (pred(doms)) return doms;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`never happened: ${what}`);
  } finally {
    c.close();
  }
}
let tcpPort = 8006;
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
const named = (doms: SxpValue[], name: string) => doms.find((d) => childValue(d, 'name') === name);

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'xencommons-'));
  cfgDir = path.join(dir, 'configs');
  const state = path.join(dir, 'var');
  rmSync(cfgDir, { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(cfgDir, { recursive: true });
  (await import('node:fs')).mkdirSync(state, { recursive: true });
  // Xen's port is 8006; a free one keeps parallel test runs from meeting.
  tcpPort = await freePort();
  writeFileSync(path.join(state, 'xend-config.sxp'), `# test\n(xend-tcp-xmlrpc-server yes)\n(xend-tcp-xmlrpc-server-port ${tcpPort})\n`);
  stack = await startStack({ stateDir: state, xenArgs: ['--nr-cpus', '2', '--mem', '512', '--dom0-mem', '64'], onStderr: (_n, c) => { stderr += c; } });
});

test.after.always(async () => {
  if (stack) await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

test.serial('the stack starts in order and xm list shows Domain-0 with Xen\'s columns', async (t) => {
  t.deepEqual(stack.daemons.map((d) => d.spec.name).filter((n) => n !== 'xenconsoled'), ['xen', 'xenstored', 'xend']);
  const r = await xm('list');
  t.is(r.code, 0);
  const lines = r.out.trimEnd().split('\n');
  t.is(lines[0], 'Name                                        ID   Mem VCPUs      State   Time(s)');
  t.regex(lines[1]!, /^Domain-0 {32} {4} 0 {4}64 {5}1 {5}r----- +\d+\.\d$/);
});

test.serial('three guests from config files run and are listed; pause, unpause and destroy show', async (t) => {
  for (const n of ['vm1', 'vm2', 'vm3']) {
    const r = await xm('create', cfg(`${n}.cfg`, 'idle', `name = "${n}"`));
    t.is(r.code, 0, r.err);
    t.regex(r.out, new RegExp(`Started domain ${n}`));
  }
  let out = (await xm('list')).out;
  for (const n of ['vm1', 'vm2', 'vm3']) t.regex(out, new RegExp(`^${n} +\\d+ +2 +1 +-b---- +\\d+\\.\\d$`, 'm'));
  // Sorted by name.
  t.deepEqual(out.trimEnd().split('\n').slice(1).map((l) => l.split(/ +/)[0]), ['Domain-0', 'vm1', 'vm2', 'vm3']);

  t.is((await xm('pause', 'vm2')).code, 0);
  t.regex((await xm('list', 'vm2')).out, /^vm2 +\d+ +2 +1 +-[b-]p--- /m);
  t.is((await xm('unpause', 'vm2')).code, 0);
  t.regex((await xm('list', 'vm2')).out, /^vm2 +\d+ +2 +1 +-b---- /m);

  const id3 = (await xm('domid', 'vm3')).out.trim();
  t.regex(id3, /^\d+$/);
  t.is((await xm('domname', id3)).out.trim(), 'vm3');
  // xm list takes ids as well as names.
  t.regex((await xm('list', id3)).out, new RegExp(`^vm3 +${id3} +2 +1 `, 'm'));
  t.is((await xm('destroy', id3)).code, 0);
  out = (await xm('list')).out;
  t.notRegex(out, /^vm3 /m);
  t.regex(out, /^vm1 /m);
});

test.serial('xm list --long prints the domain SXP', async (t) => {
  const r = await xm('list', '--long', 'vm1');
  t.is(r.code, 0);
  t.regex(r.out, /^\(domain\n {4}\(domid \d+\)/);
  t.regex(r.out, /\(name vm1\)/);
  t.regex(r.out, /\(state -b----\)/);
  t.regex(r.out, new RegExp(`\\(kernel ${guestWasmPath('idle').replace(/[.]/g, '\\.')}\\)`));
});

test.serial('the examples directory works from anywhere: relative kernel paths follow the config file', async (t) => {
  const r = await xm('create', '-n', path.join(EXAMPLES, 'hello.cfg'));
  t.is(r.code, 0, r.err);
  t.regex(r.out, /\(vm\n/);
  t.true(r.out.includes(`(kernel ${guestWasmPath('hello')})`));
  for (const f of ['burn.cfg', 'idle.cfg']) t.is((await xm('create', '-n', path.join(EXAMPLES, f))).code, 0);
});

test.serial('a hello guest with on_poweroff=preserve stays, shut down, until destroyed', async (t) => {
  t.is((await xm('create', cfg('pres.cfg', 'hello', 'name = "pres"\non_poweroff = "preserve"\nextra = "from the preserve test"'))).code, 0);
  const doms = await until((ds) => /s/.test(String(childValue(named(ds, 'pres') ?? [], 'state') ?? '')), 'pres shut down');
  t.is(childValue(named(doms, 'pres')!, 'shutdown_reason'), 'poweroff');
  t.regex((await xm('list', 'pres')).out, /^pres +\d+ +2 +1 +---s-- /m);
  t.regex((await xm('dmesg')).out, /from the preserve test/);
  t.is((await xm('destroy', 'pres')).code, 0);
  t.is((await xm('list', 'pres')).err, "Error: Domain 'pres' does not exist.\n");
});

test.serial('on_crash=restart restarts a crashing guest once, then the 20 s guard stops the loop', async (t) => {
  t.is((await xm('create', cfg('crashy.cfg', 'crash', 'name = "crashy"\non_crash = "restart"'))).code, 0);
  await until((ds) => !named(ds, 'crashy'), 'crashy gone');
  const log = (await xm('log')).out;
  t.regex(log, /Restarted domain crashy as \d+ \(restart 1\)/);
  t.regex(log, /VM crashy restarting too fast \([\d.]+ seconds since the last restart\)\.  Refusing to restart to avoid loops\./);
});

test.serial('xm shutdown asks the guest through xenstore; a guest that does not answer keeps running', async (t) => {
  t.is((await xm('create', cfg('deaf.cfg', 'idle', 'name = "deaf"\nextra = "ignore_shutdown"'))).code, 0);
  t.is((await xm('shutdown', 'deaf')).code, 0);
  const domid = (await xm('domid', 'deaf')).out.trim();
  const xs = await Xs.connect({ path: path.join(stack.stateDir, 'run/xenstored/socket') });
  try {
    t.is(await xs.read(`/local/domain/${domid}/control/shutdown`), 'poweroff');
    t.is(await xs.read(`/local/domain/${domid}/name`), 'deaf');
    t.regex(await xs.read(`/local/domain/${domid}/vm`), /^\/vm\/[0-9a-f-]{36}$/);
  } finally {
    await xs.close();
  }
  t.regex((await xm('list', 'deaf')).out, /^deaf +\d+ +2 +1 +-b---- /m);
  t.is((await xm('destroy', 'deaf')).code, 0);
});

test.serial('xm shutdown -w: a guest that answers powers off and is gone', async (t) => {
  t.is((await xm('create', cfg('polite.cfg', 'idle', 'name = "polite"'))).code, 0);
  t.is((await xm('shutdown', '-w', 'polite')).code, 0);
  t.notRegex((await xm('list')).out, /^polite /m);
});

test.serial('xm reboot -w: the guest reboots itself and on_reboot=restart brings it back under a new id', async (t) => {
  t.is((await xm('create', cfg('rb.cfg', 'idle', 'name = "rb"'))).code, 0);
  const before = (await xm('domid', 'rb')).out.trim();
  const r = await xm('reboot', '-w', 'rb');
  t.is(r.code, 0, r.err);
  t.is(r.out, 'Domain rb rebooted\n');
  const doms = await until((ds) => { const d = named(ds, 'rb'); return !!d && String(childValue(d, 'domid')) !== before; }, 'rb back');
  t.regex(String(childValue(named(doms, 'rb')!, 'state')), /^-b----$|^r-----$/);
  const c = new XendClient({ socketPath: path.join(stack.stateDir, 'run/xend/xmlrpc.sock') });
  try {
    t.is(await c.call('xend.domain.getRestartCount', 'rb'), 1);
  } finally {
    c.close();
  }
  t.regex((await xm('log')).out, /Restarted domain rb as \d+ \(restart 1\)/);
  t.is((await xm('destroy', 'rb')).code, 0);
});

test.serial('a config error names its file and line', async (t) => {
  writeFileSync(path.join(cfgDir, 'bad.cfg'), 'name = "bad"\nmemory = 4\nkernel = open("/etc/passwd").read()\n');
  const r = await xm('create', 'bad.cfg');
  t.is(r.code, 1);
  t.regex(r.err, /^Error: .*bad\.cfg:3: /);
  t.notRegex((await xm('list')).out, /^bad /m);
});

test.serial('fault texts and exit codes are Xen\'s', async (t) => {
  const none = await xm('destroy', 'no-such-vm');
  t.is(none.code, 1);
  t.is(none.err, "Error: Domain 'no-such-vm' does not exist.\n");
  const d0 = await xm('pause', 'Domain-0');
  t.is(d0.code, 1);
  t.regex(d0.err, /^Error: Cannot pause privileged domain 0\nUsage: xm pause <Domain>/);
  const dup = await xm('create', 'vm1.cfg');
  t.is(dup.code, 1);
  t.regex(dup.err, /Error: VM name 'vm1' already exists as domain \d+/);
  const unknown = await xm('frobnicate');
  t.is(unknown.code, 1);
  t.regex(unknown.err, /^Error: Subcommand frobnicate not found!/);
  const args = await xm('pause');
  t.is(args.code, 1);
  t.regex(args.err, /'xm pause' requires 1 argument\./);
  // A unique prefix is the command.
  t.is((await xm('li')).code, 0);
});

test.serial('xend restarted mid-way still lists the running guests', async (t) => {
  const before = (await xm('list')).out;
  await stack.restart('xend');
  const after = (await xm('list')).out;
  const names = (s: string) => s.split('\n').slice(1).filter(Boolean).map((l) => l.split(/ +/).slice(0, 2).join(' '));
  t.deepEqual(names(after), names(before));
  t.regex(after, /^vm1 +\d+ +2 +1 +-b---- /m);
  // And it still manages them.
  t.is((await xm('destroy', 'vm2')).code, 0);
  t.notRegex((await xm('list')).out, /^vm2 /m);
});

test.serial('unpause of a guest destroyed behind xend\'s back says it does not exist', async (t) => {
  t.is((await xm('create', '-p', cfg('ghost.cfg', 'idle', 'name = "ghost"'))).code, 0);
  const id = Number((await xm('domid', 'ghost')).out.trim());
  const xc = await Xc.open(path.join(stack.stateDir, 'run/xen/privcmd.sock'));
  try {
    await xc.domainDestroy(id);
  } finally {
    xc.close();
  }
  const r = await xm('unpause', 'ghost');
  t.is(r.code, 1);
  t.is(r.err.split('\n')[0], "Error: Domain 'ghost' does not exist.");
  t.notRegex((await xm('list')).out, /^ghost /m);
});

test.serial("Python's xmlrpc.client lists domains through TCP (xend-tcp-xmlrpc-server)", async (t) => {
  const py = [
    'import xmlrpc.client',
    `s = xmlrpc.client.ServerProxy("http://127.0.0.1:${tcpPort}")`,
    'doms = s.xend.domains_with_state(True, "all", 1)',
    'print(sorted(dict((k[0], k[1]) for k in d[1:] if isinstance(k, list) and len(k) > 1)["name"] for d in doms))',
    'try:',
    '    s.xend.domain("nope")',
    'except xmlrpc.client.Fault as f:',
    '    print(f.faultCode, f.faultString)',
    'print([p[0] for p in s.xend.node.info()][:3])',
  ].join('\n');
  const r = await run('python3', ['-c', py]);
  const lines = r.stdout.trim().split('\n');
  t.is(lines[0], "['Domain-0', 'vm1']");
  t.is(lines[1], '3 nope');
  t.is(lines[2], "['system', 'host', 'release']");
});

test.serial('info, vcpu-list, sched-credit, mem-set and uptime answer', async (t) => {
  t.regex((await xm('info')).out, /^xen_scheduler +: credit$/m);
  t.regex((await xm('vcpu-list', 'vm1')).out, /^vm1 +\d+ +0 +\d+ +-b- +\d+\.\d any cpu$/m);
  t.is((await xm('sched-credit', '-d', 'vm1', '-w', '512', '-c', '50')).code, 0);
  t.regex((await xm('sched-credit', '-d', 'vm1')).out, /^vm1 +\d+ +512 +50$/m);
  t.is((await xm('mem-set', 'vm1', '1')).code, 0);
  t.regex((await xm('list', 'vm1')).out, /^vm1 +\d+ +1 +1 /m);
  t.regex((await xm('uptime', 'vm1')).out, /^vm1 +\d+ +\d+:\d\d:\d\d$/m);
});

test.serial('mem-max, name=value overrides on xm create, dmesg -c', async (t) => {
  // Overrides on the command line win over the file (xm create's `var=value`).
  const r = await xm('create', cfg('over.cfg', 'idle', 'name = "over-file"'), 'name=over-cli', 'memory=3');
  t.is(r.code, 0, r.err);
  t.regex((await xm('list', 'over-cli')).out, /^over-cli +\d+ +3 +1 /m);
  t.is((await xm('list', 'over-file')).code, 1);
  // mem-max raises the ceiling that mem-set is checked against.
  t.is((await xm('mem-set', 'over-cli', '8')).code, 1);
  t.is((await xm('mem-max', 'over-cli', '8')).code, 0);
  t.regex((await xm('list', '--long', 'over-cli')).out, /\(maxmem 8\)/);
  t.is((await xm('mem-set', 'over-cli', '8')).code, 0);
  t.regex((await xm('list', 'over-cli')).out, /^over-cli +\d+ +8 +1 /m);
  t.is((await xm('destroy', 'over-cli')).code, 0);
  // dmesg -c prints the ring and empties it.
  const first = await xm('dmesg', '-c');
  t.is(first.code, 0);
  const banner = first.out.split('\n').find((l) => /\S/.test(l))!;
  t.truthy(banner);
  // What was printed before is gone (a guest may have printed since).
  t.false((await xm('dmesg')).out.includes(banner));
});

test.serial('xm shutdown -a -w stops every guest that answers, never Domain-0', async (t) => {
  for (const n of ['all1', 'all2']) t.is((await xm('create', cfg(`${n}.cfg`, 'idle', `name = "${n}"`))).code, 0);
  t.is((await xm('shutdown', '-a', 'vm1')).code, 1, 'a domain with -a is refused');
  const r = await xm('shutdown', '-a', '-w');
  t.is(r.code, 0, r.err);
  t.deepEqual(r.out.trimEnd().split('\n').sort(), ['All domains terminated', 'Domain all1 terminated', 'Domain all2 terminated', 'Domain vm1 terminated']);
  const left = (await xm('list')).out.trimEnd().split('\n').slice(1).map((l) => l.split(/ +/)[0]);
  t.deepEqual(left, ['Domain-0']);
});

test.serial('SIGTERM stops the daemons in reverse order and each exits 0', async (t) => {
  const procs = stack.daemons.map((d) => d.proc);
  const order: string[] = [];
  for (const d of stack.daemons) d.proc.once('exit', () => order.push(d.spec.name));
  await stack.stop();
  t.deepEqual(order, [...stack.daemons].reverse().map((d) => d.spec.name));
  t.true(procs.every((p) => p.exitCode === 0));
  t.regex(stderr, /xend: SIGTERM, stopping/);
});
