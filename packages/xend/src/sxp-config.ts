// The xend side of a domain config: the `(vm ...)` SXP that xm create sends,
// validated into a typed DomainConfig with Xen's error texts; and the
// `(domain ...)` SXP that xend.domain and `xm list --long` return, in
// XendConfig.to_sxp's key order.

import { randomBytes, randomUUID } from 'node:crypto';
import { isElement, type SxpList, type SxpValue } from '@xenwasm/sxp';
import { VmError, XendConfigError } from './xend-errors.js';

export const RESTART_MODES = ['destroy', 'restart', 'preserve', 'rename-restart'] as const;
export type RestartMode = (typeof RESTART_MODES)[number];

export interface VbdDevice {
  kind: 'vbd' | 'tap';
  uname: string;
  dev: string;
  mode: 'r' | 'w' | 'w!';
  backend: number;
  bootable: boolean;
}
export interface VifDevice {
  kind: 'vif';
  mac: string;
  bridge?: string;
  script?: string;
  ip?: string;
  type?: string;
  vifname?: string;
  rate?: string;
  model?: string;
  backend: number;
}
export type DeviceConfig = VbdDevice | VifDevice;

export interface ImageConfig {
  kind: 'linux' | 'hvm';
  kernel: string;
  ramdisk: string;
  /** The user's own arguments (`extra`). */
  args: string;
  root: string;
  ip: string;
  /** The command line xend builds: root=, ip=, then args. */
  cmdline: string;
  /** HVM keys as sent (boot, pae, acpi, ...). */
  hvm: Record<string, SxpValue>;
}

export interface DomainConfig {
  name: string;
  uuid: string;
  /** MiB. */
  memory: number;
  /** MiB. */
  maxmem: number;
  shadowMemory: number;
  vcpus: number;
  vcpuAvail: number;
  cpus?: string;
  cpuWeight: number;
  cpuCap: number;
  onPoweroff: RestartMode;
  onReboot: RestartMode;
  onCrash: RestartMode;
  onXendStart: 'ignore' | 'start';
  onXendStop: 'ignore' | 'shutdown' | 'suspend';
  features: string;
  localtime: boolean;
  image: ImageConfig;
  devices: DeviceConfig[];
}

export const MAX_VIRT_CPUS = 32;
const NAME_RE = /^[A-Za-z0-9_\-.:/+]+$/;
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const VIF_KEYS = new Set(['backend', 'bridge', 'ip', 'mac', 'script', 'type', 'vifname', 'rate', 'model', 'accel', 'policy', 'label', 'uuid']);

/** Xen's name check (XendDomainInfo._checkName), minus uniqueness, which the caller knows. */
export function checkDomainName(name: unknown): string {
  if (name === undefined || name === null || name === '') throw new VmError('Missing VM Name');
  if (typeof name !== 'string' || !NAME_RE.test(name)) throw new VmError('Invalid VM Name');
  return name;
}

/** root=, then ip=, then the user's args; each skipped if the args already carry it. */
export function buildCmdline(root: string, ip: string, args: string): string {
  const parts: string[] = [];
  if (root && !/(^|\s)root=/.test(args)) parts.push(`root=${root}`);
  if (ip && !/(^|\s)ip=/.test(args)) parts.push(`ip=${ip}`);
  if (args) parts.push(args);
  return parts.join(' ');
}

/** A random MAC in Xen's OUI, 00:16:3e (the top bit of byte 4 clear, as xend does). */
export function randomMac(): string {
  const b = randomBytes(3);
  return ['00', '16', '3e', (b[0]! & 0x7f).toString(16).padStart(2, '0'), b[1]!.toString(16).padStart(2, '0'), b[2]!.toString(16).padStart(2, '0')].join(':');
}

function pairs(list: SxpList): Map<string, SxpValue> {
  const m = new Map<string, SxpValue>();
  for (const k of list.slice(1)) {
    if (Array.isArray(k) && typeof k[0] === 'string' && !m.has(k[0])) m.set(k[0], k.length > 1 ? k[1]! : '');
  }
  return m;
}

function toInt(key: string, v: SxpValue | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  throw new XendConfigError(`Invalid value for ${key}: ${JSON.stringify(v)}`);
}
const toStr = (v: SxpValue | undefined, dflt = ''): string => (v === undefined || Array.isArray(v) ? dflt : String(v));

export interface ParseVmOptions {
  /** For tests: deterministic MACs and UUIDs. */
  randomMac?: () => string;
  randomUuid?: () => string;
}

