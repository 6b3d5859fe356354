// xend as a library: xend-config.sxp, libxc and xenstore connections, the
// domain table, and the XML-RPC listeners. main.ts (the `xend` binary) runs
// it; tests and benchmarks may run it in-process.

import path from 'node:path';
import { Xc } from '@xenwasm/libxc';
import { Xs } from '@xenwasm/xs';
import { readXendConfig, type XendOptions } from './xend-config.js';
import { XendXmlRpcServer } from './xmlrpc-server.js';
import { XendDomain } from './domain-table.js';
import { XendLog } from './xend-log.js';
import { registerXendMethods } from './xmlrpc-methods.js';
import { ManagedDomains, registerManagedMethods } from './managed-domains.js';
import { reloadXendConfig, type ReloadResult } from './xend-reload.js';

export interface XendDaemonOptions {
  stateDir?: string;
  /** Log lines on stderr too (default true). */
  stderr?: boolean;
}

export interface XendDaemon {
  stateDir: string;
  options: XendOptions;
  table: XendDomain;
  server: XendXmlRpcServer;
  /** Where the listeners are. */
  unixSocket?: string;
  tcp?: { host: string; port: number };
  log: XendLog;
  /** Defined (xm new) domains, stored under xend-domains-path. */
  managed: ManagedDomains;
  /** Read xend-config.sxp again (SIGHUP); domains are left alone. */
  reload(): Promise<ReloadResult>;
  /** Stop serving; running domains are left alone (on_xend_stop = ignore). */
  close(): Promise<void>;
}

export async function startXend(opts: XendDaemonOptions = {}): Promise<XendDaemon> {
  const stateDir = path.resolve(opts.stateDir ?? process.env.XEN_STATE_DIR ?? './var');
  const options = await readXendConfig(stateDir);
  const log = new XendLog(options.logfile, options.loglevel, opts.stderr ?? true);
  for (const w of options.warnings) log.warn('XendOptions', w);
  const xc = await Xc.open(path.join(stateDir, 'run', 'xen', 'privcmd.sock'));
  // xenstored may be restarted under us: the client reconnects, and the
  // table re-reads the hypervisor for what happened meanwhile.
  const xs = await Xs.connect({ path: path.join(stateDir, 'run', 'xenstored', 'socket'), reconnect: true });
  const ctx = { xc, xs, log, consoleLimitKiB: options.consoleLimit };
  const table = new XendDomain(ctx);
  xs.on('lost', (e: Error) => log.error('XendDomain', `lost xenstored (${e.message}); reconnecting`));
  xs.on('reconnect', () => {
    log.info('XendDomain', 'reconnected to xenstored');
    table.kick();
  });
  await table.start();
  const server = new XendXmlRpcServer({ log: (l) => log.error('XMLRPCServer', l) });
  registerXendMethods(server, table, xc, log, xs);
  const managed = new ManagedDomains(options.domainsPath, table, log);
  await managed.load();
  registerManagedMethods(server, table, managed);
  let unixSocket: string | undefined;
  let tcp: { host: string; port: number } | undefined;
  if (options.unixXmlRpc) {
    unixSocket = options.xmlrpcSocket;
    await server.listenUnix(unixSocket);
  }
  const t = options.tcpXmlRpc;
  if (t.enabled) {
    const a = await server.listenTcp(t.port, t.host);
    tcp = { host: a.address, port: a.port };
  }
  await managed.autostart();
  log.info('SrvServer', `xend started: ${table.size} domain(s), XML-RPC on ${[unixSocket, tcp && `${tcp.host}:${tcp.port}`].filter(Boolean).join(' and ') || 'nothing'}`);
  const d: XendDaemon = {
    stateDir, options, table, server, unixSocket, tcp, log, managed,
    reload: () => reloadXendConfig({ stateDir, get options() { return d.options; }, set options(o) { d.options = o; }, log, ctx }),
    async close() {
      await server.close();
      await table.stop();
      await xs.close();
      xc.close();
      log.info('SrvServer', 'xend stopped');
      log.close();
    },
  };
  return d;
}
