// All domains xend knows (XendDomain): lookup by name, id or UUID, create and
// destroy, learning of shutdowns (VIRQ_DOM_EXC, or @releaseDomain when
// xenstored holds the VIRQ) and applying on_poweroff/on_reboot/on_crash, and
// finding running domains again when xend restarts.

import { randomUUID } from 'node:crypto';
import type { DomainInfo as XcDomainInfo } from '@xenwasm/libxc';
import type { XsWatch } from '@xenwasm/xs';
import { parseVmSxp, type DomainConfig } from './sxp-config.js';
import { HypercallError } from '@xenwasm/xen-errno';
import { VmError, XendError, XendInvalidDomain } from './xend-errors.js';
import { DOM0_ID, DOM0_NAME, DOM0_UUID, GETINFO_MAX, POWER_STATE_NAMES, VIRQ_DOM_EXC } from './xend-constants.js';
import { XendDomainInfo, uuidFromHandle, type XendContext } from './domain-info.js';
import { decideShutdown, restartRefusal, type ShutdownAction } from './restart-policy.js';
import { domainPath, loadDomain, storeConfig, storeDom0, vmPathOf } from './domain-store.js';

const now = () => Date.now() / 1000;

/** A config for a domain xend did not build (or whose tree is gone): enough to list and destroy it. */
function adoptedConfig(name: string, uuid: string, memMb: number, vcpus: number): DomainConfig {
  return parseVmSxp(['vm', ['name', name], ['uuid', uuid], ['memory', Math.max(1, memMb)], ['vcpus', Math.max(1, vcpus)],
    ['on_poweroff', 'destroy'], ['on_reboot', 'destroy'], ['on_crash', 'destroy'], ['image', ['linux', ['kernel', '(unknown)']]]]);
}

export class XendDomain {
  private readonly byDomid = new Map<number, XendDomainInfo>();
  /** Lookups by name and UUID without walking every domain (kept by add/remove/reindex). */
  private readonly byName = new Map<string, XendDomainInfo>();
  private readonly byUuid = new Map<string, XendDomainInfo>();
  /** Names and UUIDs of domains being built, so that two creates cannot race to the same name. */
  private readonly reserved = new Set<string>();
  private refreshing: Promise<void> | undefined;
  private again = false;
  private virqPort: number | undefined;
  private releaseWatch: XsWatch | undefined;
  private stopped = false;
  private readonly onEvtchn = (port: number) => {
    if (port !== this.virqPort) return;
    void this.ctx.xc.evtchnUnmask(port).catch(() => undefined);
    this.kick();
  };

  constructor(private readonly ctx: XendContext) {}

  /** Rediscover the running domains, then start listening for domain exceptions. */
  async start(): Promise<void> {
    const { xc, xs, log } = this.ctx;
    const infos = await xc.domainGetInfo(0, GETINFO_MAX);
    for (const i of infos) {
      if (i.domid === DOM0_ID) {
        const d0 = new XendDomainInfo(this.ctx, adoptedConfig(DOM0_NAME, DOM0_UUID, Math.floor(i.mem_kb / 1024), i.online_vcpus), 0, vmPathOf(DOM0_UUID), undefined, undefined);
        d0.info = i;
        this.add(d0);
        await storeDom0(xs, DOM0_UUID, DOM0_NAME, i.mem_kb, i.online_vcpus);
        continue;
      }
      const stored = await loadDomain(xs, i.domid);
      let d: XendDomainInfo;
      if (stored) {
        d = new XendDomainInfo(this.ctx, stored.config, i.domid, stored.vmPath, stored.channels, stored.startTime,
          stored.restartCount, stored.previousRestartTime, stored.memoryTarget);
        log.info('XendDomain', `Recovered domain ${stored.config.name} (${i.domid})`);
      } else {
        const name = (await xs.tryRead(`${domainPath(i.domid)}/name`)) || `Domain-${i.domid}`;
        d = new XendDomainInfo(this.ctx, adoptedConfig(name, uuidFromHandle(i.handle), Math.floor(i.mem_kb / 1024), i.online_vcpus),
          i.domid, vmPathOf(uuidFromHandle(i.handle)), undefined, undefined);
        log.warn('XendDomain', `Domain ${i.domid} has no xend record in xenstore; listed as ${d.name}`);
      }
      d.info = i;
      this.add(d);
    }
    xc.on('evtchn', this.onEvtchn);
    try {
      this.virqPort = await xc.evtchnBindVirq(VIRQ_DOM_EXC);
    } catch (e) {
      // xenstored holds it: its @releaseDomain is then the only signal, as in Xen.
      log.info('XendDomain', `VIRQ_DOM_EXC not bound (${(e as Error).message}); relying on @releaseDomain`);
    }
    this.releaseWatch = await xs.watch('@releaseDomain', 'xend-release');
    this.releaseWatch.on('event', () => this.kick());
    // Shutdowns that happened while xend was away are acted on now.
    await this.refresh();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ctx.xc.off('evtchn', this.onEvtchn);
    if (this.virqPort !== undefined) await this.ctx.xc.evtchnUnbind(this.virqPort).catch(() => undefined);
    await this.releaseWatch?.close().catch(() => undefined);
    await this.refreshing?.catch(() => undefined);
  }

