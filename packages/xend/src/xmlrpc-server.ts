// xend's legacy XML-RPC server, built on the xmlrpc package's deserializer
// and serializer but with our own HTTP handling, because the package's server
// dies on some inputs and answers unknown methods with HTTP 404. Every bad
// request gets an XML-RPC fault (or a 4xx when it is not an XML-RPC POST)
// and the server keeps serving.

import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import Deserializer from 'xmlrpc/lib/deserializer.js';
import { errorToFault, XEND_FAULT, XmlRpcFault } from './xend-errors.js';
import { BadValue, findXmlIllegal, prepareResult, sanitizeIncoming } from './xmlrpc-values.js';
import { decodeMethodCall, encodeFault, encodeMethodResponse } from './xmlrpc-codec.js';

export type ParamType = 'string' | 'int' | 'number' | 'boolean' | 'array' | 'struct' | 'sxp' | 'domain' | 'any';

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** May be left out by the caller (trailing parameters only). */
  optional?: boolean;
  /** May be None (`<nil/>`). */
  nullable?: boolean;
}

export type MethodHandler = (...args: any[]) => unknown;

export interface MethodOptions {
  params?: ParamSpec[];
  /** Skip the count check: the handler takes whatever comes (after the declared params). */
  varargs?: boolean;
}

export interface XmlRpcServerOptions {
  /** Largest request body accepted, bytes (default 4 MiB). */
  maxBodyBytes?: number;
  /** Time allowed from the request's start to the end of its body, ms (default 10 s). */
  bodyTimeoutMs?: number;
  /** Log sink (xend logs on stderr). */
  log?: (line: string) => void;
}

interface Method { handler: MethodHandler; params: ParamSpec[]; varargs: boolean }

const RPC_PATHS = new Set(['/', '/RPC2']);

/** Fault texts, kept in one place so that they stay consistent. */
export const FAULT_TEXT = {
  unknownMethod: (m: string) => `method "${m}" is not supported`,
  badRequest: (why: string) => `Invalid XML-RPC request: ${why}`,
  tooLarge: (max: number) => `Invalid XML-RPC request: body larger than ${max} bytes`,
  timeout: (ms: number) => `Invalid XML-RPC request: body not received within ${ms} ms`,
  argCount: (m: string, min: number, max: number, got: number) =>
    `${m}() takes ${min === max ? `exactly ${min}` : got < min ? `at least ${min}` : `at most ${max}`} argument${(got < min ? min : max) === 1 ? '' : 's'} (${got} given)`,
  argType: (m: string, i: number, p: ParamSpec, got: string) => `${m}() argument ${i + 1} (${p.name}) must be ${p.type === 'domain' ? 'a domain name or id' : p.type === 'sxp' ? 'an s-expression (array)' : `${p.type}`}, not ${got}`,
};

function xmlType(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'array';
  if (Buffer.isBuffer(v)) return 'base64';
  if (v instanceof Date) return 'dateTime';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double';
  if (typeof v === 'object') return 'struct';
  return typeof v;
}

function checkParam(method: string, i: number, p: ParamSpec, v: unknown): unknown {
  const bad = () => new XmlRpcFault(XEND_FAULT.INTERNAL, FAULT_TEXT.argType(method, i, p, xmlType(v)));
  if (v === null) {
    if (p.nullable || p.type === 'any') return null;
    throw bad();
  }
  switch (p.type) {
    case 'any': return v;
    case 'string': if (typeof v === 'string') return v; throw bad();
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
      if (typeof v === 'boolean') return v ? 1 : 0;
      throw bad();
    case 'number':
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw bad();
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 0 || v === 1) return v === 1;
      throw bad();
    case 'array': case 'sxp': if (Array.isArray(v)) return v; throw bad();
    case 'struct': if (typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date)) return v; throw bad();
    case 'domain':
      if (typeof v === 'string' && v !== '') return v;
      if (typeof v === 'number' && Number.isInteger(v)) return String(v);
      throw bad();
  }
}

export class XendXmlRpcServer {
  private readonly methods = new Map<string, Method>();
  private readonly servers: http.Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly maxBody: number;
  private readonly bodyTimeout: number;
  private readonly log: (line: string) => void;

