// netback: one vif per frontend device. Frames the guest sends (tx ring)
// are handed to the bridge, frames for the guest are copied into the
// buffers it posted on the rx ring (the request-rx-copy mode). No page is
// touched unless the guest granted it to dom0; a broken ring fails this vif
// only.
//
// The data path is Xen's grant copy, not map/unmap: each frame's grant is
// checked when it is copied (Dom0Services.grantCopyLocal) and nothing stays
// mapped. A one-slot tx frame goes to the bridge as a view of the sender's
// page and is copied once, straight into the receiver's posted page (or
// into a queue when it has none). Requests are read in place, one field at
// a time, once; responses are written in place and pushed once per batch
// (tx: per pass over what the frontend published; rx: every RX_PUSH_BATCH
// frames and when the sender's batch ends), notifying only when the
// frontend asked (rsp_event).
import { BackRing, RingBrokenError, type BackendDriver, type DeviceContext, type DeviceInstance, type GrantCopy, type LocalGrant, type LocalPort } from '@xenwasm/xenbus-backend';
import { Bridges, type Bridge, type BridgePort } from './bridge.js';
import { MAX_FRAME, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_extra_info, NETTXF_more_data, RX_SLOT, TX_SLOT } from './netif.js';

const RX_QUEUE_MAX = 512;
/** Responses written to an rx ring before they are pushed mid-batch (the receiver can start on them). */
const RX_PUSH_BATCH = 64;
const PAGE = 4096;

/** A tx slot's fields, read once from the ring. */
interface TxSlot {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}

class Vif implements DeviceInstance, BridgePort {
  private tx: BackRing | undefined;
  private rx: BackRing | undefined;
  private port: LocalPort | undefined;
  private copy: GrantCopy | undefined;
  private queue: Buffer[] = [];
  private dead = true;
  /** rx requests known to be posted and not yet taken. */
  private rxAvail = 0;
  /** rx responses written and not yet pushed, and whether a push is queued for the end of this turn. */
  private rxUnpushed = 0;
  private rxPushQueued = false;
  private readonly pushRxLater = () => {
    this.rxPushQueued = false;
    this.guarded(() => this.pushRx(), 'bad rx ring');
  };
  readonly name: string;
  constructor(private readonly ctx: DeviceContext, private readonly bridge: Bridge) {
    this.name = `vif${ctx.fe}.${ctx.devid}`;
  }

  async connect(): Promise<void> {
    const { xs, fePath, fe, dom0 } = this.ctx;
    const [txr, rxr, evt] = await Promise.all(['tx-ring-ref', 'rx-ring-ref', 'event-channel'].map((k) => xs.tryRead(`${fePath}/${k}`)));
    for (const [k, v] of [['tx-ring-ref', txr], ['rx-ring-ref', rxr], ['event-channel', evt]] as const) {
      if (!/^\d+$/.test(v ?? '')) throw new Error(`frontend ${k} ${JSON.stringify(v)} unusable`);
    }
    const maps: LocalGrant[] = [];
    try {
      maps.push(dom0.mapGrantLocal(fe, Number(txr), false));
      maps.push(dom0.mapGrantLocal(fe, Number(rxr), false));
      this.copy = dom0.grantCopyLocal(fe);
      this.port = dom0.bindInterdomainLocal(fe, Number(evt), () => this.kick());
    } catch (e) {
      for (const m of maps) m.unmap();
      throw new Error(`cannot connect: ${(e as Error).message}`);
    }
    this.tx = new BackRing(maps[0]!, TX_SLOT);
    this.rx = new BackRing(maps[1]!, RX_SLOT);
    this.dead = false;
    this.bridge.add(this);
    queueMicrotask(() => this.kick());
  }

  private guarded(fn: () => void, what: string): void {
    if (this.dead) return;
    try {
      fn();
    } catch (e) {
      this.ctx.fail(e instanceof RingBrokenError ? `${what}: ${e.message}` : (e as Error).message);
    }
  }

