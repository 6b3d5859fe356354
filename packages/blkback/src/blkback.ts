// blkback: serves a guest's blkif ring from a raw image file (disk =
// ['file:PATH,xvda,w'], 'r' for read-only). Requests are taken off the ring
// as they come and run concurrently against the file (many in flight); each
// completes with a response in whatever order the I/O finishes, as Xen's
// does. Bad requests get error responses; a broken ring fails the device.
import fs from 'node:fs';
import { BackRing, RingBrokenError, type BackendDriver, type DeviceContext, type DeviceInstance, type LocalGrant, type LocalPort } from '@xenwasm/xenbus-backend';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER,
  BLKIF_REQ_SIZE, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY, PROTOCOL_X86_32, SECTOR_SIZE, VDISK_READONLY,
  parseRequest, writeResponse, type BlkifRequest,
} from './blkif.js';

export interface BlkbackStats {
  requests: number;
  errors: number;
}

class Vbd implements DeviceInstance {
  private ring: BackRing | undefined;
  private port: LocalPort | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;
  private dead = false;
  readonly stats: BlkbackStats = { requests: 0, errors: 0 };
  constructor(
    private readonly ctx: DeviceContext,
    private readonly fd: number,
    private readonly sectors: bigint,
    private readonly readonly: boolean,
  ) {}

  async connect(): Promise<void> {
    const { xs, fePath, fe, dom0 } = this.ctx;
    const [ref, evt, proto] = await Promise.all(['ring-ref', 'event-channel', 'protocol'].map((k) => xs.tryRead(`${fePath}/${k}`)));
    const gref = Number(ref);
    const port = Number(evt);
    if (!/^\d+$/.test(ref ?? '') || !/^\d+$/.test(evt ?? '')) throw new Error(`frontend ring-ref ${JSON.stringify(ref)} / event-channel ${JSON.stringify(evt)} unusable`);
    if (proto !== undefined && proto !== PROTOCOL_X86_32) throw new Error(`unsupported protocol ${proto}`);
    let g: LocalGrant;
    try {
      g = dom0.mapGrantLocal(fe, gref, false);
    } catch (e) {
      throw new Error(`cannot map ring-ref ${gref}: ${(e as Error).message}`);
    }
    this.ring = new BackRing(g, BLKIF_REQ_SIZE);
    this.dead = false;
    try {
      this.port = dom0.bindInterdomainLocal(fe, port, () => this.kick());
    } catch (e) {
      g.unmap();
      this.ring = undefined;
      throw new Error(`cannot bind event-channel ${port}: ${(e as Error).message}`);
    }
    queueMicrotask(() => this.kick());
  }

  private kick(): void {
    const ring = this.ring;
    if (!ring || this.dead) return;
    try {
      do {
        let n = ring.pending();
        while (n-- > 0) this.handle(parseRequest(ring.takeRequest()));
      } while (ring.finalCheck());
    } catch (e) {
      if (e instanceof RingBrokenError) this.ctx.fail(`bad ring: ${e.message}`);
      else this.ctx.fail((e as Error).message);
    }
  }

  private respond(req: BlkifRequest, status: number): void {
    const ring = this.ring;
    if (!ring || this.dead) return;
    if (status !== BLKIF_RSP_OKAY) this.stats.errors++;
    writeResponse(ring.responseSlot(), req.id, req.operation, status);
    if (ring.pushResponses()) this.port?.notify();
  }

  private done(): void {
    this.inflight--;
    if (this.inflight === 0 && this.drained) this.drained();
  }

