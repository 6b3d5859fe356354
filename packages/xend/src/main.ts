#!/usr/bin/env node
// `xend`: the domain management daemon, in the foreground. Readiness is the
// line `xend: ready` on stderr and READY=1 to $NOTIFY_SOCKET; SIGTERM/SIGINT
// stop it without touching the running domains; SIGHUP re-reads
// xend-config.sxp.

import * as sd from '@xenwasm/sd-daemon';
import { startXend } from './daemon.js';

async function main(): Promise<void> {
  if (process.argv.includes('-h') || process.argv.includes('--help')) {
    process.stdout.write('Usage: xend\n  Serves the legacy XML-RPC API for the stack in $XEN_STATE_DIR (default ./var),\n  configured by $XEN_STATE_DIR/xend-config.sxp.\n');
    return;
  }
  const d = await startXend();
  const where = [d.unixSocket, d.tcp && `${d.tcp.host}:${d.tcp.port}`].filter(Boolean).join(' and ');
  const sdlog = (m: string) => process.stderr.write(`xend: ${m}\n`);
  process.stderr.write(`xend: ready: XML-RPC on ${where}\n`);
  await sd.ready(`XML-RPC on ${where}`, { log: sdlog });
  const watchdog = sd.startWatchdog({ log: sdlog });
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      await sd.reloading('reading xend-config.sxp', { log: sdlog });
      const r = await d.reload();
      process.stderr.write(`xend: SIGHUP: ${r.ok ? 'configuration reloaded' : `reload failed: ${r.error}`}\n`);
      await sd.ready(r.ok ? `XML-RPC on ${where}` : `reload failed: ${r.error}`, { log: sdlog });
    });
  });
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`xend: ${sig}, stopping\n`);
    watchdog?.stop();
    sd.stopping(undefined, { log: sdlog }).then(() => reloading).then(() => d.close()).then(() => process.exit(0), (e) => {
      process.stderr.write(`xend: close failed: ${(e as Error).message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  sd.watchParent(() => stop('parent gone'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`xend: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
