// Starts a real `xen` host process in a fresh XEN_STATE_DIR and opens libxc on it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Xc } from '@xenwasm/libxc';
import { parentWatchEnv } from '@xenwasm/sd-daemon';

const here = path.dirname(fileURLToPath(import.meta.url));
export const XEN_MAIN = path.resolve(here, '../src/main.js');
export { guestWasmPath as guest } from '@xenwasm/example-guests';

export interface Host {
  proc: ChildProcess;
  stateDir: string;
  sock: string;
  xc: Xc;
  stderr: () => string;
  stop(): Promise<number | null>;
}

export async function startXen(args: string[] = ['--nr-cpus', '2', '--mem', '2048', '--dom0-mem', '256']): Promise<Host> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xenwasm-xen-'));
  const proc = spawn(process.execPath, [XEN_MAIN, ...args], {
    env: { ...process.env, XEN_STATE_DIR: stateDir, ...parentWatchEnv() },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('xen: ready')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`xen exited with ${code} before it was ready:\n${err}`)));
  });
  const sock = path.join(stateDir, 'run', 'xen', 'privcmd.sock');
  const xc = await Xc.open(sock);
  return {
    proc,
    stateDir,
    sock,
    xc,
    stderr: () => err,
    async stop() {
      xc.close();
      if (proc.exitCode !== null) return proc.exitCode;
      const done = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
      proc.kill('SIGTERM');
      const code = await done;
      fs.rmSync(stateDir, { recursive: true, force: true });
      return code;
    },
  };
}

export interface Built {
  domid: number;
  storePort: number;
  consolePort: number;
}

/** What xend does for a PV domain: create, vcpus, channels, build. The domain stays paused. */
export async function buildGuest(xc: Xc, kernel: string, cmdline = '', memoryMb = 4, maxMemoryMb?: number): Promise<Built> {
  const domid = await xc.domainCreate({ handle: crypto.randomUUID() });
  await xc.domainMaxVcpus(domid, 1);
  const storePort = await xc.evtchnAllocUnbound(domid, 0);
  const consolePort = await xc.evtchnAllocUnbound(domid, 0);
  await xc.linuxBuild({ domid, kernel, cmdline, memoryMb, maxMemoryMb, storeEvtchn: storePort, consoleEvtchn: consolePort });
  return { domid, storePort, consolePort };
}

/** Resolves when `pred(info)` holds, re-checking on every VIRQ_DOM_EXC (no polling on a clock). */
export async function waitDomain(xc: Xc, domid: number, pred: (d: Awaited<ReturnType<Xc['domainInfo']>>) => boolean): Promise<Awaited<ReturnType<Xc['domainInfo']>>> {
  const port = await xc.evtchnBindVirq(3);
  try {
    for (;;) {
      const evt = new Promise<void>((r) => {
        const on = (p: number) => {
          if (p === port) {
            xc.off('evtchn', on);
            r();
          }
        };
        xc.on('evtchn', on);
      });
      const d = await xc.domainInfo(domid);
      if (pred(d)) return d;
      await evt;
    }
  } finally {
    await xc.evtchnUnbind(port);
  }
}

/** Re-reads the hypervisor console until `re` matches (each read is a round trip to the host, no sleep). */
export async function waitConsole(xc: Xc, re: RegExp, maxReads = 100000): Promise<string> {
  for (let i = 0; i < maxReads; i++) {
    const text = await xc.readConsoleRing();
    if (re.test(text)) return text;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`console never matched ${re}`);
}
