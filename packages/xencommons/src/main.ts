#!/usr/bin/env node
// `xencommons` (what `npm start` runs): the whole stack in the foreground.
// Ctrl-C or SIGTERM stops the daemons in reverse order and exits 0.

import path from 'node:path';
import { Command } from 'commander';
import { startStack } from './stack.js';

const program = new Command()
  .name('xencommons')
  .description('Start xen, xenstored, xenconsoled (when present) and xend for $XEN_STATE_DIR (default ./var)')
  .option('--nr-cpus <n>', 'pCPUs for the hypervisor (default: host cores)')
  .option('--mem <MiB>', 'hypervisor memory pool in MiB')
  .option('--dom0-mem <MiB>', "Domain-0's memory in MiB")
  .parse();
const o = program.opts<{ nrCpus?: string; mem?: string; dom0Mem?: string }>();
const xenArgs: string[] = [];
if (o.nrCpus) xenArgs.push('--nr-cpus', o.nrCpus);
if (o.mem) xenArgs.push('--mem', o.mem);
if (o.dom0Mem) xenArgs.push('--dom0-mem', o.dom0Mem);

const log = (m: string) => process.stderr.write(`xencommons: ${m}\n`);
let stopping = false;

const stack = await startStack({
  xenArgs,
  onUnexpectedExit(name, code, signal) {
    if (stopping) return;
    if (name === 'xen') {
      log(`the hypervisor exited (${signal ?? code}); stopping the stack`);
      void shutdown(1);
      return;
    }
    // Like xencommons, no supervision: the rest keeps running and the daemon can be started again by hand.
    log(`${name} exited (${signal ?? code}); the other daemons keep running. Start it again with: ` +
      `XEN_STATE_DIR=${stack.stateDir} node ${stack.daemons.find((d) => d.spec.name === name)?.spec.main ?? name}`);
  },
}).catch((e) => {
  log(`cannot start the stack: ${(e as Error).message}`);
  process.exit(1);
});

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`stopping ${[...stack.daemons].reverse().map((d) => d.spec.name).join(', ')}`);
  await stack.stop();
  log('stopped');
  process.exit(code);
}

const rel = path.relative(process.cwd(), stack.stateDir) || '.';
const shown = rel.startsWith('..') ? '' : ` (./${rel})`;
const envHint = process.env.XEN_STATE_DIR ? `XEN_STATE_DIR=${stack.stateDir} ` : '';
process.stdout.write(
  `Xen stack ready: ${stack.daemons.map((d) => `${d.spec.name} (pid ${d.proc.pid})`).join(', ')}\n` +
  `State in ${stack.stateDir}${shown}: sockets under run/, logs under log/.\n` +
  `Manage domains from another terminal in this directory:\n` +
  `  ${envHint}npx xm list\n` +
  `  ${envHint}npx xm create examples/hello.cfg\n` +
  `Ctrl-C stops the stack (running domains go with the hypervisor).\n`,
);

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
