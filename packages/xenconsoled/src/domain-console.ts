// One guest's console as xenconsoled serves it: the relayed ring, the log
// file, and the `xm console` clients attached to it.
import fs from 'node:fs';
import path from 'node:path';
import type net from 'node:net';
import type { RingStream, Xc } from '@xenwasm/libxc';
import type { Xs } from '@xenwasm/xs';

/** Output kept for a client that attaches later (xm create -c attaches after the unpause). */
const BACKLOG_MAX = 64 * 1024;

export interface ConsoleKeys {
  ringRef: number;
  port: number;
  type: string | undefined;
  name: string | undefined;
}

/** console/{ring-ref,port,type} and name, or undefined while xend has not written them all. */
export async function readConsoleKeys(xs: Xs, domid: number): Promise<ConsoleKeys | undefined> {
  const dp = `/local/domain/${domid}`;
  const [ref, port, type, name] = await Promise.all(
    ['console/ring-ref', 'console/port', 'console/type', 'name'].map((k) => xs.tryRead(`${dp}/${k}`)),
  );
  const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
  const r = num(ref);
  const p = num(port);
  if (r === undefined || p === undefined || p === 0) return undefined;
  return { ringRef: r, port: p, type, name };
}

export class DomainConsole {
  ring: RingStream | undefined;
  /** An HVM guest's console, served by its device model on this unix socket (console/tty): clients are relayed there. */
  upstream: string | undefined;
  broken: string | undefined;
  name: string;
  private fd: number | undefined;
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  readonly clients = new Set<net.Socket>();
  /** The attach attempt under way, and whether a call came during it. */
  private attempt: Promise<void> | undefined;
  private again = false;
  closed = false;

  constructor(
    readonly domid: number,
    private readonly logDir: string,
    private readonly log: (m: string) => void,
  ) {
    this.name = `domain-${domid}`;
  }

  get logPath(): string {
    return path.join(this.logDir, `guest-${this.name}.log`);
  }

  /**
   * Attach the ring once xend has written the keys; a non-xenconsoled
   * console is left alone. Every write under console/ fires the watch, so
   * calls come in bursts: one attempt runs at a time, and a call made
   * during it makes it look once more when it is done (the keys it read
   * may have been incomplete). Two attempts at once would both bind the
   * port, and the second would fail with EINVAL.
   */
  tryAttach(xc: Xc, xs: Xs): Promise<void> {
    if (this.attempt) {
      this.again = true;
      return this.attempt;
    }
    this.attempt = (async () => {
      do {
        this.again = false;
        await this.attachOnce(xc, xs);
      } while (this.again);
    })().finally(() => {
      this.attempt = undefined;
    });
    return this.attempt;
  }

  private async attachOnce(xc: Xc, xs: Xs): Promise<void> {
    if (this.ring || this.upstream || this.broken || this.closed) return;
    const dp = `/local/domain/${this.domid}`;
    const [type, tty, name] = await Promise.all([xs.tryRead(`${dp}/console/type`), xs.tryRead(`${dp}/console/tty`), xs.tryRead(`${dp}/name`)]);
    if (this.closed) return;
    if (type === 'ioemu') {
      // The device model logs the console itself; here we only relay clients.
      if (!tty || !tty.startsWith('/')) return;
      if (name) this.name = name;
      this.upstream = tty;
      this.log(`domain ${this.domid} (${this.name}): console served by its device model at ${tty}`);
      return;
    }
    const keys = await readConsoleKeys(xs, this.domid);
    if (!keys || this.closed) return;
    if (keys.type !== undefined && keys.type !== 'xenconsoled') return;
    if (keys.name) this.name = keys.name;
    try {
      const ring = await xc.ringAttach(this.domid, keys.ringRef, keys.port, 'console');
      if (this.closed) {
        await ring.close();
        return;
      }
      this.ring = ring;
      fs.mkdirSync(this.logDir, { recursive: true, mode: 0o700 });
      this.fd = fs.openSync(this.logPath, 'a', 0o600);
      ring.on('data', (b: Buffer) => this.output(b));
      ring.on('broken', (why: string) => this.fail(why));
      this.log(`domain ${this.domid} (${this.name}): console attached, log ${this.logPath}`);
    } catch (e) {
      this.log(`domain ${this.domid}: cannot attach the console ring: ${(e as Error).message}`);
    }
  }

  private output(b: Buffer): void {
    if (this.fd !== undefined) {
      try {
        fs.writeSync(this.fd, b);
      } catch (e) {
        this.log(`domain ${this.domid}: cannot write ${this.logPath}: ${(e as Error).message}`);
      }
    }
    this.backlog.push(b);
    this.backlogBytes += b.length;
    while (this.backlogBytes > BACKLOG_MAX && this.backlog.length > 1) this.backlogBytes -= this.backlog.shift()!.length;
    for (const c of this.clients) c.write(b);
  }

  /** The guest broke its ring: stop serving this console only, and say why. */
  private fail(why: string): void {
    this.broken = why;
    this.ring = undefined;
    this.log(`domain ${this.domid} (${this.name}): console ring broken, no longer served: ${why}`);
    for (const c of this.clients) c.end(`\r\n[xenconsoled: the console ring of domain ${this.domid} is broken: ${why}]\r\n`);
  }

  /** Bytes typed by a client, for the guest's `in` ring. */
  input(b: Buffer): void {
    if (!this.ring || b.length === 0) return;
    this.ring.write(b).catch((e: Error) => this.log(`domain ${this.domid}: console input: ${e.message}`));
  }

  replay(): Buffer {
    return Buffer.concat(this.backlog);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The detach reply comes after every ring frame sent before it: the log is complete.
    if (this.ring) await this.ring.close().catch(() => undefined);
    this.ring = undefined;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}
