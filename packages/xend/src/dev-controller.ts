// DevController (server/DevController.py, blkif.py, netif.py): writes a
// device's backend and frontend trees in one transaction, waits for the
// backend's hotplug-status, tears devices down, and lists them. The backends
// (blkback, netback) live in the hypervisor host process and answer through
// the same keys Linux's hotplug scripts and drivers use.
import { XenError } from '@xenwasm/xen-errno';
import type { Xs, WatchEvent } from '@xenwasm/xs';
import type { SxpList } from '@xenwasm/sxp';
import type { DeviceConfig, VbdDevice, VifDevice } from './sxp-config.js';
import { VmError, XendError } from './xend-errors.js';

/** xenbus state 1: both sides start here. */
const INITIALISING = '1';
const CLOSING = '5';
const CLOSED = '6';
/** DEVICE_CREATE_TIMEOUT / DEVICE_DESTROY_TIMEOUT are 100 s in Xen; a backend here answers in milliseconds. */
export const DEVICE_CREATE_TIMEOUT_MS = 100_000;
export const DEVICE_DESTROY_TIMEOUT_MS = 10_000;
export const SCRIPTS_DIR = '/etc/xen/scripts';

export type DevClass = 'vbd' | 'vif';

export const backendPath = (be: number, cls: string, fe: number, devid: number) => `/local/domain/${be}/backend/${cls}/${fe}/${devid}`;
export const frontendPath = (fe: number, cls: string, devid: number) => `/local/domain/${fe}/device/${cls}/${devid}`;

