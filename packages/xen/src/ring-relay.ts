// Byte-stream rings between a guest and a dom0 daemon in another process.
//
// In Xen, xenstored and xenconsoled map the guest's xenstore and console
// pages themselves. A Node process cannot map another process's memory, so
// the host process (which holds every guest's memory) plays the part of the
// mapping: it runs the ring's index protocol against the page, and streams
// the bytes to the daemon over its privcmd connection. The daemon sees what
// it would have read from the ring, in order, and writes what it would have
// written. The guest sees exactly Xen's ring protocol and event channel.
//
// A guest can put anything in the shared indexes. A producer index more than
// one ring ahead of the consumer is a broken peer: the relay stops, tells the
// daemon why, and never reads or writes outside the page.
import { PAGE_SIZE } from './abi.js';

/** Where the two byte rings and their indexes sit in the shared page. */
export interface RingLayout {
  fromGuest: { buf: number; size: number; cons: number; prod: number };
  toGuest: { buf: number; size: number; cons: number; prod: number };
}

/** struct xenstore_domain_interface (xs_wire.h): req is guest -> xenstored. */
export const XENSTORE_RING: RingLayout = {
  fromGuest: { buf: 0, size: 1024, cons: 2048, prod: 2052 },
  toGuest: { buf: 1024, size: 1024, cons: 2056, prod: 2060 },
};
/** struct xencons_interface (console.h): out is guest -> dom0. */
export const CONSOLE_RING: RingLayout = {
  fromGuest: { buf: 1024, size: 2048, cons: 3080, prod: 3084 },
  toGuest: { buf: 0, size: 1024, cons: 3072, prod: 3076 },
};

export class RingBroken extends Error {}

/**
 * One ring of one domain, given the page's bytes. `pump()` moves whatever
 * can move in both directions and says whether the guest must be notified.
 */
export class ByteRing {
  private readonly out: Buffer[] = [];
  private outBytes = 0;
  constructor(
    private readonly page: () => Uint8Array, // the page, re-fetched (the guest's memory may have grown)
    readonly layout: RingLayout,
    readonly maxQueued = 1 << 20,
  ) {}

  private u32(p: Uint8Array, off: number): number {
    return new DataView(p.buffer, p.byteOffset, PAGE_SIZE).getUint32(off, true);
  }
  private setU32(p: Uint8Array, off: number, v: number): void {
    new DataView(p.buffer, p.byteOffset, PAGE_SIZE).setUint32(off, v >>> 0, true);
  }

  /** Queue bytes for the guest. False if the guest is not draining and the queue is full. */
  write(data: Uint8Array): boolean {
    if (this.outBytes + data.length > this.maxQueued) return false;
    this.out.push(Buffer.from(data));
    this.outBytes += data.length;
    return true;
  }
  get queued(): number {
    return this.outBytes;
  }

  /** Read what the guest produced; write what is queued. Throws RingBroken on a bad peer. */
  pump(): { data: Buffer | null; notify: boolean } {
    const p = this.page();
    let notify = false;
    // guest -> dom0
    const f = this.layout.fromGuest;
    const prod = this.u32(p, f.prod);
    const cons = this.u32(p, f.cons);
    const avail = (prod - cons) >>> 0;
    if (avail > f.size) throw new RingBroken(`producer index ${prod} is ${avail} bytes ahead of consumer ${cons} on a ${f.size}-byte ring`);
    let data: Buffer | null = null;
    if (avail > 0) {
      data = Buffer.alloc(avail);
      for (let i = 0; i < avail; i++) data[i] = p[f.buf + ((cons + i) & (f.size - 1))]!;
      this.setU32(p, f.cons, cons + avail);
      notify = true;
    }
    // dom0 -> guest
    const t = this.layout.toGuest;
    while (this.out.length) {
      const tprod = this.u32(p, t.prod);
      const tcons = this.u32(p, t.cons);
      const used = (tprod - tcons) >>> 0;
      if (used > t.size) throw new RingBroken(`consumer index ${tcons} is behind producer ${tprod} by more than the ring`);
      const space = t.size - used;
      if (space === 0) break;
      const chunk = this.out[0]!;
      const n = Math.min(space, chunk.length);
      for (let i = 0; i < n; i++) p[t.buf + ((tprod + i) & (t.size - 1))] = chunk[i]!;
      this.setU32(p, t.prod, tprod + n);
      this.outBytes -= n;
      if (n === chunk.length) this.out.shift();
      else this.out[0] = chunk.subarray(n);
      notify = true;
    }
    return { data, notify };
  }
}
