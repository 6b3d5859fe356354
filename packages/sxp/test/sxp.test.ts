import test from 'ava';
import {
  childValue, childMap, parseSxp, parseSxpAll, prettyprint, pyRepr, pyReprInner, pyStrFloat,
  pyUnescape, showSxp, SxpParseError, sxpEqual, type SxpValue,
} from '../src/index.js';

// The rendered `xm list --long` example of xen-facts 5.2.
const RENDERED = `(domain
    (domid 1)
    (bootloader )
    (on_crash restart)
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
    (image
        (linux (kernel /boot/vmlinuz-2.6.18-xen) (args 'root=/dev/sda1 ro 4'))
    )
    (status 2)
    (state -b----)
    (store_mfn 12345)
    (console_mfn 12344)
    (device (vif (backend 0) (script vif-bridge) (mac 00:16:3e:00:00:01)))
    (device (vbd (uname phy:/dev/vg/vm1) (dev sda1) (mode w) (backend 0)))
)
`;

const DOMAIN: SxpValue = [
  'domain', ['domid', 1], ['bootloader', ''], ['on_crash', 'restart'],
  ['uuid', 'a2b3c4d5-0000-1111-2222-333344445555'], ['bootloader_args', ''], ['vcpus', 1],
  ['name', 'vm1'], ['on_reboot', 'restart'], ['on_poweroff', 'destroy'], ['maxmem', 256],
  ['memory', 256], ['shadow_memory', 0], ['features', ''], ['on_xend_start', 'ignore'],
  ['on_xend_stop', 'ignore'], ['start_time', 1200000000.5], ['cpu_time', 1.25], ['online_vcpus', 1],
  ['image', ['linux', ['kernel', '/boot/vmlinuz-2.6.18-xen'], ['args', 'root=/dev/sda1 ro 4']]],
  ['status', 2], ['state', '-b----'], ['store_mfn', 12345], ['console_mfn', 12344],
  ['device', ['vif', ['backend', 0], ['script', 'vif-bridge'], ['mac', '00:16:3e:00:00:01']]],
  ['device', ['vbd', ['uname', 'phy:/dev/vg/vm1'], ['dev', 'sda1'], ['mode', 'w'], ['backend', 0]]],
];

test('prettyprint reproduces the rendered xm list --long example', (t) => {
  t.is(prettyprint(DOMAIN), RENDERED);
});

test('parsing the rendered example and printing again is the identity', (t) => {
  const v = parseSxp(RENDERED);
  // Like Xen's parser, \`(bootloader )\` reads back as a one-element list.
  t.is(prettyprint(v), RENDERED.replace(/(\w) \)\n/g, '$1)\n'));
  t.is(childValue(v, 'name'), 'vm1');
  t.is(childValue(v, 'bootloader'), undefined); // `(bootloader )` has no value
  t.is(childMap(v).get('bootloader'), '');
});

test('fits-on-a-line boundary is width inclusive', (t) => {
  // 80 characters exactly: flat. 81: broken.
  const mk = (n: number): SxpValue => ['k', 'x'.repeat(n - 4)];
  t.is(showSxp(mk(80)).length, 80);
  t.is(prettyprint(mk(80)), showSxp(mk(80)) + '\n');
  t.is(prettyprint(mk(81)), `(k\n    ${'x'.repeat(77)}\n)\n`);
  t.is(prettyprint(mk(20), 10), `(k\n    ${'x'.repeat(16)}\n)\n`);
});

test('nested broken lists indent from their own parenthesis; first list element stays on the ( line', (t) => {
  const v: SxpValue = [['aaaa', 'bbbb'], ['cccc', ['dddd', 'eeee']]];
  t.is(prettyprint(v, 20), '((aaaa bbbb)\n    (cccc\n        (dddd eeee)\n    )\n)\n');
  t.is(prettyprint([]), '()\n');
  t.is(prettyprint('atom'), 'atom\n');
});

test('atoms: bare, empty, repr-quoted, numbers', (t) => {
  t.is(showSxp(['a', '', '@', 'x@y', "it's", 'say "hi"', `b'"c`, 'tab\there', 'é']),
    `(a  @ 'x@y' "it's" 'say "hi"' 'b\\'"c' 'tab\\there' '\\xc3\\xa9')`);
  t.is(showSxp([0, -3, 1.5, 0.1, 1.5e-7, 2 ** 53]), '(0 -3 1.5 0.1 1.5e-07 9007199254740992)');
  t.is(pyStrFloat(1200000000.5), '1200000000.5');
  t.is(pyStrFloat(2), '2.0');
  t.is(pyStrFloat(1 / 3), '0.333333333333');
  t.is(pyStrFloat(0.00001), '1e-05');
  t.is(pyStrFloat(123456789012.4), '123456789012.0');
  t.is(pyStrFloat(1234567890123.5), '1.23456789012e+12');
});

test('parser: quoting, escapes, comments, nesting', (t) => {
  const text = `# xend-config.sxp style
(xend-relocation-hosts-allow '^localhost$ ^localhost\\\\.localdomain$')
(logfile /var/log/xen/xend.log)   # trailing comment
(xen-api-server ((unix none) (9363 pam '^localhost$' key.pem)))
(s "a\\tb\\x41\\101\\n" 'it"s')`;
  const all = parseSxpAll(text);
  t.is(all.length, 4);
  t.deepEqual(all[0], ['xend-relocation-hosts-allow', '^localhost$ ^localhost\\.localdomain$']);
  t.deepEqual(all[1], ['logfile', '/var/log/xen/xend.log']);
  t.deepEqual(all[2], ['xen-api-server', [['unix', 'none'], ['9363', 'pam', '^localhost$', 'key.pem']]]);
  t.deepEqual(all[3], ['s', 'a\tbAA\n', 'it"s']);
});

test('parser errors name line and column', (t) => {
  const e1 = t.throws(() => parseSxpAll('(a\n  (b c)\n', { file: 'x.sxp' }), { instanceOf: SxpParseError });
  t.is(e1.message, "x.sxp:1:1: unexpected end of input: '(' is never closed");
  const e2 = t.throws(() => parseSxpAll('(a)\n  b)'), { instanceOf: SxpParseError });
  t.is(e2.message, "2:4: syntax error: unexpected ')'");
  t.is(e2.line, 2);
  t.is(e2.column, 4);
  const e3 = t.throws(() => parseSxpAll("(a\n 'open"));
  t.is(e3.message, '2:2: unexpected end of input in string');
  const e4 = t.throws(() => parseSxpAll('(a \x01)'));
  t.is(e4.message, '1:4: invalid character: code 1');
  t.throws(() => parseSxp('(a) (b)'), { message: /expected one value, found 2/ });
});

test('printer output parses back to the same strings', (t) => {
  const v: SxpValue = ['vm', ['name', 'x y'], ['args', `q'"\\\n\x01é`], ['n', '12']];
  t.true(sxpEqual(parseSxp(showSxp(v)), v));
  t.true(sxpEqual(parseSxp(prettyprint(v, 10)), v));
});

test('python repr and its inverse round-trip', (t) => {
  for (const s of ['', 'plain', "it's", 'a"b', `both ' and "`, '\x00\x7f\n\t\r\\', 'héllo ✓']) {
    t.is(pyUnescape(pyReprInner(s)), s);
  }
  t.is(pyRepr("it's"), `"it's"`);
  t.is(pyReprInner('line\n'), 'line\\n');
  t.is(pyUnescape('\\047\\q'), "'\\q");
});
