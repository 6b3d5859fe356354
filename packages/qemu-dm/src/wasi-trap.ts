// The guest side of an HVM domain's WASI calls: every wasi_snapshot_preview1
// import of the unmodified program becomes a trap to the device model. The
// call's arguments are copied out of guest memory into the ioreq page
// (pointers never leave the guest: buffers travel by value, both ways), the
// transport signals the device model and waits, and the answer is copied
// back into guest memory. Only what the virtual firmware prepared (argv,
// environment) and the scheduler's business (sched_yield, proc_exit) are
// answered here.
import { E, FDSTAT_SIZE, FILESTAT_SIZE, PRESTAT_SIZE, SUBSCRIPTION_SIZE, EVENT_SIZE } from './wasi-abi.js';
import { HDR, IO_CHUNK, IoreqPage, OP, OP_SHUTDOWN, S_EXITED, S_EXIT_CODE, S_LEN1, S_LEN2, S_OP, S_ERRNO, type WasiOp } from './ioreq.js';

/** Moves one request in the page to the device model and waits for its answer (synchronously). */
export interface IoreqTransport {
  readonly page: IoreqPage;
  call(): void;
}

/** The guest called proc_exit. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`exit(${code})`);
    this.name = 'WasiExit';
  }
}

export interface TrapOptions {
  args: string[];
  env: string[];
  /** sched_yield: give the pCPU away (the hypervisor's yield). */
  yield(): void;
}

class Fault extends Error {}

const NS = 1_000_000_000n;
const splitNs = (v: bigint): [number, number] => [Number(v / NS), Number(v % NS)];

export function wasiTrapImports(memory: { readonly buffer: ArrayBufferLike }, t: IoreqTransport, opts: TrapOptions): Record<string, (...a: never[]) => unknown> {
  return createWasiTrap(memory, t, opts).imports;
}

/** Console bytes held back before one request carries them (Xen's buffered ioreq, for the console). */
export const CONSOLE_BUFFER = 64 * 1024;

/**
 * The imports, and `flush()`: writes to the console (fds 1 and 2, until the
 * program closes or renumbers them) are buffered ioreqs. They are answered
 * at once and reach the device model in order, in one request, before any
 * other request, when the buffer fills, and at flush() (the host calls it
 * from its preemption checks and at exit, so output is never held long).
 */
