// xm's connection to xend's legacy XML-RPC API, over the unix socket (the
// default, httpu:///...) or TCP. Faults become errors with Xen's codes; a
// top-level string result is un-repr'd as Xen's client does (conv_string).

import path from 'node:path';
import http from 'node:http';
import xmlrpc from 'xmlrpc';
import { XenError } from '@xenwasm/xen-errno';
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

function prepareParam(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map(prepareParam);
  return v;
}

export class XendClient {
  private readonly client: xmlrpc.Client;
  private readonly agent: http.Agent;
  readonly address: XendServerAddress;

  constructor(private readonly opts: XendClientOptions = xendServerFromEnv()) {
    this.address = opts;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const options: Record<string, unknown> = { path: opts.path ?? '/', agent: this.agent };
    if (opts.socketPath) options.socketPath = opts.socketPath;
    else {
      options.host = opts.host ?? '127.0.0.1';
      options.port = opts.port ?? 8006;
    }
    this.client = xmlrpc.createClient(options as Parameters<typeof xmlrpc.createClient>[0]);
  }

  /** Call a method; resolves with the result, rejects with XendInvalidDomain, XmlRpcFault or XendConnectionError. */
  call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (this.opts.timeoutMs) {
        timer = setTimeout(() => reject(new XenError('ETIMEDOUT', `xend did not answer ${method} within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
      }
      const done = (err: unknown, value?: unknown) => {
        clearTimeout(timer);
        if (!err) {
          resolve((typeof value === 'string' ? pyUnescape(value) : value) as T);
          return;
        }
        const e = err as { faultCode?: number; faultString?: string; code?: string; message?: string };
        if (typeof e.faultCode === 'number') {
          reject(faultToError(e.faultCode, e.faultString ?? ''));
        } else if (e.code && ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE', 'ENOTSOCK'].includes(e.code)) {
          reject(new XendConnectionError(e.message ?? e.code, { code: e.code, address: this.address }));
        } else {
          reject(new XenError('XEND_PROTOCOL', `xend answered ${method} with something that is not XML-RPC: ${e.message ?? String(err)}`));
        }
      };
      try {
        this.client.methodCall(method, params.map(prepareParam), done);
      } catch (e) {
        // The serializer throws on strings XML cannot carry.
        clearTimeout(timer);
        reject(new XenError('EINVAL', `cannot send ${method}: ${(e as Error).message}`));
      }
    });
  }

  /** Release pooled connections. */
  close(): void {
    this.agent.destroy();
  }
}