  private kick(): void {
    this.guarded(() => {
      this.flushRx();
      this.doTx();
    }, 'bad ring');
  }

  private doTx(): void {
    const ring = this.tx!;
    const dv = ring.view();
    let notify = false;
    do {
      let n = ring.pending();
      while (n > 0) {
        const at = ring.takeRequestAt();
        n--;
        const gref = dv.getUint32(at, true);
        const offset = dv.getUint16(at + 4, true);
        const flags = dv.getUint16(at + 6, true);
        const id = dv.getUint16(at + 8, true);
        const size = dv.getUint16(at + 10, true);
        let frame: Uint8Array | null;
        if (!(flags & (NETTXF_more_data | NETTXF_extra_info))) {
          // The common case: the whole packet in one slot, sent from the guest's page as it is.
          frame = size > MAX_FRAME || size < 14 || offset + size > PAGE ? null : this.txView(gref, offset, size);
          this.txRespond(dv, id, frame ? NETIF_RSP_OKAY : NETIF_RSP_ERROR);
        } else {
          // One packet over several slots: the first slot's size is the whole length; more_data chains fragments.
          const slots: TxSlot[] = [{ gref, offset, flags, id, size }];
          while (slots[slots.length - 1]!.flags & (NETTXF_more_data | NETTXF_extra_info)) {
            if (n === 0) {
              n = ring.pending();
              if (n === 0) throw new Error('a packet ends in the middle of the ring');
            }
            const a = ring.takeRequestAt();
            n--;
            slots.push({ gref: dv.getUint32(a, true), offset: dv.getUint16(a + 4, true), flags: dv.getUint16(a + 6, true), id: dv.getUint16(a + 8, true), size: dv.getUint16(a + 10, true) });
          }
          frame = this.copyOut(slots);
          for (let i = 0; i < slots.length; i++) {
            const isExtra = i > 0 && slots[i - 1]!.flags & NETTXF_extra_info;
            this.txRespond(dv, slots[i]!.id, isExtra ? NETIF_RSP_NULL : frame ? NETIF_RSP_OKAY : NETIF_RSP_ERROR);
          }
        }
        // Before the responses are pushed: until then the frontend leaves the page alone.
        if (frame) this.bridge.forward(frame, this);
        if (this.dead) return;
      }
      if (ring.pushResponses()) notify = true;
    } while (ring.finalCheck());
    if (notify) this.port?.notify();
  }

  private txRespond(dv: DataView, id: number, status: number): void {
    const r = this.tx!.responseAt();
    dv.setUint16(r, id, true);
    dv.setInt16(r + 2, status, true);
  }

  /** The bytes of a one-slot packet, in the guest's page; null (error response) if its grant does not allow it. */
  private txView(gref: number, offset: number, size: number): Uint8Array | null {
    try {
      return this.copy!.view(gref, offset, size, false);
    } catch (e) {
      this.ctx.log(`tx: ${(e as Error).message}`);
      return null;
    }
  }

  /** Copies a packet of several slots out of the guest's granted pages; null (error response) if any slot is bad. */
  private copyOut(slots: TxSlot[]): Buffer | null {
    const total = slots[0]!.size;
    if (total > MAX_FRAME || total < 14) return null;
    const out = Buffer.alloc(total);
    let got = 0;
    for (let i = 0; i < slots.length; i++) {
      if (i > 0 && slots[i - 1]!.flags & NETTXF_extra_info) continue; // extra info slot: nothing to copy
      const s = slots[i]!;
      // The first slot's size is the packet's; its own bytes are what the later fragments do not carry.
      let size = s.size;
      if (i === 0) {
        let rest = 0;
        for (let j = 1; j < slots.length; j++) if (!(slots[j - 1]!.flags & NETTXF_extra_info)) rest += slots[j]!.size;
        if (rest > total) return null;
        size = total - rest;
      }
      if (s.offset + size > PAGE || got + size > total) return null;
      const src = this.txView(s.gref, s.offset, size);
      if (!src) return null;
      out.set(src, got);
      got += size;
    }
    return got === total ? out : null;
  }

