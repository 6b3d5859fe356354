// File systems the device model serves to the guest: ext2/3/4 images (through
// libext2fs compiled to wasm, the `ext2fs` package) and host directories
// shared with xl's p9 syntax. Both take paths that the device model has
// already resolved: components below the backend's root, no `.`, no `..`,
// no symlink left to follow except possibly the last one (path-resolve.ts).
import fsp from 'node:fs/promises';
import fsSync, { constants as C } from 'node:fs';
import path from 'node:path';
import { E, FILETYPE, HOST_ERRNO } from './wasi-abi.js';

export class WasiError extends Error {
  constructor(readonly errno: number, message = `WASI errno ${errno}`) {
    super(message);
  }
}

export function toErrno(e: unknown): number {
  if (e instanceof WasiError) return e.errno;
  const code = (e as { code?: string })?.code;
  if (code && code in HOST_ERRNO) return HOST_ERRNO[code];
  if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE') return E.INVAL;
  return E.IO;
}

export interface VStat {
  dev: number;
  ino: bigint;
  type: number;
  nlink: number;
  size: number;
  atimNs: bigint;
  mtimNs: bigint;
  ctimNs: bigint;
}

export interface VFile {
  read(buf: Uint8Array, pos: number): Promise<number>;
  write(buf: Uint8Array, pos: number): Promise<number>;
  stat(): Promise<VStat>;
  truncate(size: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Linux open(2) flags, which both backends take. */
export const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, EXCL: 0o200, TRUNC: 0o1000, APPEND: 0o2000, DIRECTORY: 0o200000, NOFOLLOW: 0o400000 } as const;

export interface Backend {
  readonly readonly: boolean;
  readonly dev: number;
  lstat(p: string): Promise<VStat>;
  readlink(p: string): Promise<string>;
  open(p: string, flags: number): Promise<VFile>;
  readdir(p: string): Promise<string[]>;
  mkdir(p: string): Promise<void>;
  rmdir(p: string): Promise<void>;
  unlink(p: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  utimes(p: string, atimNs: bigint | null, mtimNs: bigint | null): Promise<void>;
  /** Flush and let go of the backing store. */
  close(): Promise<void>;
}

const typeOfMode = (mode: number): number => {
  switch (mode & 0o170000) {
    case 0o040000: return FILETYPE.DIRECTORY;
    case 0o100000: return FILETYPE.REGULAR_FILE;
    case 0o120000: return FILETYPE.SYMBOLIC_LINK;
    case 0o020000: return FILETYPE.CHARACTER_DEVICE;
    case 0o060000: return FILETYPE.BLOCK_DEVICE;
    case 0o140000: return FILETYPE.SOCKET_STREAM;
    default: return FILETYPE.UNKNOWN;
  }
};

// ---- host directories (p9 shares) ----

function hostStat(s: import('node:fs').BigIntStats, dev: number): VStat {
  return { dev, ino: s.ino, type: typeOfMode(Number(s.mode)), nlink: Number(s.nlink), size: Number(s.size), atimNs: s.atimeNs, mtimNs: s.mtimeNs, ctimNs: s.ctimeNs };
}

/**
 * A host directory. Every path is joined below the root from resolved
 * components, and the last component is opened with O_NOFOLLOW, so neither
 * `..` nor a symlink leads out. A regular file with more than one link is
 * refused (EPERM): its other names may lie outside the share, and nothing
 * on the host says where; unless the guest made those names itself, from a
 * file with one name (path_link).
 */
export class HostDirBackend implements Backend {
  /** Inodes whose extra names the guest made itself (path_link), all inside the share. */
  private readonly ownLinks = new Set<bigint>();
  constructor(readonly root: string, readonly readonly: boolean, readonly dev: number) {}
  private real(p: string): string {
    return p ? path.join(this.root, p) : this.root;
  }
  private ro(): void {
    if (this.readonly) throw new WasiError(E.ROFS);
  }
  async lstat(p: string): Promise<VStat> {
    return hostStat(await fsp.lstat(this.real(p), { bigint: true }), this.dev);
  }
  async readlink(p: string): Promise<string> {
    return fsp.readlink(this.real(p));
  }
  async open(p: string, flags: number): Promise<VFile> {
    if ((flags & 3) !== O.RDONLY || flags & (O.CREAT | O.TRUNC)) this.ro();
    const nodeFlags = (flags & 3) | (flags & O.CREAT ? C.O_CREAT : 0) | (flags & O.EXCL ? C.O_EXCL : 0) | (flags & O.TRUNC ? C.O_TRUNC : 0) |
      (flags & O.DIRECTORY ? C.O_DIRECTORY : 0) | C.O_NOFOLLOW;
    const h = await fsp.open(this.real(p), nodeFlags, 0o644);
    try {
      const st = await h.stat({ bigint: true });
      if (st.isFile() && st.nlink > 1n && !this.ownLinks.has(st.ino)) throw new WasiError(E.PERM, 'hard-linked file in a share');
    } catch (e) {
      await h.close();
      throw e;
    }
    const dev = this.dev;
    return {
      read: async (buf, pos) => (await h.read(buf, 0, buf.length, pos)).bytesRead,
      write: async (buf, pos) => (await h.write(buf, 0, buf.length, pos)).bytesWritten,
      stat: async () => hostStat(await h.stat({ bigint: true }), dev),
      truncate: (n) => h.truncate(n),
      sync: () => h.sync(),
      close: () => h.close(),
    };
  }
  async readdir(p: string): Promise<string[]> {
    return fsp.readdir(this.real(p));
  }
  async mkdir(p: string) { this.ro(); await fsp.mkdir(this.real(p), 0o755); }
  async rmdir(p: string) { this.ro(); await fsp.rmdir(this.real(p)); }
  async unlink(p: string) { this.ro(); await fsp.unlink(this.real(p)); }
  async rename(a: string, b: string) { this.ro(); await fsp.rename(this.real(a), this.real(b)); }
  async link(a: string, b: string) {
    this.ro();
    // A file with one name, linked by the guest, has all its names inside the share.
    const st = await fsp.lstat(this.real(a), { bigint: true });
    await fsp.link(this.real(a), this.real(b));
    if (st.isFile() && (st.nlink === 1n || this.ownLinks.has(st.ino))) this.ownLinks.add(st.ino);
  }
  async symlink(t: string, p: string) { this.ro(); await fsp.symlink(t, this.real(p)); }
  async utimes(p: string, a: bigint | null, m: bigint | null) {
    this.ro();
    const st = await fsp.lstat(this.real(p), { bigint: true });
    await fsp.lutimes(this.real(p), Number(a ?? st.atimeNs) / 1e9, Number(m ?? st.mtimeNs) / 1e9);
  }
  async close() {}
}

// ---- ext2/3/4 images ----

/* eslint-disable @typescript-eslint/no-explicit-any */
type CbFs = any;
const call = <T>(fs: CbFs, name: string, ...args: unknown[]): Promise<T> =>
  new Promise((resolve, reject) => {
    if (typeof fs[name] !== 'function') return reject(new WasiError(E.NOSYS, `ext2fs has no ${name}`));
    fs[name](...args, (err: unknown, r: T) => (err ? reject(err) : resolve(r)));
  });
const msNs = (d: Date | number) => BigInt(Math.round((d instanceof Date ? d.getTime() : d) * 1e6));
function extStat(s: any, dev: number): VStat {
  return { dev, ino: BigInt(s.ino), type: typeOfMode(s.mode), nlink: s.nlink, size: s.size, atimNs: msNs(s.atime), mtimNs: msNs(s.mtime), ctimNs: msNs(s.ctime) };
}

/**
 * The image file as libext2fs's disk. libext2fs does single-block I/O with
 * no cache of its own (a 64 KiB file write reads and writes each block, a
 * read re-reads the extent blocks), and each call unwinds its wasm stack
 * (asyncify) whatever the disk does. Synchronous preads/pwrites to the host
 * page cache make each of those calls a few microseconds instead of a
 * thread-pool round trip; the device model serves one domain, so blocking
 * its thread for a page-cache copy holds up nothing else. flush() is fsync.
 */
class ImageDisk {
  constructor(private readonly fd: number, readonly readOnly: boolean) {}
  async read(buf: Buffer, off: number, len: number, pos: number) {
    let n = 0;
    while (n < len) {
      const r = fsSync.readSync(this.fd, buf, off + n, len - n, pos + n);
      if (r === 0) { buf.fill(0, off + n, off + len); break; }
      n += r;
    }
    return { bytesRead: len, buffer: buf };
  }
  async write(buf: Buffer, off: number, len: number, pos: number) {
    if (this.readOnly) throw new WasiError(E.ROFS);
    let n = 0;
    while (n < len) n += fsSync.writeSync(this.fd, buf, off + n, len - n, pos + n);
    return { bytesWritten: len, buffer: buf };
  }
  async discard() { /* the image keeps its blocks */ }
  async flush() { if (!this.readOnly) fsSync.fsyncSync(this.fd); }
}

/** An ext2/3/4 file system in an image file, mounted in this process by libext2fs. */
export class Ext4Backend implements Backend {
  private constructor(private readonly fs: CbFs, private readonly fd: number, readonly readonly: boolean, readonly dev: number) {}

