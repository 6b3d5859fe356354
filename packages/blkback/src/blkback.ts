// blkback: serves a guest's blkif ring from a raw image file (disk =
// ['file:PATH,xvda,w'], 'r' for read-only). Requests are taken off the ring
// as they come; runs of requests for contiguous sectors in the same direction
// go to the file as one preadv/pwritev straight from/into the granted pages
// (no bounce buffer), several runs in flight at once; each completes with
// responses in whatever order the I/O finishes, as Xen's does, pushed once
// per run. Bad requests get error responses; a broken ring fails the device.
//
// Indirect requests (`feature-max-indirect-segments`, blkif.ts): up to
// 256 segments (1 MiB) in one request, their descriptors in granted pages
// the backend copies before trusting.
//
// Persistent grants (Linux blkback's `feature-persistent`, xen-facts 4.6):
// when both ends advertise it, a gref the frontend uses is mapped once and
// kept mapped until the device disconnects, instead of a map and unmap per
// segment per request. A kept mapping holds the grant's in-use flags, so the
// frontend cannot revoke the page under us; a gref not granted to dom0 is
// still refused at its first use, and never enters the cache.
import fs from 'node:fs';
import { BackRing, RingBrokenError, type BackendDriver, type DeviceContext, type DeviceInstance, type LocalGrant, type LocalPort } from '@xenwasm/xenbus-backend';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER,
  BLKIF_REQ_SIZE, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY, BLKIF_SEGS_PER_INDIRECT_FRAME, MAX_INDIRECT_SEGMENTS,
  PROTOCOL_X86_32, SECTOR_SIZE, VDISK_READONLY, parseIndirectSegments, parseRequest, writeResponse, type BlkifRequest, type BlkifSegment,
} from './blkif.js';
import { readvFull, writevFull } from './vectored-io.js';

export interface BlkbackStats {
  requests: number;
  errors: number;
  /** preadv/pwritev calls issued (a run of contiguous requests is one). */
  ios: number;
  /** Grant maps done (persistent ones once per gref). */
  maps: number;
  persistent: boolean;
}

/** Largest run of contiguous requests merged into one preadv/pwritev (bytes). */
const MERGE_MAX = 512 << 10;
/** The kernel's IOV_MAX. */
const IOV_MAX = 1024;

interface PGrant {
  grant: LocalGrant;
  page: Uint8Array;
}

/** One request ready for I/O: where in the file, and the granted bytes it covers. */
interface Io {
  req: BlkifRequest;
  write: boolean;
  pos: number;
  len: number;
  iov: Uint8Array[];
  /** Mappings to drop when the I/O is done (all of them without persistent grants). */
  transient: LocalGrant[];
}

class Vbd implements DeviceInstance {
  private ring: BackRing | undefined;
  private port: LocalPort | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;
  private dead = false;
  private unpushed = false;
  private persistent = false;
  private readonly pgrants = new Map<number, PGrant>();
  private maxPersistent = 0;
  readonly stats: BlkbackStats = { requests: 0, errors: 0, ios: 0, maps: 0, persistent: false };
  constructor(
    private readonly ctx: DeviceContext,
    private readonly fd: number,
    private readonly sectors: bigint,
    private readonly readonly: boolean,
  ) {}

  async connect(): Promise<void> {
    const { xs, fePath, fe, dom0 } = this.ctx;
    const [ref, evt, proto, pers] = await Promise.all(['ring-ref', 'event-channel', 'protocol', 'feature-persistent'].map((k) => xs.tryRead(`${fePath}/${k}`)));
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
    // As many grants as a full ring of the largest requests (and their indirect pages) can name.
    this.maxPersistent = this.ring.size * (MAX_INDIRECT_SEGMENTS + 1);
    this.persistent = this.stats.persistent = pers === '1';
    this.dead = false;
    try {
      this.port = dom0.bindInterdomainLocal(fe, port, () => this.kick());
    } catch (e) {
      g.unmap();
      this.ring = undefined;
      throw new Error(`cannot bind event-channel ${port}: ${(e as Error).message}`);
    }
    if (this.persistent) this.ctx.log('persistent grants');
    queueMicrotask(() => this.kick());
  }

