// The systemd units of an installed suite, ordered and bound as xencommons
// starts the daemons: xen, then xenstored, then xenconsoled, then xend;
// xendomains after xend. Stopping xen stops everything above it (the guests
// live in the hypervisor process); xenstored, xenconsoled and xend restart
// on failure because guests survive them.

import path from 'node:path';
import { bindir, type Layout } from './layout.js';

/** Options that every daemon tolerates (Node's JIT rules out MemoryDenyWriteExecute). */
const COMMON_SANDBOX = [
  'NoNewPrivileges=yes',
  'PrivateTmp=yes',
  'ProtectHome=read-only',
  'ProtectKernelTunables=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectControlGroups=yes',
  'ProtectClock=yes',
  'ProtectHostname=yes',
  'RestrictSUIDSGID=yes',
  'RestrictRealtime=yes',
  'RestrictNamespaces=yes',
  'LockPersonality=yes',
  'SystemCallArchitectures=native',
  'UMask=0077',
];

function stateDirs(l: Layout): string[] {
  // systemd creates them (and makes them writable under ProtectSystem=strict)
  // when they are the standard names; /run/xen outlives each unit because
  // all of them share it.
  const lines: string[] = [];
  if (l.statedir === '/var/lib/xen') lines.push('StateDirectory=xen', 'StateDirectoryMode=0700');
  if (l.logdir === '/var/log/xen') lines.push('LogsDirectory=xen', 'LogsDirectoryMode=0750');
  if (l.rundir === '/run/xen') lines.push('RuntimeDirectory=xen', 'RuntimeDirectoryMode=0700', 'RuntimeDirectoryPreserve=yes');
  // Elsewhere (a relocated install) the directories are made by xen-install;
  // '-' lets a unit start even if one was removed.
  const other = [[l.statedir, '/var/lib/xen'], [l.logdir, '/var/log/xen'], [l.rundir, '/run/xen']].filter(([d, std]) => d !== std).map(([d]) => `-${d}`);
  if (other.length) lines.push(`ReadWritePaths=${other.join(' ')}`);
  return lines;
}

interface UnitSpec {
  name: string;
  description: string;
  unit: string[];
  service: string[];
}

function render(u: UnitSpec, l: Layout): string {
  return [
    `# ${u.name}: installed by xen-install (XenWasm). Local changes belong in a drop-in:`,
    `#   systemctl edit ${u.name}`,
    '[Unit]',
    `Description=${u.description}`,
    `Documentation=file://${path.join(l.prefix, 'lib', 'xenwasm', 'README.md')}`,
    ...u.unit,
    '',
    '[Service]',
    ...u.service,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export interface UnitFile { name: string; text: string }

export function units(l: Layout, opts: { xenconsoled: boolean }): UnitFile[] {
  const bin = (p: string) => path.join(bindir(l), p);
  const env = [`Environment=XEN_STATE_DIR=${l.statedir}`];
  const daemon = (restart: boolean) => [
    'Type=notify',
    'NotifyAccess=main',
    ...env,
    // Logs go to stderr, which the journal keeps.
    'StandardError=journal',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=60',
    restart ? 'Restart=on-failure' : 'Restart=no',
    ...(restart ? ['RestartSec=1s'] : []),
    ...stateDirs(l),
    ...COMMON_SANDBOX,
  ];
  const consoled = opts.xenconsoled ? ['xenconsoled.service'] : [];
  const list: UnitSpec[] = [
    {
      name: 'xen.service',
      description: 'XenWasm hypervisor host (the core on every pCPU, Domain-0, privcmd)',
      unit: [],
      service: [
        ...daemon(false),
        `EnvironmentFile=-${path.join(l.defaultsdir, 'xen')}`,
        `ExecStart=${bin('xen')} $XEN_ARGS`,
        // Guests live in this process: a restart would lose them, so systemd
        // never restarts it by itself; disk images may be anywhere under
        // /var or /srv, hence ProtectSystem=full rather than strict.
        'ProtectSystem=full',
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
      ],
    },
    {
      name: 'xenstored.service',
      description: 'XenWasm xenstored (the configuration store shared with guests)',
      unit: ['Requires=xen.service', 'After=xen.service'],
      service: [
        ...daemon(true),
        `ExecStart=${bin('xenstored')}`,
        'ProtectSystem=strict',
        'PrivateDevices=yes',
        'PrivateNetwork=yes',
        'RestrictAddressFamilies=AF_UNIX',
      ],
    },
  ];
  if (opts.xenconsoled) {
    list.push({
      name: 'xenconsoled.service',
      description: 'XenWasm xenconsoled (guest consoles to logs and xm console)',
      unit: ['Requires=xen.service xenstored.service', 'After=xen.service xenstored.service'],
      service: [
        ...daemon(true),
        `ExecStart=${bin('xenconsoled')}`,
        'ProtectSystem=strict',
        'PrivateDevices=yes',
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
      ],
    });
  }
  list.push({
    name: 'xend.service',
    description: 'XenWasm xend (domain management: the XML-RPC API xm talks to)',
    unit: ['Requires=xen.service xenstored.service', ...(consoled.length ? [`Wants=${consoled.join(' ')}`] : []),
      `After=xen.service xenstored.service ${consoled.join(' ')}`.trimEnd()],
    service: [
      ...daemon(true),
      `ExecStart=${bin('xend')}`,
      'ExecReload=/bin/kill -HUP $MAINPID',
      // xend pings from its event loop: a hung xend is restarted, its domains keep running.
      'WatchdogSec=60s',
      // Device models started by xend must outlive a restart of xend, as guests do.
      'KillMode=process',
      // qemu-dm reads and writes disk images wherever they are.
      'ProtectSystem=full',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    ],
  });
  list.push({
    name: 'xendomains.service',
    description: 'XenWasm xendomains (start autostart domains at boot, shut domains down at host stop)',
    unit: ['Requires=xend.service', 'After=xend.service'],
    service: [
      'Type=oneshot',
      'RemainAfterExit=yes',
      ...env,
      `EnvironmentFile=-${path.join(l.defaultsdir, 'xendomains')}`,
      `ExecStart=${bin('xendomains')} start`,
      `ExecStop=${bin('xendomains')} stop`,
      'TimeoutStartSec=300',
      // Above XENDOMAINS_STOP_MAXWAIT (300 s): xendomains destroys stragglers itself.
      'TimeoutStopSec=360',
      'ProtectSystem=strict',
      `ReadWritePaths=-${l.rundir}`,
      'PrivateDevices=yes',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
      ...COMMON_SANDBOX,
    ],
  });
  return list.map((u) => ({ name: u.name, text: render(u, l) }));
}

export function tmpfilesConf(l: Layout): string {
  return [
    '# XenWasm: the sockets directory, recreated at every boot (/run is a tmpfs).',
    `d ${l.rundir} 0700 root root -`,
    '',
  ].join('\n');
}
