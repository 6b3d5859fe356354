import test from 'ava';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prettyprint } from '@xenwasm/sxp';
import { ConfigFileError, makeCreateConfig, parseConfigText, readConfigFile, CreateConfigError } from '../src/index.js';

// Tests run from dist/test; the .cfg files stay in the source tree.
const here = path.dirname(fileURLToPath(import.meta.url));
const cfg = (n: string) => path.resolve(here, '../../test/configs', n);

test('pv example parses and converts to the (vm ...) xm create sends', async (t) => {
  const f = await readConfigFile(cfg('pv-simple.cfg'));
  t.is(f.vars.get('memory'), 64);
  t.deepEqual(f.vars.get('vif'), ['']);
  const c = makeCreateConfig(f.vars, { configFile: cfg('pv-simple.cfg') });
  t.deepEqual(c.warnings, []);
  t.is(prettyprint(c.sxp), `(vm
    (name ExampleDomain)
    (memory 64)
    (vcpus 1)
    (image
        (linux (kernel /boot/vmlinuz-2.6-xen) (root '/dev/hda1 ro') (args 4))
    )
    (device (vbd (uname phy:hda1) (dev hda1) (mode w)))
    (device (vif))
)
`);
});

test('template example: def, xm_vars, % formatting, command-line variable', async (t) => {
  const f = await readConfigFile(cfg('pv-vars.cfg'), { vars: { vmid: '3' } });
  t.is(f.vars.get('name'), 'VM3');
  t.deepEqual(f.vars.get('disk'), ['phy:sda10,sda1,w', 'phy:/dev/sda6,sda6,r']);
  t.deepEqual(f.vars.get('vif'), ['mac=aa:00:00:00:00:03, bridge=xenbr0']);
  t.is(f.declared.get('vmid'), 'Virtual machine id. Integer greater than 0.');
  const c = makeCreateConfig(f.vars, { overrides: { vmid: '3', memory: '96' }, scriptVars: f.declared.keys() });
  t.deepEqual(c.sxp.slice(0, 4), ['vm', ['name', 'VM3'], ['memory', 96], ['vcpus', 1]]);
  t.deepEqual(c.sxp.slice(-1), [['device', ['vif', ['mac', 'aa:00:00:00:00:03'], ['bridge', 'xenbr0']]]]);
  // the check function runs: a bad id is refused at the raise's line
  const e = await t.throwsAsync(readConfigFile(cfg('pv-vars.cfg'), { vars: { vmid: '0' } }), { instanceOf: ConfigFileError });
  t.regex(e.message, /pv-vars\.cfg:8: ValueError$/);
  const e2 = await t.throwsAsync(readConfigFile(cfg('pv-vars.cfg')));
  t.regex(e2.message, /pv-vars\.cfg:6: TypeError: int\(\) argument must be a string or a number, not 'NoneType'/);
});

test('hvm example: import os/re, if/else, image keys, unsupported keys warned', async (t) => {
  const f = await readConfigFile(cfg('hvm.cfg'));
  const c = makeCreateConfig(f.vars, {});
  const image = c.sxp.find((x) => Array.isArray(x) && x[0] === 'image') as unknown[];
  const hvm = image[1] as unknown[];
  t.is(hvm[0], 'hvm');
  t.deepEqual(hvm[1], ['kernel', '/usr/lib/xen/boot/hvmloader']);
  t.true(hvm.some((x) => Array.isArray(x) && x[0] === 'device_model' && /^\/usr\/lib(64)?\/xen\/bin\/qemu-dm$/.test(String(x[1]))));
  t.true(hvm.some((x) => Array.isArray(x) && x[0] === 'boot' && x[1] === 'cd'));
  t.true(hvm.some((x) => Array.isArray(x) && x[0] === 'serial' && x[1] === 'pty'));
  t.true(c.sxp.some((x) => Array.isArray(x) && x[0] === 'on_crash' && x[1] === 'preserve'));
  t.deepEqual(c.sxp.filter((x) => Array.isArray(x) && x[0] === 'device'), [
    ['device', ['vbd', ['uname', 'file:/var/images/min-el3-i386.img'], ['dev', 'hda'], ['mode', 'w']]],
    ['device', ['vbd', ['uname', ''], ['dev', 'hdc:cdrom'], ['mode', 'r']]],
    ['device', ['vif', ['type', 'ioemu'], ['bridge', 'xenbr0']]],
  ]);
  t.deepEqual(c.warnings.map((w) => w.split(':')[0]).sort(), ['usbdevice', 'vnc', 'vncunused']);
  // sdl=0 and stdvga=0 are off, so nothing to warn about
});

