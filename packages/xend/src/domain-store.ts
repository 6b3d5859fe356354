// What xend keeps about a domain in xenstore (xen-facts 7.4): the domain's
// home /local/domain/<domid> (guest-owned) and xend's private /vm/<uuid>.
// The full `(vm ...)` config is kept as SXP at /vm/<uuid>/xend/config so that
// a restarted xend finds every running domain again.

import type { Xs } from '@xenwasm/xs';
import { parseSxp, showSxp, type SxpValue } from '@xenwasm/sxp';
import { domainConfigToVmSxp, imageToSxp, parseVmSxp, type DomainConfig } from './sxp-config.js';

export const domainPath = (domid: number) => `/local/domain/${domid}`;
export const vmPathOf = (uuid: string) => `/vm/${uuid}`;

/** The runtime facts of a built domain that the tree records. */
export interface DomainChannels {
  storePort: number;
  storeMfn: number;
  consolePort: number;
  consoleMfn: number;
}

export interface StoredDomain {
  domid: number;
  vmPath: string;
  config: DomainConfig;
  channels?: DomainChannels;
  startTime?: number;
  restartCount: number;
  previousRestartTime?: number;
  /** memory/target in MiB. */
  memoryTarget?: number;
  shutdownRequested?: string;
}

/** Python's str(float) is enough for the timestamps xend stores. */
const time = (t: number) => (Number.isInteger(t) ? `${t}.0` : String(t));

/** What storeDomain writes; `channels` may still be on its way (the build makes the ring pages). */
export interface NewDomainTree {
  domid: number;
  vmPath: string;
  config: DomainConfig;
  channels: DomainChannels | Promise<DomainChannels> | null; // null: an HVM guest has no rings
  startTime: number;
  restartCount: number;
  previousRestartTime?: number;
}

/**
 * Write a new domain's tree: /vm/<uuid> (xend's) and /local/domain/<domid>
 * (owned by the domain, so the guest may write under it), in one
 * transaction: xenstored acknowledges the commit once the whole tree is on
 * disk in a single batch, so there is one fsync per domain, and nobody sees
 * a half-written tree. Everything but the ring references is sent while the
 * build is still running (`channels` a promise): the commit then follows the
 * build by one round trip. `txStart`, when given, is a transaction the caller
 * began earlier (with a retry, a fresh one is taken).
 */
export async function storeDomain(xs: Xs, d: NewDomainTree, consoleLimitKiB: number, txStart?: Promise<number>): Promise<void> {
  const c = d.config;
  const dp = domainPath(d.domid);
  const vm = d.vmPath;
  const vmKeys: Array<[string, string]> = [
    ['uuid', c.uuid], ['name', c.name], ['vcpus', String(c.vcpus)], ['vcpu_avail', String(c.vcpuAvail)],
    ['memory', String(c.memory)], ['maxmem', String(c.maxmem)],
    ['shadow_memory', String(c.shadowMemory)], ['start_time', time(d.startTime)],
    ['on_poweroff', c.onPoweroff], ['on_reboot', c.onReboot], ['on_crash', c.onCrash],
    ['on_xend_start', c.onXendStart], ['on_xend_stop', c.onXendStop],
    ['image', showSxp(imageToSxp(c.image))],
    ['image/ostype', c.image.kind], ['image/kernel', c.image.kernel], ['image/cmdline', c.image.cmdline],
    ['image/ramdisk', c.image.ramdisk],
    ['xend/restart_count', String(d.restartCount)],
    ['xend/config', showSxp(domainConfigToVmSxp(c))],
  ];
  if (d.previousRestartTime !== undefined) vmKeys.push(['xend/previous_restart_time', time(d.previousRestartTime)]);
  const domKeys: Array<[string, string]> = [
    ['domid', String(d.domid)], ['vm', vm], ['name', c.name],
    ['console/limit', String(consoleLimitKiB * 1024)], ['console/type', 'xenconsoled'],
    ['memory/target', String(c.memory * 1024)],
    ['control/platform-feature-multiprocessor-suspend', '1'],
  ];
  for (let n = 0; n < c.vcpus; n++) domKeys.push([`cpu/${n}/availability`, (c.vcpuAvail >> n) & 1 ? 'online' : 'offline']);
  if (c.features) for (const f of c.features.split('|').filter(Boolean)) domKeys.push([`image/features/${f.replace(/^!/, '')}`, f.startsWith('!') ? '0' : '1']);
  const channelKeys = (ch: DomainChannels): Array<[string, string]> => [
    ['console/port', String(ch.consolePort)], ['console/ring-ref', String(ch.consoleMfn)],
    ['store/port', String(ch.storePort)], ['store/ring-ref', String(ch.storeMfn)],
  ];

  for (let attempt = 1; ; attempt++) {
    const tx = await (attempt === 1 && txStart ? txStart : xs.transactionStart());
    // xenstored handles one connection's requests in order: the home
    // exists and belongs to the domain before the nodes below it, which
    // inherit its permissions.
    const sent: Array<Promise<unknown>> = [
      xs.rm(dp, tx).catch(() => undefined),
      xs.mkdir(dp, tx), xs.mkdir(vm, tx),
      xs.setPerms(dp, [`n${d.domid}`], tx),
      ...vmKeys.map(([k, v]) => xs.write(`${vm}/${k}`, v, tx)),
      ...domKeys.map(([k, v]) => xs.write(`${dp}/${k}`, v, tx)),
      // The guest may read its own uuid, nothing else of /vm.
      xs.setPerms(`${vm}/uuid`, ['n0', `r${d.domid}`], tx),
    ];
    try {
      const ch = await d.channels;
      if (ch) for (const [k, v] of channelKeys(ch)) sent.push(xs.write(`${dp}/${k}`, v, tx));
    } catch (e) {
      await Promise.allSettled(sent);
      await xs.transactionEnd(tx, false).catch(() => undefined);
      throw e;
    }
    // The commit follows the writes on the wire without waiting for their
    // replies (one round trip, not two). Should a write have failed, the
    // create fails and its caller removes the tree again.
    const [writes, commit] = await Promise.all([
      Promise.allSettled(sent),
      xs.transactionEnd(tx, true).then(() => undefined, (e: unknown) => e as Error),
    ]);
    if (commit === undefined) {
      const failed = writes.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      return;
    }
    // Only a race on these very nodes (a stale tree being removed) gets here.
    if ((commit as { code?: string }).code !== 'EAGAIN' || attempt >= 20) throw commit;
  }
}

