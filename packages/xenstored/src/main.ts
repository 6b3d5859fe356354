#!/usr/bin/env node
// `xenstored`: runs the store daemon in the foreground (there is no fork
// mode: systemd or the orchestrator supervises it). Flags keep Xen's names.

import fs from 'node:fs';
import path from 'node:path';
import { attachHypervisor } from './xc-host.js';
import { startXenstored, type XenstoredOptions } from './daemon.js';
import { notify as sdNotify, watchParent } from '@xenwasm/sd-daemon';
import type { Quotas } from './core.js';

const USAGE = `Usage: xenstored [options]
  -E, --entry-nb N        nodes an unprivileged domain may own (default 1000)
  -S, --entry-size N      node record size limit for domains (default 2048)
  -W, --watch-nb N        watches per domain (default 128)
  -t, --transaction N     open transactions per domain (default 10)
  -Q, --request-nb N      replies a domain may have pending before it is paused (default 20)
      --txn-conflict M    node (default: per-node conflicts) or global (Xen 3.2: any change)
      --watch-event-queue N   queued watch events per connection before discarding (default 4096)
      --max-output-bytes N    unread output before a client is dropped (default 4194304)
  -D, --no-domain-init    accepted for compatibility
  -N, --no-fork           accepted (always in the foreground)
  -F, --pid-file FILE     write the pid to FILE
  -P, --output-pid        print the pid on stdout
  -L, --preserve-local    keep /local at start-up (the default here)
      --clear-local       remove /local at start-up, as 3.2 does without -L
  -V, --verbose           log every dropped connection and domain change (default)
  -H, --help              this text
Environment: XEN_STATE_DIR (default ./var), XENSTORED_RUNDIR, XENSTORED_PATH,
XENSTORED_ROOTDIR, NOTIFY_SOCKET.`;

function parseArgs(argv: string[]): { opts: XenstoredOptions; pidFile?: string; outputPid: boolean } {
  const quotas: Partial<Quotas> = {};
  const opts: XenstoredOptions = { quotas, limits: {} };
  let pidFile: string | undefined;
  let outputPid = false;
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0) {
      process.stderr.write(`xenstored: ${flag} needs a non-negative integer\n`);
      process.exit(2);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => val ?? argv[++i];
    switch (a) {
      case '-E': case '--entry-nb': quotas.entryNb = num(a, next()); break;
      case '-S': case '--entry-size': quotas.entrySize = num(a, next()); break;
      case '-W': case '--watch-nb': quotas.watchNb = num(a, next()); break;
      case '-t': case '--transaction': quotas.transaction = num(a, next()); break;
      case '-Q': case '--request-nb': quotas.requestNb = num(a, next()); break;
      case '--watch-event-queue': opts.limits!.maxWatchEvents = num(a, next()); break;
      case '--max-output-bytes': opts.limits!.maxOutputBytes = num(a, next()); break;
      case '--txn-conflict': {
        const m = next();
        if (m !== 'node' && m !== 'global') {
          process.stderr.write('xenstored: --txn-conflict is node or global\n');
          process.exit(2);
        }
        opts.conflictMode = m;
        break;
      }
      case '-F': case '--pid-file': pidFile = next(); break;
      case '-P': case '--output-pid': outputPid = true; break;
      case '--clear-local': opts.clearLocal = true; break;
      case '-D': case '--no-domain-init': case '-N': case '--no-fork': case '-L': case '--preserve-local':
      case '-V': case '--verbose': case '-R': case '--no-recovery':
        break;
      case '-T': case '--trace-file': next(); break;
      case '-H': case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        process.stderr.write(`xenstored: unknown option ${a}\n${USAGE}\n`);
        process.exit(2);
    }
  }
  return { opts, pidFile, outputPid };
}

async function main(): Promise<void> {
  const { opts, pidFile, outputPid } = parseArgs(process.argv.slice(2));
  const d = await startXenstored(opts);
  // With a hypervisor host running (the usual case), serve guests' rings and
  // learn of domain deaths from it; alone, serve sockets only.
  const stateDir = path.resolve(process.env.XEN_STATE_DIR ?? './var');
  const hv = await attachHypervisor(d.core, path.join(stateDir, 'run', 'xen', 'privcmd.sock'), (m) =>
    process.stderr.write(`xenstored: ${m}\n`),
  ).catch((e) => {
    process.stderr.write(`xenstored: cannot attach to the hypervisor: ${(e as Error).message}\n`);
    return null;
  });
  if (pidFile) fs.writeFileSync(pidFile, `${process.pid}\n`);
  if (outputPid) process.stdout.write(`${process.pid}\n`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`xenstored: ${sig}, stopping\n`);
    void sdNotify('STOPPING=1');
    hv?.close();
    d.close().then(
      () => {
        if (pidFile) fs.rmSync(pidFile, { force: true });
        process.exit(0);
      },
      (e) => {
        process.stderr.write(`xenstored: close failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  watchParent(() => stop('parent gone'));
  process.stderr.write(`xenstored: ready on ${d.socketPath} (ro ${d.roSocketPath}), database ${d.dbDir}\n`);
  await sdNotify(`READY=1\nMAINPID=${process.pid}`, { log: (m) => process.stderr.write(`xenstored: ${m}\n`) });
}

main().catch((e) => {
  process.stderr.write(`xenstored: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
