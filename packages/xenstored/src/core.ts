// Request handling (xenstored_core.c / _watch.c / _domain.c roles): one
// handler per message type, written once over `Tree` so the same code serves
// plain requests and requests inside a transaction. Requests are handled
// synchronously in arrival order; replies carry the generation they reflect
// and leave when persistence says it is durable.

import {
  XsType, XENSTORE_PAYLOAD_MAX, DOMID_SELF, encodeMessage, splitStrings, countNuls, formatPerm, parsePerm,
  wireErrorName, type XsMessage, type XsPerm,
} from '@xenwasm/xs/xs-wire';
import type { Connection, ConnectionHost } from './connection.js';
import { canonicalize, domainPath, isValidNodePath, isValidWatchPath, parentOf } from './paths.js';
import { WatchTable } from './watch.js';
import { PERM_OWNER, PERM_READ, PERM_WRITE, hasPerm, type Caller } from './perms.js';
import { Store } from './store.js';
import { DEP_CHILDREN, DEP_CONTENT, DEP_EXISTS, entrySize, type NodeView, type Tree } from './tree.js';
import { Transaction, type ConflictMode } from './transaction.js';
import { RingConnection, resetRing, type DomainRingProvider } from './ring.js';
import { StreamConnection, type DomainStreamProvider } from './relay-connection.js';

export interface Quotas {
  /** Nodes an unprivileged domain may own (--entry-nb). */
  entryNb: number;
  /** Node record size limit for unprivileged domains (--entry-size). */
  entrySize: number;
  /** Watches per unprivileged connection (--watch-nb). */
  watchNb: number;
  /** Open transactions per unprivileged connection (--transaction). */
  transaction: number;
  /** Replies a domain connection may have waiting before its input is paused (--request-nb). */
  requestNb: number;
}

export const DEFAULT_QUOTAS: Quotas = { entryNb: 1000, entrySize: 2048, watchNb: 128, transaction: 10, requestNb: 20 };

export interface Limits {
  /** Unread bytes queued to a peer before it is dropped as not reading. */
  maxOutputBytes: number;
  /** Watch events queued per connection; more are discarded. */
  maxWatchEvents: number;
  /** Replies waiting for durability before a socket client's input is paused. */
  maxPendingReplies: number;
}

export const DEFAULT_LIMITS: Limits = { maxOutputBytes: 4 << 20, maxWatchEvents: 4096, maxPendingReplies: 256 };

/** A request error: the wire error name. */
export class XsError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}
function fail(code: string): never {
  throw new XsError(code);
}

export interface Domain {
  domid: number;
  mfn: number;
  port: number;
  conn: RingConnection | StreamConnection | undefined;
  /** @releaseDomain already fired for a shutdown (until RESUME). */
  shutdownReported: boolean;
}

export interface CoreOptions {
  quotas?: Partial<Quotas>;
  limits?: Partial<Limits>;
  conflictMode?: ConflictMode;
  ringProvider?: DomainRingProvider;
  log?: (msg: string) => void;
}

const OK = Buffer.from('OK\0');
const MAX_DOMID = 0x7fef;

export class XenstoreCore implements ConnectionHost {
  readonly store = new Store();
  readonly quotas: Quotas;
  readonly limits: Limits;
  readonly conflictMode: ConflictMode;
  ringProvider: DomainRingProvider | undefined;
  /** The hypervisor host runs the rings and streams them to us (preferred when set). */
  streamProvider: DomainStreamProvider | undefined;
  readonly connections = new Set<Connection>();
  readonly watches = new WatchTable();
  readonly domains = new Map<number, Domain>();
  private waiting = new Set<Connection>();
  private durable = 0;
  /** Called after each burst of handling so persistence can start a batch. */
  onChange: () => void = () => undefined;
  readonly log: (msg: string) => void;
  readonly counters = { requests: 0, errors: 0, dropped: 0, commits: 0, conflicts: 0 };

  constructor(opts: CoreOptions = {}) {
    this.quotas = { ...DEFAULT_QUOTAS, ...opts.quotas };
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.conflictMode = opts.conflictMode ?? 'node';
    this.ringProvider = opts.ringProvider;
    this.log = opts.log ?? (() => undefined);
  }

