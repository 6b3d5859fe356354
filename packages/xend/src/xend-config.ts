// xend-config.sxp: Xen's keys and defaults (XendOptions.py), with every path
// moved under $XEN_STATE_DIR. Unknown keys are reported, not fatal.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseSxpAll, type SxpValue } from '@xenwasm/sxp';
import { XendConfigError } from './xend-errors.js';

export type XendOptionValue = SxpValue;

/** Defaults for a state directory. */
export function xendConfigDefaults(stateDir: string): Map<string, XendOptionValue> {
  const s = (p: string) => path.join(stateDir, p);
  return new Map<string, XendOptionValue>([
    ['logfile', s('log/xend.log')],
    ['loglevel', 'DEBUG'],
    ['xen-api-server', [['unix']]],
    ['xend-http-server', 'no'],
    ['xend-unix-server', 'no'],
    ['xend-tcp-xmlrpc-server', 'no'],
    ['xend-unix-xmlrpc-server', 'yes'],
    ['xend-relocation-server', 'no'],
    ['xend-unix-path', s('lib/xend/xend-socket')],
    ['xend-tcp-xmlrpc-server-address', 'localhost'],
    ['xend-tcp-xmlrpc-server-port', '8006'],
    ['xend-tcp-xmlrpc-server-ssl-key-file', ''],
    ['xend-tcp-xmlrpc-server-ssl-cert-file', ''],
    ['xend-port', '8000'],
    ['xend-address', ''],
    ['xend-relocation-port', '8002'],
    ['xend-relocation-address', ''],
    ['xend-relocation-hosts-allow', ''],
    ['console-limit', '1024'],
    ['network-script', ''],
    ['vif-script', 'vif-bridge'],
    ['dom0-min-mem', '0'],
    ['dom0-cpus', '0'],
    ['enable-dump', 'no'],
    ['external-migration-tool', ''],
    ['vnc-listen', '127.0.0.1'],
    ['vncpasswd', ''],
    ['vnc-tls', '0'],
    ['vnc-x509-cert-dir', s('etc/vnc')],
    ['vnc-x509-verify', '0'],
    ['keymap', ''],
    ['resource-label-change-script', ''],
    ['xend-domains-path', s('lib/xend/domains')],
    ['xend-state-path', s('lib/xend/state')],
    ['xend-storage-path', s('lib/xend/storage')],
    ['xend-security-path', s('lib/xend/security')],
  ]);
}

const TRUE = new Set(['yes', 'y', '1', 'true', 'on']);
const FALSE = new Set(['no', 'n', '0', 'false', 'off', '']);

export class XendOptions {
  constructor(
    readonly stateDir: string,
    readonly values: Map<string, XendOptionValue>,
    readonly warnings: string[],
    readonly file: string,
  ) {}

  get(key: string): XendOptionValue | undefined {
    return this.values.get(key);
  }
  str(key: string): string {
    const v = this.values.get(key);
    return v === undefined || Array.isArray(v) ? '' : String(v);
  }
  bool(key: string): boolean {
    const v = this.str(key).toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    throw new XendConfigError(`${this.file}: invalid value for ${key}: ${v} (expected yes or no)`);
  }
  int(key: string): number {
    const v = this.str(key).trim();
    if (!/^-?\d+$/.test(v)) throw new XendConfigError(`${this.file}: invalid value for ${key}: ${v} (expected an integer)`);
    return Number(v);
  }

  get logfile(): string { return this.str('logfile'); }
  get loglevel(): string { return this.str('loglevel'); }
  /** The legacy XML-RPC unix socket (Xen: /var/run/xend/xmlrpc.sock). */
  get xmlrpcSocket(): string { return path.join(this.stateDir, 'run/xend/xmlrpc.sock'); }
  get unixXmlRpc(): boolean { return this.bool('xend-unix-xmlrpc-server'); }
  get tcpXmlRpc(): { enabled: boolean; host: string; port: number } {
    const addr = this.str('xend-tcp-xmlrpc-server-address');
    // Python binds '' to every interface; 'localhost' is the loopback.
    const host = addr === '' ? '0.0.0.0' : addr === 'localhost' ? '127.0.0.1' : addr;
    return { enabled: this.bool('xend-tcp-xmlrpc-server'), host, port: this.int('xend-tcp-xmlrpc-server-port') };
  }
  get dom0MinMem(): number { return this.int('dom0-min-mem'); }
  get dom0Cpus(): number { return this.int('dom0-cpus'); }
  /** KiB. */
  get consoleLimit(): number { return this.int('console-limit'); }
  get enableDump(): boolean { return this.bool('enable-dump'); }
  get vifScript(): string { return this.str('vif-script'); }
  get domainsPath(): string { return this.str('xend-domains-path'); }
  get statePath(): string { return this.str('xend-state-path'); }
}

// The 3.2 example config's comments misspell these keys; say so rather than ignore them.
const TYPO = /^xen-tcp-xmlrpc-server(-.*)?$/;

/** Parse xend-config.sxp text. */
export function parseXendConfig(text: string, stateDir: string, file = 'xend-config.sxp'): XendOptions {
  const values = xendConfigDefaults(stateDir);
  const known = new Set(values.keys());
  const warnings: string[] = [];
  for (const item of parseSxpAll(text, { file })) {
    if (!Array.isArray(item) || item.length === 0 || typeof item[0] !== 'string') {
      warnings.push(`${file}: ignoring ${JSON.stringify(item)}: not a (key value) pair`);
      continue;
    }
    const key = item[0];
    if (!known.has(key)) {
      const hint = TYPO.test(key) ? ` (did you mean ${key.replace(/^xen-/, 'xend-')}?)` : '';
      warnings.push(`${file}: unknown key ${key}${hint}; ignored`);
      continue;
    }
    const v = item.length === 2 ? item[1]! : item.length > 2 ? item.slice(1) : '';
    values.set(key, v);
  }
  const opts = new XendOptions(stateDir, values, warnings, file);
  // Fail early on values that would only break later.
  for (const k of ['xend-unix-xmlrpc-server', 'xend-tcp-xmlrpc-server', 'xend-relocation-server', 'xend-http-server', 'xend-unix-server', 'enable-dump']) opts.bool(k);
  for (const k of ['xend-tcp-xmlrpc-server-port', 'dom0-min-mem', 'dom0-cpus', 'console-limit', 'xend-port', 'xend-relocation-port']) opts.int(k);
  return opts;
}

/** Read $XEN_STATE_DIR/xend-config.sxp; a missing file means every default. */
export async function readXendConfig(stateDir: string): Promise<XendOptions> {
  const file = path.join(stateDir, 'xend-config.sxp');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return parseXendConfig(text, stateDir, file);
}
