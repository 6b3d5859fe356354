// The dom0 kernel's split-driver backends (blkback, netback) run here, in
// the process that holds every guest's memory: they reach rings and granted
// pages through the Hypervisor's local services, not over privcmd. They
// need xenstored, which starts after us: connect when it is reachable, and
// again if it restarts.
import path from 'node:path';
import { Xs } from '@xenwasm/xs';
import { BackendWatcher } from '@xenwasm/xenbus-backend';
import { Blkback } from '@xenwasm/blkback';
import { Netback } from '@xenwasm/netback';
import type { Hypervisor } from './hypervisor.js';

export interface Backends {
  stop(): Promise<void>;
}

export function startBackends(hv: Hypervisor, stateDir: string, log: (m: string) => void): Backends {
  const sock = process.env.XENSTORED_PATH ?? path.join(stateDir, 'run', 'xenstored', 'socket');
  let stopped = false;
  let xs: Xs | undefined;
  let watchers: BackendWatcher[] = [];
  const netback = new Netback(); // bridges outlive a xenstored restart
  const connect = async (delay: number): Promise<void> => {
    if (stopped) return;
    try {
      xs = await Xs.connect({ path: sock });
    } catch {
      setTimeout(() => void connect(Math.min(delay * 2, 1000)), delay).unref();
      return;
    }
    const mine = xs;
    mine.on('close', () => {
      if (stopped) return;
      log('backends: lost xenstored, reconnecting');
      void Promise.all(watchers.map((w) => w.stop())).then(() => connect(50));
    });
    watchers = [new BackendWatcher(mine, hv, new Blkback(), (m) => log(`blkback: ${m}`)), new BackendWatcher(mine, hv, netback, (m) => log(`netback: ${m}`))];
    try {
      await Promise.all(watchers.map((w) => w.start()));
      log('backends: blkback and netback watching xenstore');
    } catch (e) {
      log(`backends: cannot start: ${(e as Error).message}`);
    }
  };
  void connect(50);
  return {
    async stop() {
      stopped = true;
      await Promise.all(watchers.map((w) => w.stop()));
      await xs?.close().catch(() => undefined);
    },
  };
}
