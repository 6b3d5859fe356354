// A learning bridge (what xenbr0 is in dom0): learns which port each source
// MAC came from, sends unicast frames to the port that owns the destination
// and floods broadcast, multicast and unknown destinations.
export interface BridgePort {
  name: string;
  deliver(frame: Buffer): void;
}

const macKey = (b: Buffer, off: number) => b.toString('hex', off, off + 6);

export class Bridge {
  readonly ports = new Set<BridgePort>();
  private readonly fdb = new Map<string, BridgePort>();
  constructor(readonly name: string) {}
  add(p: BridgePort): void {
    this.ports.add(p);
  }
  remove(p: BridgePort): void {
    this.ports.delete(p);
    for (const [k, v] of this.fdb) if (v === p) this.fdb.delete(k);
  }
  forward(frame: Buffer, from: BridgePort): void {
    if (frame.length < 14) return;
    if (!(frame[6]! & 1)) this.fdb.set(macKey(frame, 6), from);
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