  /** The initial tree on a fresh database: `/`, `/tool`, `/tool/xenstored`, all `n0`. */
  initTree(): void {
    const n0 = (): XsPerm[] => [{ id: 0, read: false, write: false }];
    if (!this.store.get('/')) this.store.createNode('/', Buffer.alloc(0), n0());
    if (!this.store.get('/tool')) this.store.createNode('/tool', Buffer.alloc(0), n0());
    if (!this.store.get('/tool/xenstored')) this.store.createNode('/tool/xenstored', Buffer.alloc(0), n0());
    // dom0 is a domain from the start (3.2 sets it up unless --no-domain-init).
    if (!this.domains.has(0)) this.domains.set(0, { domid: 0, mfn: 0, port: 0, conn: undefined, shutdownReported: false });
  }

  // ---- ConnectionHost ----
  durableSeq(): number {
    return this.durable;
  }
  noteWaiting(conn: Connection): void {
    this.waiting.add(conn);
  }
  /** Persistence reports generation `seq` on disk: release what waited for it. */
  markDurable(seq: number): void {
    this.durable = seq;
    for (const c of this.waiting) if (!c.release(seq)) this.waiting.delete(c);
  }
  addConnection(conn: Connection): void {
    this.connections.add(conn);
  }
  dropped(conn: Connection, reason: string): void {
    if (reason !== 'closed') {
      this.counters.dropped++;
      this.log(`dropping ${conn.description}: ${reason}`);
    }
    this.connections.delete(conn);
    this.waiting.delete(conn);
    this.watches.removeAll(conn);
    conn.transactions.clear();
  }

  handle(conn: Connection, msgs: XsMessage[]): void {
    for (const m of msgs) {
      if (conn.dead) break;
      if (conn.busy) conn.held.push(m);
      else this.process(conn, m);
    }
    this.onChange();
  }

  private process(conn: Connection, msg: XsMessage): void {
    this.counters.requests++;
    let r: void | Promise<void>;
    try {
      r = this.dispatch(conn, msg);
    } catch (e) {
      this.replyError(conn, msg, e);
      return;
    }
    if (r instanceof Promise) {
      conn.busy = true;
      r.catch((e) => this.replyError(conn, msg, e)).finally(() => {
        conn.busy = false;
        const held = conn.held.splice(0);
        if (held.length) this.handle(conn, held);
        else this.onChange();
      });
    }
  }

  private replyError(conn: Connection, msg: XsMessage, e: unknown): void {
    this.counters.errors++;
    let code = 'EINVAL';
    if (e instanceof XsError) code = e.code;
    else this.log(`internal error on ${conn.description} ${msg.type}: ${e instanceof Error ? e.stack : String(e)}`);
    conn.send(encodeMessage(XsType.ERROR, msg.reqId, msg.txId, wireErrorName(code) + '\0'), this.store.seq);
  }

  private reply(conn: Connection, msg: XsMessage, payload: Buffer | string): void {
    const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    conn.send(encodeMessage(msg.type, msg.reqId, msg.txId, body), this.store.seq);
  }

  private dispatch(conn: Connection, msg: XsMessage): void | Promise<void> {
    let tx: Transaction | undefined;
    if (msg.txId !== 0) {
      tx = conn.transactions.get(msg.txId);
      if (!tx) fail('ENOENT');
    }
    const tree: Tree = tx ?? this.store;
    switch (msg.type) {
      case XsType.READ: return this.doRead(conn, msg, tree);
      case XsType.WRITE: return this.doWrite(conn, msg, tree, tx);
      case XsType.MKDIR: return this.doMkdir(conn, msg, tree, tx);
      case XsType.RM: return this.doRm(conn, msg, tree, tx);
      case XsType.DIRECTORY: return this.doDirectory(conn, msg, tree);
      case XsType.DIRECTORY_PART: return this.doDirectoryPart(conn, msg, tree);
      case XsType.GET_PERMS: return this.doGetPerms(conn, msg, tree);
      case XsType.SET_PERMS: return this.doSetPerms(conn, msg, tree, tx);
      case XsType.WATCH: return this.doWatch(conn, msg);
      case XsType.UNWATCH: return this.doUnwatch(conn, msg);
      case XsType.TRANSACTION_START: return this.doTransactionStart(conn, msg, tx);
      case XsType.TRANSACTION_END: return this.doTransactionEnd(conn, msg, tx);
      case XsType.INTRODUCE: return this.doIntroduce(conn, msg);
      case XsType.RELEASE: return this.doRelease(conn, msg);
      case XsType.GET_DOMAIN_PATH: return this.reply(conn, msg, domainPath(atoi(oneArg(msg))) + '\0');
      case XsType.IS_DOMAIN_INTRODUCED: return this.doIsIntroduced(conn, msg);
      case XsType.RESUME: return this.doResume(conn, msg);
      case XsType.SET_TARGET: return this.doSetTarget(conn, msg);
      case XsType.RESET_WATCHES: return this.doResetWatches(conn, msg);
      case XsType.CONTROL: return this.doControl(conn, msg);
      default: fail('ENOSYS');
    }
  }

