// xenconsoled's attach under a burst of watch events: xend writes the
// console keys one by one and each write fires the console watch, so
// tryAttach is called several times at once. Only one may bind the port;
// before, the others failed with "cannot attach the console ring: EINVAL"
// (seen about once in 200 domains). Real xen and xenstored, no xend and no
// xenconsoled daemon: the test's DomainConsole is the only one attaching.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Xc } from '@xenwasm/libxc';
import { Xs } from '@xenwasm/xs';
import { startStack } from '@xenwasm/xencommons';
import { DomainConsole } from '@xenwasm/xenconsoled/domain-console';
import { guestWasmPath } from '@xenwasm/example-guests';
import { waitFileMatch } from '../src/index.js';

test('a burst of attach calls binds the console ring once, and the log gets the guest output', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-attach-'));
  const stack = await startStack({ stateDir: dir, only: ['xen', 'xenstored'], xenArgs: ['--nr-cpus', '1', '--mem', '128', '--dom0-mem', '32'], onStderr: () => {} });
  try {
    const xc = await Xc.open(path.join(dir, 'run/xen/privcmd.sock'));
    const xs = await Xs.connect({ path: path.join(dir, 'run/xenstored/socket') });
    try {
      const domid = await xc.domainCreate({ handle: crypto.randomUUID() });
      await xc.domainMaxVcpus(domid, 1);
      const [storePort, consolePort] = [await xc.evtchnAllocUnbound(domid, 0), await xc.evtchnAllocUnbound(domid, 0)];
      const built = await xc.linuxBuild({ domid, kernel: guestWasmPath('hello'), cmdline: 'burst', memoryMb: 2, storeEvtchn: storePort, consoleEvtchn: consolePort });
      const dp = `/local/domain/${domid}`;
      await xs.write(`${dp}/name`, 'burst');
      await xs.write(`${dp}/console/ring-ref`, String(built.console_mfn));
      await xs.write(`${dp}/console/port`, String(consolePort));
      await xs.write(`${dp}/console/type`, 'xenconsoled');
      const said: string[] = [];
      const c = new DomainConsole(domid, path.join(dir, 'log'), (m) => said.push(m));
      await Promise.all([c.tryAttach(xc, xs), c.tryAttach(xc, xs), c.tryAttach(xc, xs), c.tryAttach(xc, xs)]);
      t.deepEqual(said.filter((m) => /cannot attach/.test(m)), []);
      t.is(said.filter((m) => /console attached/.test(m)).length, 1);
      t.truthy(c.ring);
      await xc.domainUnpause(domid);
      t.regex(await waitFileMatch(c.logPath, /burst/), /Hello from XenWasm! cmdline: burst/);
      await c.close();
      await xc.domainDestroy(domid);
    } finally {
      await xs.close();
      xc.close();
    }
  } finally {
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
