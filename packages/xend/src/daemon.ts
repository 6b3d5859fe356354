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
  /** Stop serving; running domains are left alone (on_xend_stop = ignore). */
  close(): Promise<void>;
}

export async function startXend(opts: XendDaemonOptions = {}): Promise<XendDaemon> {
  const stateDir = path.resolve(opts.stateDir ?? process.env.XEN_STATE_DIR ?? './var');
  const options = await readXendConfig(stateDir);
  const log = new XendLog(options.logfile, options.loglevel, opts.stderr ?? true);
  for (const w of options.warnings) log.warn('XendOptions', w);
  const xc = await Xc.open(path.join(stateDir, 'run', 'xen', 'privcmd.sock'));
  const xs = await Xs.connect({ path: path.join(stateDir, 'run', 'xenstored', 'socket') });
  const table = new XendDomain({ xc, xs, log, consoleLimitKiB: options.consoleLimit });
  await table.start();
  const server = new XendXmlRpcServer({ log: (l) => log.error('XMLRPCServer', l) });
  registerXendMethods(server, table, xc, log, xs);
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
  log.info('SrvServer', `xend started: ${table.size} domain(s), XML-RPC on ${[unixSocket, tcp && `${tcp.host}:${tcp.port}`].filter(Boolean).join(' and ') || 'nothing'}`);
  return {
    stateDir, options, table, server, unixSocket, tcp, log,
    async close() {
      await server.close();
      await table.stop();
      await xs.close();
      xc.close();
      log.info('SrvServer', 'xend stopped');
      log.close();
    },
  };
}
