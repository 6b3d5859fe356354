// The daemon as a library: sockets, LevelDB, the core, wired together.
// `startXenstored` is what `main.ts` (the `xenstored` binary) runs, and what
// tests and the `npm start` orchestrator can run in-process.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SocketConnection } from './connection.js';
import { XenstoreCore, type Limits, type Quotas } from './core.js';
import { Persistence } from './persist.js';
import type { ConflictMode } from './transaction.js';
import type { DomainRingProvider } from './ring.js';

export interface XenstoredOptions {
  /** Root of all state; default $XEN_STATE_DIR or ./var. */
  stateDir?: string;
  /** Read-write socket; default $XENSTORED_PATH or <rundir>/socket. */
  socketPath?: string;
  /** Read-only socket; default <rundir>/socket_ro. */
  roSocketPath?: string;
  /** LevelDB directory; default $XENSTORED_ROOTDIR or <stateDir>/lib/xenstored. */
  dbDir?: string;
  quotas?: Partial<Quotas>;
  limits?: Partial<Limits>;
  conflictMode?: ConflictMode;
  ringProvider?: DomainRingProvider;
  /** Remove /local at start-up, as 3.2 does without --preserve-local (default: keep it). */
  clearLocal?: boolean;
  /** Log sink (one line per call); default stderr. */
  log?: (msg: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface XenstoredPaths {
  stateDir: string;
  rundir: string;
  socketPath: string;
  roSocketPath: string;
  dbDir: string;
}

/** Resolves the daemon's paths the way the C tools look for them. */
export function resolvePaths(opts: XenstoredOptions = {}): XenstoredPaths {
  const env = opts.env ?? process.env;
  const stateDir = path.resolve(opts.stateDir ?? env.XEN_STATE_DIR ?? './var');
  const rundir = path.resolve(env.XENSTORED_RUNDIR ?? path.join(stateDir, 'run', 'xenstored'));
  return {
    stateDir,
    rundir,
    socketPath: path.resolve(opts.socketPath ?? env.XENSTORED_PATH ?? path.join(rundir, 'socket')),
    roSocketPath: path.resolve(opts.roSocketPath ?? path.join(rundir, 'socket_ro')),
    dbDir: path.resolve(opts.dbDir ?? env.XENSTORED_ROOTDIR ?? path.join(stateDir, 'lib', 'xenstored')),
  };
}

export interface Xenstored extends XenstoredPaths {
  readonly core: XenstoreCore;
  /** Stops listening, drops clients, flushes to disk. */
  close(): Promise<void>;
  /** The host reports a domain dead (dying or gone): connection and owned nodes go, @releaseDomain fires. */
  domainDied(domid: number): boolean;
  /** The host reports a domain shut down or crashed: @releaseDomain fires once until RESUME. */
  domainShutdown(domid: number): boolean;
  /** Attaches the hypervisor's ring provider (domains introduced later get rings). */
  setRingProvider(p: DomainRingProvider): void;
  stats(): XenstoredStats;
}

export interface XenstoredStats {
  nodes: number;
  connections: number;
  domains: number;
  generation: number;
  durableGeneration: number;
  batches: number;
  requests: number;
  errors: number;
  droppedConnections: number;
  commits: number;
  conflicts: number;
  maxQueuedEvents: number;
  droppedEvents: number;
}

function listen(server: net.Server, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function removeStaleSocket(p: string): void {
  try {
    if (fs.lstatSync(p).isSocket()) fs.unlinkSync(p);
  } catch {
    /* absent */
  }
}

export async function startXenstored(opts: XenstoredOptions = {}): Promise<Xenstored> {
  const paths = resolvePaths(opts);
  const log = opts.log ?? ((m: string) => process.stderr.write(`xenstored: ${m}\n`));
  const core = new XenstoreCore({
    quotas: opts.quotas, limits: opts.limits, conflictMode: opts.conflictMode, ringProvider: opts.ringProvider, log,
  });
  fs.mkdirSync(paths.dbDir, { recursive: true, mode: 0o700 });
  let fatal: Error | undefined;
  const persist = new Persistence(paths.dbDir, core.store, (seq) => core.markDurable(seq), (e) => {
    // Nothing more can be acknowledged: stop serving rather than lie.
    fatal = e;
    log(`FATAL: cannot write the database: ${e.message}`);
    for (const c of [...core.connections]) c.drop('database failure');
  });
  await persist.open();
  const loaded = await persist.load();
  core.store.sink = persist;
  core.initTree();
  if (opts.clearLocal && core.store.get('/local')) core.store.removeNode('/local');
  core.onChange = () => persist.schedule();
  await persist.flush();
  log(`loaded ${loaded} nodes from ${paths.dbDir}`);

  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const serve = async (p: string, readonly: boolean) => {
    fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
    removeStaleSocket(p);
    const server = net.createServer((sock) => {
      if (fatal) return void sock.destroy();
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.setNoDelay(true);
      core.addConnection(new SocketConnection(core, sock, readonly));
    });
    // Create the socket 0600 from the start (no window with a wider mode).
    const oldMask = process.umask(0o177);
    try {
      await listen(server, p);
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(p, 0o600);
    servers.push(server);
  };
  await serve(paths.socketPath, false);
  await serve(paths.roSocketPath, true);

  let closed: Promise<void> | undefined;
  return {
    ...paths,
    core,
    close() {
      if (closed) return closed;
      closed = (async () => {
        // server.close() waits for open connections, so drop them right after it stops accepting.
        const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
        for (const c of [...core.connections]) c.drop('daemon stopping');
        for (const s of sockets) s.destroy();
        await stopped;
        await persist.close();
        for (const p of [paths.socketPath, paths.roSocketPath]) removeStaleSocket(p);
      })();
      return closed;
    },
    domainDied: (domid) => core.destroyDomain(domid, 'died'),
    domainShutdown: (domid) => core.domainShutdown(domid),
    setRingProvider: (p) => {
      core.ringProvider = p;
    },
    stats() {
      let maxQ = 0;
      let dropped = 0;
      for (const c of core.connections) {
        maxQ = Math.max(maxQ, c.pendingEvents);
        dropped += c.droppedEvents;
      }
      return {
        nodes: core.store.nodes.size,
        connections: core.connections.size,
        domains: core.domains.size,
        generation: core.store.seq,
        durableGeneration: persist.durableSeq,
        batches: persist.batches,
        requests: core.counters.requests,
        errors: core.counters.errors,
        droppedConnections: core.counters.dropped,
        commits: core.counters.commits,
        conflicts: core.counters.conflicts,
        maxQueuedEvents: maxQ,
        droppedEvents: dropped,
      };
    },
  };
}
