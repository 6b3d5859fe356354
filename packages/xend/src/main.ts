#!/usr/bin/env node
// `xend`: the domain management daemon, in the foreground. Readiness is the
// line `xend: ready` on stderr; SIGTERM/SIGINT stop it without touching the
// running domains.

import { startXend } from './daemon.js';

async function main(): Promise<void> {
  if (process.argv.includes('-h') || process.argv.includes('--help')) {
    process.stdout.write('Usage: xend\n  Serves the legacy XML-RPC API for the stack in $XEN_STATE_DIR (default ./var),\n  configured by $XEN_STATE_DIR/xend-config.sxp.\n');
    return;
  }
  const d = await startXend();
  process.stderr.write(`xend: ready: XML-RPC on ${[d.unixSocket, d.tcp && `${d.tcp.host}:${d.tcp.port}`].filter(Boolean).join(' and ')}\n`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`xend: ${sig}, stopping\n`);
    d.close().then(() => process.exit(0), (e) => {
      process.stderr.write(`xend: close failed: ${(e as Error).message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`xend: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
