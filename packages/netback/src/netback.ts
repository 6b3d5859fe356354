// netback: one vif per frontend device. Frames the guest sends (tx ring)
// are copied out of its granted pages and handed to the bridge; frames for
// the guest are copied into the buffers it posted on the rx ring (the
// request-rx-copy mode). No page is touched unless the guest granted it to
// dom0; a broken ring fails this vif only.
import { BackRing, RingBrokenError, type BackendDriver, type DeviceContext, type DeviceInstance, type LocalGrant, type LocalPort } from '@xenwasm/xenbus-backend';
import { Bridges, type Bridge, type BridgePort } from './bridge.js';
import { MAX_FRAME, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_extra_info, NETTXF_more_data, RX_SLOT, TX_SLOT } from './netif.js';

const RX_QUEUE_MAX = 512;

class Vif implements DeviceInstance, BridgePort {
  private tx: BackRing | undefined;
  private rx: BackRing | undefined;
  private port: LocalPort | undefined;
  private queue: Buffer[] = [];
  private dead = true;
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

  private kick(): void {
    if (this.dead) return;
    try {
      this.flushRx();
      this.doTx();
    } catch (e) {
      this.ctx.fail(e instanceof RingBrokenError ? `bad ring: ${e.message}` : (e as Error).message);
    }
  }

  private doTx(): void {
    const ring = this.tx!;
    let notify = false;
    do {
      let n = ring.pending();
      while (n > 0) {
        // One packet: the first slot's size is the whole length; more_data chains fragments.
        const first = ring.takeRequest();
        n--;
        const slots = [first];
        while (slots[slots.length - 1]!.readUInt16LE(6) & (NETTXF_more_data | NETTXF_extra_info)) {
          if (n === 0) {
            n = ring.pending();
            if (n === 0) throw new Error('a packet ends in the middle of the ring');
          }
          slots.push(ring.takeRequest());
          n--;
        }
        const frame = this.copyOut(slots);
        for (let i = 0; i < slots.length; i++) {
          const isExtra = i > 0 && slots[i - 1]!.readUInt16LE(6) & NETTXF_extra_info;
          const r = ring.responseSlot();
          const dv = new DataView(r.buffer, r.byteOffset, 4);
          dv.setUint16(0, slots[i]!.readUInt16LE(8), true);
          dv.setInt16(2, isExtra ? NETIF_RSP_NULL : frame ? NETIF_RSP_OKAY : NETIF_RSP_ERROR, true);
        }
        if (ring.pushResponses()) notify = true;
        if (frame) this.bridge.forward(frame, this);
        if (this.dead) return;
      }
    } while (ring.finalCheck());
    if (notify) this.port?.notify();
  }

  /** Copies a packet out of the guest's granted pages; null (error response) if any slot is bad. */
  private copyOut(slots: Buffer[]): Buffer | null {
    const total = slots[0]!.readUInt16LE(10);
    if (total > MAX_FRAME || total < 14) return null;
    const out = Buffer.alloc(total);
    let got = 0;
    for (let i = 0; i < slots.length; i++) {
      if (i > 0 && slots[i - 1]!.readUInt16LE(6) & NETTXF_extra_info) continue; // extra info slot: nothing to copy
      const s = slots[i]!;
      const gref = s.readUInt32LE(0);
      const off = s.readUInt16LE(4);
      // The first slot's size is the packet's; its own bytes are what the later fragments do not carry.
      let size = s.readUInt16LE(10);
      if (i === 0) {
        let rest = 0;
        for (let j = 1; j < slots.length; j++) if (!(slots[j - 1]!.readUInt16LE(6) & NETTXF_extra_info)) rest += slots[j]!.readUInt16LE(10);
        if (rest > total) return null;
        size = total - rest;
      }
      if (off + size > 4096 || got + size > total) return null;
      let g: LocalGrant;
      try {
        g = this.ctx.dom0.mapGrantLocal(this.ctx.fe, gref, true);
      } catch (e) {
        this.ctx.log(`tx: ${(e as Error).message}`);
        return null;
      }
      out.set(g.page().subarray(off, off + size), got);
      g.unmap();
      got += size;
    }
    return got === total ? out : null;
  }

  deliver(frame: Buffer): void {
    if (this.dead) return;
    if (this.queue.length >= RX_QUEUE_MAX) return; // dropped, as a full queue drops
    this.queue.push(frame);
    try {
      this.flushRx();
    } catch (e) {
      this.ctx.fail(e instanceof RingBrokenError ? `bad rx ring: ${e.message}` : (e as Error).message);
    }
  }

  private flushRx(): void {
    const ring = this.rx!;
    if (!this.queue.length) return;
    let n = ring.pending();
    let any = false;
    while (n > 0 && this.queue.length) {
      const req = ring.takeRequest();
      n--;
      const id = req.readUInt16LE(0);
      const gref = req.readUInt32LE(4);
      const frame = this.queue.shift()!;
      let status = frame.length;
      try {
        const g = this.ctx.dom0.mapGrantLocal(this.ctx.fe, gref, false);
        g.page().set(frame, 0);
        g.unmap();
      } catch (e) {
        this.ctx.log(`rx: ${(e as Error).message}`);
        status = NETIF_RSP_ERROR;
      }
      const r = ring.responseSlot();
      const dv = new DataView(r.buffer, r.byteOffset, 8);
      dv.setUint16(0, id, true);
      dv.setUint16(2, 0, true);
      dv.setUint16(4, 0, true);
      dv.setInt16(6, status, true);
      any = true;
      if (n === 0) n = ring.pending();
    }
    if (any && ring.pushResponses()) this.port?.notify();
    if (this.queue.length) ring.finalCheck();
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
    this.queue = [];
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