  // ---- helpers ----

  private nodePath(conn: Connection, raw: string): string {
    const p = canonicalize(raw, conn.home);
    if (!isValidNodePath(p)) fail('EINVAL');
    return p;
  }

  /** Nearest existing proper ancestor of `path` (perms read: a content dependency). */
  private nearestAncestor(tree: Tree, path: string): { path: string; node: NodeView } {
    let p = path;
    while (p !== '/') {
      p = parentOf(p);
      const n = tree.lookup(p, p === '/' ? DEP_CONTENT : DEP_EXISTS);
      if (n) {
        tree.lookup(p, DEP_CONTENT);
        return { path: p, node: n };
      }
    }
    return { path: '/', node: tree.lookup('/', DEP_CONTENT)! };
  }

  /**
   * Xen's get_node: the node if the caller has `need` on it; otherwise ENOENT
   * or EACCES, where EACCES hides existence unless the nearest ancestor grants `need`.
   */
  private getNode(tree: Tree, caller: Caller, path: string, need: number, dep = DEP_CONTENT): NodeView {
    const n = tree.lookup(path, dep | DEP_CONTENT);
    if (n && hasPerm(caller, n.perms, need)) return n;
    const errno = n ? 'EACCES' : 'ENOENT';
    if (path === '/') fail(errno);
    const anc = this.nearestAncestor(tree, path);
    return fail(hasPerm(caller, anc.node.perms, need) ? errno : 'EACCES');
  }

  private unprivileged(conn: Connection): boolean {
    return conn.id !== 0;
  }

  private fire(tree: Tree, tx: Transaction | undefined, path: string, recursive: boolean): void {
    if (tx) {
      const prev = tx.events.get(path);
      tx.events.set(path, (prev ?? false) || recursive);
    } else this.fireWatches(path, recursive);
    void tree;
  }

  /** Queues events for every watch the change at `path` matches, in connection then watch order. */
  fireWatches(path: string, recursive: boolean): void {
    const seq = this.store.seq;
    for (const { conn, watch: w, path: at } of this.watches.matches(path, recursive)) {
      let ep = at;
      if (w.relative && conn.home && ep.startsWith(conn.home + '/')) ep = ep.slice(conn.home.length + 1);
      conn.sendEvent(encodeMessage(XsType.WATCH_EVENT, 0, 0, `${ep}\0${w.token}\0`), seq);
    }
  }