/** Validate an `(vm ...)` SXP into a DomainConfig. Throws VmError / XendConfigError with Xen's texts. */
export function parseVmSxp(sxp: SxpValue, opts: ParseVmOptions = {}): DomainConfig {
  if (!isElement(sxp, 'vm') && !isElement(sxp, 'domain')) throw new XendConfigError('Invalid configuration: expected (vm ...)');
  const list = sxp as SxpList;
  const p = pairs(list);
  const name = checkDomainName(p.get('name'));

  let uuid = toStr(p.get('uuid'));
  if (uuid) {
    if (!UUID_RE.test(uuid)) throw new XendConfigError(`Invalid UUID: ${uuid}`);
    const h = uuid.replace(/-/g, '').toLowerCase();
    uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  } else uuid = (opts.randomUuid ?? randomUUID)();

  const memory = toInt('memory', p.get('memory'), 128);
  const maxmem = toInt('maxmem', p.get('maxmem'), memory);
  if (memory <= 0) throw new XendConfigError(`Memory value too low for memory: ${memory}`);
  if (maxmem < memory) throw new XendConfigError(`maxmem (${maxmem}) must not be less than memory (${memory})`);
  const vcpus = toInt('vcpus', p.get('vcpus'), 1);
  if (vcpus < 1 || vcpus > MAX_VIRT_CPUS) throw new XendConfigError(`Invalid vcpus: ${vcpus} (1 to ${MAX_VIRT_CPUS})`);
  const vcpuAvail = toInt('vcpu_avail', p.get('vcpu_avail'), 2 ** vcpus - 1);

  // Deprecated `restart` sets all three, then explicit on_* win.
  const modes: Record<'shutdown' | 'reboot' | 'crash', string> = { shutdown: 'destroy', reboot: 'restart', crash: 'restart' };
  const restart = toStr(p.get('restart'));
  if (restart === 'onreboot') Object.assign(modes, { shutdown: 'destroy', reboot: 'restart', crash: 'destroy' });
  else if (restart === 'always') Object.assign(modes, { shutdown: 'restart', reboot: 'restart', crash: 'restart' });
  else if (restart === 'never') Object.assign(modes, { shutdown: 'never', reboot: 'never', crash: 'never' });
  else if (restart) throw new XendConfigError(`Invalid restart value: ${restart}`);
  if (p.has('on_poweroff')) modes.shutdown = toStr(p.get('on_poweroff'));
  if (p.has('on_reboot')) modes.reboot = toStr(p.get('on_reboot'));
  if (p.has('on_crash')) modes.crash = toStr(p.get('on_crash'));
  for (const ev of ['shutdown', 'reboot', 'crash'] as const) {
    if (!(RESTART_MODES as readonly string[]).includes(modes[ev])) throw new XendConfigError(`Invalid event handling mode: ${ev}`);
  }
  const onXendStart = toStr(p.get('on_xend_start'), 'ignore');
  if (onXendStart !== 'ignore' && onXendStart !== 'start') throw new XendConfigError(`Invalid on_xend_start: ${onXendStart}`);
  const onXendStop = toStr(p.get('on_xend_stop'), 'ignore');
  if (!['ignore', 'shutdown', 'suspend'].includes(onXendStop)) throw new XendConfigError(`Invalid on_xend_stop: ${onXendStop}`);

  const cpuWeight = toInt('cpu_weight', p.get('cpu_weight'), 256);
  if (cpuWeight < 1 || cpuWeight > 65535) throw new XendConfigError(`Invalid cpu_weight: ${cpuWeight} (1 to 65535)`);
  const cpuCap = toInt('cpu_cap', p.get('cpu_cap'), 0);
  if (cpuCap < 0 || cpuCap > vcpus * 100) throw new XendConfigError(`Invalid cpu_cap: ${cpuCap} (0 to ${vcpus * 100})`);

  // image
  const imageEl = list.find((x) => isElement(x, 'image')) as SxpList | undefined;
  const imgList = imageEl && Array.isArray(imageEl[1]) ? (imageEl[1] as SxpList) : undefined;
  if (!imgList || (imgList[0] !== 'linux' && imgList[0] !== 'hvm')) throw new XendConfigError('Invalid builder configuration');
  const ip_ = pairs(imgList);
  const kind = imgList[0] as 'linux' | 'hvm';
  const kernel = toStr(ip_.get('kernel'));
  if (!kernel) throw new VmError('Kernel image not specified');
  const args = toStr(ip_.get('args'));
  const root = toStr(ip_.get('root'));
  const ipArg = toStr(ip_.get('ip'));
  const cmdline = buildCmdline(root, ipArg, args);
  if (Buffer.byteLength(cmdline) >= 1024) throw new VmError('Kernel command line too long (max 1023 bytes)');
  const hvm: Record<string, SxpValue> = {};
  if (kind === 'hvm') {
    for (const [k, v] of ip_) if (!['kernel', 'ramdisk', 'args', 'root', 'ip'].includes(k)) hvm[k] = v;
  }
  const image: ImageConfig = { kind, kernel, ramdisk: toStr(ip_.get('ramdisk')), args, root, ip: ipArg, cmdline, hvm };

  // devices
  const devices: DeviceConfig[] = [];
  let bootableGiven = false;
  for (const d of list) {
    if (!isElement(d, 'device')) continue;
    const dev = d[1];
    if (!Array.isArray(dev) || typeof dev[0] !== 'string') throw new XendConfigError('Invalid device configuration');
    const dp = pairs(dev);
    const cls = dev[0];
    if (cls === 'vbd' || cls === 'tap') {
      let uname = toStr(dp.get('uname'));
      const devName = toStr(dp.get('dev'));
      const mode = toStr(dp.get('mode'), 'r');
      if (!devName) throw new VmError('Block device must have virtual details specified');
      if (!['r', 'w', 'w!'].includes(mode)) throw new VmError('Invalid mode');
      if (uname) {
        const colon = uname.indexOf(':');
        const typ = colon < 0 ? '' : uname.slice(0, colon);
        if (!['phy', 'file', 'tap'].includes(typ)) throw new VmError(`Block device type not supported: ${uname}`);
        if (typ === 'phy' && !uname.slice(4).startsWith('/')) uname = `phy:/dev/${uname.slice(4)}`;
        if (typ === 'tap' && cls !== 'tap') throw new VmError(`tap: disks need device class tap: ${uname}`);
      } else if (kind !== 'hvm' || !/:cdrom$/.test(devName)) {
        throw new VmError(`Empty disk specifier is only allowed for an HVM cdrom: ${devName}`);
      }
      const bootable = !bootableGiven;
      bootableGiven = true;
      devices.push({ kind: cls, uname, dev: devName, mode: mode as VbdDevice['mode'], backend: toInt('backend', dp.get('backend'), 0), bootable });
    } else if (cls === 'vif') {
      for (const k of dp.keys()) if (!VIF_KEYS.has(k)) throw new VmError(`Invalid vif option: ${k}`);
      let mac = toStr(dp.get('mac'));
      if (mac && !MAC_RE.test(mac)) throw new VmError(`Invalid MAC address: ${mac}`);
      if (!mac) mac = (opts.randomMac ?? randomMac)();
      const vif: VifDevice = { kind: 'vif', mac: mac.toLowerCase(), backend: toInt('backend', dp.get('backend'), 0) };
      for (const k of ['bridge', 'script', 'ip', 'type', 'vifname', 'rate', 'model'] as const) {
        if (dp.has(k)) vif[k] = toStr(dp.get(k));
      }
      devices.push(vif);
    } else {
      throw new VmError(`Device class not supported on this machine: ${cls}`);
    }
  }

  return {
    name, uuid, memory, maxmem, shadowMemory: toInt('shadow_memory', p.get('shadow_memory'), 0), vcpus, vcpuAvail,
    ...(p.has('cpus') ? { cpus: toStr(p.get('cpus')) } : {}),
    cpuWeight, cpuCap,
    onPoweroff: modes.shutdown as RestartMode, onReboot: modes.reboot as RestartMode, onCrash: modes.crash as RestartMode,
    onXendStart: onXendStart as DomainConfig['onXendStart'], onXendStop: onXendStop as DomainConfig['onXendStop'],
    features: toStr(p.get('features')), localtime: toInt('localtime', p.get('localtime'), 0) !== 0,
    image, devices,
  };
}

