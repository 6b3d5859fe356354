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

/** Calls onFrame for each complete frame; a frame over MAX_FRAME destroys the socket. */
export function readFrames(sock: net.Socket, onFrame: (b: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 4) {
      const len = buf.readUInt32LE(0);
      if (len > MAX_FRAME) {
        sock.destroy(new Error('ioreq frame too large'));
        return;
      }
      if (buf.length < 4 + len) break;
      const f = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      onFrame(f);
    }
  });
}
