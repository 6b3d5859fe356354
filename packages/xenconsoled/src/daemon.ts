// xenconsoled: finds domains through xenstore (@introduceDomain,
// @releaseDomain, each domain's console/ directory), attaches each guest's
// console ring through libxc, logs what the guest writes and serves it to
// `xm console` clients over a unix socket.
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { Xc } from '@xenwasm/libxc';
import { Xs, type WatchEvent } from '@xenwasm/xs';
import { DomainConsole } from './domain-console.js';
import { ESCAPE_CHAR, consoleLogDir, consoleSocketPath, readAttachRequest, refuseAttach, type AttachReply, type AttachRequest } from './console-proto.js';

/** How long an early client waits for its domain's console to be known. */
const ATTACH_WAIT_MS = 30000;

export interface ConsoledOptions {
  socketPath?: string;
  logDir?: string;
  log?: (m: string) => void;
}

export class Xenconsoled {
  private xs!: Xs;
  private xc!: Xc;
  private server!: net.Server;
  readonly consoles = new Map<number, DomainConsole>();
  private scanning: Promise<void> = Promise.resolve();
  private stopping = false;
  readonly socketPath: string;
  readonly logDir: string;
  private readonly log: (m: string) => void;
  /** 'change' after each scan and attach attempt: clients that came early wait on it. */
  private readonly changes = new EventEmitter();

  constructor(opts: ConsoledOptions = {}) {
    this.socketPath = opts.socketPath ?? consoleSocketPath();
    this.logDir = opts.logDir ?? consoleLogDir();
    this.log = opts.log ?? ((m) => process.stderr.write(`xenconsoled: ${m}\n`));
  }

  async start(): Promise<void> {
    this.xc = await Xc.open();
    this.xc.on('close', () => {
      if (!this.stopping) {
        this.log('the hypervisor went away: stopping');
        void this.stop().then(() => process.exit(1));
      }
    });
    await this.connectStore();
    fs.mkdirSync(this.logDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.dirname(this.socketPath), { recursive: true, mode: 0o700 });
    fs.rmSync(this.socketPath, { force: true });
    // Half-open: a client whose input ended still gets the console's output.
    this.server = net.createServer({ allowHalfOpen: true }, (s) => this.serveClient(s));
    this.changes.setMaxListeners(0);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
    fs.chmodSync(this.socketPath, 0o600);
  }

  private async connectStore(): Promise<void> {
    // The client rides out a xenstored restart and registers our watches again.
    this.xs = await Xs.connect({ reconnect: true });
    this.xs.on('watch', (ev: WatchEvent) => this.onWatch(ev));
    this.xs.on('lost', () => {
      if (!this.stopping) this.log('lost xenstored; reconnecting');
    });
    this.xs.on('reconnect', () => {
      this.log('reconnected to xenstored');
      // A console watch asked for while it was away did not take: ask again (EEXIST for the rest).
      for (const c of this.consoles.values()) void this.xs.watch(`/local/domain/${c.domid}/console`, `console-${c.domid}`).catch(() => undefined);
      this.rescan();
    });
    await Promise.all([this.xs.watch('@introduceDomain', 'introduce'), this.xs.watch('@releaseDomain', 'release')]);
  }

  private onWatch(ev: WatchEvent): void {
    if (ev.token === 'introduce' || ev.token === 'release') this.rescan();
    else if (ev.token.startsWith('console-')) {
      const c = this.consoles.get(Number(ev.token.slice(8)));
      if (c) void c.tryAttach(this.xc, this.xs).catch(() => undefined).finally(() => this.changes.emit('change'));
    }
  }

  /** Re-reads the domain list (what the special watches tell us to do); serialised. */
  rescan(): Promise<void> {
    return this.scanning = this.scanning.then(() => this.scan()).catch((e) => this.log(`scan failed: ${(e as Error).message}`))
      .finally(() => this.changes.emit('change'));
  }

