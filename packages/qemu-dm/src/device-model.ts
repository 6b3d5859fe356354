// The device model of one HVM domain: it answers every trapped WASI call
// (ioreq.ts) with emulated devices: the console (fds 0-2), disks and shares
// (preopened directories), host TCP listeners (preopened sockets), clocks
// and random. The same class runs in a qemu-dm process and in a stub domain.
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import * as W from './wasi-abi.js';
import { E } from './wasi-abi.js';
import { OP, OP_SHUTDOWN, type IoRequest, type IoResponse } from './ioreq.js';
import { Ext4Backend, HostDirBackend, O, WasiError, toErrno, type Backend, type VFile, type VStat } from './vfs.js';
import type { DmConfig } from './config.js';
import type { ConsoleSink } from './console-sink.js';

interface Base { rights: number; inherit: number; flags: number }
type Entry = Base & (
  | { kind: 'stdio'; n: 0 | 1 | 2 }
  | { kind: 'dir'; be: Backend; path: string[]; preopen?: string; dirents?: Array<{ name: string; ino: bigint; type: number }> }
  | { kind: 'file'; be: Backend; path: string[]; file: VFile; pos: number; type: number }
  | { kind: 'listener'; server: net.Server; queue: net.Socket[] }
  | { kind: 'socket'; sock: Socket }
);

class Socket {
  chunks: Buffer[] = [];
  eof = false;
  error: number | null = null;
  constructor(readonly s: net.Socket, readonly changed: EventEmitter) {
    s.on('data', (b) => { this.chunks.push(b); changed.emit('change'); });
    s.on('end', () => { this.eof = true; changed.emit('change'); });
    s.on('error', () => { this.error = E.CONNRESET; this.eof = true; changed.emit('change'); });
    s.on('close', () => { this.eof = true; changed.emit('change'); });
  }
  get readable(): boolean {
    return this.chunks.length > 0 || this.eof;
  }
  take(max: number): Buffer {
    const out: Buffer[] = [];
    let n = 0;
    while (this.chunks.length && n < max) {
      const c = this.chunks[0];
      if (c.length <= max - n) { out.push(c); n += c.length; this.chunks.shift(); }
      else { out.push(c.subarray(0, max - n)); this.chunks[0] = c.subarray(max - n); n = max; }
    }
    return Buffer.concat(out);
  }
}

const EMPTY = new Uint8Array(0);
const ok = (nums?: ArrayLike<number>, out?: Uint8Array): IoResponse => ({ errno: 0, nums, out });
const err = (errno: number): IoResponse => ({ errno });
const MAX_SYMLINKS = 32;
const decoder = new TextDecoder('utf-8', { fatal: true });

export type { ConsoleSink };

export class DeviceModel {
  private readonly fds = new Map<number, Entry>();
  private readonly backends: Backend[] = [];
  private readonly listeners: net.Server[] = [];
  private readonly changed = new EventEmitter();
  private shut = false;

  private constructor(readonly config: DmConfig, private readonly console: ConsoleSink) {
    this.changed.setMaxListeners(0);
    console.onInput?.(() => this.changed.emit('change'));
    for (const n of [0, 1, 2] as const) this.fds.set(n, { kind: 'stdio', n, rights: W.RIGHTS_TTY, inherit: 0, flags: n ? W.FDFLAGS.APPEND : 0 });
  }

