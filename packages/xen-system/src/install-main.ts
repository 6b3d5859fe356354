// `xen-install [install|uninstall] [options]`: see install.ts.

import { Command } from 'commander';
import { defaultLayout } from './layout.js';
import { install, uninstall } from './install.js';

const program = new Command()
  .name('xen-install')
  .description('Install the XenWasm suite system-wide from this checkout (programs, /etc/xen, systemd units), or remove it')
  .argument('[action]', 'install or uninstall', 'install')
  .option('--root <dir>', 'write everything under this directory (DESTDIR); paths inside stay the final ones', '/')
  .option('--prefix <dir>', 'programs in <prefix>/bin, runtime in <prefix>/lib/xenwasm', '/usr/local')
  .option('--unitdir <dir>', 'systemd unit directory', '/etc/systemd/system')
  .option('--statedir <dir>', 'XEN_STATE_DIR of the installed services', '/var/lib/xen')
  .option('--purge', 'uninstall: remove the state (/var/lib/xen), logs and changed config files too')
  .option('--no-systemctl', 'do not run systemctl daemon-reload / systemd-tmpfiles')
  .parse();
const [action] = program.args.length ? program.args : ['install'];
const o = program.opts<{ root: string; prefix: string; unitdir: string; statedir: string; purge?: boolean; systemctl: boolean }>();
const layout = defaultLayout({ root: o.root, prefix: o.prefix, unitdir: o.unitdir, statedir: o.statedir });
const log = (l: string) => process.stderr.write(`xen-install: ${l}\n`);

try {
  if (action === 'install') {
    const r = install({ layout, log, systemctl: o.systemctl });
    process.stdout.write(`Installed ${r.programs.join(', ')} in ${layout.prefix}/bin and ${r.units.join(', ')} in ${layout.unitdir}` +
      `${layout.root !== '/' ? ` (under ${layout.root})` : ''}.\n` +
      `Configuration: ${layout.sysconfdir}/xend-config.sxp; state: ${layout.statedir}; logs: /var/log/xen.\n` +
      `Start it: systemctl enable --now xend.service xendomains.service\n`);
  } else if (action === 'uninstall') {
    const r = uninstall({ layout, log, systemctl: o.systemctl, purge: o.purge });
    process.stdout.write(`Removed ${r.removed.length} path(s)${o.purge ? '' : `; kept the state in ${layout.statedir} and the logs (--purge removes them)`}.\n`);
  } else {
    log(`unknown action ${action} (install or uninstall)`);
    process.exit(2);
  }
} catch (e) {
  log((e as Error).message);
  process.exit(1);
}
