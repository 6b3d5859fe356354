// Values crossing xend's XML-RPC boundary. Incoming: rebuilt from what the
// xmlrpc package's deserializer produced, refusing what XML cannot carry.
// Outgoing: turned into what xmlrpc-codec.ts writes faithfully and
// Python's xmlrpc.client reads (doubles stay doubles, ints beyond 32 bits and
// BigInts go as strings, dates in UTC, top-level strings repr-escaped as xend
// does).

import { pyReprInner } from '@xenwasm/sxp';
import { XmlRpcTagged as Tagged } from './xmlrpc-codec.js';

/** XML 1.0 forbids these code points in documents, even as &#n; references. */
const XML_ILLEGAL = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function findXmlIllegal(s: string): number {
  const m = XML_ILLEGAL.exec(s);
  return m ? m.index : -1;
}

export class BadValue extends Error {}

export const MAX_DEPTH = 64;

/** Rebuild an incoming value, checking strings and depth. */
export function sanitizeIncoming(v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new BadValue(`value nested deeper than ${MAX_DEPTH}`);
  if (typeof v === 'string') {
    const at = findXmlIllegal(v);
    if (at >= 0) throw new BadValue(`string contains control character U+${v.charCodeAt(at).toString(16).padStart(4, '0').toUpperCase()}`);
    return v;
  }
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new BadValue('invalid dateTime.iso8601 value');
    return v;
  }
  if (Buffer.isBuffer(v)) return v;
  if (Array.isArray(v)) return v.map((x) => sanitizeIncoming(x, depth + 1));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object)) {
      sanitizeIncoming(k, depth + 1);
      Object.defineProperty(out, k, { value: sanitizeIncoming((v as Record<string, unknown>)[k], depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  throw new BadValue(`unsupported value of type ${typeof v}`);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** XML-RPC dateTime.iso8601 in UTC, the form Python's DateTime reads. */
export function isoDateTime(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** A number that must go as <double> even when integral. */
export class XmlRpcDouble {
  constructor(readonly value: number) {}
}

function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  const s = String(n);
  return /[.e]/.test(s) ? s : s + '.0';
}

/** Prepare an outgoing value for the xmlrpc serializer. */
export function prepareOutgoing(v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new BadValue(`result nested deeper than ${MAX_DEPTH}`);
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') {
    const at = findXmlIllegal(v);
    if (at >= 0) throw new BadValue(`result string contains control character U+${v.charCodeAt(at).toString(16).padStart(4, '0').toUpperCase()}, which XML cannot carry`);
    return v;
  }
  if (typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v >= -0x80000000 && v <= 0x7fffffff ? v : String(v);
    return new Tagged('double', pyFloatRepr(v));
  }
  if (v instanceof XmlRpcDouble) return new Tagged('double', pyFloatRepr(v.value));
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new BadValue('invalid Date in result');
    return new Tagged('dateTime.iso8601', isoDateTime(v));
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return new Tagged('base64', Buffer.from(v).toString('base64'));
  if (Array.isArray(v)) return v.map((x) => prepareOutgoing(x, depth + 1));
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[String(prepareOutgoing(String(k), depth + 1))] = prepareOutgoing(x, depth + 1);
    return out;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as object)) {
      prepareOutgoing(k, depth + 1);
      out[k] = prepareOutgoing(x, depth + 1);
    }
    return out;
  }
  throw new BadValue(`cannot send a ${typeof v} over XML-RPC`);
}

/** xend's quirk: a top-level string result goes as repr(s)[1:-1]. */
export function prepareResult(v: unknown): unknown {
  return typeof v === 'string' ? pyReprInner(v) : prepareOutgoing(v);
}
