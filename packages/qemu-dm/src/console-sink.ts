// The HVM guest's console (its fds 0-2), served by the device model:
// stdout and stderr are appended byte for byte to the domain's console log
// and sent to attached clients; stdin is what attached clients type.
//
// Clients speak xenconsoled's protocol (@xenwasm/xenconsoled console-proto):
// one JSON line `{"domid":N,"replay":bool}`, a JSON line back, then raw
// bytes both ways. xenconsoled relays `xm console` to this socket when
// /local/domain/N/console/type is `ioemu` (console/tty names the socket), so
// users have one console path for PV and HVM guests. A client that
// half-closes its end without the escape byte (its stdin reached end of
// file) gives the guest end of file on fd 0; Ctrl-] (0x1d) only detaches.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ESCAPE_CHAR, readAttachRequest, refuseAttach } from '@xenwasm/xenconsoled/console-proto';

/** Output kept for a client that attaches later (xm create -c attaches after the unpause). */
const BACKLOG_MAX = 64 * 1024;

export interface ConsoleSink {
  write(bytes: Uint8Array): void;
  /**
   * stdin: up to `max` bytes typed at the console, an empty array at end of
   * input, null while nothing is there yet. Absent: stdin is at end of file.
   */
  read?(max: number): Uint8Array | null;
  /** Bytes waiting on stdin; 0 at end of input; null while there is nothing yet (poll_oneoff). */
  pending?(): number | null;
  /** Called whenever input arrives or ends. */
  onInput?(cb: () => void): void;
  /** The guest is gone: attached clients are told (their session ends). */
  hangup?(): void;
}

export class GuestConsole implements ConsoleSink {
  private fd: number | null = null;
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private readonly clients = new Set<net.Socket>();
  private input: Buffer[] = [];
  private eof = false;
  private server: net.Server | null = null;
  private socketPath: string | null = null;
  private listeners: Array<() => void> = [];
  private hungUp = false;

  constructor(logPath: string | undefined, private readonly domid: number, private readonly tee?: (b: Uint8Array) => void) {
    if (logPath) {
      fs.mkdirSync(path.dirname(logPath), { recursive: true });
      this.fd = fs.openSync(logPath, 'a', 0o600);
    }
  }

  /** Serve attach requests on a unix socket (mode 0600). */
  async listen(socketPath: string): Promise<void> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer({ allowHalfOpen: true }, (s) => this.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    fs.chmodSync(socketPath, 0o600);
    this.server = server;
    this.socketPath = socketPath;
  }

  write(b: Uint8Array): void {
    if (this.fd !== null) fs.writeSync(this.fd, b);
    this.tee?.(b);
    if (!this.server) return;
    const copy = Buffer.from(b);
    this.backlog.push(copy);
    this.backlogBytes += copy.length;
    while (this.backlogBytes > BACKLOG_MAX && this.backlog.length > 1) this.backlogBytes -= this.backlog.shift()!.length;
    for (const c of this.clients) c.write(copy);
  }

  read(max: number): Uint8Array | null {
    if (this.input.length === 0) return this.eof || !this.server ? new Uint8Array(0) : null;
    const out: Buffer[] = [];
    let n = 0;
    while (this.input.length && n < max) {
      const c = this.input[0];
      if (c.length <= max - n) { out.push(c); n += c.length; this.input.shift(); }
      else { out.push(c.subarray(0, max - n)); this.input[0] = c.subarray(max - n); n = max; }
    }
    return Buffer.concat(out);
  }

  pending(): number | null {
    const n = this.input.reduce((x, c) => x + c.length, 0);
    return n > 0 || this.eof || !this.server ? n : null;
  }

  onInput(cb: () => void): void {
    this.listeners.push(cb);
  }

  private typed(b: Buffer): void {
    if (b.length) {
      // New input after an end of file: the console is open again (a new session).
      this.eof = false;
      this.input.push(b);
    }
    for (const l of this.listeners) l();
  }

  private serve(sock: net.Socket): void {
    let detached = false;
    sock.on('error', () => sock.destroy());
    const onData = (d: Buffer) => {
      if (detached) return;
      const esc = d.indexOf(ESCAPE_CHAR);
      if (esc >= 0) {
        detached = true;
        this.typed(d.subarray(0, esc));
        this.clients.delete(sock);
        sock.end();
        return;
      }
      this.typed(d);
    };
    readAttachRequest(sock, (req, _head, rest) => {
      if (req.domid !== this.domid) return refuseAttach(sock, `this is the console of domain ${this.domid}`);
      if (this.hungUp) return refuseAttach(sock, `domain ${this.domid} has shut down`);
      sock.write(JSON.stringify({ ok: true }) + '\n');
      if (req.replay !== false && this.backlog.length) sock.write(Buffer.concat(this.backlog));
      this.clients.add(sock);
      sock.on('data', onData);
      // Half-closed without the escape byte: the client's input ended.
      sock.on('end', () => {
        if (detached) return;
        this.eof = true;
        this.typed(Buffer.alloc(0));
      });
      sock.on('close', () => this.clients.delete(sock));
      if (rest.length) onData(rest);
    });
  }

  hangup(): void {
    this.hungUp = true;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  close(): void {
    this.hangup();
    this.server?.close();
    this.server = null;
    if (this.socketPath) fs.rmSync(this.socketPath, { force: true });
    this.socketPath = null;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** The console log only (no input: stdin is at end of file). */
export function fileConsole(logPath: string | undefined, tee?: (b: Uint8Array) => void): GuestConsole {
  return new GuestConsole(logPath, -1, tee);
}

/** The console as DmConfig describes it: the log, and the attach socket if one is named. */
export async function guestConsole(config: { domid: number; consoleLog?: string; consoleSocket?: string }): Promise<GuestConsole> {
  const con = new GuestConsole(config.consoleLog, config.domid);
  if (config.consoleSocket) await con.listen(config.consoleSocket);
  return con;
}
