import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { prettyprint } from '@xenwasm/sxp';
import {
  buildCmdline, domainConfigToVmSxp, domainToSxp, parseVmSxp, readXendConfig, VmError, XendConfigError,
} from '../src/index.js';

test('xend-config.sxp: defaults under the state dir, overrides, unknown keys warned', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'xend-cfg-'));
  try {
    const none = await readXendConfig(dir);
    t.is(none.logfile, path.join(dir, 'log/xend.log'));
    t.true(none.unixXmlRpc);
    t.deepEqual(none.tcpXmlRpc, { enabled: false, host: '127.0.0.1', port: 8006 });
    t.is(none.xmlrpcSocket, path.join(dir, 'run/xend/xmlrpc.sock'));
    t.deepEqual(none.warnings, []);
    await writeFile(path.join(dir, 'xend-config.sxp'), `# -*- sh -*-
(xend-tcp-xmlrpc-server yes)
(xend-tcp-xmlrpc-server-port 18006)
(xen-tcp-xmlrpc-server-address localhost)
(dom0-min-mem 196)
(xend-relocation-hosts-allow '^localhost$ ^localhost\\\\.localdomain$')
(xen-api-server ((unix none)))
(frobnicate 1)
`);
    const c = await readXendConfig(dir);
    t.deepEqual(c.tcpXmlRpc, { enabled: true, host: '127.0.0.1', port: 18006 });
    t.is(c.dom0MinMem, 196);
    t.is(c.str('xend-relocation-hosts-allow'), '^localhost$ ^localhost\\.localdomain$');
    t.deepEqual(c.get('xen-api-server'), [['unix', 'none']]);
    t.is(c.warnings.length, 2);
    t.regex(c.warnings[0]!, /unknown key xen-tcp-xmlrpc-server-address \(did you mean xend-tcp-xmlrpc-server-address\?\)/);
    t.regex(c.warnings[1]!, /unknown key frobnicate/);
    await writeFile(path.join(dir, 'xend-config.sxp'), '(xend-tcp-xmlrpc-server maybe)\n');
    await t.throwsAsync(readXendConfig(dir), { instanceOf: XendConfigError, message: /invalid value for xend-tcp-xmlrpc-server: maybe/ });
    await writeFile(path.join(dir, 'xend-config.sxp'), '(logfile /x\n');
    await t.throwsAsync(readXendConfig(dir), { message: /xend-config\.sxp:1:1: unexpected end of input/ });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const VM = ['vm', ['name', 'vm1'], ['memory', 256], ['vcpus', 1], ['on_crash', 'preserve'],
  ['image', ['linux', ['kernel', '/boot/vmlinuz-2.6.18-xen'], ['root', '/dev/sda1 ro'], ['args', '4']]],
  ['device', ['vbd', ['uname', 'phy:vg/vm1'], ['dev', 'sda1'], ['mode', 'w']]],
  ['device', ['vbd', ['uname', 'file:/img/data'], ['dev', 'sdb'], ['mode', 'r']]],
  ['device', ['vif', ['bridge', 'xenbr0']]]];

test('(vm ...) from xm validates into a DomainConfig, and renders as xend.domain does', (t) => {
  const c = parseVmSxp(VM, { randomMac: () => '00:16:3e:00:00:01', randomUuid: () => 'a2b3c4d5-0000-1111-2222-333344445555' });
  t.is(c.name, 'vm1');
  t.is(c.maxmem, 256);
  t.is(c.onPoweroff, 'destroy');
  t.is(c.onReboot, 'restart');
  t.is(c.onCrash, 'preserve');
  t.is(c.cpuWeight, 256);
  t.is(c.image.cmdline, 'root=/dev/sda1 ro 4');
  t.deepEqual(c.devices[0], { kind: 'vbd', uname: 'phy:/dev/vg/vm1', dev: 'sda1', mode: 'w', backend: 0, bootable: true });
  t.false((c.devices[1] as { bootable: boolean }).bootable);
  t.deepEqual(c.devices[2], { kind: 'vif', mac: '00:16:3e:00:00:01', backend: 0, bridge: 'xenbr0' });
  const out = prettyprint(domainToSxp(c, { domid: 1, state: '---s--', status: 4, startTime: 1200000000.5, cpuTime: 1.25, onlineVcpus: 1, storeMfn: 12345, consoleMfn: 12344, shutdownReason: 'poweroff' }));
  t.is(out, `(domain
    (domid 1)
    (bootloader )
    (on_crash preserve)
    (uuid a2b3c4d5-0000-1111-2222-333344445555)
    (bootloader_args )
    (vcpus 1)
    (name vm1)
    (on_reboot restart)
    (on_poweroff destroy)
    (maxmem 256)
    (memory 256)
    (shadow_memory 0)
    (features )
    (on_xend_start ignore)
    (on_xend_stop ignore)
    (start_time 1200000000.5)
    (cpu_time 1.25)
    (online_vcpus 1)
    (cpu_weight 256)
    (cpu_cap 0)
    (image
        (linux (kernel /boot/vmlinuz-2.6.18-xen) (args 'root=/dev/sda1 ro 4'))
    )
    (status 4)
    (state ---s--)
    (shutdown_reason poweroff)
    (store_mfn 12345)
    (console_mfn 12344)
    (device
        (vbd
            (uname phy:/dev/vg/vm1)
            (dev sda1)
            (mode w)
            (backend 0)
            (bootable 1)
        )
    )
    (device
        (vbd (uname file:/img/data) (dev sdb) (mode r) (backend 0) (bootable 0))
    )
    (device (vif (backend 0) (bridge xenbr0) (mac 00:16:3e:00:00:01)))
)
`);
  // a managed, halted domain has neither domid nor state
  const halted = domainToSxp(c, { status: 0 });
  t.false(halted.some((x) => Array.isArray(x) && (x[0] === 'domid' || x[0] === 'state')));
  // the stored (vm ...) form parses back to the same config
  t.deepEqual(parseVmSxp(domainConfigToVmSxp(c)), c);
});

test('validation errors use Xen texts', (t) => {
  const withKey = (k: string, v: unknown) => VM.map((x) => (Array.isArray(x) && x[0] === k ? [k, v] : x)) as never;
  t.throws(() => parseVmSxp(withKey('name', 'bad name')), { instanceOf: VmError, message: 'Invalid VM Name' });
  t.throws(() => parseVmSxp(withKey('name', '')), { message: 'Missing VM Name' });
  t.throws(() => parseVmSxp(withKey('on_crash', 'explode')), { instanceOf: XendConfigError, message: 'Invalid event handling mode: crash' });
  t.throws(() => parseVmSxp([...VM, ['restart', 'never']] as never), { message: 'Invalid event handling mode: shutdown' });
  t.throws(() => parseVmSxp(withKey('image', ['bsd', ['kernel', '/k']])), { message: 'Invalid builder configuration' });
  t.throws(() => parseVmSxp(withKey('memory', 0)), { message: 'Memory value too low for memory: 0' });
  t.throws(() => parseVmSxp([...VM, ['device', ['vbd', ['uname', 'phy:x'], ['dev', 'xvdb'], ['mode', 'rw']]]] as never), { message: 'Invalid mode' });
  t.throws(() => parseVmSxp([...VM, ['device', ['vif', ['colour', 'blue']]]] as never), { message: 'Invalid vif option: colour' });
  t.throws(() => parseVmSxp([...VM, ['device', ['pci', ['dev', '01:00.0']]]] as never), { message: /Device class not supported/ });
  t.throws(() => parseVmSxp(['domain']), { message: 'Missing VM Name' });
  t.throws(() => parseVmSxp('vm'), { message: /expected \(vm \.\.\.\)/ });
});

test('kernel command line: root, then ip, then args, skipping what args already has', (t) => {
  t.is(buildCmdline('/dev/sda1 ro', '10.0.0.2:1.2.3.4::::eth0:off', '4'), 'root=/dev/sda1 ro ip=10.0.0.2:1.2.3.4::::eth0:off 4');
  t.is(buildCmdline('/dev/sda1', 'x', 'root=/dev/hda ip=dhcp quiet'), 'root=/dev/hda ip=dhcp quiet');
  t.is(buildCmdline('', '', ''), '');
});