/** Image SXP as xend stores and reports it: `(linux (kernel ..) [(ramdisk ..)] (args <cmdline>) ...)`. */
export function imageToSxp(img: ImageConfig): SxpList {
  const out: SxpList = [img.kind, ['kernel', img.kernel]];
  if (img.ramdisk) out.push(['ramdisk', img.ramdisk]);
  if (img.cmdline) out.push(['args', img.cmdline]);
  for (const [k, v] of Object.entries(img.hvm)) out.push([k, v]);
  return out;
}

export function deviceToSxp(d: DeviceConfig): SxpList {
  if (d.kind === 'vif') {
    const out: SxpList = ['vif', ['backend', d.backend]];
    if (d.script !== undefined) out.push(['script', d.script]);
    for (const k of ['bridge', 'ip', 'type', 'vifname', 'rate', 'model'] as const) if (d[k] !== undefined) out.push([k, d[k]!]);
    out.push(['mac', d.mac]);
    return out;
  }
  return [d.kind, ['uname', d.uname], ['dev', d.dev], ['mode', d.mode], ['backend', d.backend], ['bootable', d.bootable ? 1 : 0]];
}

/** What xend knows about a domain beyond its config. */
export interface DomainRuntime {
  /** Absent for a managed domain that is not running. */
  domid?: number;
  /** `rbpscd` flags (only with a domid). */
  state?: string;
  /** xend's DOM_STATES index: 0 halted, 1 paused, 2 running, 3 suspended, 4 shutdown, 5 unknown. */
  status: number;
  /** Seconds since the epoch. */
  startTime?: number;
  /** Seconds. */
  cpuTime?: number;
  onlineVcpus?: number;
  /** Current balloon target, MiB (defaults to config memory). */
  memory?: number;
  storeMfn?: number;
  consoleMfn?: number;
  /** poweroff, reboot, suspend, crash, halt: for a shut-down (preserved) domain. */
  shutdownReason?: string;
  /** HVM guests' exit status. */
  exitCode?: number;
}

