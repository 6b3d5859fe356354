// Debian's xenstore-utils (the real C tools over the real libxenstore)
// pointed at the daemon with XENSTORED_PATH, unchanged.

import test from 'ava';
import fs from 'node:fs';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startInProcess } from './helpers.js';

const run = promisify(execFile);
const TOOLS = ['xenstore-read', 'xenstore-write', 'xenstore-ls', 'xenstore-list', 'xenstore-rm', 'xenstore-exists', 'xenstore-chmod', 'xenstore-watch'];
const missing = TOOLS.filter((tool) => !['/usr/bin', '/usr/sbin', '/bin'].some((d) => fs.existsSync(`${d}/${tool}`)));
const maybe = missing.length ? test.skip : test;
const why = missing.length ? ` (skipped: ${missing.join(', ')} not installed; apt-get install xenstore-utils)` : '';
if (missing.length) console.log(`xenstore-utils tests skipped: missing ${missing.join(', ')}`);


async function tool(sock: string, name: string, ...args: string[]): Promise<{ out: string; code: number }> {
  try {
    const r = await run(name, args, { env: { PATH: process.env.PATH, XENSTORED_PATH: sock }, timeout: 10000 });
    return { out: r.stdout, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { out: (err.stdout ?? '') + (err.stderr ?? ''), code: typeof err.code === 'number' ? err.code : -1 };
  }
}

maybe(`read, write, ls, list, rm, exists, chmod work unchanged${why}`, async (t) => {
  const d = await startInProcess();
  const s = d.socketPath;
  t.is((await tool(s, 'xenstore-write', '/vm/1/name', 'guest', '/vm/1/memory', '256')).code, 0);
  t.is((await tool(s, 'xenstore-read', '/vm/1/name')).out, 'guest\n');
  t.is((await tool(s, 'xenstore-list', '/vm/1')).out, 'name\nmemory\n');
  t.is((await tool(s, 'xenstore-ls', '/vm')).out, '1 = ""\n name = "guest"\n memory = "256"\n');
  t.is((await tool(s, 'xenstore-exists', '/vm/1/name')).code, 0);
  t.not((await tool(s, 'xenstore-exists', '/vm/2')).code, 0);
  const bad = await tool(s, 'xenstore-read', '/vm/2');
  t.not(bad.code, 0);
  t.is((await tool(s, 'xenstore-chmod', '/vm/1/name', 'n0', 'r5')).code, 0);
  t.regex((await tool(s, 'xenstore-ls', '-p', '/vm/1')).out, /name = "guest".*\(n0,r5\)/);
  t.is((await tool(s, 'xenstore-chmod', '-r', '/vm', 'b3')).code, 0);
  const perms = await d.core.store.get('/vm/1/memory')!.perms;
  t.deepEqual(perms, [{ id: 3, read: true, write: true }]);
  t.is((await tool(s, 'xenstore-rm', '/vm/1/name')).code, 0);
  t.is((await tool(s, 'xenstore-list', '/vm/1')).out, 'memory\n');
  t.is((await tool(s, 'xenstore-rm', '/vm')).code, 0);
  t.not((await tool(s, 'xenstore-exists', '/vm')).code, 0);
  // a tool on the read-only socket can read but not write
  await tool(s, 'xenstore-write', '/ro', 'x');
  t.is((await tool(d.roSocketPath, 'xenstore-read', '/ro')).out, 'x\n');
  t.not((await tool(d.roSocketPath, 'xenstore-write', '/ro', 'y')).code, 0);
  await d.close();
});

maybe(`xenstore-watch sees the initial event and later changes${why}`, async (t) => {
  const d = await startInProcess();
  const s = d.socketPath;
  await tool(s, 'xenstore-write', '/watched/a', '1');
  const w = spawn('xenstore-watch', ['-n', '3', '/watched'], { env: { PATH: process.env.PATH, XENSTORED_PATH: s } });
  let out = '';
  w.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => w.on('close', (c) => r(c)));
  // The tool's stdout is a pipe (block-buffered), so wait for its watch to be
  // registered in the daemon rather than for its first line.
  while (![...d.core.connections].some((c) => c.watches.some((x) => x.path === '/watched'))) {
    await new Promise((r) => setImmediate(r));
  }
  await tool(s, 'xenstore-write', '/watched/b', '2');
  await tool(s, 'xenstore-rm', '/watched');
  t.is(await exited, 0);
  t.deepEqual(out.split('\n').filter(Boolean), ['/watched', '/watched/b', '/watched']);
  await d.close();
});
