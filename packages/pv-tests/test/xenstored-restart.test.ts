// xenstored restarted under a running stack: xend keeps serving. Its
// xenstore client reconnects, registers its watches again and re-reads the
// hypervisor (before, xend died of the closed connection, or stayed up on a
// dead one). xenconsoled uses the same client mode and logs guests created
// after the restart.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { guestWasmPath } from '@xenwasm/example-guests';
import { runXm, startStack } from '@xenwasm/xencommons';
import { waitFileMatch } from '../src/index.js';

test('xend and xenconsoled keep serving across a xenstored restart: list, create, console log, and shutdowns noticed after it', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xs-restart-'));
  let stderr = '';
  const said: Array<{ re: RegExp; resolve: () => void }> = [];
  const onStderr = (_n: string, c: string) => {
    stderr += c;
    for (const w of said.splice(0)) (w.re.test(stderr) ? w.resolve() : said.push(w));
  };
  // A daemon that dies ends every wait at once, with what it said last.
  let died: (e: Error) => void = () => undefined;
  const death = new Promise<never>((_, reject) => (died = reject));
  death.catch(() => undefined);
  const saying = (re: RegExp) => Promise.race([death, new Promise<void>((resolve) => (re.test(stderr) ? resolve() : said.push({ re, resolve })))]);
  const exits: string[] = [];
  const stack = await startStack({
    stateDir: path.join(dir, 'var'), only: ['xen', 'xenstored', 'xenconsoled', 'xend'], xenArgs: ['--nr-cpus', '1', '--mem', '256', '--dom0-mem', '32'],
    onStderr,
    onUnexpectedExit: (name, code) => {
      exits.push(`${name} exited ${code}`);
      died(new Error(`${name} exited ${code}:\n${stderr.slice(-1500)}`));
    },
  });
  const xm = (...args: string[]) => runXm(stack.stateDir, args, dir);
  const cfg = (name: string, guest: string) => {
    writeFileSync(path.join(dir, `${name}.cfg`), `kernel = "${guestWasmPath(guest)}"\nname = "${name}"\nmemory = 2\n`);
    return `${name}.cfg`;
  };
  try {
    t.is((await xm('create', cfg('before', 'idle'))).code, 0);
    await stack.restart('xenstored');
    await Promise.all([saying(/xend: .*reconnected to xenstored/), saying(/xenconsoled: reconnected to xenstored/)]);
    t.deepEqual(exits, []);
    t.regex((await xm('list')).out, /\nbefore\s+\d+/);
    // A guest created now runs, powers off, and xend notices (its @releaseDomain watch is back).
    t.is((await xm('create', cfg('after', 'hello'))).code, 0);
    await saying(/xend: .*Domain after \(\d+\) shut down \(poweroff\)/);
    t.regex(await waitFileMatch(path.join(stack.stateDir, 'log', 'console', 'guest-after.log'), /Hello from XenWasm!/), /Hello/);
    t.is((await xm('destroy', 'before')).code, 0);
    t.notRegex(stderr, /XenError|at Socket/);
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
