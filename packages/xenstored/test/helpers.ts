// Test helpers: a daemon in a temp dir (in-process or as a child process),
// a raw wire client, and a guest speaking over a SharedArrayBuffer ring.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parentWatchEnv } from '@xenwasm/sd-daemon';
import {
  MessageReader, encodeMessage, splitStrings, XsType, type XsMessage,
} from '@xenwasm/xs/xs-wire';
import { startXenstored, type Xenstored, type XenstoredOptions } from '../src/daemon.js';
import { RingFrontend, SharedMemoryRingProvider, type EventChannel } from '../src/ring.js';

export const MAIN_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');

export function tmpdir(prefix = 'xenstored-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startInProcess(opts: XenstoredOptions = {}): Promise<Xenstored & { dir: string }> {
  const dir = opts.stateDir ?? tmpdir();
  const logs: string[] = [];
  const d = await startXenstored({ log: (m) => logs.push(m), env: {}, ...opts, stateDir: dir });
  return Object.assign(d, { dir, logs });
}

export interface ChildDaemon {
  proc: ChildProcess;
  socketPath: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the `xenstored` binary; resolves when it prints its ready line. */
export function spawnDaemon(stateDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ChildDaemon> {
  const proc = spawn(process.execPath, [MAIN_JS, ...args], {
    env: { PATH: process.env.PATH, XEN_STATE_DIR: stateDir, ...parentWatchEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /ready on (\S+)/.exec(err);
      if (m) resolve({ proc, socketPath: m[1]!, stderr: () => err, exited });
    });
    exited.then(({ code }) => reject(new Error(`xenstored exited ${code} before ready: ${err}`)));
  });
}

export interface Reply {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
  text: string;
}

/** A raw protocol client: sends exact bytes, matches replies by req_id, collects watch events. */
export class RawClient {
  private reader = new MessageReader();
  private waiters = new Map<number, (m: XsMessage) => void>();
  private nextReq = 1;
  events: Array<{ path: string; token: string }> = [];
  private eventWaiters: Array<() => void> = [];
  closed: Promise<void>;

  constructor(readonly sock: net.Socket) {
    sock.on('data', (d) => {
      for (const m of this.reader.push(d)) {
        if (m.type === XsType.WATCH_EVENT) {
          const [p, t] = splitStrings(m.payload);
          this.events.push({ path: p!, token: t! });
          for (const w of this.eventWaiters.splice(0)) w();
        } else this.waiters.get(m.reqId)?.(m);
      }
    });
    this.closed = new Promise((r) => sock.on('close', () => r()));
    sock.on('error', () => undefined);
  }

  static connect(p: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(p, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Sends a request and waits for its reply. */
  req(type: number, payload: Buffer | string, txId = 0, reqId = this.nextReq++): Promise<Reply> {
    return new Promise((resolve) => {
      this.waiters.set(reqId, (m) => {
        this.waiters.delete(reqId);
        resolve({ ...m, text: m.payload.toString('latin1') });
      });
      this.sock.write(encodeMessage(type, reqId, txId, payload));
    });
  }

  /** Resolves once `n` events have arrived in total. */
  async waitEvents(n: number): Promise<Array<{ path: string; token: string }>> {
    while (this.events.length < n) await new Promise<void>((r) => this.eventWaiters.push(r));
    return this.events.slice(0, n);
  }

  write(raw: Buffer): void {
    this.sock.write(raw);
  }
  close(): void {
    this.sock.destroy();
  }
}

/** Error name of an XS_ERROR reply, or the reply text. */
export function outcome(r: Reply): string {
  if (r.type === XsType.ERROR) return r.text.replace(/\0$/, '');
  return r.text;
}

/**
 * A guest domain's side of the xenstore ring, over a SharedArrayBuffer page
 * served by SharedMemoryRingProvider: it writes requests into the req ring
 * and reads replies from the rsp ring on event-channel notifications.
 */
export class GuestRing {
  private front: RingFrontend;
  private port: EventChannel;
  private reader = new MessageReader();
  private waiters = new Map<number, (m: XsMessage) => void>();
  private outbox: Buffer[] = [];
  private nextReq = 1;
  events: Array<{ path: string; token: string }> = [];
  private eventWaiters: Array<() => void> = [];

  constructor(provider: SharedMemoryRingProvider, readonly domid: number, readonly mfn: number, readonly evtchn: number) {
    this.front = new RingFrontend(provider.addPage(mfn));
    this.port = provider.guestPort(domid, evtchn);
    this.port.onEvent(() => this.service());
  }

  private service(): void {
    const data = this.front.readResponses();
    let moved = data.length > 0;
    for (const m of this.reader.push(data)) {
      if (m.type === XsType.WATCH_EVENT) {
        const [p, t] = splitStrings(m.payload);
        this.events.push({ path: p!, token: t! });
        for (const w of this.eventWaiters.splice(0)) w();
      } else this.waiters.get(m.reqId)?.(m);
    }
    while (this.outbox.length) {
      const head = this.outbox[0]!;
      const n = this.front.writeRequest(head);
      if (n === 0) break;
      moved = true;
      if (n === head.length) this.outbox.shift();
      else this.outbox[0] = head.subarray(n);
    }
    if (moved) this.port.notify();
  }

  req(type: number, payload: Buffer | string, txId = 0): Promise<Reply> {
    const reqId = this.nextReq++;
    return new Promise((resolve) => {
      this.waiters.set(reqId, (m) => {
        this.waiters.delete(reqId);
        resolve({ ...m, text: m.payload.toString('latin1') });
      });
      this.outbox.push(encodeMessage(type, reqId, txId, payload));
      this.service();
    });
  }

  async waitEvents(n: number): Promise<Array<{ path: string; token: string }>> {
    while (this.events.length < n) await new Promise<void>((r) => this.eventWaiters.push(r));
    return this.events.slice(0, n);
  }
}

export const T = XsType;
