// Where an installed suite lives. Every path is the final one on the target
// system; `root` (DESTDIR) is only prepended when files are written, so a
// tree installed under a temporary root is the same tree as on a host.

import path from 'node:path';

export interface Layout {
  /** Written under this directory ('/' for a real install). */
  root: string;
  /** Programs in <prefix>/bin, the runtime in <prefix>/lib/xenwasm. */
  prefix: string;
  sysconfdir: string;
  unitdir: string;
  tmpfilesdir: string;
  defaultsdir: string;
  statedir: string;
  rundir: string;
  logdir: string;
  /** The Node.js the wrappers run (default: the one running the installer). */
  node: string;
}

export function defaultLayout(over: Partial<Layout> = {}): Layout {
  return {
    root: '/',
    prefix: '/usr/local',
    sysconfdir: '/etc/xen',
    unitdir: '/etc/systemd/system',
    tmpfilesdir: '/etc/tmpfiles.d',
    defaultsdir: '/etc/default',
    statedir: '/var/lib/xen',
    rundir: '/run/xen',
    logdir: '/var/log/xen',
    node: process.execPath,
    ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)),
  };
}

/** A final path as written under the layout's root. */
export function dest(l: Layout, p: string): string {
  return path.join(l.root, p);
}

export const bindir = (l: Layout) => path.join(l.prefix, 'bin');
export const libdir = (l: Layout) => path.join(l.prefix, 'lib', 'xenwasm');

export interface Program {
  /** Command name on the PATH. */
  name: string;
  /** Workspace package (@xenwasm/<pkg>) and its entry script. */
  pkg: string;
  entry: string;
  /** Installed only when the package is built (xenconsoled is newer than the rest). */
  optional?: boolean;
  /** Runs as a systemd service: the readiness protocol is Type=notify. */
  daemon?: boolean;
}

export const PROGRAMS: Program[] = [
  { name: 'xen', pkg: 'xen', entry: 'dist/src/main.js', daemon: true },
  { name: 'xenstored', pkg: 'xenstored', entry: 'dist/src/main.js', daemon: true },
  { name: 'xenconsoled', pkg: 'xenconsoled', entry: 'dist/src/main.js', optional: true, daemon: true },
  { name: 'xend', pkg: 'xend', entry: 'dist/src/main.js', daemon: true },
  { name: 'xm', pkg: 'xm', entry: 'dist/src/main.js' },
  { name: 'xendomains', pkg: 'xen-system', entry: 'dist/src/xendomains-main.js' },
];
