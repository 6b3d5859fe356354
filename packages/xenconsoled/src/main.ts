#!/usr/bin/env node
// `xenconsoled`: the console daemon in the foreground. Readiness is the line
// `xenconsoled: ready` on stderr; SIGTERM stops it (the guests keep running).
import * as sd from '@xenwasm/sd-daemon';
import { Xenconsoled } from './daemon.js';

const d = new Xenconsoled();
try {
  await d.start();
} catch (e) {
  process.stderr.write(`xenconsoled: cannot start: ${(e as Error).message}\n`);
  process.exit(1);
}
process.stderr.write(`xenconsoled: ready: console socket ${d.socketPath}, logs in ${d.logDir}\n`);
await sd.ready(`console socket ${d.socketPath}`, { log: (m) => process.stderr.write(`xenconsoled: ${m}\n`) });
d.rescan();
let stopping = false;
const stop = (sig: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`xenconsoled: ${sig}, stopping\n`);
  sd.stopping().then(() => d.stop()).then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', () => stop('SIGTERM'));
sd.watchParent(() => stop('parent gone'));
process.on('SIGINT', () => stop('SIGINT'));