/** blkif.blkdev_name_to_number: xvd[a-p]N, sd*, hd*, or a plain number. */
export function blkdevNameToNumber(name: string): number {
  const n = name.replace(/^\/dev\//, '').replace(/:(cdrom|disk)$/, '');
  let m = /^xvd([a-p])(\d*)$/.exec(n);
  if (m) return 202 * 256 + 16 * (m[1]!.charCodeAt(0) - 97) + Number(m[2] || 0);
  m = /^sd([a-z])(\d*)$/.exec(n);
  if (m) {
    const l = m[1]!.charCodeAt(0) - 97;
    const majors = [8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135];
    return majors[l >> 4]! * 256 + 16 * (l % 16) + Number(m[2] || 0);
  }
  m = /^hd([a-t])(\d*)$/.exec(n);
  if (m) {
    const l = m[1]!.charCodeAt(0) - 97;
    const majors = [3, 22, 33, 34, 56, 57, 88, 89, 90, 91];
    return majors[l >> 1]! * 256 + 64 * (l % 2) + Number(m[2] || 0);
  }
  if (/^[0-9a-fA-F]+$/.test(n)) return parseInt(n, 16);
  throw new VmError(`Invalid block device name: ${name}`);
}

async function inTransaction(xs: Xs, fn: (tx: number) => Promise<void>): Promise<void> {
  for (;;) {
    const tx = await xs.transactionStart();
    try {
      await fn(tx);
    } catch (e) {
      await xs.transactionEnd(tx, false).catch(() => undefined);
      throw e;
    }
    try {
      await xs.transactionEnd(tx, true);
      return;
    } catch (e) {
      if ((e as XenError).code !== 'EAGAIN') throw e;
    }
  }
}

/** Writes both trees of one device (DevController.createDevice). Returns the devid. */
export async function createDevice(xs: Xs, fe: number, feName: string, d: DeviceConfig): Promise<{ cls: DevClass; devid: number }> {
  if (d.kind === 'tap') throw new VmError('tap: disks are not provided by this stack (use file: or phy:)');
  const be = d.backend ?? 0;
  let devid: number;
  const back: Record<string, string> = {};
  const front: Record<string, string> = {};
  let cls: DevClass;
  if (d.kind === 'vbd') {
    cls = 'vbd';
    const v = d as VbdDevice;
    const dev = v.dev.replace(/:(cdrom|disk)$/, '');
    devid = blkdevNameToNumber(dev);
    const colon = v.uname.indexOf(':');
    const type = colon < 0 ? 'phy' : v.uname.slice(0, colon);
    const params = colon < 0 ? v.uname : v.uname.slice(colon + 1);
    Object.assign(back, { dev, type, params, mode: v.mode, uuid: crypto.randomUUID() });
    if (v.bootable) back.bootable = '1';
    Object.assign(front, { 'virtual-device': String(devid), 'device-type': v.dev.endsWith(':cdrom') ? 'cdrom' : 'disk' });
  } else {
    cls = 'vif';
    const v = d as VifDevice;
    devid = -1;
    Object.assign(back, { mac: v.mac, script: `${SCRIPTS_DIR}/${v.script ?? 'vif-bridge'}` });
    for (const k of ['bridge', 'ip', 'type', 'vifname', 'rate', 'model'] as const) if (v[k] !== undefined) back[k] = v[k]!;
    front.mac = v.mac;
  }
  await inTransaction(xs, async (tx) => {
    if (cls === 'vif') {
      const counter = `/local/domain/${fe}/device-misc/vif/nextDeviceID`;
      devid = Number((await xs.tryRead(counter, tx)) ?? '0') || 0;
      await xs.write(counter, String(devid + 1), tx);
      back.handle = front.handle = String(devid);
    }
    const bp = backendPath(be, cls, fe, devid);
    const fp = frontendPath(fe, cls, devid);
    const existing = await xs.tryRead(`${fp}/backend`, tx);
    if (existing !== undefined) throw new VmError(`Device ${devid} (${cls}) is already connected.`);
    await xs.rm(bp, tx).catch(() => undefined);
    await xs.rm(fp, tx).catch(() => undefined);
    await xs.mkdir(bp, tx);
    await xs.mkdir(fp, tx);
    await xs.setPerms(bp, [`n${be}`, `r${fe}`], tx);
    await xs.setPerms(fp, [`n${fe}`, `r${be}`], tx);
    const all: Array<[string, string]> = [
      ...Object.entries(front).map(([k, v]) => [`${fp}/${k}`, v] as [string, string]),
      [`${fp}/backend`, bp], [`${fp}/backend-id`, String(be)], [`${fp}/state`, INITIALISING],
      ...Object.entries(back).map(([k, v]) => [`${bp}/${k}`, v] as [string, string]),
      [`${bp}/domain`, feName], [`${bp}/frontend`, fp], [`${bp}/frontend-id`, String(fe)], [`${bp}/online`, '1'], [`${bp}/state`, INITIALISING],
    ];
    for (const [p, v] of all) await xs.write(p, v, tx);
  });
  return { cls, devid: devid! };
}

/** Waits until `path` satisfies pred (re-read on every watch event), or the timeout. */
async function waitNode(xs: Xs, path: string, pred: (v: string | undefined) => boolean, timeoutMs: number): Promise<string | undefined> {
  const token = `wait-${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (v: string | undefined, err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      xs.off('watch', on);
      void xs.unwatch(path, token).catch(() => undefined);
      if (err) reject(err);
      else resolve(v);
    };
    const check = () => void xs.tryRead(path).then((v) => { if (pred(v)) finish(v); }, () => undefined);
    const on = (ev: WatchEvent) => { if (ev.token === token) check(); };
    const t = setTimeout(() => finish(undefined, new XendError(`Timed out waiting for ${path}`)), timeoutMs);
    xs.on('watch', on);
    xs.watch(path, token).then(check, (e: Error) => finish(undefined, e));
  });
}

/** Every device of a domain, by class: [cls, devid, backend path]. */
export async function listDeviceIds(xs: Xs, fe: number, cls: DevClass): Promise<Array<{ devid: number; bp: string }>> {
  let ids: string[] = [];
  try {
    ids = await xs.directory(`/local/domain/${fe}/device/${cls}`);
  } catch { /* none */ }
  const out: Array<{ devid: number; bp: string }> = [];
  for (const id of ids) {
    const bp = await xs.tryRead(`${frontendPath(fe, cls, Number(id))}/backend`);
    if (bp) out.push({ devid: Number(id), bp });
  }
  return out;
}

/** DevController.waitForDevice: hotplug-status connected, or the hotplug error. */
export async function waitForDevice(xs: Xs, bp: string, timeoutMs = DEVICE_CREATE_TIMEOUT_MS): Promise<void> {
  const st = await waitNode(xs, `${bp}/hotplug-status`, (v) => v === 'connected' || v === 'error', timeoutMs);
  if (st === 'error') {
    const why = (await xs.tryRead(`${bp}/hotplug-error`)) ?? 'hotplug script failed';
    throw new VmError(`Device ${bp.split('/').pop()} (${bp.split('/')[5]}) could not be connected. ${why}`);
  }
}

export async function waitForDevices(xs: Xs, fe: number): Promise<void> {
  for (const cls of ['vbd', 'vif'] as const) for (const { bp } of await listDeviceIds(xs, fe, cls)) await waitForDevice(xs, bp);
}

/** DevController.destroyDevice: online=0, Closing; wait for the backend to close, then remove both trees. */
export async function destroyDevice(xs: Xs, fe: number, cls: DevClass, devid: number, force = false): Promise<void> {
  const fp = frontendPath(fe, cls, devid);
  const bp = await xs.tryRead(`${fp}/backend`);
  if (!bp) throw new XendError(`Device ${devid} not connected`);
  await xs.write(`${bp}/online`, '0');
  await xs.write(`${bp}/state`, CLOSING);
  if (!force) {
    await waitNode(xs, `${bp}/state`, (v) => v === CLOSED || v === undefined, DEVICE_DESTROY_TIMEOUT_MS).catch(() => undefined);
  }
  await xs.rm(fp).catch(() => undefined);
  await xs.rm(bp).catch(() => undefined);
}

/** Removes every backend tree of a dead domain (its own home goes with it). */
export async function removeBackends(xs: Xs, fe: number): Promise<void> {
  await Promise.all(['vbd', 'vif'].map((cls) => xs.rm(`/local/domain/0/backend/${cls}/${fe}`).catch(() => undefined)));
}

/** getDeviceSxprs: `[devid, (sxp of frontend + backend keys)]` for xm block-list / network-list. */
export async function deviceSxprs(xs: Xs, fe: number, cls: DevClass): Promise<Array<[number, SxpList]>> {
  const out: Array<[number, SxpList]> = [];
  for (const { devid, bp } of await listDeviceIds(xs, fe, cls)) {
    const fp = frontendPath(fe, cls, devid);
    const keys = cls === 'vbd' ? ['backend-id', 'virtual-device', 'device-type', 'state', 'ring-ref', 'event-channel'] : ['backend-id', 'mac', 'handle', 'state', 'tx-ring-ref', 'rx-ring-ref', 'event-channel'];
    const vals = await Promise.all(keys.map((k) => xs.tryRead(`${fp}/${k}`)));
    const s: SxpList = [cls];
    keys.forEach((k, i) => { if (vals[i] !== undefined) s.push([k, vals[i]!]); });
    if (cls === 'vbd') s.push(['handle', String(devid)]);
    s.push(['backend', bp]);
    out.push([devid, s]);
  }
  return out;
}

/** A device SXP as xm block-attach / network-attach send it: `(vbd (uname ..) (dev ..) (mode ..))`, `(vif (mac ..) ...)`. */
export function parseDeviceSxp(sxp: unknown, randomMac: () => string): DeviceConfig {
  if (!Array.isArray(sxp) || typeof sxp[0] !== 'string') throw new VmError('Invalid device configuration');
  const m = new Map<string, string>();
  for (const p of sxp.slice(1)) if (Array.isArray(p) && typeof p[0] === 'string' && p.length >= 2) m.set(p[0], String(p[1]));
  if (sxp[0] === 'vbd') {
    const uname = m.get('uname') ?? '';
    const dev = m.get('dev');
    const mode = m.get('mode') ?? 'r';
    if (!dev) throw new VmError('Block device must have virtual details specified');
    if (!['r', 'w', 'w!'].includes(mode)) throw new VmError('Invalid mode');
    if (!/^(phy|file):/.test(uname)) throw new VmError(`Block device type not supported: ${uname}`);
    return { kind: 'vbd', uname, dev, mode: mode as VbdDevice['mode'], backend: Number(m.get('backend') ?? 0), bootable: false };
  }
  if (sxp[0] === 'vif') {
    const mac = (m.get('mac') ?? randomMac()).toLowerCase();
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) throw new VmError(`Invalid MAC address: ${mac}`);
    const v: VifDevice = { kind: 'vif', mac, backend: Number(m.get('backend') ?? 0) };
    for (const k of ['bridge', 'script', 'ip', 'type', 'vifname', 'rate', 'model'] as const) if (m.has(k)) v[k] = m.get(k)!;
    return v;
  }
  throw new VmError(`Device class not supported on this machine: ${String(sxp[0])}`);
}