  /** Re-read the hypervisor's view soon (coalesced). */
  kick(): void {
    if (this.stopped) return;
    if (this.refreshing) {
      this.again = true;
      return;
    }
    void this.refresh().catch((e) => this.ctx.log.error('XendDomain', `refresh failed: ${(e as Error).stack ?? e}`));
  }

  /**
   * One pass: libxc getinfo for every domain, then each stopped domain's
   * action. Passes never overlap; a request during one runs another after it.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    const run = async () => {
      do {
        this.again = false;
        await this.refreshOnce();
      } while (this.again && !this.stopped);
    };
    this.refreshing = run().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async refreshOnce(): Promise<void> {
    const infos = await this.ctx.xc.domainGetInfo(0, GETINFO_MAX);
    const seen = new Map<number, XcDomainInfo>(infos.map((i) => [i.domid, i]));
    for (const d of [...this.byDomid.values()]) {
      if (d.destroyed) continue;
      const i = seen.get(d.domid);
      if (i) d.info = i;
      if (d.isDom0) continue;
      if (d.shutdownHandled) {
        // A preserved domain stays until destroyed; one that vanished is cleaned up.
        if (!i || i.dying) await this.apply(d, { kind: 'cleanup' });
        continue;
      }
      if (i && (i.shutdown || i.crashed)) await d.noteShutdown();
      const action = decideShutdown(i, d.config);
      if (action.kind !== 'none') await this.apply(d, action);
    }
  }

  private async apply(d: XendDomainInfo, action: ShutdownAction): Promise<void> {
    const { log, xs } = this.ctx;
    switch (action.kind) {
      case 'none':
        return;
      case 'cleanup':
        log.info('XendDomain', `Domain ${d.name} (${d.domid}) is gone; cleaning up`);
        await this.forget(d, false);
        return;
      case 'suspended':
        d.shutdownHandled = true;
        log.info('XendDomain', `Domain ${d.name} (${d.domid}) suspended`);
        return;
      case 'preserve':
        d.shutdownHandled = true;
        log.info('XendDomain', `Domain ${d.name} (${d.domid}) shut down (${action.reason}); preserving it`);
        await Promise.all([
          xs.write(`${d.vmPath}/xend/last_shutdown_reason`, action.reason),
          xs.write(`${domainPath(d.domid)}/xend/shutdown_completed`, 'True'),
        ]).catch(() => undefined);
        return;
      case 'destroy':
        log.info('XendDomain', `Domain ${d.name} (${d.domid}) shut down (${action.reason}); destroying it`);
        await this.forget(d, true);
        return;
      case 'restart':
        await xs.write(`${d.vmPath}/xend/last_shutdown_reason`, action.reason).catch(() => undefined);
        await this.restart(d, action.reason, action.rename);
        return;
    }
  }

  /** Destroy (if asked) and drop from the table. */
  private async forget(d: XendDomainInfo, destroy: boolean, keepVm = false): Promise<void> {
    try {
      if (destroy || !d.destroyed) await d.destroy(keepVm);
    } finally {
      this.remove(d);
    }
  }

