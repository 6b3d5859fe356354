// Helpers shared by the end-to-end tests and benchmarks: a stack in a temp
// dir, the xm binary, config files, and waiting on files and domain states.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonMain, runXm, startStack, type Stack } from '@xenwasm/xencommons';
import { guestWasmPath } from '@xenwasm/example-guests';


export interface TestStack {
  stack: Stack;
  dir: string;
  stateDir: string;
  cfgDir: string;
  stderr(): string;
  xm(...args: string[]): Promise<{ code: number; out: string; err: string }>;
  /** xm as a child process with pipes (xm console, xm create -c). */
  xmSpawn(...args: string[]): ChildProcess;
  /** Writes a config in cfgDir; `kernel` is the example guest's name. */
  cfg(file: string, guest: string, body: string): string;
  consoleLog(name: string): string;
  /** A zero-filled disk image of `bytes` in the test's directory; its path. */
  image(name: string, bytes: number): string;
  /** xm domid. */
  domid(name: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startTestStack(xenArgs = ['--nr-cpus', '2', '--mem', '512', '--dom0-mem', '64']): Promise<TestStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-tests-'));
  const stateDir = path.join(dir, 'var');
  const cfgDir = path.join(dir, 'configs');
  fs.mkdirSync(stateDir, { recursive: true });
  fs.mkdirSync(cfgDir, { recursive: true });
  let err = '';
  const stack = await startStack({ stateDir, xenArgs, onStderr: (_n, c) => { err += c; if (process.env.PV_TESTS_VERBOSE) process.stderr.write(c); } });
  const XM = daemonMain('xm')!;
  const env = { ...process.env, XEN_STATE_DIR: stateDir, XM_SERVER: '' };
  const ts: TestStack = {
    stack, dir, stateDir, cfgDir,
    stderr: () => err,
    xm: (...args) => runXm(stateDir, args, cfgDir),
    xmSpawn: (...args) => spawn(process.execPath, [XM, ...args], { env, cwd: cfgDir, stdio: ['pipe', 'pipe', 'pipe'] }),
    cfg(file, guest, body) {
      const p = path.join(cfgDir, file);
      fs.writeFileSync(p, `kernel = "${guestWasmPath(guest)}"\n${body}\n`);
      return file;
    },
    consoleLog: (name) => path.join(stateDir, 'log', 'console', `guest-${name}.log`),
    image(name, bytes) {
      const p = path.join(dir, name);
      fs.writeFileSync(p, Buffer.alloc(bytes));
      return p;
    },
    async domid(name) {
      return Number((await ts.xm('domid', name)).out.trim());
    },
    async stop() {
      await stack.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return ts;
}

/** Resolves with the file's text once `re` matches it, re-reading on every change (fs.watch on its directory). */
export function waitFileMatch(file: string, re: RegExp, timeoutMs = 30_000): Promise<string> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new Promise((resolve, reject) => {
    let done = false;
    const check = () => {
      if (done) return;
      let text = '';
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch { /* not there yet */ }
      if (re.test(text)) {
        done = true;
        w.close();
        clearTimeout(t);
        resolve(text);
      }
    };
    const w = fs.watch(path.dirname(file), () => check());
    const t = setTimeout(() => {
      done = true;
      w.close();
      let text = '';
      try { text = fs.readFileSync(file, 'utf8'); } catch { /* none */ }
      reject(new Error(`${file} never matched ${re}; it holds: ${JSON.stringify(text.slice(-2000))}`));
    }, timeoutMs);
    check();
  });
}

/** Collects a stream's text and resolves once `re` matches what was collected. */
export function waitStreamMatch(s: NodeJS.ReadableStream, re: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => {
      s.off('data', on);
      reject(new Error(`never matched ${re}; got ${JSON.stringify(text.slice(-2000))}`));
    }, timeoutMs);
    const on = (d: Buffer | string) => {
      text += d.toString();
      if (re.test(text)) {
        clearTimeout(t);
        s.off('data', on);
        resolve(text);
      }
    };
    s.on('data', on);
  });
}

/** Checks the image disk-test leaves (sector s holds the u64 s, little-endian, 64 times): the first bad sector, or -1. */
export function checkDiskTestImage(img: string): number {
  const b = fs.readFileSync(img);
  for (let s = 0; s < b.length / 512; s++) {
    for (let k = 0; k < 64; k++) {
      if (b.readBigUInt64LE(s * 512 + k * 8) !== BigInt(s)) return s;
    }
  }
  return -1;
}