  /** Creates `path` and its missing parents, as WRITE and MKDIR do. */
  private createPath(tree: Tree, conn: Connection, path: string, value: Buffer): void {
    const missing: string[] = [path];
    let p = path;
    let anc: NodeView | undefined;
    let ancPath = '/';
    while (p !== '/') {
      p = parentOf(p);
      const n = tree.lookup(p, p === '/' ? DEP_CONTENT : DEP_EXISTS);
      if (n) {
        tree.lookup(p, DEP_CONTENT);
        anc = n;
        ancPath = p;
        break;
      }
      missing.push(p);
    }
    if (!anc) fail('ENOENT');
    if (!hasPerm(conn, anc!.perms, PERM_WRITE)) fail('EACCES');
    missing.reverse();
    // New nodes copy the parent's perms; a domain owns what it creates.
    const inherit = (perms: readonly XsPerm[]): XsPerm[] => {
      const out = perms.map((x) => ({ ...x }));
      if (this.unprivileged(conn) && out[0]) out[0].id = conn.id;
      return out;
    };
    const perms = inherit(anc!.perms);
    if (this.unprivileged(conn)) {
      if (tree.ownedCount(conn.id) + missing.length > this.quotas.entryNb) fail('ENOSPC');
      const first = missing[0]!;
      const grown = new Set(anc!.children);
      grown.add(first.slice(first.lastIndexOf('/') + 1));
      if (entrySize(anc!.value, anc!.perms.length, grown) >= this.quotas.entrySize) fail('ENOSPC');
      if (entrySize(value, perms.length, new Set()) >= this.quotas.entrySize) fail('ENOSPC');
    }
    void ancPath;
    for (let i = 0; i < missing.length; i++) {
      tree.createNode(missing[i]!, i === missing.length - 1 ? value : Buffer.alloc(0), perms.map((x) => ({ ...x })));
    }
  }

  // ---- handlers ----

  private doRead(conn: Connection, msg: XsMessage, tree: Tree): void {
    const path = this.nodePath(conn, oneArg(msg));
    const n = this.getNode(tree, conn, path, PERM_READ);
    this.reply(conn, msg, n.value);
  }

  private doWrite(conn: Connection, msg: XsMessage, tree: Tree, tx: Transaction | undefined): void {
    const nul = msg.payload.indexOf(0);
    if (nul < 0) fail('EINVAL');
    const path = this.nodePath(conn, msg.payload.toString('utf8', 0, nul));
    const value = Buffer.from(msg.payload.subarray(nul + 1));
    const n = tree.lookup(path, DEP_CONTENT);
    if (n) {
      if (!hasPerm(conn, n.perms, PERM_WRITE)) this.getNode(tree, conn, path, PERM_WRITE);
      if (this.unprivileged(conn) && entrySize(value, n.perms.length, n.children) >= this.quotas.entrySize) fail('ENOSPC');
      tree.setValue(path, value);
    } else {
      this.createPath(tree, conn, path, value);
    }
    this.fire(tree, tx, path, false);
    this.reply(conn, msg, OK);
  }

  private doMkdir(conn: Connection, msg: XsMessage, tree: Tree, tx: Transaction | undefined): void {
    const path = this.nodePath(conn, oneArg(msg));
    const n = tree.lookup(path, DEP_EXISTS);
    if (n) {
      this.getNode(tree, conn, path, PERM_WRITE);
    } else {
      this.createPath(tree, conn, path, Buffer.alloc(0));
      this.fire(tree, tx, path, false);
    }
    this.reply(conn, msg, OK);
  }

  private doRm(conn: Connection, msg: XsMessage, tree: Tree, tx: Transaction | undefined): void {
    const path = this.nodePath(conn, oneArg(msg));
    const n = tree.lookup(path, DEP_CONTENT);
    if (!n) {
      // Not there: fine if the parent exists (after the usual access hiding).
      try {
        this.getNode(tree, conn, path, PERM_WRITE);
      } catch (e) {
        if (!(e instanceof XsError) || e.code !== 'ENOENT') throw e;
        if (tree.lookup(parentOf(path), DEP_EXISTS)) return this.reply(conn, msg, OK);
        throw e;
      }
    }
    this.getNode(tree, conn, path, PERM_WRITE);
    if (path === '/') fail('EINVAL');
    tree.removeNode(path);
    this.fire(tree, tx, path, true);
    this.reply(conn, msg, OK);
  }

  private doDirectory(conn: Connection, msg: XsMessage, tree: Tree): void {
    const path = this.nodePath(conn, oneArg(msg));
    const n = this.getNode(tree, conn, path, PERM_READ, DEP_CHILDREN);
    const body = childrenBytes(n);
    if (body.length > XENSTORE_PAYLOAD_MAX) fail('E2BIG');
    this.reply(conn, msg, body);
  }

