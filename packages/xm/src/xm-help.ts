// xm's command table: argument strings and one-line descriptions (the
// SUBCOMMAND_HELP of Xen 3.2's main.py, paraphrased), and the usage texts.

export interface CommandHelp { args: string; desc: string; options?: Array<[string, string]> }

export const COMMANDS: Record<string, CommandHelp> = {
  'block-attach': { args: '<Domain> <BackDev> <FrontDev> <Mode> [BackDomain]', desc: 'Create a new virtual block device.' },
  'block-detach': { args: '<Domain> <DevId> [-f|--force]', desc: 'Destroy a domain\'s virtual block device.', options: [['-f, --force', 'Remove the device even if the frontend does not answer.']] },
  'block-list': { args: '<Domain> [--long]', desc: 'List virtual block devices for a domain.', options: [['-l, --long', 'List in long (SXP) format.']] },
  'network-attach': { args: '<Domain> [type=<type>] [mac=<mac>] [bridge=<bridge>] [ip=<ip>] [script=<script>] [backend=<BackDomain>] [vifname=<name>] [rate=<rate>] [model=<model>]', desc: 'Create a new virtual network device.' },
  'network-detach': { args: '<Domain> <DevId> [-f|--force]', desc: 'Destroy a domain\'s virtual network device.', options: [['-f, --force', 'Remove the device even if the frontend does not answer.']] },
  'network-list': { args: '<Domain> [--long]', desc: 'List virtual network interfaces for a domain.', options: [['-l, --long', 'List in long (SXP) format.']] },
  console: { args: '[-q|--quiet] <Domain>', desc: 'Attach to <Domain>\'s console.', options: [['-q, --quiet', 'Do not print an error when the domain does not exist.']] },
  create: {
    args: '<ConfigFile> [options] [vars]', desc: 'Create a domain based on <ConfigFile>.',
    options: [
      ['-c, --console_autoconnect', 'Connect to the console after the domain is created.'],
      ['-n, --dryrun', 'Dry run: print the configuration SXP but do not create the domain.'],
      ['-p, --paused', 'Leave the domain paused after it is created.'],
      ['-q, --quiet', 'Quiet.'],
      ['--path=PATH', 'Search path for configuration scripts (default .:/etc/xen).'],
      ['-f FILE, --defconfig=FILE', 'Use the given Python configuration script.'],
      ['-F FILE, --config=FILE', 'Use the given SXP configuration file.'],
    ],
  },
  delete: { args: '<DomainName>', desc: 'Remove a domain from xend\'s managed domains.' },
  destroy: { args: '<Domain>', desc: 'Terminate a domain immediately.' },
  domid: { args: '<DomainName>', desc: 'Convert a domain name to domain id.' },
  domname: { args: '<DomId>', desc: 'Convert a domain id to domain name.' },
  dmesg: { args: '[-c|--clear]', desc: 'Read and/or clear Xend\'s message buffer.', options: [['-c, --clear', 'Clear the hypervisor\'s message buffer.']] },
  help: { args: '', desc: 'Display this message.' },
  info: { args: '', desc: 'Get information about Xen host.' },
  list: {
    args: '[options] [Domain, ...]', desc: 'List information about all/some domains.',
    options: [['-l, --long', 'Output all VM details in SXP.'], ['--state=<state>', 'Select only VMs with the specified state.']],
  },
  log: { args: '', desc: 'Print Xend log' },
  'mem-max': { args: '<Domain> <Mem>', desc: 'Set the maximum amount reservation for a domain.' },
  'mem-set': { args: '<Domain> <Mem>', desc: 'Set the current memory usage for a domain.' },
  new: {
    args: '<ConfigFile> [options] [vars]', desc: 'Add a domain to xend\'s managed domains (defined, not started).',
    options: [['-n, --dryrun', 'Print the configuration SXP but do not define the domain.'], ['-q, --quiet', 'Quiet.'],
      ['--path=PATH', 'Search path for configuration scripts (default .:/etc/xen).'], ['-F FILE, --config=FILE', 'Use the given SXP configuration file.']],
  },
  pause: { args: '<Domain>', desc: 'Pause execution of a domain.' },
  reboot: { args: '<Domain> [-wa]', desc: 'Reboot a domain.', options: [['-a, --all', 'Reboot all domains.'], ['-w, --wait', 'Wait for the domain to reboot before returning.']] },
  rename: { args: '<Domain> <NewDomainName>', desc: 'Rename a domain.' },
  'sched-credit': {
    args: '[-d <Domain> [-w[=WEIGHT]|-c[=CAP]]]', desc: 'Get/set credit scheduler parameters.',
    options: [['-d DOMAIN, --domain=DOMAIN', 'Domain to modify'], ['-w WEIGHT, --weight=WEIGHT', 'Weight (int)'], ['-c CAP, --cap=CAP', 'Cap (int)']],
  },
  shutdown: {
    args: '<Domain> [-waRH]', desc: 'Shutdown a domain.',
    options: [['-a, --all', 'Shutdown all guest domains.'], ['-w, --wait', 'Wait for the domain to shut down before returning.'],
      ['-R, --reboot', 'Reboot the domain.'], ['-H, --halt', 'Halt the domain.']],
  },
  start: { args: '<DomainName>', desc: 'Start a managed domain.', options: [['-p, --paused', 'Leave the domain paused after it is started.']] },
  suspend: { args: '<DomainName>', desc: 'Suspend a managed domain (needs domain save: not available yet).' },
  resume: { args: '<DomainName>', desc: 'Resume a suspended managed domain (needs domain restore: not available yet).', options: [['-p, --paused', 'Leave it paused.']] },
  sysrq: { args: '<Domain> <letter>', desc: 'Send a sysrq to a domain.' },
  unpause: { args: '<Domain>', desc: 'Unpause a paused domain.' },
  uptime: { args: '[-s] [Domain, ...]', desc: 'Print uptime for all/some domains.', options: [['-s, --short', 'Print one line per domain, like the uptime command.']] },
  'vcpu-list': { args: '[Domain, ...]', desc: 'List the VCPUs for all/some domains.' },
};