test('python subset: literals, arithmetic, concatenation, continuation, tuples, booleans', (t) => {
  const f = parseConfigText(`
a = 7 / 2            # Python 2 integer division
b = 7.0 / 2
c = -7 % 3
d = 'ab' + "cd" * 2
e = [1, 2,
     3] + [4]
g = (1, 'x')
h = True and not False
i = None
j = '''multi
line'''
k = r'raw\\n' 'adj' "\\x41\\101\\t"
l = 0x10 + 010 + 2 ** 3
m = a if h else b
n = "%s-%05.1f-%-4s|%x %%" % ('s', 2.3, 'ab', 255)
o = a; p = [x for_ in []] if False else 1
`.replace('[x for_ in []] if False else 1', '1'), { file: 'py.cfg' });
  const v = Object.fromEntries(f.vars);
  t.is(v.a, 3);
  t.is(v.b, 3.5);
  t.is(v.c, 2);
  t.is(v.d, 'abcdcd');
  t.deepEqual(v.e, [1, 2, 3, 4]);
  t.deepEqual(v.g, [1, 'x']);
  t.is(v.h, true);
  t.false('i' in v); // None is not an option value
  t.is(v.j, 'multi\nline');
  t.is(v.k, 'raw\\nadjAA\t');
  t.is(v.l, 16 + 8 + 8);
  t.is(v.m, 3);
  t.is(v.n, 's-002.3-ab  |ff %');
  t.is(v.p, 1);
  t.is(f.lines.get('n'), 16);
});

test('errors name the file and the line', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['a = 1\nb = (2,\n  3\n', /^x\.cfg:2: unexpected end of file: a bracket is never closed$/],
    ['a = 1\nb = "open\n', /^x\.cfg:2: EOL while scanning string literal$/],
    ['a = 1\n\nfor x in [1]:\n  pass\n', /^x\.cfg:3: 'for' is not supported in xm config files$/],
    ['a = 1\nb = undefined_thing\n', /^x\.cfg:2: NameError: name 'undefined_thing' is not defined$/],
    ['a = 1 +\n', /^x\.cfg:1: invalid syntax: unexpected end of line$/],
    ['a = "x" + 1\n', /^x\.cfg:1: TypeError: cannot concatenate 'str' and 'int' objects$/],
    ['a = 1\n  b = 2\n', /^x\.cfg:2: unexpected indent$/],
    ['a.b = 1\n', /^x\.cfg:1: only assignments to plain names/],
    ['import subprocess\n', /^x\.cfg:1: ImportError: module 'subprocess' is not available/],
    ['x = lambda: 1\n', /^x\.cfg:1: 'lambda' is not supported/],
    ['x = "%d" % "s"\n', /^x\.cfg:1: TypeError: %d format: a number is required, not str$/],
    ['x = "%s %s" % ("a",)\n', /^x\.cfg:1: TypeError: not enough arguments for format string$/],
    ['x = 1 / 0\n', /^x\.cfg:1: ZeroDivisionError/],
    ['x = [1][3]\n', /^x\.cfg:1: IndexError: list index out of range$/],
    ['x = $\n', /^x\.cfg:1: invalid character "\$"/],
  ];
  for (const [src, re] of cases) {
    const e = t.throws(() => parseConfigText(src, { file: 'x.cfg' }), { instanceOf: ConfigFileError }, src);
    t.regex(e.message, re, src);
  }
});

test('make_config validation uses Xen messages', (t) => {
  const mk = (v: Record<string, unknown>, o = {}) => () => makeCreateConfig({ kernel: '/k', ...v } as never, o);
  t.throws(mk({ name: 'a b' }), { instanceOf: CreateConfigError, message: 'Invalid VM Name' });
  t.throws(mk({ disk: ['phy:sda1,sda1'] }, { configFile: 'x' }), { message: 'Invalid disk specifier: phy:sda1,sda1' });
  t.throws(mk({ disk: ['phy:sda1,sda1,rw'] }, { configFile: 'x' }), { message: /^Invalid mode: rw/ });
  t.throws(mk({ vif: ['mac=00:16:3e:00:00:01, colour=blue'] }, { configFile: 'x' }), { message: 'Invalid vif option: colour' });
  t.throws(mk({ on_crash: 'explode' }, { configFile: 'x' }), { message: 'Invalid event handling mode: on_crash = explode' });
  t.throws(mk({ builder: 'bsd' }, { configFile: 'x' }), { message: 'Invalid builder configuration' });
  t.throws(mk({}, { configFile: 'x', overrides: { memory: 'lots' } }), { message: 'Invalid value for option memory: lots' });
  // name defaults to the config file's basename; overrides beat the file
  const c = makeCreateConfig({ kernel: 'k.wasm', memory: 32, ip: '10.0.0.2', gateway: '10.0.0.1', netmask: '255.0.0.0', hostname: 'h', pci: ['01:00.0'] },
    { configFile: 'examples/hello.cfg', cwd: '/srv', overrides: { memory: '48', vcpus: '2', on_crash: 'preserve' } });
  t.deepEqual(c.sxp.slice(0, 5), ['vm', ['name', 'hello.cfg'], ['memory', 48], ['on_crash', 'preserve'], ['vcpus', 2]]);
  t.deepEqual(c.sxp[5], ['image', ['linux', ['kernel', '/srv/k.wasm'], ['ip', '10.0.0.2:1.2.3.4:10.0.0.1:255.0.0.0:h:eth0:off']]]);
  t.deepEqual(c.warnings, ['pci: PCI passthrough: there is no PCI bus here; ignored']);
});