  private doDirectoryPart(conn: Connection, msg: XsMessage, tree: Tree): void {
    const args = strictArgs(msg, 2);
    const path = this.nodePath(conn, args[0]!);
    if (!/^[0-9]+$/.test(args[1]!)) fail('EINVAL');
    const offset = parseInt(args[1]!, 10);
    const n = this.getNode(tree, conn, path, PERM_READ, DEP_CHILDREN);
    const gen = Buffer.from(`${tree.childGeneration(path)}\0`);
    const all = childrenBytes(n);
    if (offset > all.length) fail('EINVAL');
    const room = XENSTORE_PAYLOAD_MAX - gen.length - 1;
    const rest = all.subarray(offset);
    let body: Buffer;
    if (rest.length <= room) body = Buffer.concat([rest, Buffer.from([0])]);
    else {
      // Cut after the last whole name that fits.
      const cut = rest.subarray(0, room + 1).lastIndexOf(0);
      if (cut < 0) fail('E2BIG');
      body = rest.subarray(0, cut + 1);
    }
    this.reply(conn, msg, Buffer.concat([gen, body]));
  }

  private doGetPerms(conn: Connection, msg: XsMessage, tree: Tree): void {
    const path = this.nodePath(conn, oneArg(msg));
    const n = this.getNode(tree, conn, path, PERM_READ);
    const body = Buffer.from(n.perms.map((p) => formatPerm(p) + '\0').join(''));
    if (body.length > XENSTORE_PAYLOAD_MAX) fail('E2BIG');
    this.reply(conn, msg, body);
  }

  private doSetPerms(conn: Connection, msg: XsMessage, tree: Tree, tx: Transaction | undefined): void {
    const strs = splitStrings(msg.payload);
    if (strs.length < 2 || msg.payload[msg.payload.length - 1] !== 0) fail('EINVAL');
    const path = this.nodePath(conn, strs[0]!);
    const perms: XsPerm[] = [];
    for (const s of strs.slice(1)) {
      const p = parsePerm(s);
      if (!p) fail('EINVAL');
      perms.push(p!);
    }
    const n = this.getNode(tree, conn, path, PERM_WRITE | PERM_OWNER);
    // An unprivileged owner may not give the node away (EPERM, which goes out as EINVAL).
    if (this.unprivileged(conn) && perms[0]!.id !== n.perms[0]?.id) fail('EPERM');
    if (this.unprivileged(conn) && entrySize(n.value, perms.length, n.children) >= this.quotas.entrySize) fail('ENOSPC');
    tree.setPerms(path, perms);
    this.fire(tree, tx, path, false);
    this.reply(conn, msg, OK);
  }

  private doWatch(conn: Connection, msg: XsMessage): void {
    const [raw, token] = strictArgs(msg, 2) as [string, string];
    const relative = !raw.startsWith('/') && !raw.startsWith('@');
    const path = canonicalize(raw, conn.home);
    if (!isValidWatchPath(path)) fail('EINVAL');
    if (conn.watches.some((w) => w.path === path && w.token === token)) fail('EEXIST');
    if (this.unprivileged(conn) && conn.watches.length >= this.quotas.watchNb) fail('E2BIG');
    this.watches.add(conn, { path, token, relative });
    this.reply(conn, msg, OK);
    // The initial event, right after the ack, for the path as the client gave it.
    conn.sendEvent(encodeMessage(XsType.WATCH_EVENT, 0, 0, `${relative ? raw : path}\0${token}\0`), this.store.seq);
  }

  private doUnwatch(conn: Connection, msg: XsMessage): void {
    const [raw, token] = strictArgs(msg, 2) as [string, string];
    const path = canonicalize(raw, conn.home);
    if (!this.watches.remove(conn, path, token)) fail('ENOENT');
    this.reply(conn, msg, OK);
  }

  private doTransactionStart(conn: Connection, msg: XsMessage, tx: Transaction | undefined): void {
    if (tx) fail('EBUSY');
    if (this.unprivileged(conn) && conn.transactions.size >= this.quotas.transaction) fail('ENOSPC');
    let id = conn.nextTxId;
    while (id === 0 || conn.transactions.has(id)) id = (id + 1) >>> 0;
    conn.nextTxId = (id + 1) >>> 0;
    conn.transactions.set(id, new Transaction(id, this.store, this.conflictMode));
    this.reply(conn, msg, `${id}\0`);
  }

