// File systems the device model serves to the guest: ext2/3/4 images (through
// libext2fs compiled to wasm, the `ext2fs` package) and host directories
// shared with xl's p9 syntax. Both take paths that the device model has
// already resolved: components below the backend's root, no `.`, no `..`,
// no symlink left to follow except possibly the last one (path-resolve.ts).
import fsp from 'node:fs/promises';
import fsSync, { constants as C } from 'node:fs';
import path from 'node:path';
import { E, EXT2_ERRNO, EXT2_MOUNT_ERRORS, FILETYPE, HOST_ERRNO } from './wasi-abi.js';

export class WasiError extends Error {
  constructor(readonly errno: number, message = `WASI errno ${errno}`) {
    super(message);
  }
}

export function toErrno(e: unknown): number {
  if (e instanceof WasiError) return e.errno;
  const code = (e as { code?: string })?.code;
  if (code && code in HOST_ERRNO) return HOST_ERRNO[code];
  const errno = (e as { errno?: number })?.errno;
  if (code === 'UNKNOWN' && errno !== undefined && errno in EXT2_ERRNO) return EXT2_ERRNO[errno]!;
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
  /**
   * Synchronous I/O, where a call cannot block for long (a regular host
   * file: the page cache). The device model answers such a request in the
   * same turn, with no thread-pool hop and no promise in between.
   */
  readSync?(buf: Uint8Array, pos: number): number;
  writeSync?(buf: Uint8Array, pos: number): number;
  sizeSync?(): number;
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
    let regular = false;
    try {
      const st = await h.stat({ bigint: true });
      if (st.isFile() && st.nlink > 1n && !this.ownLinks.has(st.ino)) throw new WasiError(E.PERM, 'hard-linked file in a share');
      regular = st.isFile();
    } catch (e) {
      await h.close();
      throw e;
    }
    const dev = this.dev;
    const file: VFile = {
      read: async (buf, pos) => (await h.read(buf, 0, buf.length, pos)).bytesRead,
      write: async (buf, pos) => (await h.write(buf, 0, buf.length, pos)).bytesWritten,
      stat: async () => hostStat(await h.stat({ bigint: true }), dev),
      truncate: (n) => h.truncate(n),
      sync: () => h.sync(),
      close: () => h.close(),
    };
    // A regular file is served from the page cache: a synchronous pread or
    // pwrite costs microseconds, where the promise API's thread-pool round
    // trip cost more than the copy. Anything else (a FIFO, a device) may
    // block, so it stays asynchronous and the event loop keeps running.
    if (regular) {
      const fd = h.fd;
      file.readSync = (buf, pos) => fsSync.readSync(fd, buf, 0, buf.length, pos);
      file.writeSync = (buf, pos) => fsSync.writeSync(fd, buf, 0, buf.length, pos);
      file.sizeSync = () => fsSync.fstatSync(fd).size;
    }
    return file;
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

/** Host pages of the image kept by ImageDisk (8 MiB), dirty ones before a write-back is forced (4 MiB), read-ahead on a miss (128 KiB). */
const PAGE = 4096;
const CACHE_PAGES = 2048;
const DIRTY_PAGES = 1024;
const READ_AHEAD = 32;

/**
 * The image file as libext2fs's disk, with a page cache of its own.
 * libext2fs does single-block I/O with no cache: writing one 64 KiB chunk
 * of a file makes ~6 block calls per block (a new block is zeroed, then
 * written, the extent and inode blocks rewritten each time), reading one
 * re-reads the extent blocks. Those calls now land in 4 KiB pages here; the
 * pages dirtied by one device-model request are written back when the
 * request ends (commit(), before its answer: the image holds what the
 * guest was told is written, as it did when every block call was a
 * pwrite), contiguous pages in one pwritev; misses read ahead. The device
 * model is the only writer of the image while it is mounted, so clean
 * pages stay valid. flush() (fsync, unmount) writes back, then fsyncs.
 * Synchronous I/O: the page cache answers in microseconds, and the device
 * model serves one domain, so blocking its thread holds up nothing else.
 */
export class ImageDisk {
  private readonly pages = new Map<number, Buffer>();
  private readonly dirty = new Set<number>();
  /** Evicted pages, reused: a fresh 4 KiB Buffer per page is an ArrayBuffer each, and garbage. */
  private readonly free: Buffer[] = [];
  /** Bytes the image has (grows only if libext2fs writes past its end). */
  private end: number;
  constructor(private readonly fd: number, readonly readOnly: boolean) {
    this.end = fsSync.fstatSync(fd).size;
  }

  /** Pages [a, b] (none cached) from the file, plus read-ahead while the next pages are missing. */
  private load(a: number, b: number): void {
    let last = b;
    while (last - a + 1 < READ_AHEAD && (last + 1) * PAGE < this.end && !this.pages.has(last + 1)) last++;
    const run: Buffer[] = [];
    for (let i = a; i <= last; i++) run.push(this.alloc());
    let n = fsSync.readvSync(this.fd, run, a * PAGE);
    // A short read: the rest one page at a time (zeros past the end of the file).
    for (let k = Math.floor(n / PAGE); k < run.length; k++) {
      let got = n - k * PAGE;
      while (got < PAGE) {
        const r = fsSync.readSync(this.fd, run[k], got, PAGE - got, (a + k) * PAGE + got);
        if (r === 0) break;
        got += r;
      }
      run[k].fill(0, got);
      n = (k + 1) * PAGE;
    }
    for (let i = a; i <= last; i++) this.pages.set(i, run[i - a]);
  }

  private alloc(): Buffer {
    if (!this.free.length) {
      const slab = Buffer.allocUnsafeSlow(READ_AHEAD * PAGE);
      for (let k = 0; k < READ_AHEAD; k++) this.free.push(slab.subarray(k * PAGE, (k + 1) * PAGE));
    }
    return this.free.pop()!;
  }

  private page(i: number): Buffer {
    let pg = this.pages.get(i);
    if (!pg) {
      this.load(i, i);
      pg = this.pages.get(i)!;
    }
    return pg;
  }

  /** Drops clean pages, oldest first, down to three quarters of the cache. */
  private trim(): void {
    if (this.pages.size <= CACHE_PAGES) return;
    for (const i of this.pages.keys()) {
      if (this.pages.size <= (CACHE_PAGES * 3) / 4) break;
      if (this.dirty.has(i)) continue;
      if (this.free.length < CACHE_PAGES / 4) this.free.push(this.pages.get(i)!);
      this.pages.delete(i);
    }
  }

  async read(buf: Buffer, off: number, len: number, pos: number) {
    const first = Math.floor(pos / PAGE), last = Math.floor((pos + len - 1) / PAGE);
    // Runs of missing pages are read in one call each.
    for (let i = first; i <= last; i++) {
      if (this.pages.has(i)) continue;
      let j = i;
      while (j + 1 <= last && !this.pages.has(j + 1)) j++;
      this.load(i, j);
      i = j;
    }
    let done = 0;
    while (done < len) {
      const at = pos + done;
      const pg = this.page(Math.floor(at / PAGE));
      const o = at % PAGE;
      const n = Math.min(PAGE - o, len - done);
      pg.copy(buf, off + done, o, o + n);
      done += n;
    }
    this.trim();
    return { bytesRead: len, buffer: buf };
  }

  /**
   * On a read-only image the only writes are libext2fs's own bookkeeping
   * (an inode's access time when a file is read): they stay in the cache,
   * never on the image, as dirty pages that are never evicted. The guest's
   * own writes are refused before they get here (Ext4Backend, EROFS).
   */
  async write(buf: Buffer, off: number, len: number, pos: number) {
    let done = 0;
    while (done < len) {
      const at = pos + done;
      const i = Math.floor(at / PAGE);
      const o = at % PAGE;
      const n = Math.min(PAGE - o, len - done);
      let pg = this.pages.get(i);
      if (!pg) {
        if (n === PAGE) this.pages.set(i, (pg = this.alloc()));
        else pg = this.page(i);
      }
      buf.copy(pg, o, off + done, off + done + n);
      this.dirty.add(i);
      done += n;
    }
    if (pos + len > this.end) this.end = pos + len;
    if (this.dirty.size >= DIRTY_PAGES) this.commit();
    return { bytesWritten: len, buffer: buf };
  }

  /** Writes the dirty pages to the image file: contiguous ones in one call. */
  commit(): void {
    if (!this.dirty.size || this.readOnly) return;
    const list = [...this.dirty].sort((x, y) => x - y);
    for (let k = 0; k < list.length;) {
      let j = k;
      while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
      const start = list[k] * PAGE;
      const stop = Math.min((list[j] + 1) * PAGE, this.end); // never past what the image has
      const bufs: Buffer[] = [];
      for (let i = k; i <= j; i++) bufs.push(this.pages.get(list[i])!);
      let n = 0;
      const want = stop - start;
      if (bufs.length === 1 || want < bufs.length * PAGE) {
        const one = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs);
        while (n < want) n += fsSync.writeSync(this.fd, one, n, want - n, start + n);
      } else {
        n = fsSync.writevSync(this.fd, bufs, start);
        if (n < want) {
          const one = Buffer.concat(bufs);
          while (n < want) n += fsSync.writeSync(this.fd, one, n, want - n, start + n);
        }
      }
      for (let i = k; i <= j; i++) this.dirty.delete(list[i]);
      k = j + 1;
    }
    this.trim();
  }

  async discard() { /* the image keeps its blocks */ }
  async flush() {
    if (this.readOnly) return;
    this.commit();
    fsSync.fsyncSync(this.fd);
  }
}

