// Framing of ioreq pages on the qemu-dm unix socket: u32 LE length, then the
// used bytes of the page.
import type net from 'node:net';

export const MAX_FRAME = 2 << 20;

export function sendFrame(sock: net.Socket, bytes: Uint8Array): void {
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32LE(bytes.length, 0);
  sock.cork();
  sock.write(hdr);
  sock.write(bytes);
  sock.uncork();
}

/**
 * Calls onFrame for each complete frame; a frame over MAX_FRAME destroys the
 * socket. The frame handed over is valid during the call only (it may lie
 * in a buffer the next frame reuses): copy what you keep. A frame whole in
 * one chunk is passed as a view of it; one split over chunks (a 64 KiB read
 * of the socket splits a 64 KiB page) is assembled once, with no regrowing.
 */
export function readFrames(sock: net.Socket, onFrame: (b: Buffer) => void): void {
  const head = Buffer.alloc(4);
  let headLen = 0;
  let spare = Buffer.alloc(0);
  let body: Buffer | null = null;
  let have = 0;
  let want = 0;
  sock.on('data', (d: Buffer) => {
    let o = 0;
    while (o < d.length && !sock.destroyed) {
      if (!body) {
        if (headLen === 0 && d.length - o >= 4) {
          want = d.readUInt32LE(o);
          o += 4;
        } else {
          const t = Math.min(4 - headLen, d.length - o);
          d.copy(head, headLen, o, o + t);
          headLen += t;
          o += t;
          if (headLen < 4) return;
          headLen = 0;
          want = head.readUInt32LE(0);
        }
        if (want > MAX_FRAME) {
          sock.destroy(new Error('ioreq frame too large'));
          return;
        }
        if (d.length - o >= want) {
          onFrame(d.subarray(o, o + want));
          o += want;
          continue;
        }
        if (spare.length < want) spare = Buffer.allocUnsafe(want);
        body = spare;
        have = 0;
      }
      const t = Math.min(want - have, d.length - o);
      d.copy(body, have, o, o + t);
      have += t;
      o += t;
      if (have === want) {
        const f = body.subarray(0, want);
        body = null;
        onFrame(f);
      }
    }
  });
}