  private doTransactionEnd(conn: Connection, msg: XsMessage, tx: Transaction | undefined): void {
    if (!tx) fail('ENOENT');
    const arg = oneArg(msg);
    if (arg !== 'T' && arg !== 'F') fail('EINVAL');
    conn.transactions.delete(tx!.id);
    if (arg === 'T') {
      if (tx!.conflicts()) {
        this.counters.conflicts++;
        fail('EAGAIN');
      }
      if (tx!.changed) {
        tx!.apply();
        for (const [path, recursive] of tx!.events) this.fireWatches(path, recursive);
      }
      this.counters.commits++;
    }
    this.reply(conn, msg, OK);
  }

  private requireDom0(conn: Connection, writable = true): void {
    if (conn.id !== 0 || (writable && conn.readonly)) fail('EACCES');
  }

  private async doIntroduce(conn: Connection, msg: XsMessage): Promise<void> {
    this.requireDom0(conn);
    const strs = splitStrings(msg.payload);
    if (strs.length < 3) fail('EINVAL');
    const domid = atoi(strs[0]!);
    const mfn = atoi(strs[1]!);
    const port = atoi(strs[2]!);
    if (port <= 0 || domid <= 0 || domid > MAX_DOMID) fail('EINVAL');
    const known = this.domains.get(domid);
    if (known) {
      if (known.mfn !== mfn) fail('EINVAL');
      // Same page again (resume): rebind the event channel, reset the connection.
      if (known.conn instanceof StreamConnection && this.streamProvider) {
        known.conn.replaceStream(await this.streamProvider.attach(domid, mfn, port));
      } else if (known.conn instanceof RingConnection && this.ringProvider) {
        const rc = known.conn;
        const ch = await this.ringProvider.bindInterdomain(domid, port);
        rc.evtchn.close();
        (rc as { evtchn: unknown }).evtchn = ch;
        ch.onEvent(() => rc.kick());
      }
      known.port = port;
      if (known.conn) this.resetConnection(known.conn);
      this.reply(conn, msg, OK);
      return;
    }
    const dom: Domain = { domid, mfn, port, conn: undefined, shutdownReported: false };
    this.domains.set(domid, dom);
    if (this.streamProvider) {
      try {
        const s = await this.streamProvider.attach(domid, mfn, port);
        const sc = new StreamConnection(this, domid, s);
        dom.conn = sc;
        this.addConnection(sc);
      } catch (e) {
        this.domains.delete(domid);
        this.log(`introduce ${domid}: cannot attach ring: ${e instanceof Error ? e.message : String(e)}`);
        fail('EINVAL');
      }
    } else if (this.ringProvider) {
      try {
        const page = await this.ringProvider.map(domid, mfn);
        const ch = await this.ringProvider.bindInterdomain(domid, port);
        resetRing(page);
        const provider = this.ringProvider;
        const rc = new RingConnection(this, domid, page, ch, () => provider.unmap?.(domid, page));
        dom.conn = rc;
        this.addConnection(rc);
      } catch (e) {
        this.domains.delete(domid);
        this.log(`introduce ${domid}: cannot attach ring: ${e instanceof Error ? e.message : String(e)}`);
        fail('EINVAL');
      }
    }
    this.log(`introduced domain ${domid} (mfn ${mfn}, port ${port})${dom.conn ? '' : ' without a ring'}`);
    this.fireWatches('@introduceDomain', false);
    this.reply(conn, msg, OK);
    this.onChange();
  }

  private resetConnection(c: Connection): void {
    this.watches.removeAll(c);
    c.transactions.clear();
  }

  private doRelease(conn: Connection, msg: XsMessage): void {
    const domid = atoi(oneArg(msg));
    if (domid === 0) fail('EINVAL');
    this.requireDom0(conn);
    if (!this.domains.has(domid)) fail('ENOENT');
    this.destroyDomain(domid, 'released');
    this.reply(conn, msg, OK);
  }

