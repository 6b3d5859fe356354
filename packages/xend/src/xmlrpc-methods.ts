// The legacy XML-RPC API (server/XMLRPCServer.py): method names, arguments
// and results as Xen 3.2's xend serves them, over the domain table.

import type { Xc } from '@xenwasm/libxc';
import type { SxpValue } from '@xenwasm/sxp';
import type { XendXmlRpcServer } from './xmlrpc-server.js';
import type { XendDomain } from './domain-table.js';
import type { XendLog } from './xend-log.js';
import { nodeInfo } from './node-info.js';
import { domainPath } from './domain-store.js';
import { XendError } from './xend-errors.js';
import type { Xs } from '@xenwasm/xs';
import { createDevice, destroyDevice, deviceSxprs, parseDeviceSxp, waitForDevice, waitForDevices, blkdevNameToNumber, type DevClass } from './dev-controller.js';
import { parseVmSxp, randomMac } from './sxp-config.js';

const DOM = { name: 'dom', type: 'domain' } as const;

export function registerXendMethods(srv: XendXmlRpcServer, table: XendDomain, xc: Xc, log: XendLog, xs: Xs): void {
  const fresh = async () => {
    await table.refresh();
  };
  const sxprs = (state: string, detail: boolean) => {
    const doms = table.list(state);
    return detail ? doms.map((d) => d.sxp()) : doms.map((d) => d.name);
  };

  srv.register('xend.domains', async (detail = true) => {
    await fresh();
    return sxprs('running', detail);
  }, { params: [{ name: 'detail', type: 'boolean', optional: true }, { name: 'full', type: 'boolean', optional: true }] });

  srv.register('xend.domains_with_state', async (detail = true, state = 'all') => {
    await fresh();
    if (!['all', 'running', 'paused', 'halted', 'suspended', 'unknown'].includes(state.toLowerCase())) throw new XendError(`Invalid state: ${state}`);
    return sxprs(state, detail);
  }, { params: [{ name: 'detail', type: 'boolean', optional: true }, { name: 'state', type: 'string', optional: true }, { name: 'full', type: 'boolean', optional: true }] });

  // Single-domain methods read that domain's state alone: their cost does not grow with the number of domains.
  srv.register('xend.domain', async (dom: string) => (await table.current(dom)).sxp(),
    { params: [DOM, { name: 'full', type: 'boolean', optional: true }] });

  srv.register('xend.domain.create', async (config: SxpValue) => (await table.create(parseVmSxp(config))).sxp(),
    { params: [{ name: 'config', type: 'sxp' }] });

  srv.register('xend.domain.destroy', async (dom: string) => {
    await table.destroy(dom);
    return null;
  }, { params: [DOM] });

  srv.register('xend.domain.shutdown', async (dom: string, reason: string) => {
    await table.lookup(dom).shutdown(reason);
    return null;
  }, { params: [DOM, { name: 'reason', type: 'string' }] });

  srv.register('xend.domain.pause', async (dom: string, state = false) => {
    const d = await table.current(dom);
    const before = d.status();
    await d.pause();
    return state ? before : null;
  }, { params: [DOM, { name: 'state', type: 'boolean', optional: true }] });

  srv.register('xend.domain.unpause', async (dom: string) => {
    await table.unpause(dom);
    return null;
  }, { params: [DOM] });

  srv.register('xend.domain.setMemoryTarget', async (dom: string, mem: number) => {
    await table.lookup(dom).setMemoryTarget(mem);
    return null;
  }, { params: [DOM, { name: 'mem', type: 'int' }] });

  srv.register('xend.domain.maxmem_set', async (dom: string, mem: number) => {
    await table.lookup(dom).setMaxMem(mem);
    return null;
  }, { params: [DOM, { name: 'mem', type: 'int' }] });

  srv.register('xend.domain.sched_credit_get', async (dom: string) => table.lookup(dom).schedCreditGet(), { params: [DOM] });

  srv.register('xend.domain.sched_credit_set', async (dom: string, weight: number | null = null, cap: number | null = null) =>
    table.lookup(dom).schedCreditSet(weight, cap),
  { params: [DOM, { name: 'weight', type: 'int', optional: true, nullable: true }, { name: 'cap', type: 'int', optional: true, nullable: true }] });

  srv.register('xend.domain.getVCPUInfo', async (dom: string) => {
    return (await table.current(dom)).vcpuInfo();
  }, { params: [DOM] });

  srv.register('xend.domain.setName', async (dom: string, name: string) => {
    await table.rename(dom, name);
    return null;
  }, { params: [DOM, { name: 'name', type: 'string' }] });

  srv.register('xend.domain.getRestartCount', (dom: string) => table.lookup(dom).restartCount, { params: [DOM] });

  // Until every backend reports hotplug-status connected (or the error it hit).
  srv.register('xend.domain.waitForDevices', async (dom: string) => {
    const d = table.lookup(dom);
    if (!d.isDom0) await waitForDevices(xs, d.domid);
    return null;
  }, { params: [DOM] });

  // Hotplug (xm block-attach / network-attach): both trees in one transaction, then wait for the backend.
  srv.register('xend.domain.device_create', async (dom: string, config: SxpValue) => {
    const d = table.lookup(dom);
    if (d.isDom0) throw new XendError('Cannot attach devices to privileged domain 0');
    const dev = parseDeviceSxp(config, randomMac);
    const { cls, devid } = await createDevice(xs, d.domid, d.name, dev);
    await waitForDevice(xs, `/local/domain/${dev.backend}/backend/${cls}/${d.domid}/${devid}`);
    return devid;
  }, { params: [DOM, { name: 'config', type: 'sxp' } as never] });

  srv.register('xend.domain.destroyDevice', async (dom: string, cls: string, devid: string, force = false) => {
    const d = table.lookup(dom);
    if (cls !== 'vbd' && cls !== 'vif') throw new XendError(`Invalid device class ${cls}`);
    const id = /^\d+$/.test(String(devid)) ? Number(devid) : cls === 'vbd' ? blkdevNameToNumber(String(devid)) : NaN;
    if (!Number.isInteger(id)) throw new XendError(`Invalid device id ${devid}`);
    await destroyDevice(xs, d.domid, cls as DevClass, id, !!force);
    return null;
  }, { params: [DOM, { name: 'type', type: 'string' }, { name: 'dev', type: 'string' }, { name: 'force', type: 'boolean', optional: true }] as never });

  srv.register('xend.domain.getDeviceSxprs', async (dom: string, cls: string) => {
    const d = table.lookup(dom);
    if (cls !== 'vbd' && cls !== 'vif') return [];
    return deviceSxprs(xs, d.domid, cls);
  }, { params: [DOM, { name: 'type', type: 'string' }] });

  srv.register('xend.domain.send_sysrq', async (dom: string, key: string) => {
    const d = table.lookup(dom);
    if (d.isDom0) throw new XendError('Cannot send sysrq to privileged domain 0');
    await xs.write(`${domainPath(d.domid)}/control/sysrq`, key);
    return null;
  }, { params: [DOM, { name: 'key', type: 'string' }] });

  srv.register('xend.node.info', () => nodeInfo(xc));
  srv.register('xend.node.log', () => log.read());
  srv.register('xend.node.dmesg.info', () => xc.readConsoleRing(false));
  srv.register('xend.node.dmesg.clear', () => xc.readConsoleRing(true));
}