/** Read back what storeDomain wrote; undefined when the domain has no tree xend made. */
export async function loadDomain(xs: Xs, domid: number): Promise<StoredDomain | undefined> {
  const dp = domainPath(domid);
  const vmPath = await xs.tryRead(`${dp}/vm`);
  if (!vmPath) return undefined;
  const cfgText = await xs.tryRead(`${vmPath}/xend/config`);
  if (!cfgText) return undefined;
  let config: DomainConfig;
  try {
    config = parseVmSxp(parseSxp(cfgText) as SxpValue);
  } catch {
    return undefined;
  }
  const keys = ['store/port', 'store/ring-ref', 'console/port', 'console/ring-ref', 'memory/target', 'name', 'control/shutdown'];
  const vmKeys = ['start_time', 'xend/restart_count', 'xend/previous_restart_time', 'name'];
  const [dv, vv] = await Promise.all([
    Promise.all(keys.map((k) => xs.tryRead(`${dp}/${k}`))),
    Promise.all(vmKeys.map((k) => xs.tryRead(`${vmPath}/${k}`))),
  ]);
  const num = (s: string | undefined) => (s === undefined || s === '' || Number.isNaN(Number(s)) ? undefined : Number(s));
  const [sp, sm, cp, cm, target, name, shutdown] = dv;
  const [start, rc, prev, vmName] = vv;
  // A rename (setName) is written to the tree; the stored SXP may predate it.
  config.name = name || vmName || config.name;
  const channels = num(sp) !== undefined && num(sm) !== undefined && num(cp) !== undefined && num(cm) !== undefined
    ? { storePort: num(sp)!, storeMfn: num(sm)!, consolePort: num(cp)!, consoleMfn: num(cm)! } : undefined;
  const t = num(target);
  return {
    domid, vmPath, config, channels, startTime: num(start), restartCount: num(rc) ?? 0, previousRestartTime: num(prev),
    memoryTarget: t === undefined ? undefined : Math.floor(t / 1024),
    shutdownRequested: shutdown || undefined,
  };
}

/** Keep the stored config in step with changes made at run time (name, memory, scheduler). */
export async function storeConfig(xs: Xs, vmPath: string, c: DomainConfig): Promise<void> {
  await xs.write(`${vmPath}/xend/config`, showSxp(domainConfigToVmSxp(c)));
}

/** Remove a domain's home (and its /vm entry unless the VM lives on in a restart). */
export async function removeDomain(xs: Xs, domid: number, vmPath: string | undefined): Promise<void> {
  await Promise.all([
    xs.rm(domainPath(domid)).catch(() => undefined),
    vmPath ? xs.rm(vmPath).catch(() => undefined) : Promise.resolve(),
  ]);
}

/** Domain-0's entries, which xend writes at start-up. */
export async function storeDom0(xs: Xs, uuid: string, name: string, memKiB: number, vcpus: number): Promise<void> {
  const vm = vmPathOf(uuid);
  await Promise.all([
    xs.write(`${vm}/uuid`, uuid), xs.write(`${vm}/name`, name), xs.write(`${vm}/vcpus`, String(vcpus)),
    xs.write(`${domainPath(0)}/domid`, '0'), xs.write(`${domainPath(0)}/vm`, vm), xs.write(`${domainPath(0)}/name`, name),
    xs.write(`${domainPath(0)}/memory/target`, String(memKiB)),
  ]);
}