  /**
   * Drops a domain: its connection, the nodes it owned, then @releaseDomain.
   * Used by RELEASE and when the host reports the domain dead.
   */
  destroyDomain(domid: number, why: string): boolean {
    const dom = this.domains.get(domid);
    if (!dom || domid === 0) return false;
    this.domains.delete(domid);
    dom.conn?.drop(why);
    for (const root of this.store.ownedRoots(domid)) {
      if (!this.store.get(root)) continue;
      this.store.removeNode(root);
      this.fireWatches(root, true);
    }
    this.log(`domain ${domid} ${why}`);
    this.fireWatches('@releaseDomain', false);
    this.onChange();
    return true;
  }

  /** The host saw the domain shut down or crash (VIRQ_DOM_EXC): @releaseDomain, once until RESUME. */
  domainShutdown(domid: number): boolean {
    const dom = this.domains.get(domid);
    if (!dom || dom.shutdownReported) return false;
    dom.shutdownReported = true;
    this.fireWatches('@releaseDomain', false);
    this.onChange();
    return true;
  }

  private doIsIntroduced(conn: Connection, msg: XsMessage): void {
    const domid = atoi(oneArg(msg));
    this.reply(conn, msg, domid === DOMID_SELF || this.domains.has(domid) ? 'T\0' : 'F\0');
  }

  private doResume(conn: Connection, msg: XsMessage): void {
    const domid = atoi(oneArg(msg));
    this.requireDom0(conn);
    const dom = this.domains.get(domid);
    if (!dom) fail('ENOENT');
    dom!.shutdownReported = false;
    this.reply(conn, msg, OK);
  }

  private doSetTarget(conn: Connection, msg: XsMessage): void {
    const strs = splitStrings(msg.payload);
    if (strs.length < 2) fail('EINVAL');
    this.requireDom0(conn);
    const domid = atoi(strs[0]!);
    const target = atoi(strs[1]!);
    const dom = this.domains.get(domid);
    if (!dom) fail('ENOENT');
    if (!this.domains.has(target)) fail('ENOENT');
    if (dom!.conn) dom!.conn.target = target;
    this.reply(conn, msg, OK);
  }

  private doResetWatches(conn: Connection, msg: XsMessage): void {
    this.resetConnection(conn);
    this.reply(conn, msg, OK);
  }

  private doControl(conn: Connection, msg: XsMessage): void {
    if (conn.id !== 0) fail('EACCES');
    const strs = splitStrings(msg.payload);
    if (strs[0] === 'print') {
      if (strs.length < 2) fail('EINVAL');
      this.log(`control print: ${strs[1]}`);
    } else if (strs[0] === 'check') {
      const bad = this.checkTree();
      if (bad) this.log(`control check: ${bad}`);
    }
    this.reply(conn, msg, OK);
  }

  /** Internal consistency check: every child listed exists and every node's parent lists it. */
  checkTree(): string | undefined {
    for (const [p, n] of this.store.nodes) {
      for (const c of n.children) if (!this.store.get(p === '/' ? `/${c}` : `${p}/${c}`)) return `${p} lists missing child ${c}`;
      if (p !== '/') {
        const parent = this.store.get(parentOf(p));
        if (!parent || !parent.children.has(p.slice(p.lastIndexOf('/') + 1))) return `${p} not listed by its parent`;
      }
    }
    return undefined;
  }
}

function childrenBytes(n: NodeView): Buffer {
  let s = '';
  for (const c of n.children) s += c + '\0';
  return Buffer.from(s, 'utf8');
}

/** The single argument of a one-argument request: exactly one NUL, as the last byte. */
function oneArg(msg: XsMessage): string {
  const p = msg.payload;
  if (p.length === 0 || p[p.length - 1] !== 0 || countNuls(p) !== 1) fail('EINVAL');
  return p.toString('utf8', 0, p.length - 1);
}

/** Exactly `n` NUL-terminated strings. */
function strictArgs(msg: XsMessage, n: number): string[] {
  const p = msg.payload;
  if (p.length === 0 || p[p.length - 1] !== 0 || countNuls(p) !== n) fail('EINVAL');
  return splitStrings(p);
}

/** C atoi: leading decimal digits, else 0. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? parseInt(m[1]!, 10) : 0;
}
