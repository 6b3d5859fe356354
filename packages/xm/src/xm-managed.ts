// Managed domains from xm (Xen 3.2's new/start/delete/suspend/resume):
// `xm new` builds the same (vm ...) SXP as `xm create` and hands it to xend
// to keep; the others name a defined domain.

import type { Command } from 'commander';
import { prettyprint } from '@xenwasm/sxp';
import type { XendClient } from './xmlrpc-client.js';
import { XmUsageError, type Output } from './xm-usage.js';

export function registerManagedCommands(sub: (name: string) => Command, client: () => XendClient, io: Output): void {
  const one = (cmd: string, args: string[]) => {
    if (args.length !== 1) throw new XmUsageError(`'xm ${cmd}' requires 1 argument.`, cmd);
    return args[0]!;
  };

  sub('new').argument('[args...]')
    .option('-n, --dryrun').option('-q, --quiet').option('--path <path>').option('-f, --defconfig <file>').option('-F, --config <file>')
    .action(async (args: string[], o) => {
      const { buildCreateSxp } = await import('./xm-create.js');
      const { sxp } = await buildCreateSxp(args, { quiet: o.quiet, path: o.path, defconfig: o.defconfig, config: o.config }, io);
      if (o.dryrun) {
        io.out(prettyprint(sxp));
        return;
      }
      await client().call('xend.domain.new', sxp);
    });

  sub('start').argument('[args...]').option('-p, --paused').option('-c, --console_autoconnect')
    .action(async (args: string[], o) => {
      await client().call('xend.domain.start', one('start', args), !!o.paused);
      if (o.console_autoconnect) io.err('xm start -c: console attach is not available here; the domain runs without it.\n');
    });

  sub('delete').argument('[args...]').action(async (args: string[]) => {
    await client().call('xend.domain.delete', one('delete', args));
  });

  sub('suspend').argument('[args...]').action(async (args: string[]) => {
    await client().call('xend.domain.suspend', one('suspend', args));
  });
  sub('resume').argument('[args...]').option('-p, --paused').action(async (args: string[], o) => {
    await client().call('xend.domain.resume', one('resume', args), !!o.paused);
  });
}