  /** Mount the disks, check the shares, open the listeners: the virtual firmware's preopens. */
  static async start(config: DmConfig, console: ConsoleSink): Promise<DeviceModel> {
    const dm = new DeviceModel(config, console);
    try {
      let dev = 1;
      const preopens: Array<{ mount: string; be: Backend }> = [];
      for (const d of config.disks) preopens.push({ mount: d.mount, be: await Ext4Backend.mount(d.image, d.readonly, dev++) });
      for (const s of config.shares) {
        const st = await fs.promises.stat(s.path);
        if (!st.isDirectory()) throw new Error(`p9 share ${s.tag}: ${s.path} is not a directory`);
        preopens.push({ mount: s.mount, be: new HostDirBackend(await fs.promises.realpath(s.path), s.readonly, dev++) });
      }
      let fd = 3;
      for (const p of preopens) {
        dm.backends.push(p.be);
        dm.fds.set(fd++, { kind: 'dir', be: p.be, path: [], preopen: p.mount, rights: W.RIGHTS_DIR, inherit: W.RIGHTS_DIR | W.RIGHTS_FILE, flags: 0 });
      }
      for (const l of config.listeners) {
        const server = net.createServer({ pauseOnConnect: false });
        const entry: Entry = { kind: 'listener', server, queue: [], rights: W.RIGHTS_LISTENER, inherit: W.RIGHTS_SOCKET, flags: 0 };
        server.on('connection', (s) => { entry.queue.push(s); dm.changed.emit('change'); });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(l.port, l.host, () => resolve());
        });
        dm.listeners.push(server);
        dm.fds.set(fd++, entry);
      }
    } catch (e) {
      await dm.shutdown();
      throw e;
    }
    return dm;
  }

  /** Ports the listeners are bound to (in config order). */
  get listenerPorts(): number[] {
    return this.listeners.map((s) => (s.address() as net.AddressInfo).port);
  }

  async shutdown(): Promise<void> {
    if (this.shut) return;
    this.shut = true;
    this.console.hangup?.();
    this.changed.emit('change');
    for (const [fd, e] of this.fds) {
      if (e.kind === 'file') await e.file.close().catch(() => undefined);
      if (e.kind === 'socket') e.sock.s.destroy();
      this.fds.delete(fd);
    }
    for (const s of this.listeners) s.close();
    for (const b of this.backends) await b.close().catch(() => undefined);
  }

  /** Answer one request. Synchronous where no device has to wait (console, clocks, random). */
  handle(req: IoRequest): IoResponse | Promise<IoResponse> {
    try {
      const r = this.dispatch(req);
      if (r instanceof Promise) return r.catch((e) => err(toErrno(e)));
      return r;
    } catch (e) {
      return err(toErrno(e));
    }
  }

  private fd(n: number, rights = 0): Entry {
    const e = this.fds.get(n);
    if (!e) throw new WasiError(E.BADF);
    if ((e.rights & rights) !== rights) throw new WasiError(E.NOTCAPABLE);
    return e;
  }
  private dir(n: number, rights: number): Extract<Entry, { kind: 'dir' }> {
    const e = this.fd(n);
    if (e.kind !== 'dir') throw new WasiError(e.kind === 'file' ? E.NOTDIR : E.BADF);
    if ((e.rights & rights) !== rights) throw new WasiError(E.NOTCAPABLE);
    return e;
  }
  private newFd(e: Entry): number {
    let n = 3;
    while (this.fds.has(n)) n++;
    this.fds.set(n, e);
    return n;
  }

  private dispatch(req: IoRequest): IoResponse | Promise<IoResponse> {
    const a = req.nums;
    switch (req.op) {
      case OP.fd_write: return this.write(a[0], req.b1, null);
      case OP.fd_pwrite: return this.write(a[0], req.b1, a[1]);
      case OP.sock_send: return this.write(a[0], req.b1, null);
      case OP.fd_read: case OP.sock_recv: return this.read(a[0], a[1], null, req.out);
      case OP.fd_pread: return this.read(a[0], a[1], a[2], req.out);
      case OP.clock_time_get: return this.clock(a[0]);
      case OP.clock_res_get: return a[0] >= 0 && a[0] <= 3 ? ok([a[0] === 0 ? 1000 : 1]) : err(E.INVAL);
      case OP.random_get: {
        const b = new Uint8Array(a[0]);
        randomFillSync(b);
        return ok(undefined, b);
      }
      case OP.fd_fdstat_get: return this.fdstat(a[0]);
      case OP.fd_fdstat_set_flags: {
        const e = this.fd(a[0], W.R.FD_FDSTAT_SET_FLAGS);
        e.flags = a[1];
        return ok();
      }
      case OP.fd_fdstat_set_rights: {
        const e = this.fd(a[0]);
        if ((a[1] & ~e.rights) || (a[2] & ~e.inherit)) return err(E.NOTCAPABLE);
        e.rights = a[1];
        e.inherit = a[2];
        return ok();
      }
      case OP.fd_prestat_get: {
        const e = this.fds.get(a[0]);
        if (!e || e.kind !== 'dir' || !e.preopen) return err(E.BADF);
        const b = new Uint8Array(8);
        new DataView(b.buffer).setUint32(4, Buffer.byteLength(e.preopen), true);
        return ok(undefined, b);
      }
      case OP.fd_prestat_dir_name: {
        const e = this.fds.get(a[0]);
        if (!e || e.kind !== 'dir' || !e.preopen) return err(E.BADF);
        return ok(undefined, Buffer.from(e.preopen));
      }
      case OP.fd_close: {
        const e = this.fd(a[0]);
        this.fds.delete(a[0]);
        if (e.kind === 'file') return e.file.close().then(() => ok());
        if (e.kind === 'socket') e.sock.s.destroy();
        if (e.kind === 'listener') e.server.close();
        return ok();
      }
      case OP.fd_renumber: {
        const from = this.fd(a[0]);
        const to = this.fd(a[1]);
        if (to.kind === 'file') void to.file.close().catch(() => undefined);
        this.fds.set(a[1], from);
        this.fds.delete(a[0]);
        return ok();
      }
      case OP.fd_seek: return this.seek(a[0], a[1], a[2]);
      case OP.fd_tell: {
        const e = this.fd(a[0], W.R.FD_TELL);
        if (e.kind !== 'file') return err(e.kind === 'dir' ? E.BADF : E.SPIPE);
        return ok([e.pos]);
      }
      case OP.fd_advise: {
        const e = this.fd(a[0], W.R.FD_ADVISE);
        if (e.kind === 'dir') return err(E.BADF);
        if (a[3] > 5 || a[1] < 0 || a[2] < 0) return err(E.INVAL);
        return ok();
      }
      case OP.fd_allocate: return this.allocate(a[0], a[1], a[2]);
      case OP.fd_datasync: case OP.fd_sync: {
        const e = this.fd(a[0], req.op === OP.fd_sync ? W.R.FD_SYNC : W.R.FD_DATASYNC);
        if (e.kind === 'file') return e.file.sync().then(() => ok());
        return e.kind === 'dir' ? ok() : err(E.INVAL);
      }
      case OP.fd_filestat_get: return this.fdFilestat(a[0]);
      case OP.fd_filestat_set_size: {
        const e = this.fd(a[0], W.R.FD_FILESTAT_SET_SIZE);
        if (e.kind !== 'file') return err(E.BADF);
        if (a[1] < 0) return err(E.INVAL);
        return e.file.truncate(a[1]).then(() => ok());
      }
      case OP.fd_filestat_set_times: {
        const e = this.fd(a[0], W.R.FD_FILESTAT_SET_TIMES);
        if (e.kind !== 'file' && e.kind !== 'dir') return err(E.BADF);
        return this.setTimes(e.be, e.path, a[1], a[2], a[3], a[4], a[5]);
      }
      case OP.fd_readdir: return this.readdir(a[0], a[1], a[2]);
      case OP.path_open: return this.pathOpen(a[0], a[1], this.str(req.b1), a[2], a[3], a[4], a[5]);
      case OP.path_create_directory: return this.pathOp(a[0], W.R.PATH_CREATE_DIRECTORY, req.b1, false, (be, p) => be.mkdir(p));
      case OP.path_remove_directory: return this.pathOp(a[0], W.R.PATH_REMOVE_DIRECTORY, req.b1, false, async (be, p) => {
        if (p === '') throw new WasiError(E.BUSY);
        await be.rmdir(p);
      });
      case OP.path_unlink_file: return this.pathOp(a[0], W.R.PATH_UNLINK_FILE, req.b1, false, async (be, p, raw) => {
        const st = await be.lstat(p);
        if (st.type === W.FILETYPE.DIRECTORY) throw new WasiError(E.ISDIR);
        if (raw.endsWith('/')) throw new WasiError(E.NOTDIR);
        await be.unlink(p);
      });
      case OP.path_filestat_get: return this.pathFilestat(a[0], a[1], req.b1);
      case OP.path_filestat_set_times: return this.pathSetTimes(a[0], a[1], req.b1, a[2], a[3], a[4], a[5], a[6]);
      case OP.path_readlink: return this.readlink(a[0], a[1], req.b1);
      case OP.path_rename: return this.rename(a[0], req.b1, a[1], req.b2);
      case OP.path_link: return this.link(a[0], a[1], req.b1, a[2], req.b2);
      case OP.path_symlink: return this.symlink(this.str(req.b1), a[0], req.b2);
      case OP.poll_oneoff: return this.poll(req.b1, a[0]);
      case OP.proc_raise: return err(E.NOSYS);
      case OP.sock_accept: return this.accept(a[0], a[1]);
      case OP.sock_shutdown: {
        const e = this.fd(a[0], W.R.SOCK_SHUTDOWN);
        if (e.kind !== 'socket') return err(E.NOTSOCK);
        if (a[1] < 1 || a[1] > 3) return err(E.INVAL);
        if (a[1] & W.SDFLAGS.WR) e.sock.s.end();
        if (a[1] & W.SDFLAGS.RD) { e.sock.eof = true; e.sock.chunks = []; }
        return ok();
      }
      case OP_SHUTDOWN: return this.shutdown().then(() => ok());
      default:
        return err(E.NOSYS);
    }
  }

  private str(b: Uint8Array): string {
    try {
      return decoder.decode(b);
    } catch {
      throw new WasiError(E.ILSEQ);
    }
  }

  // ---- console, files, sockets ----

  private write(fd: number, data: Uint8Array, at: number | null): IoResponse | Promise<IoResponse> {
    const e = this.fd(fd, W.R.FD_WRITE);
    switch (e.kind) {
      case 'stdio':
        if (e.n === 0) return err(E.BADF);
        this.console.write(data);
        return ok([data.length]);
      case 'file': {
        if (at !== null && !(e.rights & W.R.FD_SEEK)) return err(E.NOTCAPABLE);
        const append = at === null && (e.flags & W.FDFLAGS.APPEND);
        const f = e.file;
        if (f.writeSync && (!append || f.sizeSync)) {
          const pos = append ? f.sizeSync!() : at ?? e.pos;
          const n = f.writeSync(data, pos);
          if (at === null) e.pos = pos + n;
          return ok([n]);
        }
        return (async () => {
          let pos = at ?? e.pos;
          if (append) pos = (await e.file.stat()).size;
          const n = await e.file.write(data, pos);
          if (at === null) e.pos = pos + n;
          return ok([n]);
        })();
      }
      case 'socket': {
        if (e.sock.error !== null) return err(e.sock.error);
        if (e.sock.s.writableEnded || e.sock.s.destroyed) return err(E.PIPE);
        const copy = Buffer.from(data);
        return new Promise((resolve) => e.sock.s.write(copy, (er) => resolve(er ? err(E.PIPE) : ok([copy.length]))));
      }
      default:
        return err(e.kind === 'dir' ? E.ISDIR : E.NOTSUP);
    }
  }

  private read(fd: number, want: number, at: number | null, scratch?: Uint8Array): IoResponse | Promise<IoResponse> {
    const e = this.fd(fd, W.R.FD_READ);
    switch (e.kind) {
      case 'stdio': {
        if (e.n !== 0) return err(E.BADF);
        const con = this.console;
        if (!con.read) return ok(undefined, EMPTY); // no console input: end of file, as a closed tty
        const got = con.read(want);
        if (got) return ok(undefined, got);
        if (e.flags & W.FDFLAGS.NONBLOCK) return err(E.AGAIN);
        let b: Uint8Array | null = null;
        return this.until(() => (b = con.read!(want)) !== null).then(() => ok(undefined, b ?? EMPTY));
      }
      case 'file': {
        if (at !== null && !(e.rights & W.R.FD_SEEK)) return err(E.NOTCAPABLE);
        // Straight into the response area of the page when it fits: no buffer per call, no copy after.
        const buf = scratch && Number.isInteger(want) && want >= 0 && want <= scratch.length ? scratch.subarray(0, want) : new Uint8Array(want);
        if (e.file.readSync) {
          const n = e.file.readSync(buf, at ?? e.pos);
          if (at === null) e.pos += n;
          return ok(undefined, buf.subarray(0, n));
        }
        return e.file.read(buf, at ?? e.pos).then((n) => {
          if (at === null) e.pos += n;
          return ok(undefined, buf.subarray(0, n));
        });
      }
      case 'socket': {
        const s = e.sock;
        if (s.readable) return ok(undefined, s.take(want));
        if (e.flags & W.FDFLAGS.NONBLOCK) return err(E.AGAIN);
        return this.until(() => s.readable).then(() => ok(undefined, s.take(want)));
      }
      default:
        return err(e.kind === 'dir' ? E.ISDIR : E.NOTSUP);
    }
  }

  private until(ready: () => boolean, deadlineMs = Infinity): Promise<void> {
    return new Promise((resolve) => {
      if (ready() || this.shut) return resolve();
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        this.changed.off('change', check);
        if (timer) clearTimeout(timer);
        resolve();
      };
      const check = () => {
        if (ready() || this.shut) done();
      };
      this.changed.on('change', check);
      if (deadlineMs !== Infinity) timer = setTimeout(done, Math.max(0, deadlineMs - Date.now()));
    });
  }

  /** Any device change (data, connection, close) or the deadline. */
  private nextChange(deadlineMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.changed.off('change', done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadlineMs - Date.now()));
      this.changed.on('change', done);
    });
  }

  private accept(fd: number, flags: number): IoResponse | Promise<IoResponse> {
    const e = this.fd(fd, W.R.SOCK_ACCEPT);
    if (e.kind !== 'listener') return err(e.kind === 'socket' ? E.INVAL : E.NOTSOCK);
    const take = () => {
      const s = e.queue.shift()!;
      const n = this.newFd({ kind: 'socket', sock: new Socket(s, this.changed), rights: W.RIGHTS_SOCKET, inherit: 0, flags: flags & W.FDFLAGS.NONBLOCK });
      return ok([n]);
    };
    if (e.queue.length) return take();
    if ((flags | e.flags) & W.FDFLAGS.NONBLOCK) return err(E.AGAIN);
    return this.until(() => e.queue.length > 0).then(() => (e.queue.length ? take() : err(E.CONNABORTED)));
  }

  private clock(id: number): IoResponse {
    let ns: bigint;
    switch (id) {
      case W.CLOCK.REALTIME: ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n); break;
      case W.CLOCK.MONOTONIC: ns = process.hrtime.bigint(); break;
      case W.CLOCK.PROCESS_CPUTIME: case W.CLOCK.THREAD_CPUTIME: {
        const u = process.cpuUsage();
        ns = BigInt(u.user + u.system) * 1000n;
        break;
      }
      default: return err(E.INVAL);
    }
    return ok([Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)]);
  }

  private seek(fd: number, offset: number, whence: number): IoResponse | Promise<IoResponse> {
    const e = this.fd(fd);
    if (e.kind !== 'file') return err(e.kind === 'dir' ? E.BADF : E.SPIPE);
    const need = whence === W.WHENCE.CUR && offset === 0 ? W.R.FD_TELL : W.R.FD_SEEK;
    if (!(e.rights & need)) return err(E.NOTCAPABLE);
    const finish = (base: number) => {
      const p = base + offset;
      if (p < 0) return err(E.INVAL);
      e.pos = p;
      return ok([p]);
    };
    switch (whence) {
      case W.WHENCE.SET: return finish(0);
      case W.WHENCE.CUR: return finish(e.pos);
      case W.WHENCE.END: return e.file.stat().then((s) => finish(s.size));
      default: return err(E.INVAL);
    }
  }

  private async allocate(fd: number, offset: number, len: number): Promise<IoResponse> {
    const e = this.fd(fd, W.R.FD_ALLOCATE);
    if (e.kind !== 'file') return err(E.BADF);
    if (offset < 0 || len <= 0) return err(E.INVAL);
    const st = await e.file.stat();
    if (offset + len > st.size) await e.file.truncate(offset + len);
    return ok();
  }

  private fdstat(fd: number): IoResponse | Promise<IoResponse> {
    const e = this.fd(fd);
    const b = new Uint8Array(W.FDSTAT_SIZE);
    const dv = new DataView(b.buffer);
    let type: number;
    switch (e.kind) {
      case 'stdio': type = W.FILETYPE.CHARACTER_DEVICE; break;
      case 'dir': type = W.FILETYPE.DIRECTORY; break;
      case 'file': type = e.type; break;
      default: type = W.FILETYPE.SOCKET_STREAM;
    }
    dv.setUint8(0, type);
    dv.setUint16(2, e.flags, true);
    dv.setBigUint64(8, BigInt(e.rights), true);
    dv.setBigUint64(16, BigInt(e.inherit), true);
    return ok(undefined, b);
  }

  private filestat(s: VStat): Uint8Array {
    const b = new Uint8Array(W.FILESTAT_SIZE);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, BigInt(s.dev), true);
    dv.setBigUint64(8, s.ino, true);
    dv.setUint8(16, s.type);
    dv.setBigUint64(24, BigInt(s.nlink), true);
    dv.setBigUint64(32, BigInt(s.size), true);
    dv.setBigUint64(40, s.atimNs, true);
    dv.setBigUint64(48, s.mtimNs, true);
    dv.setBigUint64(56, s.ctimNs, true);
    return b;
  }

  private fdFilestat(fd: number): IoResponse | Promise<IoResponse> {
    const e = this.fd(fd, W.R.FD_FILESTAT_GET);
    switch (e.kind) {
      case 'file': return e.file.stat().then((s) => ok(undefined, this.filestat(s)));
      case 'dir': return e.be.lstat(e.path.join('/')).then((s) => ok(undefined, this.filestat(s)));
      default: {
        const type = e.kind === 'stdio' ? W.FILETYPE.CHARACTER_DEVICE : W.FILETYPE.SOCKET_STREAM;
        return ok(undefined, this.filestat({ dev: 0, ino: 0n, type, nlink: 1, size: 0, atimNs: 0n, mtimNs: 0n, ctimNs: 0n }));
      }
    }
  }

  // ---- paths ----

  /**
   * Resolve `raw` below directory fd `base`: components only, `..` never
   * above the preopen's root, symlinks followed here (relative targets only;
   * an absolute target, like an absolute path, is not capable). With
   * `follow` false the last component is left as it is.
   */
  private async resolve(base: { be: Backend; path: string[] }, raw: string, follow: boolean): Promise<{ parts: string[]; trailingSlash: boolean }> {
    if (raw.includes('\0')) throw new WasiError(E.INVAL);
    if (raw.startsWith('/')) throw new WasiError(E.NOTCAPABLE);
    if (raw === '') throw new WasiError(E.NOENT);
    const trailingSlash = raw.endsWith('/');
    const queue = raw.split('/');
    const stack = [...base.path];
    let hops = 0;
    while (queue.length) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (stack.length <= 0) throw new WasiError(E.NOTCAPABLE);
        stack.pop();
        continue;
      }
      const last = queue.every((q) => q === '' || q === '.');
      const cand = [...stack, c];
      if (last && !follow && !trailingSlash) {
        stack.push(c);
        break;
      }
      let st: VStat;
      try {
        st = await base.be.lstat(cand.join('/'));
      } catch (e) {
        if (toErrno(e) === E.NOENT && last) {
          stack.push(c);
          break;
        }
        throw e;
      }
      if (st.type === W.FILETYPE.SYMBOLIC_LINK) {
        if (++hops > MAX_SYMLINKS) throw new WasiError(E.LOOP);
        const target = await base.be.readlink(cand.join('/'));
        if (target.startsWith('/')) throw new WasiError(E.NOTCAPABLE);
        queue.unshift(...target.split('/'));
        continue;
      }
      if (!last && st.type !== W.FILETYPE.DIRECTORY) throw new WasiError(E.NOTDIR);
      stack.push(c);
    }
    return { parts: stack, trailingSlash };
  }

  private async pathOp(fd: number, rights: number, raw: Uint8Array, follow: boolean, fn: (be: Backend, p: string, raw: string) => Promise<void>): Promise<IoResponse> {
    const d = this.dir(fd, rights);
    const s = this.str(raw);
    const r = await this.resolve(d, s, follow);
    await fn(d.be, r.parts.join('/'), s);
    return ok();
  }

  private async pathOpen(fd: number, dirflags: number, raw: string, oflags: number, base: number, inherit: number, fdflags: number): Promise<IoResponse> {
    const d = this.dir(fd, W.R.PATH_OPEN);
    const create = (oflags & W.OFLAGS.CREAT) !== 0;
    if (create && !(d.rights & W.R.PATH_CREATE_FILE)) return err(E.NOTCAPABLE);
    if (oflags & W.OFLAGS.TRUNC && !(d.rights & W.R.PATH_FILESTAT_SET_SIZE)) return err(E.NOTCAPABLE);
    const follow = (dirflags & W.LOOKUP_SYMLINK_FOLLOW) !== 0 && !(create && oflags & W.OFLAGS.EXCL);
    const r = await this.resolve(d, raw, follow);
    const p = r.parts.join('/');
    let st: VStat | null = null;
    try {
      st = await d.be.lstat(p);
    } catch (e) {
      if (toErrno(e) !== E.NOENT) throw e;
    }
    if (st && create && oflags & W.OFLAGS.EXCL) return err(E.EXIST);
    if (st?.type === W.FILETYPE.SYMBOLIC_LINK) return err(oflags & W.OFLAGS.DIRECTORY ? E.NOTDIR : E.LOOP);
    if (!st && !create) return err(E.NOENT);
    if (!st && r.trailingSlash) return err(E.NOENT);
    const rights = base & d.inherit;
    const inh = inherit & d.inherit;
    if ((st?.type === W.FILETYPE.DIRECTORY) || oflags & W.OFLAGS.DIRECTORY) {
      if (!st) return err(E.NOENT);
      if (st.type !== W.FILETYPE.DIRECTORY) return err(E.NOTDIR);
      if (oflags & W.OFLAGS.TRUNC) return err(E.ISDIR);
      // A directory cannot be opened for writing (as open(2) with O_RDWR says).
      if (rights & W.R.FD_WRITE) return err(E.ISDIR);
      return ok([this.newFd({ kind: 'dir', be: d.be, path: r.parts, rights: rights & W.RIGHTS_DIR, inherit: inh, flags: fdflags })]);
    }
    if (r.trailingSlash) return err(E.NOTDIR);
    const write = (rights & (W.R.FD_WRITE | W.R.FD_ALLOCATE | W.R.FD_FILESTAT_SET_SIZE)) !== 0 || (fdflags & W.FDFLAGS.APPEND) !== 0 || (oflags & W.OFLAGS.TRUNC) !== 0;
    const read = (rights & (W.R.FD_READ | W.R.FD_READDIR)) !== 0;
    let flags = write ? (read ? O.RDWR : O.WRONLY) : O.RDONLY;
    if (create) flags |= O.CREAT;
    if (oflags & W.OFLAGS.EXCL) flags |= O.EXCL;
    if (oflags & W.OFLAGS.TRUNC) flags |= O.TRUNC;
    let file: VFile;
    try {
      file = await d.be.open(p, flags);
    } catch (e) {
      // A file that a read-only backend has can still be opened for reading.
      if (toErrno(e) === E.ROFS && !(flags & (O.CREAT | O.TRUNC)) && read) file = await d.be.open(p, O.RDONLY);
      else throw e;
    }
    const type = st?.type ?? W.FILETYPE.REGULAR_FILE;
    return ok([this.newFd({ kind: 'file', be: d.be, path: r.parts, file, pos: 0, type, rights: rights & W.RIGHTS_FILE, inherit: inh, flags: fdflags })]);
  }

  private async pathFilestat(fd: number, flags: number, raw: Uint8Array): Promise<IoResponse> {
    const d = this.dir(fd, W.R.PATH_FILESTAT_GET);
    const r = await this.resolve(d, this.str(raw), (flags & W.LOOKUP_SYMLINK_FOLLOW) !== 0);
    const st = await d.be.lstat(r.parts.join('/'));
    if (r.trailingSlash && st.type !== W.FILETYPE.DIRECTORY) return err(E.NOTDIR);
    return ok(undefined, this.filestat(st));
  }

  private async setTimes(be: Backend, parts: string[], aS: number, aN: number, mS: number, mN: number, fst: number): Promise<IoResponse> {
    if ((fst & W.FSTFLAGS.ATIM && fst & W.FSTFLAGS.ATIM_NOW) || (fst & W.FSTFLAGS.MTIM && fst & W.FSTFLAGS.MTIM_NOW)) return err(E.INVAL);
    const now = BigInt(Date.now()) * 1_000_000n;
    const at = fst & W.FSTFLAGS.ATIM ? BigInt(aS) * 1_000_000_000n + BigInt(aN) : fst & W.FSTFLAGS.ATIM_NOW ? now : null;
    const mt = fst & W.FSTFLAGS.MTIM ? BigInt(mS) * 1_000_000_000n + BigInt(mN) : fst & W.FSTFLAGS.MTIM_NOW ? now : null;
    await be.utimes(parts.join('/'), at, mt);
    return ok();
  }

  private async pathSetTimes(fd: number, flags: number, raw: Uint8Array, aS: number, aN: number, mS: number, mN: number, fst: number): Promise<IoResponse> {
    const d = this.dir(fd, W.R.PATH_FILESTAT_SET_TIMES);
    const r = await this.resolve(d, this.str(raw), (flags & W.LOOKUP_SYMLINK_FOLLOW) !== 0);
    return this.setTimes(d.be, r.parts, aS, aN, mS, mN, fst);
  }

  private async readlink(fd: number, max: number, raw: Uint8Array): Promise<IoResponse> {
    const d = this.dir(fd, W.R.PATH_READLINK);
    const r = await this.resolve(d, this.str(raw), false);
    const p = r.parts.join('/');
    const st = await d.be.lstat(p);
    if (st.type !== W.FILETYPE.SYMBOLIC_LINK) return err(E.INVAL);
    const b = Buffer.from(await d.be.readlink(p));
    return ok(undefined, b.subarray(0, max));
  }

  private async rename(fd: number, oldRaw: Uint8Array, nfd: number, newRaw: Uint8Array): Promise<IoResponse> {
    const a = this.dir(fd, W.R.PATH_RENAME_SOURCE);
    const b = this.dir(nfd, W.R.PATH_RENAME_TARGET);
    if (a.be !== b.be) return err(E.XDEV);
    const from = await this.resolve(a, this.str(oldRaw), false);
    const to = await this.resolve(b, this.str(newRaw), false);
    const st = await a.be.lstat(from.parts.join('/'));
    if ((from.trailingSlash || to.trailingSlash) && st.type !== W.FILETYPE.DIRECTORY) return err(E.NOTDIR);
    await a.be.rename(from.parts.join('/'), to.parts.join('/'));
    return ok();
  }

  private async link(ofd: number, oflags: number, oldRaw: Uint8Array, nfd: number, newRaw: Uint8Array): Promise<IoResponse> {
    const a = this.dir(ofd, W.R.PATH_LINK_SOURCE);
    const b = this.dir(nfd, W.R.PATH_LINK_TARGET);
    if (a.be !== b.be) return err(E.XDEV);
    const from = await this.resolve(a, this.str(oldRaw), (oflags & W.LOOKUP_SYMLINK_FOLLOW) !== 0);
    const to = await this.resolve(b, this.str(newRaw), false);
    const st = await a.be.lstat(from.parts.join('/'));
    if (st.type === W.FILETYPE.DIRECTORY) return err(E.PERM);
    if (to.trailingSlash) return err(E.NOENT);
    await a.be.link(from.parts.join('/'), to.parts.join('/'));
    return ok();
  }

  private async symlink(target: string, fd: number, newRaw: Uint8Array): Promise<IoResponse> {
    const d = this.dir(fd, W.R.PATH_SYMLINK);
    // An absolute target could never be followed inside the preopen: refuse it at once.
    if (target.startsWith('/')) return err(E.NOTCAPABLE);
    const to = await this.resolve(d, this.str(newRaw), false);
    if (to.trailingSlash) return err(E.NOENT);
    await d.be.symlink(target, to.parts.join('/'));
    return ok();
  }

  private async readdir(fd: number, bufLen: number, cookie: number): Promise<IoResponse> {
    const d = this.dir(fd, W.R.FD_READDIR);
    if (cookie === 0 || !d.dirents) {
      const names = await d.be.readdir(d.path.join('/'));
      const self = await d.be.lstat(d.path.join('/'));
      const parent = d.path.length ? await d.be.lstat(d.path.slice(0, -1).join('/')) : self;
      const list: Array<{ name: string; ino: bigint; type: number }> = [{ name: '.', ino: self.ino, type: W.FILETYPE.DIRECTORY }, { name: '..', ino: parent.ino, type: W.FILETYPE.DIRECTORY }];
      for (const name of names.sort()) {
        try {
          const st = await d.be.lstat([...d.path, name].join('/'));
          list.push({ name, ino: st.ino, type: st.type });
        } catch {
          /* vanished meanwhile */
        }
      }
      d.dirents = list;
    }
    const out = Buffer.alloc(bufLen);
    let at = 0;
    for (let i = cookie; i < d.dirents.length && at < bufLen; i++) {
      const ent = d.dirents[i];
      const name = Buffer.from(ent.name);
      const hdr = Buffer.alloc(W.DIRENT_SIZE);
      hdr.writeBigUInt64LE(BigInt(i + 1), 0);
      hdr.writeBigUInt64LE(ent.ino, 8);
      hdr.writeUInt32LE(name.length, 16);
      hdr.writeUInt8(ent.type, 20);
      const whole = Buffer.concat([hdr, name]);
      const n = Math.min(whole.length, bufLen - at);
      whole.copy(out, at, 0, n);
      at += n;
    }
    return ok(undefined, out.subarray(0, at));
  }

  // ---- poll_oneoff ----

  private async poll(subs: Uint8Array, n: number): Promise<IoResponse> {
    const dv = new DataView(subs.buffer, subs.byteOffset, subs.byteLength);
    const parsed: Array<{ userdata: bigint; tag: number; fd: number; deadline: number }> = [];
    const nowMono = () => Number(process.hrtime.bigint() / 1000n) / 1000; // ms
    for (let i = 0; i < n; i++) {
      const o = i * W.SUBSCRIPTION_SIZE;
      const userdata = dv.getBigUint64(o, true);
      const tag = dv.getUint8(o + 8);
      if (tag === W.EVENTTYPE.CLOCK) {
        const id = dv.getUint32(o + 16, true);
        const timeout = dv.getBigUint64(o + 24, true);
        const abs = dv.getUint16(o + 40, true) & W.SUBCLOCK_ABSTIME;
        let deadline: number;
        if (id === W.CLOCK.MONOTONIC) deadline = abs ? Number(timeout / 1000n) / 1000 : nowMono() + Number(timeout) / 1e6;
        else if (id === W.CLOCK.REALTIME) deadline = nowMono() + (abs ? Number(timeout) / 1e6 - Date.now() : Number(timeout) / 1e6);
        else deadline = NaN;
        parsed.push({ userdata, tag, fd: -1, deadline });
      } else {
        parsed.push({ userdata, tag, fd: dv.getUint32(o + 16, true), deadline: 0 });
      }
    }
    for (;;) {
      const events: Buffer[] = [];
      const now = nowMono();
      let next = Infinity;
      for (const s of parsed) {
        const ev = Buffer.alloc(W.EVENT_SIZE);
        ev.writeBigUInt64LE(s.userdata, 0);
        ev.writeUInt8(s.tag, 10);
        if (s.tag === W.EVENTTYPE.CLOCK) {
          if (Number.isNaN(s.deadline)) { ev.writeUInt16LE(E.INVAL, 8); events.push(ev); continue; }
          if (s.deadline <= now) events.push(ev);
          else next = Math.min(next, s.deadline);
          continue;
        }
        if (s.tag !== W.EVENTTYPE.FD_READ && s.tag !== W.EVENTTYPE.FD_WRITE) { ev.writeUInt16LE(E.INVAL, 8); events.push(ev); continue; }
        const e = this.fds.get(s.fd);
        if (!e) { ev.writeUInt16LE(E.BADF, 8); events.push(ev); continue; }
        if (!(e.rights & W.R.POLL_FD_READWRITE)) { ev.writeUInt16LE(E.NOTCAPABLE, 8); events.push(ev); continue; }
        let ready = true;
        let nbytes = 0;
        let hangup = false;
        if (e.kind === 'stdio' && e.n === 0 && s.tag === W.EVENTTYPE.FD_READ && this.console.read) {
          const peek = this.console.pending?.();
          ready = peek !== null && peek !== undefined;
          nbytes = peek ?? 0;
          hangup = peek === 0;
        } else if (e.kind === 'socket') {
          if (s.tag === W.EVENTTYPE.FD_READ) {
            ready = e.sock.readable;
            nbytes = e.sock.chunks.reduce((x, c) => x + c.length, 0);
            hangup = e.sock.eof && nbytes === 0;
          }
        } else if (e.kind === 'listener') {
          ready = s.tag === W.EVENTTYPE.FD_READ ? e.queue.length > 0 : false;
          nbytes = e.queue.length;
        } else if (e.kind === 'file' && s.tag === W.EVENTTYPE.FD_READ) {
          const st = await e.file.stat().catch(() => null);
          nbytes = st ? Math.max(0, st.size - e.pos) : 0;
        }
        if (ready) {
          ev.writeBigUInt64LE(BigInt(nbytes), 16);
          if (hangup) ev.writeUInt16LE(W.EVENT_FD_READWRITE_HANGUP, 24);
          events.push(ev);
        }
      }
      if (events.length) return ok(undefined, Buffer.concat(events));
      if (next === Infinity && !parsed.some((s) => s.tag !== W.EVENTTYPE.CLOCK)) return err(E.INVAL);
      const deadlineWall = next === Infinity ? Infinity : Date.now() + (next - nowMono());
      await this.nextChange(deadlineWall === Infinity ? Date.now() + 3_600_000 : deadlineWall + 0.5);
      if (this.shut) return err(E.CANCELED);
    }
  }
}
