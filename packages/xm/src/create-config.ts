// From a config file's variables to the `(vm ...)` SXP that `xm create` sends
// to xend (create.py's make_config): option types and defaults, disk and vif
// parsing with Xen's messages, the image for linux and hvm builders. Keys this
// machine cannot honour are dropped with a warning rather than silently.

import path from 'node:path';
import { XenError } from '@xenwasm/xen-errno';
import type { SxpList, SxpValue } from '@xenwasm/sxp';
import type { ConfigValue } from './config-file.js';

export class CreateConfigError extends XenError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('XM_CREATE', message, context);
    this.name = 'CreateConfigError';
  }
}

type OptType = 'str' | 'int' | 'float' | 'list' | 'flag';
interface OptSpec { type: OptType; dflt?: ConfigValue }

/** create.py's options that this toolstack knows, with CLI defaults. */
export const CREATE_OPTIONS: Record<string, OptSpec> = {
  name: { type: 'str' }, uuid: { type: 'str' }, builder: { type: 'str', dflt: 'linux' },
  kernel: { type: 'str', dflt: '' }, ramdisk: { type: 'str', dflt: '' },
  root: { type: 'str', dflt: '' }, extra: { type: 'str', dflt: '' },
  ip: { type: 'str', dflt: '' }, gateway: { type: 'str', dflt: '' }, netmask: { type: 'str', dflt: '' },
  hostname: { type: 'str', dflt: '' }, interface: { type: 'str', dflt: 'eth0' }, dhcp: { type: 'str', dflt: 'off' },
  nfs_server: { type: 'str' }, nfs_root: { type: 'str' },
  memory: { type: 'int', dflt: 128 }, maxmem: { type: 'int' }, shadow_memory: { type: 'int', dflt: 0 },
  vcpus: { type: 'int', dflt: 1 }, vcpu_avail: { type: 'int' }, cpus: { type: 'str' }, cpu: { type: 'int' },
  cpu_weight: { type: 'int' }, cpu_cap: { type: 'int' },
  on_poweroff: { type: 'str' }, on_reboot: { type: 'str' }, on_crash: { type: 'str' }, restart: { type: 'str' },
  on_xend_start: { type: 'str' }, on_xend_stop: { type: 'str' },
  features: { type: 'str', dflt: '' }, disk: { type: 'list', dflt: [] }, vif: { type: 'list', dflt: [] },
  nics: { type: 'int', dflt: -1 }, localtime: { type: 'flag', dflt: 0 }, rtc_timeoffset: { type: 'str', dflt: '0' },
  // HVM keys honoured, copied into the image.
  device_model: { type: 'str', dflt: '' }, pae: { type: 'int', dflt: 1 }, acpi: { type: 'int', dflt: 1 },
  apic: { type: 'int', dflt: 1 }, timer_mode: { type: 'int', dflt: 0 }, boot: { type: 'str', dflt: 'c' },
  serial: { type: 'str', dflt: '' }, nographic: { type: 'int', dflt: 0 }, guest_os_type: { type: 'str', dflt: 'default' },
  // HVM guests are WASI programs: argv, environment, xl-style p9 shares, host
  // listeners offered as preopened sockets, and xl's stub-domain switch.
  args: { type: 'list' }, env: { type: 'list' }, p9: { type: 'list' }, wasi_listen: { type: 'list' },
  device_model_stubdomain_override: { type: 'int' },
};

