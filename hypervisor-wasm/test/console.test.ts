import test from 'ava';
import { bootCore, guest } from './_helpers.js';

test('console ring: banner, domain lines, write, read and clear', (t) => {
  const { core } = bootCore();
  const text = core.consoleRead(false);
  t.regex(text, /^\(XEN\) XenWasm hypervisor core/);
  t.regex(text, /Domain 0 created/);
  const d = guest(core);
  core.destroyDomain(d);
  core.consoleWrite('(XEN) hello from the toolstack: é\n');
  const after = core.consoleRead(true);
  t.regex(after, new RegExp(`Domain ${d} created\\n[^]*Domain ${d} destroyed\\n`));
  t.true(after.endsWith('(XEN) hello from the toolstack: é\n'));
  t.is(core.consoleRead(false), '');
  core.consoleWrite('next\n');
  t.is(core.consoleRead(false), 'next\n');
});

test('console ring keeps the newest 64 KiB', (t) => {
  const { core } = bootCore();
  const line = 'x'.repeat(99) + '\n';
  for (let i = 0; i < 1000; i++) core.consoleWrite(`${String(i).padStart(4, '0')}${line}`);
  const text = core.consoleRead(false);
  t.is(Buffer.byteLength(text), 65536);
  t.true(text.endsWith(`0999${line}`));
  t.false(text.includes('(XEN) XenWasm'));
});
