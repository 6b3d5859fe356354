#!/usr/bin/env node
// `xen`: the hypervisor host process. Boots the core and the executor
// threads, creates Domain-0, and serves dom0 software on the privcmd socket.
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { Hypervisor } from './hypervisor.js';
import { startPrivcmd } from './privcmd-server.js';
import { startBackends } from './backends.js';
import * as sd from '@xenwasm/sd-daemon';

const program = new Command()
  .name('xen')
  .description('XenWasm hypervisor host: the core on every pCPU, Domain-0, privcmd')
  .option('--nr-cpus <n>', 'pCPUs the scheduler hands out (default: host cores)', (v) => parseInt(v, 10))
  .option('--mem <MiB>', 'host memory pool in MiB (default: half the machine, at most 16 GiB)', (v) => parseInt(v, 10))
  .option('--dom0-mem <MiB>', "Domain-0's memory (dom0_mem)", (v) => parseInt(v, 10), 512)
  .parse();
const opts = program.opts<{ nrCpus?: number; mem?: number; dom0Mem: number }>();

const stateDir = path.resolve(process.env.XEN_STATE_DIR ?? 'var');
const log = (m: string) => process.stderr.write(`xen: ${m}\n`);

const cacheDir = path.join(stateDir, 'cache', 'guests');
fs.mkdirSync(cacheDir, { recursive: true });
const hv = await Hypervisor.boot({ nrCpus: opts.nrCpus, totalMemMb: opts.mem, dom0MemMb: opts.dom0Mem, log, cacheDir });
const sockPath = path.join(stateDir, 'run', 'xen', 'privcmd.sock');
const server = await startPrivcmd(hv, sockPath, log);
const backends = startBackends(hv, stateDir, log);
const p = hv.core.physinfo();
log(`ready: ${hv.nrCpus} pCPUs, ${p.totalPages >> 8} MiB, privcmd at ${server.path}`);
// systemd (Type=notify): privcmd is accepting by now.
await sd.ready(`${hv.nrCpus} pCPUs, privcmd at ${server.path}`, { log });

let stopping = false;
async function stop(sig: string) {
  if (stopping) return;
  stopping = true;
  log(`${sig}: stopping`);
  await sd.stopping(undefined, { log });
  await backends.stop();
  await server.close();
  await hv.shutdown();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
sd.watchParent(() => void stop('parent gone'));
process.on('SIGINT', () => void stop('SIGINT'));