  private handle(req: BlkifRequest): void {
    this.stats.requests++;
    const op = req.operation;
    if (op === BLKIF_OP_FLUSH_DISKCACHE) {
      this.inflight++;
      fs.fdatasync(this.fd, (err) => {
        this.respond(req, err ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
        this.done();
      });
      return;
    }
    if (op !== BLKIF_OP_READ && op !== BLKIF_OP_WRITE && op !== BLKIF_OP_WRITE_BARRIER) return this.respond(req, BLKIF_RSP_EOPNOTSUPP);
    const write = op !== BLKIF_OP_READ;
    if (req.nrSegments === 0 || req.nrSegments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return this.respond(req, BLKIF_RSP_ERROR);
    if (write && this.readonly) return this.respond(req, BLKIF_RSP_ERROR);
    let nsect = 0;
    for (const s of req.segs) {
      if (s.first > s.last || s.last > 7) return this.respond(req, BLKIF_RSP_ERROR);
      nsect += s.last - s.first + 1;
    }
    if (req.sector + BigInt(nsect) > this.sectors) return this.respond(req, BLKIF_RSP_ERROR);
    // Map every segment before any I/O: a grant not given to us fails the request, never the host.
    const grants: LocalGrant[] = [];
    try {
      for (const s of req.segs) grants.push(this.ctx.dom0.mapGrantLocal(this.ctx.fe, s.gref, write));
    } catch (e) {
      for (const g of grants) g.unmap();
      this.ctx.log(`request ${req.id}: ${(e as Error).message}`);
      return this.respond(req, BLKIF_RSP_ERROR);
    }
    const len = nsect * SECTOR_SIZE;
    const pos = Number(req.sector) * SECTOR_SIZE;
    const buf = Buffer.allocUnsafe(len);
    this.inflight++;
    if (write) {
      let o = 0;
      req.segs.forEach((s, i) => {
        const p = grants[i]!.page();
        buf.set(p.subarray(s.first * SECTOR_SIZE, (s.last + 1) * SECTOR_SIZE), o);
        o += (s.last - s.first + 1) * SECTOR_SIZE;
      });
      for (const g of grants) g.unmap();
      fs.write(this.fd, buf, 0, len, pos, (err) => {
        if (err || op !== BLKIF_OP_WRITE_BARRIER) {
          this.respond(req, err ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
          return this.done();
        }
        fs.fdatasync(this.fd, (e2) => {
          this.respond(req, e2 ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
          this.done();
        });
      });
    } else {
      fs.read(this.fd, buf, 0, len, pos, (err, n) => {
        if (!err && !this.dead) {
          if (n < len) buf.fill(0, n);
          let o = 0;
          req.segs.forEach((s, i) => {
            const bytes = (s.last - s.first + 1) * SECTOR_SIZE;
            grants[i]!.page().set(buf.subarray(o, o + bytes), s.first * SECTOR_SIZE);
            o += bytes;
          });
        }
        for (const g of grants) g.unmap();
        this.respond(req, err ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
        this.done();
      });
    }
  }

  async disconnect(): Promise<void> {
    this.dead = true;
    this.port?.close();
    this.port = undefined;
    if (this.inflight > 0) await new Promise<void>((r) => (this.drained = r));
    if (this.ring) {
      try {
        this.ring.grant.unmap();
      } catch { /* the domain is gone */ }
    }
    this.ring = undefined;
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch { /* closed */ }
  }
}

export class Blkback implements BackendDriver {
  readonly type = 'vbd';
  async probe(ctx: DeviceContext): Promise<DeviceInstance> {
    const { xs, bePath } = ctx;
    const [type, params, mode] = await Promise.all(['type', 'params', 'mode'].map((k) => xs.tryRead(`${bePath}/${k}`)));
    if (type !== 'file' && type !== 'phy') throw new Error(`unsupported disk type ${type}`);
    if (!params) throw new Error('no params (image path)');
    const ro = !(mode ?? 'r').startsWith('w');
    let fd: number;
    try {
      fd = fs.openSync(params, ro ? 'r' : 'r+');
    } catch (e) {
      throw new Error(`${params}: ${(e as Error).message}`);
    }
    const st = fs.fstatSync(fd);
    const sectors = BigInt(Math.floor(st.size / SECTOR_SIZE));
    const v = new Vbd(ctx, fd, sectors, ro);
    await Promise.all([
      xs.write(`${bePath}/feature-barrier`, '1'),
      xs.write(`${bePath}/feature-flush-cache`, '1'),
      xs.write(`${bePath}/sectors`, String(sectors)),
      xs.write(`${bePath}/sector-size`, String(SECTOR_SIZE)),
      xs.write(`${bePath}/info`, String(ro ? VDISK_READONLY : 0)),
      xs.write(`${bePath}/physical-device`, `${(st.dev >>> 8).toString(16)}:${(st.dev & 0xff).toString(16)}`),
    ]);
    await xs.write(`${bePath}/hotplug-status`, 'connected');
    ctx.log(`${params} (${sectors} sectors, ${ro ? 'read-only' : 'read-write'})`);
    const origDisconnect = v.disconnect.bind(v);
    v.disconnect = async () => {
      await origDisconnect();
      v.close();
    };
    return v;
  }
}
