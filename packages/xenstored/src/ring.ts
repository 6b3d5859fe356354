// Guest connections over the xenstore ring page (xs_wire.h
// xenstore_domain_interface): two 1024-byte byte rings with free-running u32
// indexes at 2048..2063. The hypervisor host maps the page and binds the
// event channel through DomainRingProvider; until it exists, tests use the
// SharedArrayBuffer provider below.

import { XS_RING } from '@xenwasm/xs/xs-wire';
import { Connection, type ConnectionHost } from './connection.js';
import { domainPath } from './paths.js';

/** One mapped 4096-byte page: byte access plus ordered u32 index access. */
export interface RingPage {
  readonly bytes: Uint8Array;
  loadU32(offset: number): number;
  storeU32(offset: number, value: number): void;
}

export interface EventChannel {
  /** Kicks the other end. */
  notify(): void;
  /** Called on every notification from the other end. */
  onEvent(cb: () => void): void;
  close(): void;
}

/** What the hypervisor host provides so xenstored can serve a guest. */
export interface DomainRingProvider {
  /** Maps the guest frame holding the store page (INTRODUCE's mfn). */
  map(domid: number, mfn: number): Promise<RingPage>;
  /** Binds an interdomain event channel to the guest's store port. */
  bindInterdomain(domid: number, remotePort: number): Promise<EventChannel>;
  /** Optional: undo `map` when the domain's connection goes away. */
  unmap?(domid: number, page: RingPage): void;
}

/** A RingPage over (part of) a SharedArrayBuffer; indexes use Atomics (ordered). */
export function sharedRingPage(sab: SharedArrayBuffer, byteOffset = 0): RingPage {
  const bytes = new Uint8Array(sab, byteOffset, XS_RING.PAGE_SIZE);
  const words = new Int32Array(sab, byteOffset, XS_RING.PAGE_SIZE / 4);
  return {
    bytes,
    loadU32: (off) => Atomics.load(words, off >> 2) >>> 0,
    storeU32: (off, v) => void Atomics.store(words, off >> 2, v | 0),
  };
}

export class RingError extends Error {}

/** Copies up to `max` readable bytes out of a ring; returns them and the new consumer index. */
function ringRead(page: RingPage, base: number, consOff: number, prodOff: number, max: number): Buffer {
  const cons = page.loadU32(consOff);
  const prod = page.loadU32(prodOff);
  const avail = (prod - cons) >>> 0;
  if (avail > XS_RING.SIZE) throw new RingError(`ring indexes corrupt (prod ${prod} cons ${cons})`);
  const n = Math.min(avail, max);
  if (n === 0) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(n);
  const start = cons & (XS_RING.SIZE - 1);
  const first = Math.min(n, XS_RING.SIZE - start);
  out.set(page.bytes.subarray(base + start, base + start + first), 0);
  if (n > first) out.set(page.bytes.subarray(base, base + n - first), first);
  page.storeU32(consOff, (cons + n) >>> 0);
  return out;
}

/** Copies as much of `data` as fits into a ring; returns the number of bytes written. */
function ringWrite(page: RingPage, base: number, consOff: number, prodOff: number, data: Uint8Array): number {
  const cons = page.loadU32(consOff);
  const prod = page.loadU32(prodOff);
  const used = (prod - cons) >>> 0;
  if (used > XS_RING.SIZE) throw new RingError(`ring indexes corrupt (prod ${prod} cons ${cons})`);
  const n = Math.min(XS_RING.SIZE - used, data.length);
  if (n === 0) return 0;
  const start = prod & (XS_RING.SIZE - 1);
  const first = Math.min(n, XS_RING.SIZE - start);
  page.bytes.set(data.subarray(0, first), base + start);
  if (n > first) page.bytes.set(data.subarray(first, n), base);
  page.storeU32(prodOff, (prod + n) >>> 0);
  return n;
}

/** Resets all four ring indexes (xenstored does this when a domain is introduced). */
export function resetRing(page: RingPage): void {
  for (const off of [XS_RING.REQ_CONS, XS_RING.REQ_PROD, XS_RING.RSP_CONS, XS_RING.RSP_PROD]) page.storeU32(off, 0);
}

/** A domain's connection: requests from the req ring, replies and events into the rsp ring. */
export class RingConnection extends Connection {
  private outBytes: Buffer[] = [];
  private outLen = 0;
  private paused = false;

  constructor(
    host: ConnectionHost,
    readonly domid: number,
    readonly page: RingPage,
    readonly evtchn: EventChannel,
    private readonly onClose: () => void,
  ) {
    super(host, domid, false, domainPath(domid));
    evtchn.onEvent(() => this.kick());
  }

