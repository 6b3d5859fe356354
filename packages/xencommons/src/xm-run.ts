// The real `xm` binary run against one stack, as tests and benchmarks drive
// it: the stack's XEN_STATE_DIR, the unix socket (XM_SERVER unset), exit
// code and both streams kept.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { daemonMain } from './stack.js';

const run = promisify(execFile);

export interface XmResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `xm args...` in `cwd` against the stack of `stateDir`; never rejects on a non-zero exit. */
export async function runXm(stateDir: string, args: string[], cwd?: string): Promise<XmResult> {
  const xm = daemonMain('xm');
  if (!xm) throw new Error('@xenwasm/xm is not built (no dist/src/main.js): run npm run build');
  try {
    const r = await run(process.execPath, [xm, ...args], { env: { ...process.env, XEN_STATE_DIR: stateDir, XM_SERVER: '' }, cwd, maxBuffer: 64 << 20 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}
