// Guest connections whose ring the hypervisor host runs for us.
//
// xenstored in Xen maps a guest's store page and runs the ring itself. Here
// the page lives in the `xen` host process, which runs the ring protocol and
// streams the bytes over privcmd (libxc `ringAttach`, packages/xen
// ring-relay.ts). For xenstored this is a byte stream with the domain's
// identity: the same protocol, permissions and quotas as a ring it mapped.
import { Connection, type ConnectionHost } from './connection.js';
import { domainPath } from './paths.js';

/** A guest's xenstore ring, relayed. */
export interface RingStreamLike {
  write(data: Uint8Array): Promise<void>;
  on(ev: 'data', cb: (b: Buffer) => void): unknown;
  on(ev: 'broken', cb: (why: string) => void): unknown;
  close(): Promise<void>;
}

/** What the hypervisor host provides when it runs the rings itself. */
export interface DomainStreamProvider {
  attach(domid: number, mfn: number, port: number): Promise<RingStreamLike>;
}

export class StreamConnection extends Connection {
  private inFlight = 0;
  private paused = false;
  private heldBytes: Buffer[] = [];

  constructor(
    host: ConnectionHost,
    readonly domid: number,
    private stream: RingStreamLike,
  ) {
    super(host, domid, false, domainPath(domid));
    this.listen(stream);
  }

  private listen(s: RingStreamLike): void {
    s.on('data', (b) => {
      if (s !== this.stream) return;
      if (this.paused) this.heldBytes.push(b);
      else this.receive(b);
    });
    s.on('broken', (why) => {
      if (s === this.stream) this.drop(`ring broken: ${why}`);
    });
  }

  /** INTRODUCE again (resume): a new stream, the connection reset by the caller. */
  replaceStream(s: RingStreamLike): void {
    const old = this.stream;
    this.stream = s;
    this.listen(s);
    void old.close();
  }

  get description(): string {
    return `domain ${this.domid}`;
  }
  protected transmit(bufs: Buffer[]): void {
    const data = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
    this.inFlight += data.length;
    this.stream.write(data).then(
      () => {
        this.inFlight -= data.length;
      },
      (e: Error) => this.drop(`cannot write to the guest's ring: ${e.message}`),
    );
  }
  protected backlog(): number {
    return this.inFlight;
  }
  protected setInputPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused) {
      const held = this.heldBytes;
      this.heldBytes = [];
      for (const b of held) this.receive(b);
    }
  }
  protected closeTransport(): void {
    void this.stream.close();
  }
}
