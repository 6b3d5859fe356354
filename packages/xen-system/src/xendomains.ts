// xendomains, as Xen's init script does it: at host start, create every
// domain whose config is in XENDOMAINS_AUTO (unless one of that name already
// runs) and start the halted managed domains marked on_xend_start = 'start';
// at host stop, ask every running guest to shut down, wait up to
// XENDOMAINS_STOP_MAXWAIT seconds, then destroy the ones still there.
// (Xen can save them instead; this hypervisor has no save yet.)

import fs from 'node:fs';
import path from 'node:path';
import { childValue, type SxpValue } from '@xenwasm/sxp';
import { XendClient } from '@xenwasm/xm/xmlrpc-client';
import { buildCreateSxp } from '@xenwasm/xm/xm-create';

export interface XendomainsOptions {
  /** Directory of xm config files started at boot. */
  autoDir: string;
  /** Seconds to wait for clean shutdowns before destroying. */
  stopMaxWait: number;
  /** Stop every running guest (true) or only those xendomains starts (false). */
  shutdownAll: boolean;
  client: XendClient;
  log: (line: string) => void;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv, client: XendClient, log: (l: string) => void): XendomainsOptions {
  const wait = Number(env.XENDOMAINS_STOP_MAXWAIT ?? 300);
  return {
    autoDir: env.XENDOMAINS_AUTO || '/etc/xen/auto',
    stopMaxWait: Number.isFinite(wait) && wait >= 0 ? wait : 300,
    shutdownAll: !/^(false|no|0)$/i.test(env.XENDOMAINS_SHUTDOWN_ALL ?? 'true'),
    client,
    log,
  };
}

const str = (d: SxpValue, k: string) => {
  const v = childValue(d, k);
  return v === undefined || Array.isArray(v) ? undefined : String(v);
};

/** Config files in the auto directory, in name order (editor backups and hidden files skipped). */
export function autoConfigs(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => !n.startsWith('.') && !n.endsWith('~') && !n.endsWith('.rpmsave') && !n.endsWith('.dpkg-old'))
    .map((n) => path.join(dir, n)).filter((f) => fs.statSync(f).isFile()).sort();
}

async function domains(c: XendClient, state: string): Promise<SxpValue[]> {
  return c.call<SxpValue[]>('xend.domains_with_state', true, state, 1);
}

export interface StartResult { started: string[]; skipped: string[]; failed: Array<{ what: string; error: string }> }

export async function xendomainsStart(o: XendomainsOptions): Promise<StartResult> {
  const r: StartResult = { started: [], skipped: [], failed: [] };
  const c = o.client;
  const running = new Set((await domains(c, 'all')).filter((d) => str(d, 'domid') !== undefined).map((d) => str(d, 'name')));
  const quiet = { out: () => undefined, err: (s: string) => o.log(s.trimEnd()) };
  for (const file of autoConfigs(o.autoDir)) {
    try {
      const { sxp } = await buildCreateSxp([file], { quiet: true }, quiet);
      const name = str(sxp, 'name') ?? file;
      if (running.has(name)) {
        r.skipped.push(name);
        o.log(`${name} (${file}) is already running`);
        continue;
      }
      const info = await c.call<SxpValue>('xend.domain.create', sxp);
      const domid = childValue(info, 'domid');
      await c.call('xend.domain.waitForDevices', domid);
      await c.call('xend.domain.unpause', domid);
      r.started.push(name);
      running.add(name);
      o.log(`started ${name} (${file}) as domain ${domid}`);
    } catch (e) {
      r.failed.push({ what: file, error: (e as Error).message });
      o.log(`cannot start ${file}: ${(e as Error).message}`);
    }
  }
  // xend starts these itself when it starts; a domain halted since then is started here.
  for (const d of await domains(c, 'halted')) {
    const name = str(d, 'name')!;
    if (str(d, 'on_xend_start') !== 'start' || str(d, 'domid') !== undefined) continue;
    try {
      await c.call('xend.domain.start', name, false);
      r.started.push(name);
      o.log(`started managed domain ${name}`);
    } catch (e) {
      r.failed.push({ what: name, error: (e as Error).message });
      o.log(`cannot start managed domain ${name}: ${(e as Error).message}`);
    }
  }
  return r;
}

export interface StopResult { shutDown: string[]; destroyed: string[]; failed: Array<{ what: string; error: string }> }

export async function xendomainsStop(o: XendomainsOptions): Promise<StopResult> {
  const r: StopResult = { shutDown: [], destroyed: [], failed: [] };
  const c = o.client;
  const ours = new Set<string>();
  if (!o.shutdownAll) {
    for (const f of autoConfigs(o.autoDir)) {
      try {
        const { sxp } = await buildCreateSxp([f], { quiet: true }, { out: () => undefined, err: () => undefined });
        const n = str(sxp, 'name');
        if (n) ours.add(n);
      } catch { /* a config that does not parse started nothing */ }
    }
  }
  const targets = (await domains(c, 'all'))
    .filter((d) => str(d, 'domid') !== undefined && str(d, 'domid') !== '0')
    .filter((d) => o.shutdownAll || ours.has(str(d, 'name')!) || str(d, 'on_xend_start') === 'start')
    .map((d) => ({ name: str(d, 'name')!, domid: str(d, 'domid')! }));
  for (const t of targets) {
    try {
      await c.call('xend.domain.shutdown', t.domid, 'poweroff');
      o.log(`shutting down ${t.name} (${t.domid})`);
    } catch (e) {
      o.log(`cannot ask ${t.name} (${t.domid}) to shut down: ${(e as Error).message}`);
    }
  }
  // Done when the domain id is gone or the domain has shut down (s or c in its state).
  const left = async () => {
    const now = await domains(c, 'all');
    return targets.filter((t) => {
      const d = now.find((x) => str(x, 'domid') === t.domid);
      return d && !/[sc]/.test(str(d, 'state') ?? '');
    });
  };
  const deadline = Date.now() + o.stopMaxWait * 1000;
  let remaining = await left();
  while (remaining.length && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    remaining = await left();
  }
  for (const t of targets) if (!remaining.includes(t)) r.shutDown.push(t.name);
  for (const t of remaining) {
    try {
      await c.call('xend.domain.destroy', t.domid);
      r.destroyed.push(t.name);
      o.log(`${t.name} (${t.domid}) did not shut down within ${o.stopMaxWait} s: destroyed`);
    } catch (e) {
      r.failed.push({ what: t.name, error: (e as Error).message });
      o.log(`cannot destroy ${t.name} (${t.domid}): ${(e as Error).message}`);
    }
  }
  // A preserved (shut down but kept) domain is destroyed as at host stop nothing keeps it.
  for (const d of await domains(c, 'all')) {
    const domid = str(d, 'domid');
    if (domid === undefined || domid === '0' || !targets.some((t) => t.domid === domid)) continue;
    if (/[sc]/.test(str(d, 'state') ?? '')) await c.call('xend.domain.destroy', domid).catch(() => undefined);
  }
  return r;
}