  static async mount(image: string, readonly: boolean, dev: number): Promise<Ext4Backend> {
    const { mount } = await import('ext2fs' as string);
    const fd = fsSync.openSync(image, readonly ? 'r' : 'r+');
    try {
      const fs = await mount(new ImageDisk(fd, readonly), 0);
      return new Ext4Backend(fs, fd, readonly, dev);
    } catch (e) {
      fsSync.closeSync(fd);
      throw e;
    }
  }
  private p(rel: string): string {
    return '/' + rel;
  }
  private ro(): void {
    if (this.readonly) throw new WasiError(E.ROFS);
  }
  async lstat(p: string) { return extStat(await call(this.fs, 'lstat', this.p(p)), this.dev); }
  readlink(p: string) { return call<string>(this.fs, 'readlink', this.p(p)); }
  async open(p: string, flags: number): Promise<VFile> {
    if ((flags & 3) !== O.RDONLY || flags & (O.CREAT | O.TRUNC)) this.ro();
    const fs = this.fs;
    const fd = await call<number>(fs, 'open', this.p(p), flags & ~O.APPEND, 0o644);
    const dev = this.dev;
    return {
      read: (buf, pos) => call<number>(fs, 'read', fd, Buffer.from(buf.buffer, buf.byteOffset, buf.length), 0, buf.length, pos),
      write: (buf, pos) => call<number>(fs, 'write', fd, Buffer.from(buf.buffer, buf.byteOffset, buf.length), 0, buf.length, pos),
      stat: async () => extStat(await call(fs, 'fstat', fd), dev),
      truncate: (n) => call(fs, 'ftruncate', fd, n),
      sync: () => call(fs, 'fsync', fd),
      close: () => call(fs, 'close', fd),
    };
  }
  readdir(p: string) { return call<string[]>(this.fs, 'readdir', this.p(p)); }
  async mkdir(p: string) { this.ro(); await call(this.fs, 'mkdir', this.p(p), 0o755); }
  async rmdir(p: string) { this.ro(); await call(this.fs, 'rmdir', this.p(p)); }
  async unlink(p: string) { this.ro(); await call(this.fs, 'unlink', this.p(p)); }
  async rename(a: string, b: string) { this.ro(); await call(this.fs, 'rename', this.p(a), this.p(b)); }
  async link(a: string, b: string) { this.ro(); await call(this.fs, 'link', this.p(a), this.p(b)); }
  async symlink(t: string, p: string) { this.ro(); await call(this.fs, 'symlink', t, this.p(p)); }
  async utimes(p: string, a: bigint | null, m: bigint | null) {
    this.ro();
    if (typeof this.fs.utimes !== 'function') return; // libext2fs binding has none: times stay
    const st = await this.lstat(p);
    await call(this.fs, 'utimes', this.p(p), Number(a ?? st.atimNs) / 1e9, Number(m ?? st.mtimNs) / 1e9);
  }
  async close() {
    const { umount } = await import('ext2fs' as string);
    try {
      await umount(this.fs);
    } finally {
      fsSync.closeSync(this.fd);
    }
  }
}