/** Keys Xen knows that this machine cannot honour: warned about, then dropped. */
export const UNSUPPORTED_KEYS: Record<string, string> = {
  pci: 'PCI passthrough: there is no PCI bus here',
  ioports: 'I/O port access: there are no I/O ports here',
  irq: 'physical IRQs: there are none here',
  vfb: 'virtual framebuffers are not provided',
  vtpm: 'virtual TPMs are not provided',
  bootloader: 'bootloaders are not run; give kernel= directly',
  bootargs: 'bootloaders are not run',
  usb: 'USB emulation is not provided', usbdevice: 'USB emulation is not provided',
  soundhw: 'sound emulation is not provided',
  vnc: 'no graphical console (VNC)', vncdisplay: 'no graphical console (VNC)', vnclisten: 'no graphical console (VNC)',
  vncunused: 'no graphical console (VNC)', vncconsole: 'no graphical console (VNC)', vncviewer: 'no graphical console (VNC)',
  vncpasswd: 'no graphical console (VNC)', sdl: 'no graphical console (SDL)', display: 'no graphical console',
  xauthority: 'no graphical console', keymap: 'no graphical console', stdvga: 'no emulated VGA', monitor: 'no qemu monitor',
  fda: 'no floppy emulation', fdb: 'no floppy emulation', isa: 'no ISA machine emulation', vhpt: 'ia64 only',
  blkif: 'driver domains are not supported (dom0 is the only backend)', netif: 'driver domains are not supported (dom0 is the only backend)',
  tpmif: 'driver domains are not supported (dom0 is the only backend)', access_control: 'ACM security is not supported',
  hpet: 'no HPET emulation', hap: 'no hardware-assisted paging setting here',
};

const HVM_IMAGE_KEYS = ['device_model', 'pae', 'vcpus', 'boot', 'timer_mode', 'localtime', 'serial', 'nographic', 'rtc_timeoffset', 'acpi', 'apic', 'guest_os_type'];
const VIF_KEYS = ['backend', 'bridge', 'ip', 'mac', 'script', 'type', 'vifname', 'rate', 'model', 'accel', 'policy', 'label'];
const NAME_RE = /^[A-Za-z0-9_\-.:/+]+$/;

export interface CreateConfigOptions {
  /** The config file path, for the default name. */
  configFile?: string;
  /** `name=value` from the command line; they override the file. */
  overrides?: Record<string, string>;
  /** Directory kernel/ramdisk paths are made absolute against (xm uses its cwd). */
  cwd?: string;
  /** Script variables declared by the file: not options, never warned about. */
  scriptVars?: Iterable<string>;
}

export interface CreateConfig {
  sxp: SxpList;
  warnings: string[];
  /** The resolved option values, for callers that want them. */
  values: Record<string, ConfigValue>;
}

function fromCmdline(key: string, raw: string, spec: OptSpec | undefined): ConfigValue {
  if (!spec) return raw;
  switch (spec.type) {
    case 'int':
    case 'flag': {
      const s = raw.trim();
      if (spec.type === 'flag' && /^(true|yes)$/i.test(s)) return 1;
      if (spec.type === 'flag' && /^(false|no)$/i.test(s)) return 0;
      if (!/^[+-]?\d+$/.test(s)) throw new CreateConfigError(`Invalid value for option ${key}: ${raw}`);
      return Number(s);
    }
    case 'float': {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n)) throw new CreateConfigError(`Invalid value for option ${key}: ${raw}`);
      return n;
    }
    case 'list':
      // On the command line a list option may be repeated; one value is one entry.
      return [raw];
    default:
      return raw;
  }
}

function checkType(key: string, v: ConfigValue, spec: OptSpec): ConfigValue {
  const bad = () => new CreateConfigError(`Invalid value for option ${key}: ${JSON.stringify(v)}`);
  switch (spec.type) {
    case 'int':
    case 'flag':
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'number') return Math.trunc(v);
      if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
      throw bad();
    case 'float':
      if (typeof v === 'number') return v;
      throw bad();
    case 'list':
      if (Array.isArray(v)) return v;
      if (typeof v === 'string') return [v];
      throw bad();
    default:
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      throw bad();
  }
}

const truthy = (v: ConfigValue | undefined) =>
  !(v === undefined || v === null || v === '' || v === 0 || v === false || (Array.isArray(v) && v.length === 0));

/** A disk spec `uname,dev,mode[,backend]` as create.py splits it. */
export interface DiskSpec { uname: string; dev: string; mode: string; backend: string | null }

export function parseDiskSpec(spec: string): DiskSpec {
  const d = spec.split(',');
  if (d.length !== 3 && d.length !== 4) throw new CreateConfigError(`Invalid disk specifier: ${spec}`);
  const [uname, dev, mode, backend] = d as [string, string, string, string | undefined];
  if (!['r', 'w', 'w!'].includes(mode)) throw new CreateConfigError(`Invalid mode: ${mode} in disk specifier: ${spec}`);
  return { uname, dev, mode, backend: backend ?? null };
}

