// The xenstore wire protocol (xs_wire.h): one module shared by the daemon
// (xenstored), the client library and the ring code, so both ends agree on
// every number. Values are those of Xen 3.2 plus the later additions that
// Debian's 4.17 libxenstore may send (SET_TARGET, RESET_WATCHES,
// DIRECTORY_PART).

export const XsType = {
  CONTROL: 0, // 3.2 calls it DEBUG
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  // 20 was XS_RESTRICT, removed from Xen; we answer it ENOSYS like any unknown type.
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
} as const;
export type XsTypeName = keyof typeof XsType;

const typeNames = new Map<number, string>(Object.entries(XsType).map(([k, v]) => [v, k]));
export function xsTypeName(t: number): string {
  return typeNames.get(t) ?? `TYPE_${t}`;
}

export const XS_HEADER_SIZE = 16;
/** A header announcing more than this gets the connection dropped. */
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;
export const DOMID_SELF = 0x7ff0;

/**
 * Error names in xsd_errors[] order (3.2), plus E2BIG which later Xen added
 * and which 4.x clients need to fall back to DIRECTORY_PART for large
 * directories. Anything else goes out as EINVAL, as xenstored's send_error does.
 */
export const XSD_ERRORS = [
  'EINVAL', 'EACCES', 'EEXIST', 'EISDIR', 'ENOENT', 'ENOMEM', 'ENOSPC', 'EIO',
  'ENOTEMPTY', 'ENOSYS', 'EROFS', 'EBUSY', 'EAGAIN', 'EISCONN', 'E2BIG',
] as const;
export type XsdErrorName = (typeof XSD_ERRORS)[number];
const errorSet = new Set<string>(XSD_ERRORS);
export function wireErrorName(code: string): XsdErrorName {
  return (errorSet.has(code) ? code : 'EINVAL') as XsdErrorName;
}

/** `struct xenstore_domain_interface`: the guest's store page. */
export const XS_RING = {
  SIZE: 1024,
  REQ: 0,
  RSP: 1024,
  REQ_CONS: 2048,
  REQ_PROD: 2052,
  RSP_CONS: 2056,
  RSP_PROD: 2060,
  PAGE_SIZE: 4096,
} as const;

export interface XsMessage {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

export function encodeMessage(type: number, reqId: number, txId: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const buf = Buffer.allocUnsafe(XS_HEADER_SIZE + body.length);
  buf.writeUInt32LE(type >>> 0, 0);
  buf.writeUInt32LE(reqId >>> 0, 4);
  buf.writeUInt32LE(txId >>> 0, 8);
  buf.writeUInt32LE(body.length, 12);
  body.copy(buf, XS_HEADER_SIZE);
  return buf;
}

/** Thrown by MessageReader when a header announces an oversized payload. */
export class XsFramingError extends Error {
  constructor(readonly len: number) {
    super(`xenstore message payload of ${len} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`);
    this.name = 'XsFramingError';
  }
}

/**
 * Reassembles messages from a byte stream (socket or ring), which may split
 * or join them anywhere.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  constructor(private readonly maxPayload = XENSTORE_PAYLOAD_MAX) {}

  get pendingBytes(): number {
    return this.buffered;
  }

  push(data: Buffer): XsMessage[] {
    if (data.length === 0) return [];
    this.chunks.push(data);
    this.buffered += data.length;
    const out: XsMessage[] = [];
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    let off = 0;
    while (buf.length - off >= XS_HEADER_SIZE) {
      const len = buf.readUInt32LE(off + 12);
      if (len > this.maxPayload) throw new XsFramingError(len);
      if (buf.length - off < XS_HEADER_SIZE + len) break;
      out.push({
        type: buf.readUInt32LE(off),
        reqId: buf.readUInt32LE(off + 4),
        txId: buf.readUInt32LE(off + 8),
        payload: buf.subarray(off + XS_HEADER_SIZE, off + XS_HEADER_SIZE + len),
      });
      off += XS_HEADER_SIZE + len;
    }
    if (off === buf.length) {
      this.chunks = [];
      this.buffered = 0;
    } else {
      // Copy the tail so the big chunk it came from can be freed.
      const rest = Buffer.from(buf.subarray(off));
      this.chunks = [rest];
      this.buffered = rest.length;
    }
    return out;
  }
}

/** Splits a payload into its NUL-terminated strings (a trailing piece without NUL is kept). */
export function splitStrings(payload: Buffer): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      parts.push(payload.toString('utf8', start, i));
      start = i + 1;
    }
  }
  if (start < payload.length) parts.push(payload.toString('utf8', start));
  return parts;
}

/** Number of NUL bytes in a payload (handlers check argument counts with it). */
export function countNuls(payload: Buffer): number {
  let n = 0;
  for (let i = 0; i < payload.length; i++) if (payload[i] === 0) n++;
  return n;
}

/** One permission entry: `n`/`r`/`w`/`b` and a domid. */
export interface XsPerm {
  id: number;
  read: boolean;
  write: boolean;
}

export function formatPerm(p: XsPerm): string {
  const c = p.read ? (p.write ? 'b' : 'r') : p.write ? 'w' : 'n';
  return `${c}${p.id}`;
}

/** Parses `n0`, `r5`, `b0x10`...; undefined when malformed. */
export function parsePerm(s: string): XsPerm | undefined {
  const c = s[0];
  if (c !== 'n' && c !== 'r' && c !== 'w' && c !== 'b') return undefined;
  const rest = s.slice(1);
  if (!/^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(rest)) return undefined;
  const id = rest.length > 1 && rest[0] === '0' && (rest[1] === 'x' || rest[1] === 'X')
    ? parseInt(rest.slice(2), 16)
    : rest.length > 1 && rest[0] === '0'
      ? parseInt(rest, 8)
      : parseInt(rest, 10);
  if (!Number.isFinite(id) || id < 0 || id > 0xffff) return undefined;
  return { id, read: c === 'r' || c === 'b', write: c === 'w' || c === 'b' };
}