  private kick(): void {
    const ring = this.ring;
    if (!ring || this.dead) return;
    const ios: Io[] = [];
    try {
      do {
        let n = ring.pending();
        while (n-- > 0) {
          const io = this.prepare(parseRequest(ring.takeRequest()));
          if (io) ios.push(io);
        }
      } while (ring.finalCheck());
    } catch (e) {
      for (const io of ios) this.release(io);
      if (e instanceof RingBrokenError) this.ctx.fail(`bad ring: ${e.message}`);
      else this.ctx.fail((e as Error).message);
      return;
    }
    this.submit(ios);
    this.pushResponses();
  }

  private respond(req: BlkifRequest, status: number): void {
    const ring = this.ring;
    if (!ring || this.dead) return;
    if (status !== BLKIF_RSP_OKAY) this.stats.errors++;
    // An indirect request is answered with the op it carried, as Linux's blkback does.
    writeResponse(ring.responseSlot(), req.id, req.op, status);
    this.unpushed = true;
  }

  /** Publishes the responses written so far, with one notification if the frontend asked for one. */
  private pushResponses(): void {
    if (!this.unpushed || !this.ring || this.dead) return;
    this.unpushed = false;
    if (this.ring.pushResponses()) this.port?.notify();
  }

  private done(n: number): void {
    this.inflight -= n;
    if (this.inflight === 0 && this.drained) this.drained();
  }

  /** The page behind a segment's gref, mapped for this request or kept from an earlier one. */
  private page(gref: number, backendWrites: boolean, transient: LocalGrant[]): Uint8Array {
    const dom0 = this.ctx.dom0;
    if (this.persistent) {
      const c = this.pgrants.get(gref);
      if (c && (!backendWrites || !c.grant.readonly)) return c.page;
      if (!c && this.pgrants.size < this.maxPersistent) {
        // Kept mappings are writable when the grant allows it, so that both directions can use them.
        let g: LocalGrant;
        try {
          g = dom0.mapGrantLocal(this.ctx.fe, gref, false);
        } catch (e) {
          if (backendWrites) throw e;
          g = dom0.mapGrantLocal(this.ctx.fe, gref, true);
        }
        this.stats.maps++;
        const p = { grant: g, page: g.page() };
        this.pgrants.set(gref, p);
        return p.page;
      }
      // Past the cache's bound, or a read-only grant asked to take data: map for this request only.
    }
    const g = dom0.mapGrantLocal(this.ctx.fe, gref, !backendWrites);
    this.stats.maps++;
    transient.push(g);
    return g.page();
  }

  private release(io: Io): void {
    for (const g of io.transient) {
      try {
        g.unmap();
      } catch { /* the domain is gone */ }
    }
    io.transient.length = 0;
  }

