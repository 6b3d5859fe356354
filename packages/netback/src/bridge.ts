// A learning bridge (what xenbr0 is in dom0): learns which port each source
// MAC came from, sends unicast frames to the port that owns the destination
// and floods broadcast, multicast and unknown destinations.
//
// A frame handed to forward() may be a view straight into the sending
// guest's granted page: deliver() must copy what it keeps before returning.
export interface BridgePort {
  name: string;
  deliver(frame: Uint8Array): void;
}

/** The 48-bit MAC at `off` as a number (exact in a double): a cheap map key. */
const macKey = (b: Uint8Array, off: number) =>
  (b[off]! * 0x10000 + (b[off + 1]! << 8) + b[off + 2]!) * 0x1000000 + ((b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!);

export class Bridge {
  readonly ports = new Set<BridgePort>();
  private readonly fdb = new Map<number, BridgePort>();
  constructor(readonly name: string) {}
  add(p: BridgePort): void {
    this.ports.add(p);
  }
  remove(p: BridgePort): void {
    this.ports.delete(p);
    for (const [k, v] of this.fdb) if (v === p) this.fdb.delete(k);
  }
  forward(frame: Uint8Array, from: BridgePort): void {
    if (frame.length < 14) return;
    if (!(frame[6]! & 1)) {
      const src = macKey(frame, 6);
      if (this.fdb.get(src) !== from) this.fdb.set(src, from);
    }
    const to = frame[0]! & 1 ? undefined : this.fdb.get(macKey(frame, 0));
    if (to) {
      if (to !== from) to.deliver(frame);
      return;
    }
    for (const p of this.ports) if (p !== from) p.deliver(frame);
  }
}

export class Bridges {
  private readonly all = new Map<string, Bridge>();
  get(name: string): Bridge {
    let b = this.all.get(name);
    if (!b) this.all.set(name, (b = new Bridge(name)));
    return b;
  }
}