  deliver(frame: Uint8Array): void {
    if (this.dead) return;
    try {
      if (this.queue.length === 0 && this.rxPut(frame)) return;
      if (this.queue.length >= RX_QUEUE_MAX) return; // dropped, as a full queue drops
      this.queue.push(Buffer.from(frame)); // a copy: the frame may be a view of the sender's page
      // Ask for an event when the guest posts buffers; it may have just done so.
      if (this.queue.length === 1 && this.rx!.finalCheck()) this.flushRx();
    } catch (e) {
      this.ctx.fail(e instanceof RingBrokenError ? `bad rx ring: ${e.message}` : (e as Error).message);
    }
  }

  /** Copies one frame into the next buffer the guest posted and writes its response; false when none is posted. */
  private rxPut(frame: Uint8Array): boolean {
    const ring = this.rx!;
    if (this.rxAvail === 0) {
      this.rxAvail = ring.pending();
      if (this.rxAvail === 0) return false;
    }
    this.rxAvail--;
    const dv = ring.view();
    const at = ring.takeRequestAt();
    const id = dv.getUint16(at, true);
    const gref = dv.getUint32(at + 4, true);
    let status = frame.length;
    try {
      this.copy!.view(gref, 0, frame.length, true).set(frame);
    } catch (e) {
      this.ctx.log(`rx: ${(e as Error).message}`);
      status = NETIF_RSP_ERROR;
    }
    const r = ring.responseAt();
    dv.setUint16(r, id, true);
    dv.setUint16(r + 2, 0, true);
    dv.setUint16(r + 4, 0, true);
    dv.setInt16(r + 6, status, true);
    if (++this.rxUnpushed >= RX_PUSH_BATCH) this.pushRx();
    else if (!this.rxPushQueued) {
      // The rest go out when the sender's batch is done (the end of this turn).
      this.rxPushQueued = true;
      queueMicrotask(this.pushRxLater);
    }
    return true;
  }

  private pushRx(): void {
    if (this.rxUnpushed === 0 || this.dead) return;
    this.rxUnpushed = 0;
    if (this.rx!.pushResponses()) this.port?.notify();
  }

  private flushRx(): void {
    for (;;) {
      while (this.queue.length > 0 && this.rxPut(this.queue[0]!)) this.queue.shift();
      if (this.queue.length === 0 || !this.rx!.finalCheck()) break;
    }
    this.pushRx();
  }

  async disconnect(): Promise<void> {
    if (this.dead && !this.tx) return;
    this.dead = true;
    this.bridge.remove(this);
    this.port?.close();
    this.port = undefined;
    for (const r of [this.tx, this.rx]) {
      try {
        r?.grant.unmap();
      } catch { /* gone */ }
    }
    this.tx = this.rx = undefined;
    this.copy = undefined;
    this.queue = [];
    this.rxAvail = this.rxUnpushed = 0;
  }
}

export class Netback implements BackendDriver {
  readonly type = 'vif';
  readonly bridges = new Bridges();
  async probe(ctx: DeviceContext): Promise<DeviceInstance> {
    const { xs, bePath } = ctx;
    const [bridge, mac] = await Promise.all(['bridge', 'mac'].map((k) => xs.tryRead(`${bePath}/${k}`)));
    const name = bridge || 'xenbr0';
    const v = new Vif(ctx, this.bridges.get(name));
    await Promise.all([
      xs.write(`${bePath}/feature-rx-copy`, '1'),
      xs.write(`${bePath}/feature-rx-flip`, '0'),
      xs.write(`${bePath}/bridge`, name),
    ]);
    await xs.write(`${bePath}/hotplug-status`, 'connected');
    ctx.log(`${v.name} mac ${mac ?? '?'} on ${name}`);
    return v;
  }
}
