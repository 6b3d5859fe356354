// preadv/pwritev until the whole vector is done: a short write goes on from
// where it stopped; a short read is end of file, and the rest reads as zeros.
import fs from 'node:fs';

function advance(iov: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (i < iov.length && n >= iov[i]!.byteLength) n -= iov[i++]!.byteLength;
  const rest = iov.slice(i);
  if (n > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

export function writevFull(fd: number, iov: Uint8Array[], pos: number, cb: (err: Error | null) => void): void {
  fs.writev(fd, iov, pos, (err, n) => {
    if (err) return cb(err);
    const rest = advance(iov, n);
    if (rest.length === 0) return cb(null);
    if (n === 0) return cb(new Error('pwritev wrote nothing'));
    writevFull(fd, rest, pos + n, cb);
  });
}

export function readvFull(fd: number, iov: Uint8Array[], pos: number, cb: (err: Error | null) => void): void {
  fs.readv(fd, iov, pos, (err, n) => {
    if (err) return cb(err);
    const rest = advance(iov, n);
    if (rest.length === 0) return cb(null);
    if (n === 0) {
      for (const b of rest) b.fill(0);
      return cb(null);
    }
    readvFull(fd, rest, pos + n, cb);
  });
}