  get description(): string {
    return `domain ${this.domid}`;
  }

  /** Services the ring: consume requests (unless paused), push out replies. */
  kick(): void {
    if (this.dead) return;
    try {
      let moved = this.pumpOut();
      while (!this.paused && !this.dead) {
        const data = ringRead(this.page, XS_RING.REQ, XS_RING.REQ_CONS, XS_RING.REQ_PROD, XS_RING.SIZE);
        if (data.length === 0) break;
        moved = true;
        this.receive(data);
      }
      if (this.pumpOut()) moved = true;
      if (moved && !this.dead) this.evtchn.notify();
    } catch (e) {
      this.drop(e instanceof Error ? e.message : String(e));
    }
  }

  private pumpOut(): boolean {
    let moved = false;
    while (this.outBytes.length) {
      const head = this.outBytes[0]!;
      const n = ringWrite(this.page, XS_RING.RSP, XS_RING.RSP_CONS, XS_RING.RSP_PROD, head);
      if (n === 0) break;
      moved = true;
      this.outLen -= n;
      if (n === head.length) this.outBytes.shift();
      else this.outBytes[0] = head.subarray(n);
    }
    return moved;
  }

  protected transmit(bufs: Buffer[]): void {
    for (const b of bufs) {
      this.outBytes.push(b);
      this.outLen += b.length;
    }
    try {
      if (this.pumpOut()) this.evtchn.notify();
    } catch (e) {
      this.drop(e instanceof Error ? e.message : String(e));
    }
  }
  protected backlog(): number {
    return this.outLen;
  }
  protected setInputPaused(paused: boolean): void {
    const was = this.paused;
    this.paused = paused;
    if (was && !paused) queueMicrotask(() => this.kick());
  }
  protected closeTransport(): void {
    this.evtchn.close();
    this.onClose();
  }
}

/**
 * In-process provider over SharedArrayBuffer pages, for tests and for a host
 * that keeps guest memory in JS: `addPage(mfn)` registers a page; event
 * channels are pairs of callbacks (`guestPort(domid, port)` is the guest end).
 */
export class SharedMemoryRingProvider implements DomainRingProvider {
  private pages = new Map<number, RingPage>();
  private channels = new Map<string, { toGuest: Array<() => void>; toDaemon: Array<() => void> }>();

  addPage(mfn: number, sab = new SharedArrayBuffer(XS_RING.PAGE_SIZE)): RingPage {
    const page = sharedRingPage(sab);
    this.pages.set(mfn, page);
    return page;
  }

  private chan(domid: number, port: number) {
    const k = `${domid}:${port}`;
    let c = this.channels.get(k);
    if (!c) this.channels.set(k, (c = { toGuest: [], toDaemon: [] }));
    return c;
  }

  /** The guest's end of a store event channel. */
  guestPort(domid: number, port: number): EventChannel {
    const c = this.chan(domid, port);
    return {
      notify: () => { for (const cb of c.toDaemon) queueMicrotask(cb); },
      onEvent: (cb) => void c.toGuest.push(cb),
      close: () => void (c.toGuest.length = 0),
    };
  }

  async map(_domid: number, mfn: number): Promise<RingPage> {
    const p = this.pages.get(mfn);
    if (!p) throw new RingError(`no page at mfn ${mfn}`);
    return p;
  }

  async bindInterdomain(domid: number, remotePort: number): Promise<EventChannel> {
    const c = this.chan(domid, remotePort);
    const mine: Array<() => void> = [];
    return {
      notify: () => { for (const cb of c.toGuest) queueMicrotask(cb); },
      onEvent: (cb) => {
        mine.push(cb);
        c.toDaemon.push(cb);
      },
      close: () => {
        c.toDaemon = c.toDaemon.filter((cb) => !mine.includes(cb));
      },
    };
  }
}

/**
 * The guest side of the ring (what a guest's xenbus driver does), for tests
 * and for JS guests: writes request bytes, reads reply bytes.
 */
export class RingFrontend {
  constructor(readonly page: RingPage) {}
  /** Writes as much as fits; returns bytes written. */
  writeRequest(data: Uint8Array): number {
    return ringWrite(this.page, XS_RING.REQ, XS_RING.REQ_CONS, XS_RING.REQ_PROD, data);
  }
  /** Reads all available reply bytes. */
  readResponses(): Buffer {
    return ringRead(this.page, XS_RING.RSP, XS_RING.RSP_CONS, XS_RING.RSP_PROD, XS_RING.SIZE);
  }
}