  constructor(opts: XmlRpcServerOptions = {}) {
    this.maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
    this.bodyTimeout = opts.bodyTimeoutMs ?? 10_000;
    this.log = opts.log ?? ((l) => process.stderr.write(l + '\n'));
    this.register('system.listMethods', () => [...this.methods.keys()].sort());
  }

  /** Register a method; `params` are checked (count and types) before the handler runs. */
  register(name: string, handler: MethodHandler, opts: MethodOptions = {}): this {
    const params = opts.params ?? [];
    let seenOptional = false;
    for (const p of params) {
      if (seenOptional && !p.optional) throw new Error(`register ${name}: required parameter ${p.name} after an optional one`);
      seenOptional ||= !!p.optional;
    }
    this.methods.set(name, { handler, params, varargs: !!opts.varargs });
    return this;
  }

  has(name: string): boolean {
    return this.methods.has(name);
  }

  /** Run one call as a request would (checks, handler, fault mapping); returns the raw result or throws XmlRpcFault. */
  async dispatch(method: string, params: unknown[]): Promise<unknown> {
    const m = this.methods.get(method);
    if (!m) throw new XmlRpcFault(XEND_FAULT.INTERNAL, FAULT_TEXT.unknownMethod(method));
    const min = m.params.filter((p) => !p.optional).length;
    const max = m.params.length;
    if (params.length < min || (!m.varargs && params.length > max)) {
      throw new XmlRpcFault(XEND_FAULT.INTERNAL, FAULT_TEXT.argCount(method, min, max, params.length));
    }
    const args = params.map((v, i) => (i < m.params.length ? checkParam(method, i, m.params[i]!, v) : v));
    try {
      return await m.handler(...args);
    } catch (e) {
      const f = errorToFault(e);
      if (f.faultCode === XEND_FAULT.INTERNAL && !(e instanceof XmlRpcFault)) {
        this.log(`xend: internal error in ${method}: ${(e as Error)?.stack ?? String(e)}`);
      }
      throw new XmlRpcFault(f.faultCode, f.faultString);
    }
  }

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let done = false;
    const finish = (status: number, body: string, contentType = 'text/xml', close = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) };
      if (close) headers.Connection = 'close';
      if (status === 405) headers.Allow = 'POST';
      res.writeHead(status, headers);
      res.end(body);
      if (close) {
        // Read and drop what the client still sends, then hang up for good.
        req.resume();
        res.on('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
      }
    };
    const fault = (code: number, text: string, close = false) =>
      finish(200, encodeFault(code, text), 'text/xml', close);
    const timer = setTimeout(() => fault(XEND_FAULT.INTERNAL, FAULT_TEXT.timeout(this.bodyTimeout), true), this.bodyTimeout);
    timer.unref();

    if (req.method !== 'POST') {
      finish(405, `Method ${req.method} not allowed: xend's XML-RPC server takes POST\n`, 'text/plain', false);
      req.resume();
      return;
    }
    const urlPath = (req.url ?? '/').split('?')[0]!;
    if (!RPC_PATHS.has(urlPath)) {
      req.resume();
      finish(404, `No XML-RPC endpoint at ${urlPath}\n`, 'text/plain');
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxBody) {
      fault(XEND_FAULT.INTERNAL, FAULT_TEXT.tooLarge(this.maxBody), true);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > this.maxBody) {
        chunks.length = 0;
        fault(XEND_FAULT.INTERNAL, FAULT_TEXT.tooLarge(this.maxBody), true);
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => { clearTimeout(timer); done = true; });
    req.on('end', () => {
      if (done) return;
      clearTimeout(timer);
      this.handleBody(Buffer.concat(chunks))
        .then((xml) => finish(200, xml))
        .catch((e) => {
          this.log(`xend: XML-RPC response failed: ${(e as Error)?.stack ?? e}`);
          fault(XEND_FAULT.INTERNAL, FAULT_TEXT.badRequest('internal error'));
        });
    });
  };

  /** One request body to one response document; never throws for bad input. */
  async handleBody(body: Buffer): Promise<string> {
    const faultXml = encodeFault;
    const text = body.toString('utf8');
    const bad = findXmlIllegal(text);
    if (bad >= 0) {
      return faultXml(XEND_FAULT.INTERNAL, FAULT_TEXT.badRequest(`control character U+${text.charCodeAt(bad).toString(16).padStart(4, '0').toUpperCase()} at offset ${bad}`));
    }
    let call: { method: string; params: unknown[] };
    try {
      call = await parseMethodCall(text);
    } catch (e) {
      return faultXml(XEND_FAULT.INTERNAL, FAULT_TEXT.badRequest(e instanceof Error ? e.message : String(e)));
    }
    let result: unknown;
    try {
      result = await this.dispatch(call.method, call.params);
    } catch (e) {
      const f = e instanceof XmlRpcFault ? e : new XmlRpcFault(XEND_FAULT.INTERNAL, String(e));
      return faultXml(f.faultCode, f.faultString);
    }
    try {
      return encodeMethodResponse(prepareResult(result));
    } catch (e) {
      this.log(`xend: cannot send the result of ${call.method}: ${(e as Error).message}`);
      return faultXml(XEND_FAULT.INTERNAL, `${call.method}: ${e instanceof BadValue ? e.message : 'result cannot be sent over XML-RPC'}`);
    }
  }

  private newHttpServer(): http.Server {
    const s = http.createServer(this.onRequest);
    // Backstops for clients that never finish their headers or keep sockets idle.
    s.headersTimeout = Math.max(1000, Math.min(60_000, this.bodyTimeout));
    s.requestTimeout = this.bodyTimeout * 3;
    s.keepAliveTimeout = 30_000;
    s.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable && err.code !== 'ECONNRESET') {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      } else socket.destroy();
    });
    s.on('connection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    this.servers.push(s);
    return s;
  }

  /** Listen on a unix socket, created mode 0600 (a stale socket file is replaced). */
  async listenUnix(socketPath: string): Promise<void> {
    await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    try {
      if ((await lstat(socketPath)).isSocket()) await unlink(socketPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const s = this.newHttpServer();
    // The umask makes the socket 0600 from its creation, not after a chmod race.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(socketPath, () => { s.off('error', reject); resolve(); });
      });
    } finally {
      process.umask(old);
    }
    await chmod(socketPath, 0o600);
  }

  /** Listen on TCP (127.0.0.1 unless told otherwise); port 0 picks a free one. */
  async listenTcp(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    const s = this.newHttpServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => { s.off('error', reject); resolve(); });
    });
    return s.address() as AddressInfo;
  }

  /** Stop listening and drop open connections. */
  async close(): Promise<void> {
    const closing = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const sock of this.sockets) sock.destroy();
    await Promise.all(closing);
    this.servers.length = 0;
  }
}