/** An ext2/3/4 file system in an image file, mounted in this process by libext2fs. */
export class Ext4Backend implements Backend {
  private constructor(private readonly fs: CbFs, private readonly disk: ImageDisk, private readonly fd: number, readonly readonly: boolean, readonly dev: number) {}

  /** One libext2fs call; what it dirtied is on the image file before the answer goes back. */
  private async call<T>(name: string, ...args: unknown[]): Promise<T> {
    try {
      return await call<T>(this.fs, name, ...args);
    } finally {
      this.disk.commit();
    }
  }

  static async mount(image: string, readonly: boolean, dev: number): Promise<Ext4Backend> {
    const { mount } = await import('ext2fs' as string);
    const fd = fsSync.openSync(image, readonly ? 'r' : 'r+');
    try {
      const disk = new ImageDisk(fd, readonly);
      const fs = await mount(disk, 0);
      disk.commit();
      return new Ext4Backend(fs, disk, fd, readonly, dev);
    } catch (e) {
      fsSync.closeSync(fd);
      const why = EXT2_MOUNT_ERRORS[(e as { errno?: number }).errno ?? 0];
      throw why ? new Error(`disk image ${image}: ${why}`) : e;
    }
  }
  private p(rel: string): string {
    return '/' + rel;
  }
  private ro(): void {
    if (this.readonly) throw new WasiError(E.ROFS);
  }
  async lstat(p: string) { return extStat(await this.call('lstat', this.p(p)), this.dev); }
  readlink(p: string) { return this.call<string>('readlink', this.p(p)); }
  async open(p: string, flags: number): Promise<VFile> {
    if ((flags & 3) !== O.RDONLY || flags & (O.CREAT | O.TRUNC)) this.ro();
    const fd = await this.call<number>('open', this.p(p), flags & ~O.APPEND, 0o644);
    const dev = this.dev;
    return {
      read: (buf, pos) => this.call<number>('read', fd, Buffer.from(buf.buffer, buf.byteOffset, buf.length), 0, buf.length, pos),
      write: (buf, pos) => this.call<number>('write', fd, Buffer.from(buf.buffer, buf.byteOffset, buf.length), 0, buf.length, pos),
      stat: async () => extStat(await this.call('fstat', fd), dev),
      truncate: (n) => this.call('ftruncate', fd, n),
      sync: () => this.call('fsync', fd),
      close: () => this.call('close', fd),
    };
  }
  readdir(p: string) { return this.call<string[]>('readdir', this.p(p)); }
  async mkdir(p: string) { this.ro(); await this.call('mkdir', this.p(p), 0o755); }
  async rmdir(p: string) { this.ro(); await this.call('rmdir', this.p(p)); }
  async unlink(p: string) { this.ro(); await this.call('unlink', this.p(p)); }
  async rename(a: string, b: string) { this.ro(); await this.call('rename', this.p(a), this.p(b)); }
  async link(a: string, b: string) {
    this.ro();
    // libext2fs links over an existing name, leaving two entries of that name (e2fsck calls it corrupt).
    if (await this.exists(b)) throw new WasiError(E.EXIST);
    await this.call('link', this.p(a), this.p(b));
  }
  private async exists(p: string): Promise<boolean> {
    try {
      await this.call('lstat', this.p(p));
      return true;
    } catch (e) {
      if (toErrno(e) === E.NOENT) return false;
      throw e;
    }
  }
  async symlink(t: string, p: string) { this.ro(); await this.call('symlink', t, this.p(p)); }
  async utimes(p: string, a: bigint | null, m: bigint | null) {
    this.ro();
    if (typeof this.fs.utimes !== 'function') return; // libext2fs binding has none: times stay
    const st = await this.lstat(p);
    await this.call('utimes', this.p(p), Number(a ?? st.atimNs) / 1e9, Number(m ?? st.mtimNs) / 1e9);
  }
  async close() {
    const { umount } = await import('ext2fs' as string);
    try {
      await umount(this.fs);
      this.disk.commit();
    } finally {
      fsSync.closeSync(this.fd);
    }
  }
}
