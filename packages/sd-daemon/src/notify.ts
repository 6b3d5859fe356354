// sd_notify(3) for Node: one datagram of NEWLINE-separated KEY=VALUE lines to
// the unix datagram socket named by $NOTIFY_SOCKET. node:net has no
// SOCK_DGRAM for unix sockets, so the datagram goes out through
// node-unix-socket (a Rust addon shipped prebuilt on npm: no compiler at
// install). Where the addon cannot load, `systemd-notify` is spawned instead;
// its datagram then comes from a child process, which systemd accepts only
// with NotifyAccess=all.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export interface NotifyOptions {
  env?: NodeJS.ProcessEnv;
  /** Told why a datagram could not be sent (default: silent). */
  log?: (msg: string) => void;
}

type Sender = (msg: Buffer, dest: string) => Promise<void>;

let sender: Sender | undefined;
/** Which way datagrams go out: 'addon', 'systemd-notify', or undefined before the first notify. */
export let transport: 'addon' | 'systemd-notify' | undefined;

function loadSender(): Sender {
  if (sender) return sender;
  try {
    const require = createRequire(import.meta.url);
    const { DgramSocket } = require('node-unix-socket') as typeof import('node-unix-socket');
    transport = 'addon';
    sender = (msg, dest) => {
      const sock = new DgramSocket();
      // A socket errors as an event too; the send callback carries the same error.
      sock.on('error', () => undefined);
      return new Promise<void>((resolve, reject) =>
        sock.sendTo(msg, 0, msg.length, dest, (err) => (err ? reject(err) : resolve())),
      ).finally(() => sock.close());
    };
  } catch {
    transport = 'systemd-notify';
    sender = (msg, dest) => new Promise<void>((resolve, reject) => {
      const socket = dest.startsWith('\0') ? '@' + dest.slice(1) : dest;
      const args = ['--no-block', '--pid=' + process.pid, ...msg.toString('utf8').split('\n').filter(Boolean)];
      const p = spawn('systemd-notify', args, { env: { ...process.env, NOTIFY_SOCKET: socket }, stdio: 'ignore' });
      p.once('error', reject);
      p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`systemd-notify exited ${code}`))));
    });
  }
  return sender;
}

/** $NOTIFY_SOCKET as a socket address ('@name' is the abstract namespace), or undefined. */
export function notifySocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const s = env.NOTIFY_SOCKET;
  if (!s) return undefined;
  if (s.startsWith('@')) return '\0' + s.slice(1);
  // systemd accepts only absolute paths and abstract names.
  if (!s.startsWith('/')) return undefined;
  return s;
}

/**
 * Send a state ("READY=1", "STATUS=...", or several lines). Resolves true when
 * the datagram was accepted by the socket, false when there is no
 * $NOTIFY_SOCKET or nobody listens there. Never throws: a supervisor that
 * went away must not take the daemon with it.
 */
export async function notify(state: string | Record<string, string | number>, opts: NotifyOptions = {}): Promise<boolean> {
  const dest = notifySocket(opts.env);
  if (!dest) return false;
  const text = typeof state === 'string' ? state : Object.entries(state).map(([k, v]) => `${k}=${v}`).join('\n');
  try {
    await loadSender()(Buffer.from(text, 'utf8'), dest);
    return true;
  } catch (e) {
    opts.log?.(`sd_notify ${text.split('\n')[0]} to ${opts.env?.NOTIFY_SOCKET ?? process.env.NOTIFY_SOCKET}: ${(e as Error).message}`);
    return false;
  }
}

/** READY=1 with our pid (so that a wrapper that exec'd us is not mistaken for another process). */
export function ready(status?: string, opts?: NotifyOptions): Promise<boolean> {
  return notify(`READY=1\nMAINPID=${process.pid}${status ? `\nSTATUS=${status}` : ''}`, opts);
}

export function stopping(status?: string, opts?: NotifyOptions): Promise<boolean> {
  return notify(`STOPPING=1${status ? `\nSTATUS=${status}` : ''}`, opts);
}

/** RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload (systemd 253+) wants; send ready() when done. */
export function reloading(status?: string, opts?: NotifyOptions): Promise<boolean> {
  // process.hrtime is CLOCK_MONOTONIC on Linux, the clock systemd compares against.
  const usec = process.hrtime.bigint() / 1000n;
  return notify(`RELOADING=1\nMONOTONIC_USEC=${usec}${status ? `\nSTATUS=${status}` : ''}`, opts);
}

export function status(text: string, opts?: NotifyOptions): Promise<boolean> {
  return notify(`STATUS=${text}`, opts);
}