/** A vif spec `k=v, k=v` as create.py splits it. */
export function parseVifSpec(spec: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of spec.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new CreateConfigError(`Invalid vif option: ${part.trim()}`);
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (!VIF_KEYS.includes(k)) throw new CreateConfigError(`Invalid vif option: ${k}`);
    const at = out.findIndex(([x]) => x === k);
    if (at >= 0) out[at] = [k, v];
    else out.push([k, v]);
  }
  return out;
}

/** The `ip=` kernel argument create.py builds from ip/gateway/netmask/... */
export function buildIpArg(v: Record<string, ConfigValue>): string {
  const s = (k: string) => (v[k] === undefined || v[k] === null ? '' : String(v[k]));
  if (!s('ip') && (s('dhcp') || 'off') === 'off') return '';
  return [s('ip'), s('nfs_server') || '1.2.3.4', s('gateway'), s('netmask'), s('hostname'), s('interface') || 'eth0', s('dhcp') || 'off'].join(':');
}

const strip = (prefix: string, s: string) => (s.startsWith(prefix) ? s.slice(prefix.length) : s);

/** make_config: variables (+ overrides + defaults) to the `(vm ...)` SXP. */
export function makeCreateConfig(fileVars: Map<string, ConfigValue> | Record<string, ConfigValue>, opts: CreateConfigOptions = {}): CreateConfig {
  const warnings: string[] = [];
  const vars = fileVars instanceof Map ? new Map(fileVars) : new Map(Object.entries(fileVars));
  const scriptVars = new Set(opts.scriptVars ?? []);
  const set = new Set<string>(); // keys the user gave, in the file or on the command line

  for (const [k, raw] of Object.entries(opts.overrides ?? {})) {
    if (CREATE_OPTIONS[k] || UNSUPPORTED_KEYS[k]) vars.set(k, fromCmdline(k, raw, CREATE_OPTIONS[k]));
  }
  const values: Record<string, ConfigValue> = {};
  for (const [k, v] of vars) {
    const spec = CREATE_OPTIONS[k];
    if (spec) {
      values[k] = checkType(k, v, spec);
      set.add(k);
    } else if (UNSUPPORTED_KEYS[k]) {
      if (truthy(v)) warnings.push(`${k}: ${UNSUPPORTED_KEYS[k]}; ignored`);
    } else if (!scriptVars.has(k)) {
      // create.py treats any other variable as a script variable and ignores it.
    }
  }
  for (const [k, spec] of Object.entries(CREATE_OPTIONS)) {
    if (!(k in values) && spec.dflt !== undefined) values[k] = spec.dflt;
  }
  const str = (k: string) => (values[k] === undefined || values[k] === null ? '' : String(values[k]));

  // name: given, or the config file's basename.
  if (!set.has('name') && opts.configFile) values.name = path.basename(opts.configFile);
  const name = str('name');
  if (!name) throw new CreateConfigError('Missing VM Name');
  if (!NAME_RE.test(name)) throw new CreateConfigError('Invalid VM Name');

  const builder = str('builder');
  if (builder !== 'linux' && builder !== 'hvm') throw new CreateConfigError('Invalid builder configuration');
  for (const ev of ['on_poweroff', 'on_reboot', 'on_crash']) {
    if (set.has(ev) && !['destroy', 'restart', 'preserve', 'rename-restart'].includes(str(ev))) {
      throw new CreateConfigError(`Invalid event handling mode: ${ev} = ${str(ev)}`);
    }
  }
  if (set.has('on_xend_start') && !['ignore', 'start'].includes(str('on_xend_start'))) {
    throw new CreateConfigError(`Invalid on_xend_start: ${str('on_xend_start')}`);
  }
  if (set.has('on_xend_stop') && !['ignore', 'shutdown', 'suspend'].includes(str('on_xend_stop'))) {
    throw new CreateConfigError(`Invalid on_xend_stop: ${str('on_xend_stop')}`);
  }
  if ((values.memory as number) <= 0) throw new CreateConfigError(`Memory value too low for memory: ${values.memory}`);
  if ((values.vcpus as number) < 1) throw new CreateConfigError(`Invalid vcpus: ${values.vcpus}`);

  // nfs root becomes part of extra (preprocess_nfs).
  if (str('nfs_root')) {
    if (!str('nfs_server')) throw new CreateConfigError('Must set nfs root and nfs server');
    values.extra = `nfsroot=${str('nfs_server')}:${str('nfs_root')} ${str('extra')}`;
  }

  const sxp: SxpList = ['vm'];
  for (const k of ['name', 'memory', 'maxmem', 'shadow_memory', 'restart', 'on_poweroff', 'on_reboot', 'on_crash',
    'vcpus', 'vcpu_avail', 'features', 'on_xend_start', 'on_xend_stop']) {
    if (truthy(values[k])) sxp.push([k, values[k] as SxpValue]);
  }
  for (const k of ['uuid', 'cpu', 'cpus', 'cpu_cap', 'cpu_weight']) {
    if (values[k] !== undefined && values[k] !== null) sxp.push([k, values[k] as SxpValue]);
  }
  if (truthy(values.localtime)) sxp.push(['localtime', values.localtime as SxpValue]);

  // image
  const image: SxpList = [builder];
  const cwd = opts.cwd ?? process.cwd();
  if (str('kernel')) image.push(['kernel', path.resolve(cwd, str('kernel'))]);
  if (builder === 'linux' && !str('kernel')) warnings.push('kernel: not set; xend will refuse a linux domain without a kernel');
  if (str('ramdisk')) image.push(['ramdisk', str('ramdisk')]);
  const ip = buildIpArg(values);
  if (ip) image.push(['ip', strip('ip=', ip)]);
  if (str('root')) image.push(['root', strip('root=', str('root'))]);
  if (str('extra')) image.push(['args', str('extra')]);
  if (builder === 'hvm') {
    for (const k of HVM_IMAGE_KEYS) {
      if (values[k] !== undefined && values[k] !== null) image.push([k, values[k] as SxpValue]);
    }
    // Lists travel as one nested list each: (wasi_args (a b c)).
    for (const [k, key] of [['args', 'wasi_args'], ['env', 'wasi_env'], ['p9', 'p9'], ['wasi_listen', 'wasi_listen']] as const) {
      const v = values[k];
      if (Array.isArray(v) && v.length) image.push([key, v.map((x) => String(x))]);
    }
    if (values.device_model_stubdomain_override !== undefined) image.push(['device_model_stubdomain_override', values.device_model_stubdomain_override as SxpValue]);
  } else {
    for (const k of HVM_IMAGE_KEYS) {
      if (set.has(k) && !['vcpus', 'localtime', 'rtc_timeoffset'].includes(k)) warnings.push(`${k}: only meaningful for builder='hvm'; ignored`);
    }
  }
  sxp.push(['image', image]);

  // devices
  const disks = values.disk as ConfigValue[];
  for (const d of disks) {
    if (typeof d !== 'string') throw new CreateConfigError(`Invalid disk specifier: ${JSON.stringify(d)}`);
    const spec = parseDiskSpec(d);
    const cls = spec.uname.startsWith('tap:') ? 'tap' : 'vbd';
    const dev: SxpList = [cls, ['uname', spec.uname], ['dev', spec.dev], ['mode', spec.mode]];
    if (spec.backend) dev.push(['backend', spec.backend]);
    sxp.push(['device', dev]);
  }
  const vifs = (values.vif as ConfigValue[]).map((v) => {
    if (typeof v !== 'string') throw new CreateConfigError(`Invalid vif specifier: ${JSON.stringify(v)}`);
    return parseVifSpec(v);
  });
  const nics = values.nics as number;
  if (nics > 0) {
    warnings.push("The nics option is deprecated.  Please use an empty vif entry instead:\n\n  vif = [ '' ]\n");
    while (vifs.length < nics) vifs.push([]);
  } else if (nics === 0) {
    warnings.push('The nics option is deprecated.  Please remove it.');
  }
  for (const v of vifs) {
    for (const [k] of v) if (k === 'policy' || k === 'label' || k === 'accel') warnings.push(`vif ${k}: not supported on this machine; ignored`);
    sxp.push(['device', ['vif', ...v.filter(([k]) => k !== 'policy' && k !== 'label' && k !== 'accel').map(([k, x]) => [k, x] as SxpList)]]);
  }
  return { sxp, warnings, values };
}
