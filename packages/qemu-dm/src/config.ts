// What one device model serves: the HVM domain's disks, shares, listeners
// and console, as xend derives them from the domain's config.

export interface DmDisk {
  /** Image file on the host (file:PATH). */
  image: string;
  /** hda, hdb, ... (xvda and sda are accepted too). */
  vdev: string;
  readonly: boolean;
  /** Guest path it is preopened at: hda is '/', others '/mnt/<vdev>' unless given. */
  mount: string;
}
export interface DmShare {
  tag: string;
  path: string;
  mount: string;
  readonly: boolean;
}
export interface DmListener {
  host: string;
  port: number;
}
export interface DmConfig {
  domid: number;
  name: string;
  disks: DmDisk[];
  shares: DmShare[];
  listeners: DmListener[];
  /** File that receives the guest's stdout and stderr (appended). */
  consoleLog?: string;
  /**
   * Unix socket where the device model serves the guest's console (stdin
   * included) with xenconsoled's attach protocol; xenconsoled relays to it.
   */
  consoleSocket?: string;
}

/** xl's p9 entry: `tag=NAME,path=/host/dir,security_model=none[,mount=/guest/path][,readonly=1]`. */
export function parseP9(spec: string): DmShare {
  const kv = new Map<string, string>();
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) throw new Error(`p9: "${part}" is not KEY=VALUE in "${spec}"`);
    kv.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const tag = kv.get('tag');
  const p = kv.get('path');
  if (!tag || !p) throw new Error(`p9: tag and path are required in "${spec}"`);
  if (!p.startsWith('/')) throw new Error(`p9: path must be absolute in "${spec}"`);
  const sm = kv.get('security_model') ?? 'none';
  if (sm !== 'none') throw new Error(`p9: security_model=${sm} is not supported (only none)`);
  const mount = kv.get('mount') ?? `/${tag}`;
  if (!mount.startsWith('/')) throw new Error(`p9: mount must be absolute in "${spec}"`);
  const ro = kv.get('readonly');
  return { tag, path: p, mount, readonly: ro === '1' || ro === 'true' || ro === 'yes' };
}

/** Xen's disk entry `file:PATH,DEV,MODE` (also tap:aio:, phy: refused). */
export function parseDisk(spec: string, index: number): DmDisk {
  const parts = spec.split(',').map((s) => s.trim());
  if (parts.length < 3) throw new Error(`disk: "${spec}" is not UNAME,DEV,MODE`);
  let [uname, dev, mode] = parts;
  const mountKv = parts.slice(3).find((p) => p.startsWith('mount='));
  let image: string;
  if (uname.startsWith('file:')) image = uname.slice(5);
  else if (uname.startsWith('tap:aio:')) image = uname.slice(8);
  else throw new Error(`disk: only file: images are supported for HVM guests, got "${uname}"`);
  dev = dev.replace(/^ioemu:/, '').replace(/:disk$/, '');
  if (!/^(hd|xvd|sd)[a-z]$/.test(dev)) throw new Error(`disk: bad device "${dev}"`);
  if (mode !== 'r' && mode !== 'w' && mode !== 'w!') throw new Error(`disk: bad mode "${mode}"`);
  const first = dev.endsWith('a');
  const mount = mountKv ? mountKv.slice(6) : first || index === 0 ? '/' : `/mnt/${dev}`;
  return { image, vdev: dev, readonly: mode === 'r', mount };
}

/** `127.0.0.1:PORT` or `PORT`. Only loopback is offered. */
export function parseListener(spec: string): DmListener {
  const m = /^(?:(127\.0\.0\.1|localhost):)?(\d+)$/.exec(spec.trim());
  if (!m) throw new Error(`wasi_listen: "${spec}" is not [127.0.0.1:]PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`wasi_listen: bad port ${port}`);
  return { host: '127.0.0.1', port };
}
