// The privcmd protocol: how dom0 software reaches the hypervisor host process.
// In Xen, dom0 user space opens /proc/xen/privcmd, /dev/xen/evtchn and
// /dev/xen/gntdev and issues ioctls; here those three devices are one unix
// socket (`$XEN_STATE_DIR/run/xen/privcmd.sock`, mode 0600) carrying framed
// JSON: a 4-byte little-endian length, then a UTF-8 JSON object.
//
//   request  {"id": n, "op": "domain_getinfo", "args": {...}}
//   reply    {"id": n, "ok": true, "value": ...}
//          | {"id": n, "ok": false, "errno": "ESRCH", "message": "..."}
//   event    {"event": "evtchn", "port": p}     (unsolicited, id-less)
//
// Page contents travel base64-encoded. 64-bit quantities (cpu time in ns)
// travel as decimal strings. docs/privcmd.md lists every op.

export const PRIVCMD_FRAME_MAX = 1 << 20; // a frame larger than this closes the connection

export interface PrivcmdRequest {
  id: number;
  op: string;
  args?: Record<string, unknown>;
}
export type PrivcmdReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; errno: string; message: string };
export interface PrivcmdEvent {
  event: 'evtchn';
  port: number;
}

export function encodeFrame(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Incremental frame splitter: feed it socket chunks, get whole JSON values. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Returns the decoded frames; throws a RangeError on an oversized frame. */
  push(chunk: Buffer): unknown[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: unknown[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (len > PRIVCMD_FRAME_MAX) throw new RangeError(`privcmd frame of ${len} bytes exceeds ${PRIVCMD_FRAME_MAX}`);
      if (this.buf.length < 4 + len) break;
      const body = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      let v: unknown;
      try {
        v = JSON.parse(body.toString('utf8'));
      } catch {
        v = new SyntaxError('frame is not JSON');
      }
      out.push(v);
    }
    return out;
  }
}
