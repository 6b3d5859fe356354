// ring.h on the backend side: a 64-byte header (req_prod, req_event,
// rsp_prod, rsp_event) and power-of-two slots of a fixed size. The frontend
// owns the page and may write anything in it: every index is checked before
// it is used, and a request is copied out of the slot before it is trusted.
import type { LocalGrant } from './dom0.js';

export const RING_HEADER = 64;

export function ringSize(entryBytes: number, page = 4096): number {
  let n = 1;
  while (n * 2 * entryBytes <= page - RING_HEADER) n *= 2;
  return n;
}

export class RingBrokenError extends Error {}

export class BackRing {
  readonly size: number;
  reqCons = 0;
  rspProdPvt = 0;
  // Views of the ring page, kept between calls: a guest's memory is shared,
  // so growing it leaves old views valid; one that went dead (a detached
  // buffer has length 0) is made again.
  private pageView: Uint8Array | undefined;
  private wordView: Int32Array | undefined;
  private dataView: DataView | undefined;
  constructor(
    readonly grant: LocalGrant,
    readonly entryBytes: number,
  ) {
    this.size = ringSize(entryBytes);
  }
  /** The ring page (request slots are the frontend's: read each field once). */
  page(): Uint8Array {
    let p = this.pageView;
    if (!p || p.byteLength === 0) {
      p = this.pageView = this.grant.page();
      this.wordView = new Int32Array(p.buffer, p.byteOffset, 16);
      this.dataView = new DataView(p.buffer, p.byteOffset, p.byteLength);
    }
    return p;
  }
  /** A little-endian view of the ring page, for reading request fields and writing responses in place. */
  view(): DataView {
    this.page();
    return this.dataView!;
  }
  private words(): Int32Array {
    this.page();
    return this.wordView!;
  }
  /** Requests the frontend published beyond ours; throws on an impossible producer index. */
  pending(): number {
    const prod = Atomics.load(this.words(), 0) >>> 0;
    const n = (prod - this.reqCons) >>> 0;
    if (n > this.size || ((this.reqCons - this.rspProdPvt) >>> 0) + n > this.size) {
      throw new RingBrokenError(`req_prod ${prod} is ${n} requests ahead of req_cons ${this.reqCons} on a ${this.size}-slot ring`);
    }
    return n;
  }
  /** A copy of the next request slot (the guest cannot change it under us afterwards). */
  takeRequest(): Buffer {
    const off = this.takeRequestAt();
    return Buffer.from(this.page().subarray(off, off + this.entryBytes));
  }
  /**
   * Consumes the next request and returns its slot's offset in page()/view(),
   * without copying it: the caller reads each field once, into locals.
   */
  takeRequestAt(): number {
    const off = RING_HEADER + (this.reqCons & (this.size - 1)) * this.entryBytes;
    this.reqCons = (this.reqCons + 1) >>> 0;
    return off;
  }
  /** The slot for the next response (write it, then push). */
  responseSlot(): Uint8Array {
    const off = this.responseAt();
    return this.page().subarray(off, off + this.entryBytes);
  }
  /** As responseSlot(), as an offset in page()/view(). */
  responseAt(): number {
    const off = RING_HEADER + (this.rspProdPvt & (this.size - 1)) * this.entryBytes;
    this.rspProdPvt = (this.rspProdPvt + 1) >>> 0;
    return off;
  }
  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY. */
  pushResponses(): boolean {
    const w = this.words();
    const old = Atomics.load(w, 2) >>> 0;
    const now = this.rspProdPvt;
    Atomics.store(w, 2, now | 0);
    const ev = Atomics.load(w, 3) >>> 0;
    return ((now - ev) >>> 0) < ((now - old) >>> 0);
  }
  /** RING_FINAL_CHECK_FOR_REQUESTS: ask for an event at the next request, then look again. */
  finalCheck(): boolean {
    if (this.pending() > 0) return true;
    Atomics.store(this.words(), 1, (this.reqCons + 1) | 0);
    return this.pending() > 0;
  }
}

/** The frontend's ring for responses only (netback's rx ring: requests are buffers posted by the guest). */
export function u16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}
export function u32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}
export function setU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