/**
 * Parse a methodCall document: the plain documents clients send are read
 * directly (xmlrpc-codec.ts); anything else goes through the xmlrpc package's
 * deserializer, which accepts it the same way or gives its error.
 */
export function parseMethodCall(text: string): Promise<{ method: string; params: unknown[] }> {
  const fast = decodeMethodCall(text);
  if (fast && fast.method !== '' && findXmlIllegal(fast.method) < 0) {
    try {
      return Promise.resolve({ method: fast.method, params: sanitizeIncoming(fast.params) as unknown[] });
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return parseWithDeserializer(text);
}

function parseWithDeserializer(text: string): Promise<{ method: string; params: unknown[] }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const d = new Deserializer();
    // The package accepts '12x' as 12 and '1.5abc' as 1.5; Python does not.
    const strict = d as unknown as Record<string, (data: string) => void>;
    const endInt = strict.endInt!.bind(d);
    const endDouble = strict.endDouble!.bind(d);
    strict.endInt = (data: string) => {
      if (!/^\s*[+-]?\d+\s*$/.test(data)) throw new Error(`Expected an integer but got '${data}'`);
      endInt(data);
    };
    strict.endDouble = (data: string) => {
      if (!/^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)\s*$/i.test(data)) throw new Error(`Expected a double but got '${data}'`);
      endDouble(data);
    };
    try {
      d.deserializeMethodCall(Readable.from([text]), (err, method, params) => {
        if (settled) return;
        settled = true;
        if (err) return reject(err);
        if (typeof method !== 'string' || method === '' || findXmlIllegal(method) >= 0) return reject(new Error('bad method name'));
        try {
          resolve({ method, params: sanitizeIncoming(params ?? []) as unknown[] });
        } catch (e) {
          reject(e);
        }
      });
    } catch (e) {
      if (!settled) { settled = true; reject(e); }
    }
  });
}
