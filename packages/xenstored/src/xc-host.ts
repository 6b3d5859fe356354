// xenstored on a real host: the hypervisor is reachable through libxc.
// Guests' rings are run by the host and streamed to us (relay-connection.ts),
// and VIRQ_DOM_EXC tells us when an introduced domain shut down or died, as
// xenstored_domain.c's domain_cleanup does: a domain newly shut down or
// crashed fires @releaseDomain once; one dying or gone loses its connection
// and the nodes it owned.
import fs from 'node:fs';
import { Xc } from '@xenwasm/libxc';
import type { XenstoreCore } from './core.js';

const VIRQ_DOM_EXC = 3;

export interface XcHost {
  close(): void;
}

export async function attachHypervisor(core: XenstoreCore, privcmdPath: string, log: (m: string) => void): Promise<XcHost | null> {
  if (!fs.existsSync(privcmdPath)) return null;
  const xc = await Xc.open(privcmdPath);
  core.streamProvider = {
    attach: (domid, mfn, port) => xc.ringAttach(domid, mfn, port, 'xenstore'),
  };
  let virq: number | null = null;
  try {
    virq = await xc.evtchnBindVirq(VIRQ_DOM_EXC);
  } catch (e) {
    log(`cannot bind VIRQ_DOM_EXC (${(e as Error).message}); domain deaths are learnt from RELEASE only`);
  }
  let scanning = false;
  let again = false;
  const scan = async () => {
    if (scanning) {
      again = true;
      return;
    }
    scanning = true;
    try {
      do {
        again = false;
        for (const domid of [...core.domains.keys()]) {
          if (domid === 0) continue;
          let info;
          try {
            info = await xc.domainInfo(domid);
          } catch {
            info = null;
          }
          if (!info || info.dying) core.destroyDomain(domid, 'died');
          else if (info.shutdown || info.crashed) core.domainShutdown(domid);
        }
      } while (again);
    } finally {
      scanning = false;
    }
  };
  xc.on('evtchn', (port: number) => {
    if (port === virq) void scan();
  });
  xc.on('close', () => log('lost the hypervisor connection'));
  log(`attached to the hypervisor at ${privcmdPath}`);
  return { close: () => xc.close() };
}