  /** on_*=restart / rename-restart, with the MINIMUM_RESTART_TIME guard. */
  private async restart(d: XendDomainInfo, reason: string, rename: boolean): Promise<void> {
    const { log, xc, xs } = this.ctx;
    const t = now();
    const refusal = restartRefusal(d.name, t, d.previousRestartTime, this.reserved.has(d.name));
    if (refusal) {
      log.error('XendDomainInfo', refusal);
      await this.forget(d, true);
      return;
    }
    const config = structuredClone(d.config);
    const vmPath = d.vmPath;
    this.reserved.add(config.name);
    try {
      if (rename) {
        // The old domain lives on, preserved, as Domain-<new uuid>.
        const newUuid = randomUUID();
        const oldName = `Domain-${newUuid}`;
        d.shutdownHandled = true;
        const was = { name: d.name, uuid: d.uuid };
        d.config = { ...structuredClone(d.config), name: oldName, uuid: newUuid };
        this.reindex(d, was);
        d.vmPath = vmPathOf(newUuid);
        await xc.domainSetHandle(d.domid, newUuid).catch(() => undefined);
        await Promise.all([
          xs.write(`${d.vmPath}/uuid`, newUuid), xs.write(`${d.vmPath}/name`, oldName),
          xs.write(`${domainPath(d.domid)}/vm`, d.vmPath), xs.write(`${domainPath(d.domid)}/name`, oldName),
          storeConfig(xs, d.vmPath, d.config),
        ]);
        log.info('XendDomainInfo', `Renamed domain ${d.domid} (${config.name}) to ${oldName} and preserved it`);
      } else {
        await this.forget(d, true, true);
      }
      log.info('XendDomainInfo', `Restarting domain ${config.name} after ${reason}`);
      await xs.write(`${vmPath}/xend/restart_in_progress`, 'True').catch(() => undefined);
      const nd = await XendDomainInfo.create(this.ctx, config, { restartCount: d.restartCount + 1, previousRestartTime: t, vmPath });
      this.add(nd);
      await xs.rm(`${vmPath}/xend/restart_in_progress`).catch(() => undefined);
      await xc.domainUnpause(nd.domid);
      log.info('XendDomainInfo', `Restarted domain ${config.name} as ${nd.domid} (restart ${nd.restartCount})`);
    } catch (e) {
      log.error('XendDomainInfo', `Failed to restart domain ${config.name}: ${(e as Error).message}`);
      await xs.rm(vmPath).catch(() => undefined);
    } finally {
      this.reserved.delete(config.name);
    }
  }

  // ---- lookups ----

  private live(): XendDomainInfo[] {
    return [...this.byDomid.values()].filter((d) => !d.destroyed);
  }

  private add(d: XendDomainInfo): void {
    this.byDomid.set(d.domid, d);
    this.byName.set(d.name, d);
    this.byUuid.set(d.uuid, d);
  }

  private remove(d: XendDomainInfo): void {
    if (this.byDomid.get(d.domid) === d) this.byDomid.delete(d.domid);
    if (this.byName.get(d.name) === d) this.byName.delete(d.name);
    if (this.byUuid.get(d.uuid) === d) this.byUuid.delete(d.uuid);
  }

  /** After a domain's name or UUID changed. */
  private reindex(d: XendDomainInfo, was: { name: string; uuid: string }): void {
    if (this.byName.get(was.name) === d) this.byName.delete(was.name);
    if (this.byUuid.get(was.uuid) === d) this.byUuid.delete(was.uuid);
    if (this.byDomid.get(d.domid) === d) {
      this.byName.set(d.name, d);
      this.byUuid.set(d.uuid, d);
    }
  }

  /** By name first, then domid, then UUID (XendDomain.domain_lookup_nr); undefined when none. */
  find(dom: string | number): XendDomainInfo | undefined {
    const s = String(dom);
    const byName = this.byName.get(s);
    if (byName && !byName.destroyed && byName.name === s) return byName;
    if (/^\d+$/.test(s)) {
      const d = this.byDomid.get(Number(s));
      if (d && !d.destroyed) return d;
    }
    const byUuid = this.byUuid.get(s);
    return byUuid && !byUuid.destroyed && byUuid.uuid === s ? byUuid : undefined;
  }

