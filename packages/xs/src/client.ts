// Promise client for xenstored over its unix socket (the role of libxenstore's
// xs.c). Many requests may be in flight; replies are matched by req_id, watch
// events are routed by token.

import net from 'node:net';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { XenError } from '@xenwasm/xen-errno';
import {
  XsType, MessageReader, encodeMessage, splitStrings, formatPerm, parsePerm, xsTypeName,
  type XsMessage, type XsPerm,
} from './xs-wire.js';

/** Where xenstored's socket is, by the same rules the C tools use, rooted at XEN_STATE_DIR. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env, readonly = false): string {
  if (env.XENSTORED_PATH) return env.XENSTORED_PATH;
  const rundir = env.XENSTORED_RUNDIR ?? path.join(env.XEN_STATE_DIR ?? './var', 'run', 'xenstored');
  return path.join(rundir, readonly ? 'socket_ro' : 'socket');
}

export interface XsOpenOptions {
  /** Socket path; default from XENSTORED_PATH / XENSTORED_RUNDIR / XEN_STATE_DIR. */
  path?: string;
  /** Use socket_ro beside the default socket. */
  readonly?: boolean;
  /**
   * Survive a xenstored restart: when the connection drops, requests in
   * flight (and any made before it is back) fail with EIO, watches are
   * kept, and the client connects again with backoff, registers the
   * watches anew (each fires once, as a new watch does) and emits
   * 'reconnect'. 'lost' is emitted when it drops. Without it the client
   * closes for good ('close').
   */
  reconnect?: boolean;
}

export interface WatchEvent {
  path: string;
  token: string;
}