/** Commands shown by plain `xm` / `xm help` (the common ones). */
export const SHORT_COMMANDS = ['console', 'create', 'destroy', 'domid', 'domname', 'dump-core', 'help', 'list', 'mem-set', 'migrate',
  'pause', 'reboot', 'restore', 'save', 'shutdown', 'trigger', 'top', 'unpause', 'uptime', 'vcpu-set'].filter((c) => c in COMMANDS);

export function commandUsage(cmd: string): string {
  const h = COMMANDS[cmd];
  if (!h) return '';
  let s = `Usage: xm ${cmd} ${h.args}\n\n${h.desc}\n`;
  if (h.options?.length) {
    s += '\n';
    for (const [o, d] of h.options) s += `  ${o.padEnd(28)} ${d}\n`;
  }
  return s;
}

export function shortHelp(): string {
  let s = 'Usage: xm <subcommand> [args]\n\nControl, list, and manipulate Xen guest instances.\n\nCommon \'xm\' commands:\n\n';
  for (const c of SHORT_COMMANDS) s += ` ${c.padEnd(16)} ${COMMANDS[c]!.desc}\n`;
  s += '\n<Domain> can either be the Domain Name or Id.\nFor more help on \'xm\' see the xm(1) man page.\nFor more help on \'xm create\' see the xmdomain.cfg(5)  man page.\n';
  return s;
}

export function longHelp(): string {
  let s = 'Usage: xm <subcommand> [args]\n\nControl, list, and manipulate Xen guest instances.\n\nxm full list of subcommands:\n\n';
  for (const c of Object.keys(COMMANDS).sort()) s += ` ${c.padEnd(16)} ${COMMANDS[c]!.desc}\n`;
  s += '\n<Domain> can either be the Domain Name or Id.\nFor more help on \'xm\' see the xm(1) man page.\nFor more help on \'xm create\' see the xmdomain.cfg(5)  man page.\n';
  return s;
}

/** Exact name, then a unique prefix (as Xen's xm_lookup_cmd simulates getopt). */
export function lookupCommand(name: string): string | undefined {
  if (name in COMMANDS) return name;
  const aliases: Record<string, string> = { balloon: 'mem-set' };
  if (name in aliases) return aliases[name];
  if (name.length > 1) {
    const m = Object.keys(COMMANDS).filter((c) => c.startsWith(name));
    if (m.length === 1) return m[0];
  }
  return undefined;
}
