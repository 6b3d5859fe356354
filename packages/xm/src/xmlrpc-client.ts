// xm's connection to xend's legacy XML-RPC API, over the unix socket (the
// default, httpu:///...) or TCP. Faults become errors with Xen's codes; a
// top-level string result is un-repr'd as Xen's client does (conv_string).
// Documents are written and read by xend's xmlrpc-codec (fast, and light to
// load: every xm process pays for what it imports); an unusual answer goes to
// the xmlrpc package's parser, loaded only then.

import path from 'node:path';
import http from 'node:http';
import { XenError } from '@xenwasm/xen-errno';
import { decodeMethodResponse, encodeMethodCall, type DecodedResponse } from '@xenwasm/xend/xmlrpc-codec';
import { findXmlIllegal } from '@xenwasm/xend/xmlrpc-values';
import { pyUnescape } from '@xenwasm/sxp';
import { faultToError } from '@xenwasm/xend/xend-errors';

export interface XendServerAddress {
  /** Unix socket path (httpu://). */
  socketPath?: string;
  host?: string;
  port?: number;
  /** HTTP path, '/' by default. */
  path?: string;
}

export interface XendClientOptions extends XendServerAddress {
  /** Per-call limit, ms (default none). */
  timeoutMs?: number;
}

/** xend is not there (socket missing, refused, ...). */
export class XendConnectionError extends XenError {
  constructor(reason: string, context: Record<string, unknown> = {}) {
    super('XEND_UNREACHABLE', `Unable to connect to xend: ${reason}. Is xend running?`, context);
    this.name = 'XendConnectionError';
  }
}

/** The default socket of the stack in $XEN_STATE_DIR (./var when unset). */
export function defaultXendSocket(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.XEN_STATE_DIR || './var', 'run/xend/xmlrpc.sock');
}

/**
 * Where xm finds xend: $XM_SERVER (`httpu:///path/to.sock`, `http://host:port`,
 * or a bare socket path), else the state directory's socket.
 */
export function xendServerFromEnv(env: NodeJS.ProcessEnv = process.env): XendServerAddress {
  const s = env.XM_SERVER;
  if (!s) return { socketPath: defaultXendSocket(env) };
  return parseXendUri(s);
}

export function parseXendUri(s: string): XendServerAddress {
  if (s.startsWith('httpu://')) return { socketPath: s.slice('httpu://'.length) };
  if (s.startsWith('/')) return { socketPath: s };
  const u = new URL(s);
  if (u.protocol !== 'http:') throw new XenError('EINVAL', `unsupported xend URI ${s} (use httpu:///path or http://host:port)`);
  return { host: u.hostname, port: Number(u.port || 8006), path: u.pathname || '/' };
}

/** XML cannot carry some characters at all: refuse them here, as the xmlrpc package's serializer did. */
function checkSendable(v: unknown): void {
  if (typeof v === 'string') {
    const at = findXmlIllegal(v);
    if (at >= 0) throw new Error(`Invalid character in string: U+${v.charCodeAt(at).toString(16).padStart(4, '0').toUpperCase()}`);
  } else if (Array.isArray(v)) v.forEach(checkSendable);
  else if (v && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Date)) Object.entries(v).forEach(([k, x]) => { checkSendable(k); checkSendable(x); });
}

function prepareParam(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map(prepareParam);
  return v;
}

/** The xmlrpc package's reading of a response the fast reader left alone. */
async function decodeSlowly(text: string): Promise<DecodedResponse> {
  const [{ default: Deserializer }, { Readable }] = await Promise.all([import('xmlrpc/lib/deserializer.js'), import('node:stream')]);
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodResponse(Readable.from([text]), (err: unknown, value: unknown) => {
      const f = err as { faultCode?: unknown; faultString?: unknown } | null;
      if (f && f.faultCode !== undefined) resolve({ fault: { faultCode: f.faultCode, faultString: f.faultString } });
      else if (err) reject(err);
      else resolve({ value });
    });
  });
}

export class XendClient {
  private readonly agent: http.Agent;
  private readonly request: http.RequestOptions;
  readonly address: XendServerAddress;

  constructor(private readonly opts: XendClientOptions = xendServerFromEnv()) {
    this.address = opts;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    this.request = { method: 'POST', path: opts.path ?? '/', agent: this.agent };
    if (opts.socketPath) this.request.socketPath = opts.socketPath;
    else {
      this.request.host = opts.host ?? '127.0.0.1';
      this.request.port = opts.port ?? 8006;
    }
  }

  /** Call a method; resolves with the result, rejects with XendInvalidDomain, XmlRpcFault or XendConnectionError. */
  async call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    let body: string;
    try {
      const prepared = params.map(prepareParam);
      checkSendable(prepared);
      body = encodeMethodCall(method, prepared);
    } catch (e) {
      throw new XenError('EINVAL', `cannot send ${method}: ${(e as Error).message}`);
    }
    let text: string;
    try {
      text = await this.post(method, body);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err instanceof XenError) throw err;
      if (err.code && ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE', 'ENOTSOCK'].includes(err.code)) {
        throw new XendConnectionError(err.message ?? err.code, { code: err.code, address: this.address });
      }
      throw new XenError('XEND_PROTOCOL', `xend answered ${method} with something that is not XML-RPC: ${err.message ?? String(e)}`);
    }
    let r: DecodedResponse | undefined = decodeMethodResponse(text);
    if (!r) {
      try {
        r = await decodeSlowly(text);
      } catch (e) {
        throw new XenError('XEND_PROTOCOL', `xend answered ${method} with something that is not XML-RPC: ${(e as Error).message ?? String(e)}`);
      }
    }
    if ('fault' in r) {
      const { faultCode, faultString } = r.fault;
      if (typeof faultCode === 'number') throw faultToError(faultCode, typeof faultString === 'string' ? faultString : String(faultString ?? ''));
      throw new XenError('XEND_PROTOCOL', `xend answered ${method} with a malformed fault`);
    }
    const value = r.value;
    return (typeof value === 'string' ? pyUnescape(value) : value) as T;
  }

  private post(method: string, body: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // An explicit Host spares http.request its IPv6 check (a large regex compiled on first use).
      const host = this.request.socketPath ? 'localhost' : `${this.request.host}:${this.request.port}`;
      const req = http.request({ ...this.request, headers: { Host: host, 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => { clearTimeout(timer); reject(e); });
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.trim().slice(0, 200)}`));
          else resolve(text);
        });
      });
      if (this.opts.timeoutMs) {
        timer = setTimeout(() => {
          req.destroy();
          reject(new XenError('ETIMEDOUT', `xend did not answer ${method} within ${this.opts.timeoutMs} ms`));
        }, this.opts.timeoutMs);
      }
      req.on('error', (e) => { clearTimeout(timer); reject(e); });
      req.end(body);
    });
  }

  /** Release pooled connections. */
  close(): void {
    this.agent.destroy();
  }
}