/** A registered watch: an async iterator of events, and an EventEmitter ('event'). */
export class XsWatch extends EventEmitter implements AsyncIterable<WatchEvent> {
  private queue: WatchEvent[] = [];
  private waiters: Array<(r: IteratorResult<WatchEvent>) => void> = [];
  private closed = false;
  constructor(private readonly xs: Xs, readonly path: string, readonly token: string) {
    super();
  }
  /** @internal */
  deliver(ev: WatchEvent): void {
    if (this.closed) return;
    this.emit('event', ev);
    const w = this.waiters.shift();
    if (w) w({ value: ev, done: false });
    else this.queue.push(ev);
  }
  /** @internal */
  end(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }
  /** Next event (rejects never; resolves done when the watch is closed). */
  next(): Promise<IteratorResult<WatchEvent>> {
    const ev = this.queue.shift();
    if (ev) return Promise.resolve({ value: ev, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return { next: () => this.next(), return: async () => { await this.close(); return { value: undefined, done: true }; } };
  }
  /** Unwatch and end the iterator. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.end();
    await this.xs.unwatchHandle(this);
  }
}

/** Operations that take a transaction id; `Xs` itself is the tx-less one. */
export class XsTransaction {
  constructor(private readonly xs: Xs, readonly id: number) {}
  read(p: string): Promise<string> { return this.xs.read(p, this.id); }
  readBuffer(p: string): Promise<Buffer> { return this.xs.readBuffer(p, this.id); }
  tryRead(p: string): Promise<string | undefined> { return this.xs.tryRead(p, this.id); }
  write(p: string, v: string | Buffer): Promise<void> { return this.xs.write(p, v, this.id); }
  mkdir(p: string): Promise<void> { return this.xs.mkdir(p, this.id); }
  rm(p: string): Promise<void> { return this.xs.rm(p, this.id); }
  directory(p: string): Promise<string[]> { return this.xs.directory(p, this.id); }
  getPerms(p: string): Promise<XsPerm[]> { return this.xs.getPerms(p, this.id); }
  setPerms(p: string, perms: Array<XsPerm | string>): Promise<void> { return this.xs.setPerms(p, perms, this.id); }
}

interface Pending {
  type: number;
  resolve: (m: XsMessage) => void;
  reject: (e: Error) => void;
}

export class Xs extends EventEmitter {
  private reader = new MessageReader();
  private pending = new Map<number, Pending>();
  private nextReqId = 1;
  private nextToken = 1;
  private watches = new Map<string, Set<XsWatch>>();
  private closedError: Error | undefined;
  /** Set while a reconnecting client has no connection: why it dropped. */
  private down: Error | undefined;
  private closing = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(private sock: net.Socket, private readonly reconnectTo?: string) {
    super();
    this.attach(sock);
  }

  private attach(sock: net.Socket): void {
    this.sock = sock;
    sock.on('data', (d) => this.onData(d));
    sock.on('error', (e) => this.lost(sock, e));
    sock.on('close', () => this.lost(sock, new XenError('EIO', 'xenstore connection closed')));
  }

  private lost(sock: net.Socket, e: Error): void {
    if (sock !== this.sock || this.down || this.closedError) return;
    if (!this.reconnectTo || this.closing) return this.fail(e);
    this.down = new XenError('EIO', `xenstored connection lost (${e.message}); reconnecting`);
    for (const p of this.pending.values()) p.reject(this.down);
    this.pending.clear();
    this.reader = new MessageReader();
    this.emit('lost', e);
    this.reconnectAfter(50);
  }

  private reconnectAfter(delay: number): void {
    this.retry = setTimeout(() => {
      const sock = net.createConnection(this.reconnectTo!);
      sock.setNoDelay(true);
      sock.once('error', () => {
        if (!this.closing) this.reconnectAfter(Math.min(delay * 2, 1000));
      });
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        if (this.closing) return void sock.destroy();
        this.down = undefined;
        this.attach(sock);
        for (const [token, set] of this.watches) {
          for (const path of new Set([...set].map((w) => w.path))) this.request(XsType.WATCH, `${path}\0${token}\0`).catch(() => undefined);
        }
        this.emit('reconnect');
      });
    }, delay);
    this.retry.unref();
  }

  /** Connects to xenstored. */
  static connect(opts: XsOpenOptions | string = {}): Promise<Xs> {
    const o = typeof opts === 'string' ? { path: opts } : opts;
    const p = o.path ?? defaultSocketPath(process.env, o.readonly);
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(p);
      sock.setNoDelay(true);
      const onErr = (e: Error) => reject(new XenError('ENOENT', `cannot connect to xenstored at ${p}: ${e.message}`, { path: p }));
      sock.once('error', onErr);
      sock.once('connect', () => {
        sock.off('error', onErr);
        resolve(new Xs(sock, o.reconnect ? p : undefined));
      });
    });
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const set of this.watches.values()) for (const w of set) w.end();
    this.watches.clear();
    this.emit('close', e);
  }

  private onData(d: Buffer): void {
    let msgs: XsMessage[];
    try {
      msgs = this.reader.push(d);
    } catch (e) {
      this.sock.destroy();
      this.fail(e as Error);
      return;
    }
    for (const m of msgs) {
      if (m.type === XsType.WATCH_EVENT) {
        const [p, token] = splitStrings(m.payload);
        if (p === undefined || token === undefined) continue;
        const ev = { path: p, token };
        this.emit('watch', ev);
        const set = this.watches.get(token);
        if (set) for (const w of set) w.deliver(ev);
        continue;
      }
      const pend = this.pending.get(m.reqId);
      if (!pend) continue;
      this.pending.delete(m.reqId);
      if (m.type === XsType.ERROR) {
        const name = m.payload.toString('utf8').replace(/\0+$/, '');
        pend.reject(new XenError(name, `xenstore ${xsTypeName(pend.type)}: ${name}`));
      } else pend.resolve(m);
    }
  }

  /** Sends one raw request; resolves with the reply message (rejects with XenError on XS_ERROR). */
  request(type: number, payload: Buffer | string, txId = 0): Promise<XsMessage> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.down) return Promise.reject(this.down);
    const reqId = this.nextReqId;
    this.nextReqId = (this.nextReqId + 1) >>> 0 || 1;
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { type, resolve, reject });
      this.sock.write(encodeMessage(type, reqId, txId, payload));
    });
  }

  private async single(type: number, arg: string, txId = 0): Promise<Buffer> {
    return (await this.request(type, arg + '\0', txId)).payload;
  }

  async readBuffer(p: string, tx = 0): Promise<Buffer> {
    return this.single(XsType.READ, p, tx);
  }
  async read(p: string, tx = 0): Promise<string> {
    return (await this.readBuffer(p, tx)).toString('utf8');
  }
  /** read, or undefined when the node does not exist. */
  async tryRead(p: string, tx = 0): Promise<string | undefined> {
    try {
      return await this.read(p, tx);
    } catch (e) {
      if ((e as XenError).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  async write(p: string, value: string | Buffer, tx = 0): Promise<void> {
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    await this.request(XsType.WRITE, Buffer.concat([Buffer.from(p + '\0', 'utf8'), v]), tx);
  }
  async mkdir(p: string, tx = 0): Promise<void> {
    await this.single(XsType.MKDIR, p, tx);
  }
  async rm(p: string, tx = 0): Promise<void> {
    await this.single(XsType.RM, p, tx);
  }
  async directory(p: string, tx = 0): Promise<string[]> {
    try {
      return splitStrings(await this.single(XsType.DIRECTORY, p, tx));
    } catch (e) {
      if ((e as XenError).code !== 'E2BIG') throw e;
      return this.directoryPart(p, tx);
    }
  }
  /** DIRECTORY_PART loop for listings over the payload limit (restarts if the directory changes). */
  private async directoryPart(p: string, tx: number): Promise<string[]> {
    for (;;) {
      let offset = 0;
      let gen: string | undefined;
      const names: string[] = [];
      let restart = false;
      for (;;) {
        const reply = (await this.request(XsType.DIRECTORY_PART, `${p}\0${offset}\0`, tx)).payload;
        const strs = splitStrings(reply);
        const g = strs.shift();
        if (gen !== undefined && g !== gen) { restart = true; break; }
        gen = g;
        // The body ends with an empty string when the listing is complete.
        const body = reply.subarray(Buffer.byteLength(g ?? '') + 1);
        const done = body.length >= 1 && body[body.length - 1] === 0 && (body.length === 1 || body[body.length - 2] === 0);
        for (const s of strs) if (s !== '') names.push(s);
        offset += body.length - (done ? 1 : 0);
        if (done) break;
      }
      if (!restart) return names;
    }
  }
  async getPerms(p: string, tx = 0): Promise<XsPerm[]> {
    const strs = splitStrings(await this.single(XsType.GET_PERMS, p, tx));
    return strs.map((s) => {
      const perm = parsePerm(s);
      if (!perm) throw new XenError('EINVAL', `bad permission string from xenstored: ${s}`);
      return perm;
    });
  }
  async setPerms(p: string, perms: Array<XsPerm | string>, tx = 0): Promise<void> {
    const strs = perms.map((x) => (typeof x === 'string' ? x : formatPerm(x)));
    await this.request(XsType.SET_PERMS, [p, ...strs].join('\0') + '\0', tx);
  }

  /** Registers a watch; the first event (for `path` itself) arrives right away, as in Xen. */
  async watch(p: string, token?: string): Promise<XsWatch> {
    const tok = token ?? `xs-${process.pid}-${this.nextToken++}`;
    const w = new XsWatch(this, p, tok);
    let set = this.watches.get(tok);
    if (!set) this.watches.set(tok, (set = new Set()));
    set.add(w);
    try {
      await this.request(XsType.WATCH, `${p}\0${tok}\0`);
    } catch (e) {
      set.delete(w);
      if (set.size === 0) this.watches.delete(tok);
      throw e;
    }
    return w;
  }
  async unwatch(p: string, token: string): Promise<void> {
    const set = this.watches.get(token);
    if (set) for (const w of [...set]) if (w.path === p) { set.delete(w); w.end(); }
    if (set && set.size === 0) this.watches.delete(token);
    await this.request(XsType.UNWATCH, `${p}\0${token}\0`);
  }
  /** @internal */
  async unwatchHandle(w: XsWatch): Promise<void> {
    await this.unwatch(w.path, w.token);
  }
  async resetWatches(): Promise<void> {
    await this.request(XsType.RESET_WATCHES, '\0');
  }

  async transactionStart(): Promise<number> {
    const r = await this.request(XsType.TRANSACTION_START, '\0');
    return parseInt(r.payload.toString('utf8'), 10);
  }
  /** Commits (or aborts); a commit that lost a race rejects with code EAGAIN. */
  async transactionEnd(tx: number, commit = true): Promise<void> {
    await this.request(XsType.TRANSACTION_END, commit ? 'T\0' : 'F\0', tx);
  }
  /**
   * Runs `fn` in a transaction and commits, starting over on EAGAIN (up to
   * `maxAttempts`). If `fn` throws, the transaction is aborted and the error passed on.
   */
  async transaction<T>(fn: (t: XsTransaction) => Promise<T>, maxAttempts = 100): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const id = await this.transactionStart();
      let result: T;
      try {
        result = await fn(new XsTransaction(this, id));
      } catch (e) {
        await this.transactionEnd(id, false).catch(() => undefined);
        throw e;
      }
      try {
        await this.transactionEnd(id, true);
        return result;
      } catch (e) {
        if ((e as XenError).code !== 'EAGAIN' || attempt >= maxAttempts) throw e;
        // Back off a little, randomised, so rivals stop colliding.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
      }
    }
  }

  async introduce(domid: number, mfn: number | bigint, port: number): Promise<void> {
    await this.request(XsType.INTRODUCE, `${domid}\0${mfn}\0${port}\0`);
  }
  async release(domid: number): Promise<void> {
    await this.single(XsType.RELEASE, String(domid));
  }
  async resume(domid: number): Promise<void> {
    await this.single(XsType.RESUME, String(domid));
  }
  async getDomainPath(domid: number): Promise<string> {
    return (await this.single(XsType.GET_DOMAIN_PATH, String(domid))).toString('utf8').replace(/\0+$/, '');
  }
  async isDomainIntroduced(domid: number): Promise<boolean> {
    return (await this.single(XsType.IS_DOMAIN_INTRODUCED, String(domid))).toString('utf8').startsWith('T');
  }
  async setTarget(domid: number, target: number): Promise<void> {
    await this.request(XsType.SET_TARGET, `${domid}\0${target}\0`);
  }
  /** XS_CONTROL (XS_DEBUG in 3.2). */
  async control(...args: string[]): Promise<string> {
    const r = await this.request(XsType.CONTROL, args.map((a) => a + '\0').join(''));
    return r.payload.toString('utf8').replace(/\0+$/, '');
  }

  /** Closes the connection (the daemon drops its watches and open transactions). */
  close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retry);
    if (this.down) this.fail(this.down);
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve();
      this.sock.once('close', () => resolve());
      this.sock.end();
    });
  }
}
