// A supervisor killed outright (SIGKILL: no exit handler runs) leaves no
// daemons behind: each sees it has been given another parent and stops as
// on SIGTERM.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const stackJs = fileURLToPath(new URL('../src/stack.js', import.meta.url));

// An orphan that has exited stays a zombie until its new parent reaps it, and
// kill(pid, 0) succeeds on a zombie. Under an init that does not reap (PID 1 of
// a CI container is often a plain program) a stopped daemon would look alive.
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state is the field after the parenthesised command name.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/stat')) return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('the daemons of a SIGKILLed xencommons stop by themselves', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xencommons-gone-'));
  let daemons: Array<[string, number]> = [];
  let pids: number[] = [];
  try {
    // The supervisor prints its daemons' pids once they are all ready, then idles.
    const src = `
      const { startStack } = await import(${JSON.stringify(stackJs)});
      const s = await startStack({ stateDir: ${JSON.stringify(dir)}, xenArgs: ['--nr-cpus', '1', '--mem', '128', '--dom0-mem', '32'], onStderr: () => {} });
      process.stdout.write(JSON.stringify(s.daemons.map((d) => [d.spec.name, d.proc.pid])) + '\\n');
      setInterval(() => {}, 1 << 30);`;
    const sup = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
    daemons = await new Promise<Array<[string, number]>>((resolve, reject) => {
      let out = '';
      sup.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      sup.once('exit', (c) => reject(new Error(`the supervisor exited ${c} before its stack was ready`)));
    });
    pids = daemons.map(([, pid]) => pid);
    t.true(pids.length >= 3);
    t.true(pids.every(alive));
    sup.kill('SIGKILL');
    // Each daemon polls its parent twice a second; allow plenty.
    const deadline = Date.now() + 20_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    t.deepEqual(daemons.filter(([, pid]) => alive(pid)).map(([name]) => name), [], 'daemons still running after their supervisor died');
  } finally {
    for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