  /** Checks a request and maps its segments; null when it was answered already (error, flush). */
  private prepare(req: BlkifRequest): Io | null {
    this.stats.requests++;
    const op = req.operation;
    if (op === BLKIF_OP_FLUSH_DISKCACHE) {
      this.inflight++;
      fs.fdatasync(this.fd, (err) => {
        this.respond(req, err ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
        this.pushResponses();
        this.done(1);
      });
      return null;
    }
    if (op === BLKIF_OP_INDIRECT) {
      // Only reads and writes travel indirect, as in Linux's blkback.
      if (req.op !== BLKIF_OP_READ && req.op !== BLKIF_OP_WRITE) return this.respond(req, BLKIF_RSP_ERROR), null;
      if (req.nrSegments === 0 || req.nrSegments > MAX_INDIRECT_SEGMENTS) return this.respond(req, BLKIF_RSP_ERROR), null;
    } else {
      if (op !== BLKIF_OP_READ && op !== BLKIF_OP_WRITE && op !== BLKIF_OP_WRITE_BARRIER) return this.respond(req, BLKIF_RSP_EOPNOTSUPP), null;
      if (req.nrSegments === 0 || req.nrSegments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return this.respond(req, BLKIF_RSP_ERROR), null;
    }
    const write = req.op !== BLKIF_OP_READ;
    if (write && this.readonly) return this.respond(req, BLKIF_RSP_ERROR), null;
    const io: Io = { req, write, pos: 0, len: 0, iov: [], transient: [] };
    try {
      if (op === BLKIF_OP_INDIRECT) req.segs = this.indirectSegments(req, io.transient);
      let nsect = 0;
      for (const s of req.segs) {
        if (s.first > s.last || s.last > 7) throw new Error(`segment sectors ${s.first}..${s.last} outside a page`);
        nsect += s.last - s.first + 1;
      }
      if (req.sector + BigInt(nsect) > this.sectors) throw new Error(`sectors ${req.sector}+${nsect} beyond the disk`);
      io.pos = Number(req.sector) * SECTOR_SIZE;
      io.len = nsect * SECTOR_SIZE;
      // Map every segment before any I/O: a grant not given to us fails the request, never the host.
      for (const s of req.segs) {
        const p = this.page(s.gref, !write, io.transient);
        io.iov.push(p.subarray(s.first * SECTOR_SIZE, (s.last + 1) * SECTOR_SIZE));
      }
    } catch (e) {
      this.release(io);
      this.ctx.log(`request ${req.id}: ${(e as Error).message}`);
      return this.respond(req, BLKIF_RSP_ERROR), null;
    }
    return io;
  }

  /** A copy of an indirect request's segments (the guest may rewrite its pages meanwhile). */
  private indirectSegments(req: BlkifRequest, transient: LocalGrant[]): BlkifSegment[] {
    const segs: BlkifSegment[] = [];
    req.indirectGrefs.forEach((gref, i) => {
      const n = Math.min(BLKIF_SEGS_PER_INDIRECT_FRAME, req.nrSegments - i * BLKIF_SEGS_PER_INDIRECT_FRAME);
      const page = this.page(gref, false, transient);
      for (const s of parseIndirectSegments(Buffer.from(page.subarray(0, n * 8)), n)) segs.push(s);
    });
    return segs;
  }

  /** Issues the requests taken in one go: contiguous runs in the same direction become one call each. */
  private submit(ios: Io[]): void {
    let run: Io[] = [];
    let bytes = 0;
    let iovs = 0;
    for (const io of ios) {
      const last = run[run.length - 1];
      if (last && (io.write !== last.write || io.req.op === BLKIF_OP_WRITE_BARRIER || last.req.op === BLKIF_OP_WRITE_BARRIER ||
        last.pos + last.len !== io.pos || bytes + io.len > MERGE_MAX || iovs + io.iov.length > IOV_MAX)) {
        this.issue(run);
        run = [];
        bytes = iovs = 0;
      }
      run.push(io);
      bytes += io.len;
      iovs += io.iov.length;
    }
    if (run.length) this.issue(run);
  }

  private issue(run: Io[]): void {
    const first = run[0]!;
    const iov = run.length === 1 ? first.iov : run.flatMap((io) => io.iov);
    this.inflight += run.length;
    this.stats.ios++;
    const finish = (err: Error | null) => {
      for (const io of run) {
        this.release(io);
        this.respond(io.req, err ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
      }
      this.pushResponses();
      this.done(run.length);
    };
    if (!first.write) return readvFull(this.fd, iov, first.pos, finish);
    writevFull(this.fd, iov, first.pos, (err) => {
      if (err || first.req.op !== BLKIF_OP_WRITE_BARRIER) return finish(err);
      fs.fdatasync(this.fd, finish);
    });
  }

  async disconnect(): Promise<void> {
    this.dead = true;
    this.port?.close();
    this.port = undefined;
    // The kernel may still be reading or writing granted pages: keep them mapped until it is done.
    if (this.inflight > 0) await new Promise<void>((r) => (this.drained = r));
    for (const p of this.pgrants.values()) {
      try {
        p.grant.unmap();
      } catch { /* the domain is gone */ }
    }
    this.pgrants.clear();
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
      xs.write(`${bePath}/feature-persistent`, '1'),
      xs.write(`${bePath}/feature-max-indirect-segments`, String(MAX_INDIRECT_SEGMENTS)),
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