/** The `(domain ...)` SXP of xend.domain / `xm list --long`, in to_sxp order. */
export function domainToSxp(c: DomainConfig, rt: DomainRuntime): SxpList {
  const out: SxpList = ['domain'];
  if (rt.domid !== undefined) out.push(['domid', rt.domid]);
  // The legacy aliases in CPython 2.7's dict order (xen-facts 5.2): clients parse by key.
  out.push(['bootloader', ''], ['on_crash', c.onCrash], ['uuid', c.uuid], ['bootloader_args', ''], ['vcpus', c.vcpus],
    ['name', c.name], ['on_reboot', c.onReboot], ['on_poweroff', c.onPoweroff]);
  out.push(['maxmem', c.maxmem], ['memory', rt.memory ?? c.memory], ['shadow_memory', c.shadowMemory], ['features', c.features],
    ['on_xend_start', c.onXendStart], ['on_xend_stop', c.onXendStop]);
  if (rt.startTime !== undefined) out.push(['start_time', rt.startTime]);
  if (rt.cpuTime !== undefined) out.push(['cpu_time', rt.cpuTime]);
  if (rt.onlineVcpus !== undefined) out.push(['online_vcpus', rt.onlineVcpus]);
  if (c.cpus !== undefined) out.push(['cpus', c.cpus]);
  out.push(['cpu_weight', c.cpuWeight], ['cpu_cap', c.cpuCap]);
  out.push(['image', imageToSxp(c.image)]);
  out.push(['status', rt.status]);
  if (rt.domid !== undefined && rt.state !== undefined) out.push(['state', rt.state]);
  if (rt.shutdownReason !== undefined) out.push(['shutdown_reason', rt.shutdownReason]);
  if (rt.exitCode !== undefined) out.push(['exit_code', rt.exitCode]);
  if (rt.storeMfn !== undefined) out.push(['store_mfn', rt.storeMfn]);
  if (rt.consoleMfn !== undefined) out.push(['console_mfn', rt.consoleMfn]);
  for (const d of c.devices) out.push(['device', deviceToSxp(d)]);
  return out;
}

/** The `(vm ...)` SXP that recreates a config (for restarts and managed-domain storage). */
export function domainConfigToVmSxp(c: DomainConfig): SxpList {
  const image: SxpList = [c.image.kind, ['kernel', c.image.kernel]];
  if (c.image.ramdisk) image.push(['ramdisk', c.image.ramdisk]);
  if (c.image.ip) image.push(['ip', c.image.ip]);
  if (c.image.root) image.push(['root', c.image.root]);
  if (c.image.args) image.push(['args', c.image.args]);
  for (const [k, v] of Object.entries(c.image.hvm)) image.push([k, v]);
  const out: SxpList = ['vm', ['name', c.name], ['uuid', c.uuid], ['memory', c.memory], ['maxmem', c.maxmem], ['vcpus', c.vcpus],
    ['vcpu_avail', c.vcpuAvail], ['on_poweroff', c.onPoweroff], ['on_reboot', c.onReboot], ['on_crash', c.onCrash],
    ['on_xend_start', c.onXendStart], ['on_xend_stop', c.onXendStop], ['cpu_weight', c.cpuWeight], ['cpu_cap', c.cpuCap]];
  if (c.shadowMemory) out.push(['shadow_memory', c.shadowMemory]);
  if (c.features) out.push(['features', c.features]);
  if (c.cpus !== undefined) out.push(['cpus', c.cpus]);
  if (c.localtime) out.push(['localtime', 1]);
  out.push(['image', image]);
  for (const d of c.devices) {
    const s = deviceToSxp(d);
    out.push(['device', d.kind === 'vif' ? s : s.filter((x) => !isElement(x, 'bootable'))]);
  }
  return out;
}