export function createWasiTrap(memory: { readonly buffer: ArrayBufferLike }, t: IoreqTransport, opts: TrapOptions): { imports: Record<string, (...a: never[]) => unknown>; flush(): void } {
  const page = t.page;
  // Bound lazily: the memory may be the instance's own, known after instantiation.
  let buf: ArrayBufferLike = new ArrayBuffer(0);
  let dv: DataView<ArrayBufferLike> = new DataView(buf);
  let u8: Uint8Array<ArrayBufferLike> = new Uint8Array(buf);
  const view = () => {
    if (memory.buffer.byteLength !== buf.byteLength) {
      buf = memory.buffer;
      dv = new DataView(buf);
      u8 = new Uint8Array(buf);
    }
  };
  const check = (ptr: number, len: number) => {
    if (ptr < 0 || len < 0 || ptr + len > u8.length) throw new Fault();
  };
  const bytes = (ptr: number, len: number): Uint8Array => {
    check(ptr >>> 0, len >>> 0);
    return u8.subarray(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  };
  const enc = new TextEncoder();
  const argv = opts.args.map((a) => enc.encode(a + '\0'));
  const envv = opts.env.map((a) => enc.encode(a + '\0'));

  const conBuf = new Uint8Array(CONSOLE_BUFFER);
  let conLen = 0;
  let conFd = 0;
  let conDirect = true; // fds 1 and 2 are still the console
  const flush = () => {
    if (!conLen) return;
    const n = conLen;
    conLen = 0;
    send(OP.fd_write, [conFd], conBuf.subarray(0, n));
  };
  /** One round trip: nums in, errno out; results in page.f64 and out(). */
  const rpc = (op: number, nums: ArrayLike<number>, b1?: Uint8Array, b2?: Uint8Array): number => {
    if (conLen) flush();
    return send(op, nums, b1, b2);
  };
  const send = (op: number, nums: ArrayLike<number>, b1?: Uint8Array, b2?: Uint8Array): number => {
    const l1 = b1 ? b1.length : 0;
    if (b1) page.u8.set(b1, HDR);
    if (b2) page.u8.set(b2, HDR + l1);
    return sendPlaced(op, nums, l1, b2 ? b2.length : 0);
  };
  /** A request whose blobs the caller already put in the page. */
  const sendPlaced = (op: number, nums: ArrayLike<number>, l1: number, l2: number): number => {
    const i32 = page.i32;
    i32[S_OP] = op;
    for (let i = 0; i < nums.length; i++) page.f64[i] = nums[i];
    i32[S_LEN1] = l1;
    i32[S_LEN2] = l2;
    t.call();
    return i32[S_ERRNO];
  };
  const out = (): Uint8Array => page.u8.subarray(HDR, HDR + page.i32[S_LEN1]);
  const num = (i: number) => page.f64[i];
  const putOut = (ptr: number, max: number): number => {
    const o = out();
    const n = Math.min(o.length, max);
    check(ptr >>> 0, n);
    u8.set(o.subarray(0, n), ptr >>> 0);
    return n;
  };
  const setU32 = (ptr: number, v: number) => { check(ptr >>> 0, 4); dv.setUint32(ptr >>> 0, v, true); };
  const setU64 = (ptr: number, v: bigint) => { check(ptr >>> 0, 8); dv.setBigUint64(ptr >>> 0, v, true); };

  const iovecs = (iovs: number, n: number): Array<[number, number]> => {
    const list: Array<[number, number]> = [];
    check(iovs >>> 0, (n >>> 0) * 8);
    for (let i = 0; i < n >>> 0; i++) {
      const p = dv.getUint32((iovs >>> 0) + i * 8, true), l = dv.getUint32((iovs >>> 0) + i * 8 + 4, true);
      check(p, l);
      list.push([p, l]);
    }
    return list;
  };

  // Reads: chunked through the page; stops at a short read (sockets, console, EOF).
  const readv = (op: number, fd: number, iovs: number, n: number, offset: number | null, outPtr: number, extraNums: number[] = []): number => {
    const list = iovecs(iovs, n);
    let total = 0;
    for (const [p, l] of list) total += l;
    let done = 0;
    let first = true;
    while (first || done < total) {
      first = false;
      const want = Math.min(total - done, IO_CHUNK);
      const e = rpc(op, offset === null ? [fd, want, ...extraNums] : [fd, want, offset + done]);
      if (e !== 0) {
        if (done > 0) break;
        return e;
      }
      view();
      const o = out();
      // scatter o into the iovecs from position done
      let skip = done, k = 0;
      for (const [p, l] of list) {
        if (k >= o.length) break;
        if (skip >= l) { skip -= l; continue; }
        const take = Math.min(l - skip, o.length - k);
        u8.set(o.subarray(k, k + take), p + skip);
        k += take;
        skip = 0;
      }
      done += o.length;
      if (o.length < want || want === 0) break;
    }
    setU32(outPtr, done);
    return 0;
  };

  const writev = (op: number, fd: number, iovs: number, n: number, offset: number | null, outPtr: number, extraNums: number[] = []): number => {
    const list = iovecs(iovs, n);
    let total = 0;
    for (const [, l] of list) total += l;
    const dst = page.u8;
    let done = 0;
    let first = true;
    let idx = 0, within = 0;
    while (first || done < total) {
      first = false;
      const want = Math.min(total - done, IO_CHUNK);
      // Pending console bytes go first: they travel through the same page.
      if (conLen) flush();
      // Gathered straight into the page: one copy out of guest memory.
      let k = 0;
      while (k < want) {
        const [p, l] = list[idx];
        const take = Math.min(l - within, want - k);
        dst.set(u8.subarray(p + within, p + within + take), HDR + k);
        k += take;
        within += take;
        if (within === l) { idx++; within = 0; }
      }
      while (idx < list.length && list[idx][1] === 0) idx++;
      const e = sendPlaced(op, offset === null ? [fd, ...extraNums] : [fd, offset + done], want, 0);
      if (e !== 0) {
        if (done > 0) break;
        return e;
      }
      const wrote = num(0);
      done += wrote;
      if (wrote < want || want === 0) break;
    }
    view();
    setU32(outPtr, done);
    return 0;
  };

  const wrap = <A extends unknown[]>(f: (...a: A) => number) => (...a: A): number => {
    view();
    try {
      return f(...a);
    } catch (e) {
      if (e instanceof Fault || e instanceof RangeError) return E.FAULT;
      throw e;
    }
  };
  const simple = (name: WasiOp) => wrap((...a: Array<number | bigint>) => rpc(OP[name], a.map(Number)));
  const sizes = (list: Uint8Array[]) => wrap((countPtr: number, sizePtr: number) => {
    setU32(countPtr, list.length);
    setU32(sizePtr, list.reduce((n, b) => n + b.length, 0));
    return 0;
  });
  const strings = (list: Uint8Array[]) => wrap((ptrs: number, bufp: number) => {
    let at = bufp >>> 0;
    list.forEach((b, i) => {
      setU32(ptrs + i * 4, at);
      check(at, b.length);
      u8.set(b, at);
      at += b.length;
    });
    return 0;
  });

  const shutdown = (code: number) => {
    flush();
    page.i32[S_EXIT_CODE] = code;
    page.i32[S_EXITED] = 1;
    rpc(OP_SHUTDOWN, [code]);
  };

  const imports = {
    args_sizes_get: sizes(argv),
    args_get: strings(argv),
    environ_sizes_get: sizes(envv),
    environ_get: strings(envv),
    clock_res_get: wrap((id: number, ptr: number) => {
      const e = rpc(OP.clock_res_get, [id]);
      if (e === 0) setU64(ptr, BigInt(num(0)));
      return e;
    }),
    clock_time_get: wrap((id: number, precision: bigint, ptr: number) => {
      void precision;
      const e = rpc(OP.clock_time_get, [id]);
      if (e === 0) setU64(ptr, BigInt(num(0)) * NS + BigInt(num(1)));
      return e;
    }),
    fd_advise: simple('fd_advise'),
    fd_allocate: simple('fd_allocate'),
    fd_close: wrap((fd: number) => {
      if (fd === 1 || fd === 2) conDirect = false;
      return rpc(OP.fd_close, [fd]);
    }),
    fd_datasync: simple('fd_datasync'),
    fd_fdstat_get: wrap((fd: number, ptr: number) => {
      const e = rpc(OP.fd_fdstat_get, [fd]);
      if (e === 0) putOut(ptr, FDSTAT_SIZE);
      return e;
    }),
    fd_fdstat_set_flags: simple('fd_fdstat_set_flags'),
    fd_fdstat_set_rights: simple('fd_fdstat_set_rights'),
    fd_filestat_get: wrap((fd: number, ptr: number) => {
      const e = rpc(OP.fd_filestat_get, [fd]);
      if (e === 0) putOut(ptr, FILESTAT_SIZE);
      return e;
    }),
    fd_filestat_set_size: simple('fd_filestat_set_size'),
    fd_filestat_set_times: wrap((fd: number, atim: bigint, mtim: bigint, flags: number) =>
      rpc(OP.fd_filestat_set_times, [fd, ...splitNs(atim), ...splitNs(mtim), flags])),
    fd_pread: wrap((fd: number, iovs: number, n: number, offset: bigint, ptr: number) => readv(OP.fd_pread, fd, iovs, n, Number(offset), ptr)),
    fd_prestat_get: wrap((fd: number, ptr: number) => {
      const e = rpc(OP.fd_prestat_get, [fd]);
      if (e === 0) putOut(ptr, PRESTAT_SIZE);
      return e;
    }),
    fd_prestat_dir_name: wrap((fd: number, ptr: number, len: number) => {
      const e = rpc(OP.fd_prestat_dir_name, [fd]);
      if (e !== 0) return e;
      if (out().length > len >>> 0) return E.NAMETOOLONG;
      putOut(ptr, len >>> 0);
      return 0;
    }),
    fd_pwrite: wrap((fd: number, iovs: number, n: number, offset: bigint, ptr: number) => writev(OP.fd_pwrite, fd, iovs, n, Number(offset), ptr)),
    fd_read: wrap((fd: number, iovs: number, n: number, ptr: number) => readv(OP.fd_read, fd, iovs, n, null, ptr)),
    fd_readdir: wrap((fd: number, bufp: number, len: number, cookie: bigint, usedPtr: number) => {
      const e = rpc(OP.fd_readdir, [fd, len >>> 0, Number(cookie)]);
      if (e === 0) setU32(usedPtr, putOut(bufp, len >>> 0));
      return e;
    }),
    fd_renumber: wrap((fd: number, to: number) => {
      if (fd === 1 || fd === 2 || to === 1 || to === 2) conDirect = false;
      return rpc(OP.fd_renumber, [fd, to]);
    }),
    fd_seek: wrap((fd: number, offset: bigint, whence: number, ptr: number) => {
      const e = rpc(OP.fd_seek, [fd, Number(offset), whence]);
      if (e === 0) setU64(ptr, BigInt(num(0)));
      return e;
    }),
    fd_sync: simple('fd_sync'),
    fd_tell: wrap((fd: number, ptr: number) => {
      const e = rpc(OP.fd_tell, [fd]);
      if (e === 0) setU64(ptr, BigInt(num(0)));
      return e;
    }),
    fd_write: wrap((fd: number, iovs: number, n: number, ptr: number) => {
      if (!conDirect || (fd !== 1 && fd !== 2)) return writev(OP.fd_write, fd, iovs, n, null, ptr);
      const list = iovecs(iovs, n);
      let total = 0;
      for (const [, l] of list) total += l;
      if (conLen && conFd !== fd) flush();
      if (conLen + total > CONSOLE_BUFFER) {
        flush();
        if (total > CONSOLE_BUFFER) return writev(OP.fd_write, fd, iovs, n, null, ptr);
      }
      conFd = fd;
      for (const [p, l] of list) {
        conBuf.set(u8.subarray(p, p + l), conLen);
        conLen += l;
      }
      setU32(ptr, total);
      return 0;
    }),
    path_create_directory: wrap((fd: number, p: number, l: number) => rpc(OP.path_create_directory, [fd], bytes(p, l))),
    path_filestat_get: wrap((fd: number, flags: number, p: number, l: number, ptr: number) => {
      const e = rpc(OP.path_filestat_get, [fd, flags], bytes(p, l));
      if (e === 0) putOut(ptr, FILESTAT_SIZE);
      return e;
    }),
    path_filestat_set_times: wrap((fd: number, flags: number, p: number, l: number, atim: bigint, mtim: bigint, fst: number) =>
      rpc(OP.path_filestat_set_times, [fd, flags, ...splitNs(atim), ...splitNs(mtim), fst], bytes(p, l))),
    path_link: wrap((ofd: number, oflags: number, op: number, ol: number, nfd: number, np: number, nl: number) =>
      rpc(OP.path_link, [ofd, oflags, nfd], bytes(op, ol), bytes(np, nl))),
    path_open: wrap((fd: number, dirflags: number, p: number, l: number, oflags: number, base: bigint, inh: bigint, fdflags: number, ptr: number) => {
      const e = rpc(OP.path_open, [fd, dirflags, oflags, Number(base & 0x3fffffffn), Number(inh & 0x3fffffffn), fdflags], bytes(p, l));
      if (e === 0) setU32(ptr, num(0));
      return e;
    }),
    path_readlink: wrap((fd: number, p: number, l: number, bufp: number, len: number, usedPtr: number) => {
      const e = rpc(OP.path_readlink, [fd, len >>> 0], bytes(p, l));
      if (e === 0) setU32(usedPtr, putOut(bufp, len >>> 0));
      return e;
    }),
    path_remove_directory: wrap((fd: number, p: number, l: number) => rpc(OP.path_remove_directory, [fd], bytes(p, l))),
    path_rename: wrap((fd: number, op: number, ol: number, nfd: number, np: number, nl: number) =>
      rpc(OP.path_rename, [fd, nfd], bytes(op, ol), bytes(np, nl))),
    path_symlink: wrap((op: number, ol: number, fd: number, np: number, nl: number) => rpc(OP.path_symlink, [fd], bytes(op, ol), bytes(np, nl))),
    path_unlink_file: wrap((fd: number, p: number, l: number) => rpc(OP.path_unlink_file, [fd], bytes(p, l))),
    poll_oneoff: wrap((inPtr: number, outPtr: number, nsubs: number, neventsPtr: number) => {
      if (nsubs >>> 0 === 0) return E.INVAL;
      const e = rpc(OP.poll_oneoff, [nsubs >>> 0], bytes(inPtr, (nsubs >>> 0) * SUBSCRIPTION_SIZE));
      if (e !== 0) return e;
      const n = putOut(outPtr, (nsubs >>> 0) * EVENT_SIZE);
      setU32(neventsPtr, n / EVENT_SIZE);
      return 0;
    }),
    proc_exit: (code: number) => {
      shutdown(code >>> 0);
      throw new WasiExit(code >>> 0);
    },
    proc_raise: simple('proc_raise'),
    sched_yield: () => {
      opts.yield();
      return 0;
    },
    random_get: wrap((p: number, l: number) => {
      check(p >>> 0, l >>> 0);
      for (let done = 0; done < l >>> 0;) {
        const want = Math.min((l >>> 0) - done, IO_CHUNK);
        const e = rpc(OP.random_get, [want]);
        if (e !== 0) return e;
        view();
        putOut((p >>> 0) + done, want);
        done += want;
      }
      return 0;
    }),
    sock_accept: wrap((fd: number, flags: number, ptr: number) => {
      const e = rpc(OP.sock_accept, [fd, flags]);
      if (e === 0) setU32(ptr, num(0));
      return e;
    }),
    sock_recv: wrap((fd: number, iovs: number, n: number, flags: number, lenPtr: number, flagsPtr: number) => {
      const e = readv(OP.sock_recv, fd, iovs, n, null, lenPtr, [flags]);
      if (e === 0) { check(flagsPtr >>> 0, 2); dv.setUint16(flagsPtr >>> 0, 0, true); }
      return e;
    }),
    sock_send: wrap((fd: number, iovs: number, n: number, flags: number, ptr: number) => writev(OP.sock_send, fd, iovs, n, null, ptr, [flags])),
    sock_shutdown: simple('sock_shutdown'),
  };
  return { imports, flush };
}

/**
 * Tell the device model the guest is gone so that it flushes its disks:
 * code >= 0 is an exit status (recorded in the page), -1 a crash.
 */
export function notifyShutdown(t: IoreqTransport, code: number): void {
  const i32 = t.page.i32;
  if (code >= 0 && !i32[S_EXITED]) {
    i32[S_EXIT_CODE] = code;
    i32[S_EXITED] = 1;
  }
  i32[S_OP] = OP_SHUTDOWN;
  t.page.f64[0] = code;
  i32[S_LEN1] = 0;
  i32[S_LEN2] = 0;
  t.call();
}
