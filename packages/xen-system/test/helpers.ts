// Test helpers: an installed tree under a temporary root, and its services
// started as systemd would start them (Environment=, EnvironmentFile=,
// ExecStart= with $VAR expansion, Type=notify readiness on a NOTIFY_SOCKET
// we listen on), with every final path mapped under the root.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotifyListener, type NotifyMessage } from '@xenwasm/sd-daemon';
import { defaultLayout, install, parseUnit, startOrder, unitEnvironment, unitValues, type Layout, type UnitSections } from '../src/index.js';

export function tempRoot(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `xen-system-${tag}-`));
}

export function installInto(root: string, over: Partial<Layout> = {}): Layout {
  const layout = defaultLayout({ root, ...over });
  install({ layout, systemctl: false });
  return layout;
}

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function readUnits(l: Layout): Map<string, UnitSections> {
  const dir = path.join(l.root, l.unitdir);
  return new Map(fs.readdirSync(dir).filter((f) => f.endsWith('.service')).map((f) => [f, parseUnit(fs.readFileSync(path.join(dir, f), 'utf8'))]));
}

/** `KEY=value` lines of an EnvironmentFile (comments and blanks skipped, "..." unquoted). */
function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

export interface Service {
  unit: string;
  proc: ChildProcess;
  notify: NotifyListener;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class Services {
  readonly units: Map<string, UnitSections>;
  readonly running = new Map<string, Service>();
  private n = 0;

  constructor(readonly layout: Layout) {
    this.units = readUnits(layout);
  }

  /** Units systemd starts in order (After=), the daemons only (Type=notify). */
  daemonOrder(): string[] {
    return startOrder(this.units).filter((u) => unitValues(this.units.get(u)!, 'Service', 'Type')[0] === 'notify');
  }

  under(p: string): string {
    return p.startsWith('/') ? path.join(this.layout.root, p) : p;
  }

  /** The unit's environment and command line, with final paths mapped under the root. */
  command(unit: string, action = 'ExecStart'): { argv: string[]; env: Record<string, string> } {
    const u = this.units.get(unit)!;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(unitEnvironment(u))) env[k] = this.under(v);
    for (let f of unitValues(u, 'Service', 'EnvironmentFile')) {
      const optional = f.startsWith('-');
      if (optional) f = f.slice(1);
      if (fs.existsSync(this.under(f))) Object.assign(env, readEnvFile(this.under(f)));
      else if (!optional) throw new Error(`${unit}: EnvironmentFile ${f} missing`);
    }
    const line = unitValues(u, 'Service', action)[0]!;
    const argv = line.split(/\s+/).flatMap((w) => (w.startsWith('$') ? (env[w.slice(1)] ?? '').split(/\s+/).filter(Boolean) : [w]));
    argv[0] = this.under(argv[0]!);
    return { argv, env };
  }

  /** Start a Type=notify unit and wait for READY=1 (rejects if it exits first). */
  async start(unit: string): Promise<Service> {
    const { argv, env } = this.command(unit);
    const sockDir = path.join(this.layout.root, 'test-notify');
    fs.mkdirSync(sockDir, { recursive: true });
    const notify = NotifyListener.open(path.join(sockDir, `${unit}.${++this.n}`));
    const base = { ...process.env };
    for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'XEN_STATE_DIR', 'XM_SERVER']) delete base[k];
    // WatchdogSec= is passed as systemd passes it.
    const wd = unitValues(this.units.get(unit)!, 'Service', 'WatchdogSec')[0];
    const wdEnv = wd ? { WATCHDOG_USEC: String(parseInt(wd, 10) * 1_000_000) } : {};
    const proc = spawn(argv[0]!, argv.slice(1), { env: { ...base, ...env, ...wdEnv, NOTIFY_SOCKET: notify.path }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (c: string) => { err += c; });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
    const s: Service = { unit, proc, notify, stderr: () => err, exited };
    const ready = notify.waitFor((m) => m.READY === '1');
    const first = await Promise.race([ready, exited.then((e) => e)]);
    if (!('READY' in first)) {
      notify.close();
      throw new Error(`${unit} exited (${first.signal ?? first.code}) before READY=1:\n${err}`);
    }
    this.running.set(unit, s);
    return s;
  }

  /** SIGTERM (systemctl stop): resolves with the exit code and the messages seen after the signal. */
  async stop(unit: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stopping: NotifyMessage | undefined }> {
    const s = this.running.get(unit)!;
    const from = s.notify.messages.length;
    s.proc.kill('SIGTERM');
    const e = await s.exited;
    const stopping = s.notify.messages.slice(from).find((m) => m.STOPPING === '1');
    s.notify.close();
    this.running.delete(unit);
    return { ...e, stopping };
  }

  /** Everything running, in reverse start order. */
  async stopAll(): Promise<Array<{ unit: string; code: number | null; signal: NodeJS.Signals | null; stopping: boolean }>> {
    const out = [];
    for (const u of [...this.running.keys()].reverse()) {
      const r = await this.stop(u);
      out.push({ unit: u, code: r.code, signal: r.signal, stopping: !!r.stopping });
    }
    return out;
  }

  /** Last resort for a failed test: nothing may outlive it. */
  kill(): void {
    for (const s of this.running.values()) {
      s.proc.kill('SIGKILL');
      s.notify.close();
    }
    this.running.clear();
  }

  /** Run an installed program (xm, xendomains) as root would, against this tree's state. */
  run(prog: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const bin = path.join(this.layout.root, this.layout.prefix, 'bin', prog);
    const base = { ...process.env };
    delete base.NOTIFY_SOCKET;
    delete base.XM_SERVER;
    // Asynchronously: the daemons' stderr pipes must keep draining meanwhile.
    const p = spawn(bin, args, { env: { ...base, XEN_STATE_DIR: this.under(this.layout.statedir), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    p.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    return new Promise((resolve, reject) => {
      p.once('error', reject);
      p.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  }
}