  private async scan(): Promise<void> {
    if (this.stopping) return;
    const doms = await this.xc.domainGetInfo(1, 4096);
    const alive = new Set(doms.filter((d) => !d.dying && !d.shutdown && !d.crashed && d.domid !== 0).map((d) => d.domid));
    for (const domid of alive) {
      if (this.consoles.has(domid)) continue;
      const c = new DomainConsole(domid, this.logDir, this.log);
      this.consoles.set(domid, c);
      // The watch fires once at once: that is the first attach attempt.
      await this.xs.watch(`/local/domain/${domid}/console`, `console-${domid}`).catch(() => undefined);
    }
    for (const [domid, c] of this.consoles) {
      if (alive.has(domid)) continue;
      this.consoles.delete(domid);
      await this.xs.unwatch(`/local/domain/${domid}/console`, `console-${domid}`).catch(() => undefined);
      await c.close();
      this.log(`domain ${domid} (${c.name}): gone, console closed`);
    }
  }

  private serveClient(sock: net.Socket): void {
    readAttachRequest(sock, (req, head, rest) => {
      sock.pause(); // held until we know where its bytes go
      void this.attachClient(sock, req, head, rest);
    });
    sock.on('error', () => sock.destroy());
  }

  /**
   * A client may come right after the domain was created (xm create -c),
   * before the scan or the console keys reached us: wait a little for them.
   */
  private async settled(domid: number): Promise<DomainConsole | undefined> {
    const ready = () => {
      const c = this.consoles.get(domid);
      return c && (c.ring || c.upstream || c.broken) ? c : undefined;
    };
    if (ready() || domid === 0) return this.consoles.get(domid);
    const nextChange = (ms: number) => new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.changes.off('change', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.changes.on('change', done);
    });
    await this.rescan();
    // Not a live domain after a fresh scan: nothing to wait for.
    if (!this.consoles.has(domid)) return undefined;
    const deadline = Date.now() + ATTACH_WAIT_MS;
    while (!ready() && this.consoles.has(domid) && Date.now() < deadline) await nextChange(deadline - Date.now());
    return this.consoles.get(domid);
  }

  private async attachClient(sock: net.Socket, req: AttachRequest, head: Buffer, rest: Buffer): Promise<void> {
    {
      const c = typeof req.domid === 'number' ? await this.settled(req.domid) : undefined;
      if (!c) return refuseAttach(sock, `domain ${req.domid} has no console here`);
      if (c.upstream) return this.relay(sock, c, head);
      if (!c.ring) return refuseAttach(sock, c.broken ? `the console of domain ${req.domid} is broken: ${c.broken}` : `the console of domain ${req.domid} is not connected yet`);
      sock.write(JSON.stringify({ ok: true } satisfies AttachReply) + '\n');
      if (req.replay !== false) {
        const r = c.replay();
        if (r.length) sock.write(r);
      }
      c.clients.add(sock);
      const input = (b: Buffer) => {
        const esc = b.indexOf(ESCAPE_CHAR);
        if (esc >= 0) {
          c.input(b.subarray(0, esc));
          sock.end();
          return;
        }
        c.input(b);
      };
      if (rest.length) input(rest);
      sock.on('data', input);
      sock.resume();
      sock.on('close', () => c.clients.delete(sock));
    }
  }

  /**
   * An HVM console: the device model speaks this same protocol, so the
   * client's bytes (handshake, input, escape byte, half-close at the end of
   * its input) go through unchanged, and so does everything back.
   */
  private relay(sock: net.Socket, c: DomainConsole, head: Buffer): void {
    const up = net.connect({ path: c.upstream!, allowHalfOpen: true });
    up.once('error', (e) => {
      if (!up.bytesRead) refuseAttach(sock, `the console of domain ${c.domid} is not reachable: ${e.message}`);
      else sock.destroy();
    });
    up.once('connect', () => {
      up.write(head);
      sock.pipe(up);
      up.pipe(sock);
      c.clients.add(sock);
    });
    sock.on('close', () => { c.clients.delete(sock); up.destroy(); });
    up.on('close', () => sock.end());
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    for (const c of this.consoles.values()) await c.close();
    this.consoles.clear();
    await this.xs?.close().catch(() => undefined);
    this.xc?.close();
    fs.rmSync(this.socketPath, { force: true });
  }
}
