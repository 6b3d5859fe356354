// The ioreq page: how a trapped WASI call of an HVM guest reaches its device
// model. As in Xen's ioreq, the vCPU writes the request into a page it
// shares with the device model, signals, and waits until the device model
// has written the answer back and flipped the state word.
//
// Layout (little endian; a SharedArrayBuffer of IOREQ_BYTES):
//   i32[0] state      IDLE / REQUEST (vCPU -> dm) / RESPONSE (dm -> vCPU)
//   i32[1] op         index in WASI_OPS (or OP_SHUTDOWN)
//   i32[2] errno      WASI errno of the answer
//   i32[3] len1       request: first input blob; response: output blob
//   i32[4] len2       request: second input blob
//   i32[5] seq        request sequence number (echoed)
//   i32[6] exited     1 once the guest called proc_exit
//   i32[7] exit code
//   f64[8..23]        up to 16 numeric arguments / results (WASI u64 values
//                     here stay below 2^53: rights, sizes, offsets, times)
//   bytes[HDR..]      blob1 then blob2 (request) or the output blob (response)
//
// Over a unix socket (qemu-dm mode) a request or a response travels as a
// u32 length followed by bytes [0, HDR + blobs) of the page.

export const IDLE = 0;
export const REQUEST = 1;
export const RESPONSE = 2;

export const S_STATE = 0;
export const S_OP = 1;
export const S_ERRNO = 2;
export const S_LEN1 = 3;
export const S_LEN2 = 4;
export const S_SEQ = 5;
export const S_EXITED = 6;
export const S_EXIT_CODE = 7;
export const NUMS_OFF = 64;
export const MAX_NUMS = 16;
export const HDR = 256;
/** Largest read or write one request carries; bigger guest I/O is split. */
export const IO_CHUNK = 1 << 20;
export const DATA_BYTES = IO_CHUNK + 64 * 1024;
export const IOREQ_BYTES = HDR + DATA_BYTES;

/** Not a WASI function: the guest is gone (exit or crash); flush and unmount. */
export const OP_SHUTDOWN = 1000;

/** WASI preview1 functions, in a fixed order: their index is the op number. */
export const WASI_OPS = [
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags', 'fd_fdstat_set_rights',
  'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread', 'fd_prestat_get', 'fd_prestat_dir_name',
  'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek', 'fd_sync', 'fd_tell', 'fd_write',
  'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link', 'path_open', 'path_readlink',
  'path_remove_directory', 'path_rename', 'path_symlink', 'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise',
  'sched_yield', 'random_get', 'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown',
] as const;
export type WasiOp = (typeof WASI_OPS)[number];
export const OP: Record<WasiOp, number> = Object.fromEntries(WASI_OPS.map((n, i) => [n, i])) as Record<WasiOp, number>;

export interface IoRequest {
  op: number;
  nums: Float64Array; // a view: copy what you keep
  b1: Uint8Array;
  b2: Uint8Array;
  /**
   * Where a response blob may be built in place (the page's data area, so
   * writeResponse has nothing to copy). Only for requests that carry no
   * blob of their own: it overlaps b1 and b2.
   */
  out?: Uint8Array;
}
export interface IoResponse {
  errno: number;
  nums?: ArrayLike<number>;
  out?: Uint8Array;
}

/** Typed views of one ioreq page. */
export class IoreqPage {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly u8: Uint8Array;
  /** The data area: request blobs, then the response blob. */
  readonly data: Uint8Array;
  constructor(readonly buffer: SharedArrayBuffer | ArrayBuffer, byteOffset = 0) {
    this.i32 = new Int32Array(buffer, byteOffset, HDR / 4);
    this.f64 = new Float64Array(buffer, byteOffset + NUMS_OFF, MAX_NUMS);
    this.u8 = new Uint8Array(buffer, byteOffset, IOREQ_BYTES);
    this.data = this.u8.subarray(HDR);
  }

  readRequest(): IoRequest {
    const l1 = this.i32[S_LEN1], l2 = this.i32[S_LEN2];
    if (!(l1 >= 0 && l2 >= 0 && l1 + l2 <= DATA_BYTES)) throw new RangeError('ioreq: bad blob lengths');
    return { op: this.i32[S_OP], nums: this.f64, b1: this.u8.subarray(HDR, HDR + l1), b2: this.u8.subarray(HDR + l1, HDR + l1 + l2), out: l1 + l2 ? undefined : this.data };
  }

  writeResponse(r: IoResponse): void {
    this.i32[S_ERRNO] = r.errno;
    const n = r.nums;
    if (n) for (let i = 0; i < n.length && i < MAX_NUMS; i++) this.f64[i] = n[i];
    const out = r.out;
    if (out && out.length > DATA_BYTES) throw new RangeError('ioreq: response too large');
    // A blob built in place (IoRequest.out) is already there.
    if (out && !(out.buffer === this.buffer && out.byteOffset === this.data.byteOffset)) this.u8.set(out, HDR);
    this.i32[S_LEN1] = out ? out.length : 0;
  }

  /** Bytes of the request or response now in the page (the unix-socket frame body). */
  usedBytes(kind: 'request' | 'response'): number {
    return HDR + (kind === 'request' ? this.i32[S_LEN1] + this.i32[S_LEN2] : this.i32[S_LEN1]);
  }
}
