// A client of the daemon: a unix-socket client (acts as dom0) or a domain
// speaking over its ring page. Both share the output rule: a message leaves
// only once the generation it reflects is durable, in order; and both are
// bounded (output bytes, queued watch events, requests in progress).

import net from 'node:net';
import { MessageReader, XsFramingError, type XsMessage } from '@xenwasm/xs/xs-wire';
import type { Transaction } from './transaction.js';
import type { Caller } from './perms.js';

export interface Watch {
  /** Absolute path or @name. */
  path: string;
  token: string;
  /** Registered relative (domain connections): events come back relative. */
  relative: boolean;
}

interface OutMsg {
  seq: number;
  buf: Buffer;
  event: boolean;
}

export interface ConnectionHost {
  durableSeq(): number;
  handle(conn: Connection, msgs: XsMessage[]): void;
  noteWaiting(conn: Connection): void;
  dropped(conn: Connection, reason: string): void;
  limits: { maxOutputBytes: number; maxWatchEvents: number; maxPendingReplies: number };
}

let serials = 0;

export abstract class Connection implements Caller {
  readonly serial = ++serials;
  target: number | undefined;
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  nextTxId = 1;
  dead = false;
  /** Events discarded because the event queue was full. */
  droppedEvents = 0;
  /** Messages waiting to go out (durability or transport space). */
  private out: OutMsg[] = [];
  private queuedEvents = 0;
  private readonly reader = new MessageReader();
  /** Requests held while an async request (INTRODUCE) runs. */
  readonly held: XsMessage[] = [];
  busy = false;

  constructor(
    protected readonly host: ConnectionHost,
    public id: number,
    public readonly: boolean,
    /** Home for relative paths (domain connections only). */
    public home: string | undefined,
  ) {}

  abstract get description(): string;
  /** Hands bytes to the transport. */
  protected abstract transmit(bufs: Buffer[]): void;
  /** Bytes handed to the transport that the peer has not consumed. */
  protected abstract backlog(): number;
  protected abstract setInputPaused(paused: boolean): void;
  protected abstract closeTransport(): void;

  /** Feeds received bytes; a bad header drops the connection (as xenstored does). */
  receive(data: Buffer): void {
    if (this.dead) return;
    let msgs: XsMessage[];
    try {
      msgs = this.reader.push(data);
    } catch (e) {
      this.drop(e instanceof XsFramingError ? e.message : String(e));
      return;
    }
    if (msgs.length) this.host.handle(this, msgs);
  }

  get pendingOutput(): number {
    return this.out.length;
  }
  get pendingEvents(): number {
    return this.queuedEvents;
  }

  send(buf: Buffer, seq: number): void {
    this.push({ seq, buf, event: false });
  }

  /** Queues a watch event; beyond the bound it is discarded (watch storms cannot grow memory). */
  sendEvent(buf: Buffer, seq: number): void {
    if (this.queuedEvents >= this.host.limits.maxWatchEvents) {
      this.droppedEvents++;
      return;
    }
    this.queuedEvents++;
    this.push({ seq, buf, event: true });
  }

  private push(m: OutMsg): void {
    if (this.dead) return;
    if (this.out.length === 0 && m.seq <= this.host.durableSeq() && this.canTransmit()) {
      this.transmit([m.buf]);
      if (m.event) this.queuedEvents--;
      this.checkBacklog();
      return;
    }
    this.out.push(m);
    this.host.noteWaiting(this);
    if (this.out.length - this.queuedEvents >= this.host.limits.maxPendingReplies) this.setInputPaused(true);
  }

  /** Transport-specific: can more bytes be handed over now? */
  protected canTransmit(): boolean {
    return true;
  }

  /** Sends what has become durable; returns true while something is still waiting. */
  release(durable: number): boolean {
    if (this.dead) return false;
    if (this.out.length === 0) return false;
    const bufs: Buffer[] = [];
    let i = 0;
    while (i < this.out.length && this.out[i]!.seq <= durable) {
      const m = this.out[i]!;
      bufs.push(m.buf);
      if (m.event) this.queuedEvents--;
      i++;
    }
    if (i > 0) {
      this.out.splice(0, i);
      this.transmit(bufs);
      this.checkBacklog();
    }
    if (this.out.length - this.queuedEvents < this.host.limits.maxPendingReplies) this.setInputPaused(false);
    return this.out.length > 0;
  }

  private checkBacklog(): void {
    if (this.backlog() > this.host.limits.maxOutputBytes) this.drop('peer is not reading its replies');
  }

  drop(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.out = [];
    this.closeTransport();
    this.host.dropped(this, reason);
  }
}

/** A unix-socket client: acts as dom0 (privileged) unless on the read-only socket. */
export class SocketConnection extends Connection {
  constructor(host: ConnectionHost, private readonly sock: net.Socket, readonly: boolean) {
    super(host, 0, readonly, undefined);
    sock.on('data', (d) => {
      sock.cork();
      this.receive(d);
      sock.uncork();
    });
    sock.on('error', () => this.drop('socket error'));
    sock.on('close', () => this.drop('closed'));
  }
  get description(): string {
    return `socket#${this.serial}${this.readonly ? ' (ro)' : ''}`;
  }
  protected transmit(bufs: Buffer[]): void {
    if (this.sock.destroyed) return;
    if (bufs.length === 1) this.sock.write(bufs[0]!);
    else {
      this.sock.cork();
      for (const b of bufs) this.sock.write(b);
      this.sock.uncork();
    }
  }
  protected backlog(): number {
    return this.sock.writableLength;
  }
  protected setInputPaused(paused: boolean): void {
    if (this.sock.destroyed) return;
    if (paused) this.sock.pause();
    else this.sock.resume();
  }
  protected closeTransport(): void {
    this.sock.destroy();
  }
}
