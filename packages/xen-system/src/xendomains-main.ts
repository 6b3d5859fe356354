// `xendomains start|stop|status` (xendomains.service runs start and stop).

import { XendClient } from '@xenwasm/xm/xmlrpc-client';
import { autoConfigs, optionsFromEnv, xendomainsStart, xendomainsStop } from './xendomains.js';

const log = (l: string) => process.stderr.write(`xendomains: ${l}\n`);
const action = process.argv[2];
const client = new XendClient();
const o = optionsFromEnv(process.env, client, log);

try {
  if (action === 'start') {
    const r = await xendomainsStart(o);
    log(`started ${r.started.length}, already running ${r.skipped.length}, failed ${r.failed.length}`);
    // A failure is logged, not fatal: the unit must stay active so that its stop runs at shutdown.
  } else if (action === 'stop') {
    const r = await xendomainsStop(o);
    log(`shut down ${r.shutDown.length}, destroyed ${r.destroyed.length}, failed ${r.failed.length}`);
    if (r.failed.length) process.exitCode = 1;
  } else if (action === 'status') {
    for (const f of autoConfigs(o.autoDir)) process.stdout.write(`${f}\n`);
  } else {
    process.stderr.write('Usage: xendomains start|stop|status\n');
    process.exitCode = 2;
  }
} catch (e) {
  log((e as Error).message);
  process.exitCode = 1;
} finally {
  client.close();
}
