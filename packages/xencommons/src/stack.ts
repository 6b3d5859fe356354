// The stack as Xen's xencommons starts it: the hypervisor host, xenstored,
// xenconsoled (when this tree has one), then xend, each a child process
// started only once the previous one is ready, stopped in reverse order.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentWatchEnv } from '@xenwasm/sd-daemon';

export interface DaemonSpec {
  name: string;
  /** Entry script (run with this Node). */
  main: string;
  args: string[];
  /** Readiness: this text appears on the daemon's stderr. */
  ready: string;
}

export interface StackOptions {
  stateDir?: string;
  /** Extra arguments for `xen` (--nr-cpus, --mem, --dom0-mem). */
  xenArgs?: string[];
  /** Where the daemons' stderr goes (default: ours). */
  onStderr?: (name: string, chunk: string) => void;
  /** Called when a daemon exits without being asked to. */
  onUnexpectedExit?: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Give up on a daemon that is not ready after this long (ms, default 30 s). */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Start only these daemons of the stack, still in its order (tests of one daemon against the real others). */
  only?: string[];
}

export interface RunningDaemon {
  spec: DaemonSpec;
  proc: ChildProcess;
  /** Everything it wrote on stderr so far. */
  stderr(): string;
}

export interface Stack {
  stateDir: string;
  daemons: RunningDaemon[];
  /** SIGTERM each daemon in reverse order, waiting for each to exit. */
  stop(): Promise<void>;
  /** Stop and start one daemon again (tests: xend restarting mid-way). */
  restart(name: string): Promise<RunningDaemon>;
}

/** The entry script of a workspace package's daemon, or undefined if the package has none built. */
export function daemonMain(pkg: string): string | undefined {
  try {
    const p = fileURLToPath(import.meta.resolve(`@xenwasm/${pkg}/main`));
    return existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

export function stackSpecs(xenArgs: string[] = []): DaemonSpec[] {
  const need = (pkg: string) => {
    const m = daemonMain(pkg);
    if (!m) throw new Error(`@xenwasm/${pkg} is not built (no dist/src/main.js): run npm run build`);
    return m;
  };
  const specs: DaemonSpec[] = [
    { name: 'xen', main: need('xen'), args: xenArgs, ready: 'xen: ready' },
    { name: 'xenstored', main: need('xenstored'), args: [], ready: 'xenstored: ready' },
  ];
  const consoled = daemonMain('xenconsoled');
  if (consoled) specs.push({ name: 'xenconsoled', main: consoled, args: [], ready: 'xenconsoled: ready' });
  specs.push({ name: 'xend', main: need('xend'), args: [], ready: 'xend: ready' });
  return specs;
}

/** Daemons not yet exited: if this process goes away regardless, they are told to stop too. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGTERM');
});

function startDaemon(spec: DaemonSpec, env: NodeJS.ProcessEnv, opts: StackOptions, expected: Set<ChildProcess>): Promise<RunningDaemon> {
  // Its own process group: a terminal's Ctrl-C reaches only us, and we stop
  // the daemons in order rather than all of them at once.
  const proc = spawn(process.execPath, [spec.main, ...spec.args], { env, stdio: ['ignore', 'inherit', 'pipe'], detached: true });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let err = '';
  const d: RunningDaemon = { spec, proc, stderr: () => err };
  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      if (ready) return;
      proc.kill('SIGTERM');
      reject(new Error(`${spec.name} was not ready within ${opts.readyTimeoutMs ?? 30000} ms:\n${err}`));
    }, opts.readyTimeoutMs ?? 30_000);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      err += chunk;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
      (opts.onStderr ?? ((_n, c) => process.stderr.write(c)))(spec.name, chunk);
      if (!ready && err.includes(spec.ready)) {
        ready = true;
        clearTimeout(timer);
        resolve(d);
      }
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      if (!ready) reject(e);
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`${spec.name} exited (${signal ?? code}) before it was ready:\n${err}`));
      else if (!expected.has(proc)) opts.onUnexpectedExit?.(spec.name, code, signal);
    });
  });
}

function stopDaemon(d: RunningDaemon, expected: Set<ChildProcess>, graceMs = 10_000): Promise<void> {
  const p = d.proc;
  expected.add(p);
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), graceMs);
    p.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const stateDir = path.resolve(opts.stateDir ?? process.env.XEN_STATE_DIR ?? './var');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // The daemons stop by themselves should we be killed before we can stop them.
  const env = { ...(opts.env ?? process.env), XEN_STATE_DIR: stateDir, ...parentWatchEnv() };
  const specs = stackSpecs(opts.xenArgs).filter((s) => !opts.only || opts.only.includes(s.name));
  const expected = new Set<ChildProcess>();
  const daemons: RunningDaemon[] = [];
  const stopAll = async () => {
    for (const d of [...daemons].reverse()) await stopDaemon(d, expected);
  };
  try {
    for (const s of specs) daemons.push(await startDaemon(s, env, opts, expected));
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    stateDir,
    daemons,
    stop: stopAll,
    async restart(name: string) {
      const i = daemons.findIndex((d) => d.spec.name === name);
      if (i < 0) throw new Error(`no daemon ${name}`);
      await stopDaemon(daemons[i]!, expected);
      daemons[i] = await startDaemon(daemons[i]!.spec, env, opts, expected);
      return daemons[i]!;
    },
  };
}