  /**
   * `dom` with a fresh libxc view of it alone (one getinfo of one domain,
   * whatever the number of domains). A domain found stopped or gone gets the
   * full pass, which applies its on_* action, and is then looked up again.
   */
  async current(dom: string | number): Promise<XendDomainInfo> {
    const d = this.lookup(dom);
    let info: XcDomainInfo | undefined;
    try {
      info = await this.ctx.xc.domainInfo(d.domid);
    } catch {
      info = undefined;
    }
    if (info && !info.shutdown && !info.crashed && !info.dying) {
      d.info = info;
      return d;
    }
    await this.refresh();
    return this.lookup(dom);
  }

  /** Like find, but XendInvalidDomain (fault 3) when there is none. */
  lookup(dom: string | number): XendDomainInfo {
    const d = this.find(dom);
    if (!d) throw new XendInvalidDomain(dom);
    return d;
  }

  /** Domains in a power state ('all', 'running', 'paused', 'halted', ...), sorted by name. */
  list(state = 'all'): XendDomainInfo[] {
    const s = state.toLowerCase();
    const doms = this.live().filter((d) => s === 'all' || POWER_STATE_NAMES[d.status()]?.toLowerCase() === s);
    return doms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get size(): number {
    return this.byDomid.size;
  }

  // ---- operations ----

  /** xend.domain.create of a validated config (parseVmSxp): build (paused), remember. */
  async create(config: DomainConfig): Promise<XendDomainInfo> {
    const clash = this.byName.get(config.name);
    const nameTaken = clash && !clash.destroyed && clash.name === config.name ? clash : undefined;
    if (nameTaken || this.reserved.has(config.name)) {
      throw new VmError(`VM name '${config.name}' already exists${nameTaken ? ` as domain ${nameTaken.domid}` : ''}`);
    }
    const sameUuid = this.byUuid.get(config.uuid);
    if ((sameUuid && !sameUuid.destroyed && sameUuid.uuid === config.uuid) || this.reserved.has(config.uuid)) {
      throw new VmError(`VM with UUID ${config.uuid} already exists`);
    }
    this.reserved.add(config.name);
    this.reserved.add(config.uuid);
    try {
      const d = await XendDomainInfo.create(this.ctx, config);
      this.add(d);
      d.info ??= await this.ctx.xc.domainInfo(d.domid).catch(() => undefined);
      this.ctx.log.info('XendDomainInfo', `Created domain ${config.name} (${d.domid})`);
      return d;
    } finally {
      this.reserved.delete(config.name);
      this.reserved.delete(config.uuid);
    }
  }

  /**
   * xend.domain.unpause on xend's last view of the domain, as Xen's xend
   * does (no getinfo first: `xm create` pays for this call). A domain
   * destroyed behind xend's back gets the full pass, and so the fault that
   * it does not exist.
   */
  async unpause(dom: string): Promise<void> {
    const d = this.lookup(dom);
    try {
      await d.unpause();
    } catch (e) {
      if (!(e instanceof HypercallError && e.code === 'ESRCH')) throw e;
      await this.refresh();
      this.lookup(dom);
      throw e;
    }
  }

  async destroy(dom: string): Promise<void> {
    const d = this.lookup(dom);
    if (d.isDom0) throw new XendError(`Cannot destroy privileged domain ${dom}`);
    await this.forget(d, true);
    this.ctx.log.info('XendDomain', `Destroyed domain ${d.name} (${d.domid})`);
  }

  async rename(dom: string, name: string): Promise<void> {
    const d = this.lookup(dom);
    parseVmSxp(['vm', ['name', name], ['image', ['linux', ['kernel', 'x']]]]); // Xen's name check, with its message
    const other = this.find(name);
    if (other && other !== d && other.name === name) throw new VmError(`VM name '${name}' already exists as domain ${other.domid}`);
    const was = { name: d.name, uuid: d.uuid };
    try {
      await d.setName(name);
    } finally {
      this.reindex(d, was);
    }
  }
}
