import test from 'ava';
import { GUEST_NAMES, readGuestWasm, guestWasmPath } from '../src/index.js';

test('every example guest is built and imports only the PV ABI', async (t) => {
  for (const name of GUEST_NAMES) {
    const mod = await WebAssembly.compile(readGuestWasm(name));
    const imports = WebAssembly.Module.imports(mod);
    for (const i of imports) t.is(i.module, 'xen', `${name} imports ${i.module}.${i.name}`);
    const exports = WebAssembly.Module.exports(mod).map((e) => e.name);
    t.true(exports.includes('xen_start'), `${name} exports xen_start`);
    t.true(exports.includes('xen_upcall'), `${name} exports xen_upcall`);
  }
});

test('an unknown guest name gives a clear error', (t) => {
  t.throws(() => guestWasmPath('no-such-guest'), { message: /not built/ });
});
