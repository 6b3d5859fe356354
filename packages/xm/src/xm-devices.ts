// Hotplug on a running domain (xm 3.2): block-attach/-detach/-list and
// network-attach/-detach/-list, through xend's device_create,
// destroyDevice and getDeviceSxprs.
import type { Command } from 'commander';
import type { SxpList, SxpValue } from '@xenwasm/sxp';
import { XmUsageError, type Output } from './xm-usage.js';
import type { XendClient } from './xmlrpc-client.js';
import { formatBlockList, formatDeviceListLong, formatNetworkList } from './format.js';

const VIF_KEYS = ['mac', 'bridge', 'ip', 'script', 'backend', 'vifname', 'rate', 'model', 'type'];

export function registerDeviceCommands(sub: (name: string) => Command, client: () => XendClient, io: Output): void {
  sub('block-attach').argument('[args...]').action(async (args: string[]) => {
    if (args.length < 4 || args.length > 5) throw new XmUsageError(`'xm block-attach' requires between 4 and 5 arguments.`, 'block-attach');
    const [dom, uname, dev, mode, be] = args as [string, string, string, string, string?];
    if (!['r', 'w', 'w!'].includes(mode)) throw new XmUsageError('Invalid mode', 'block-attach');
    const sxp: SxpList = ['vbd', ['uname', uname], ['dev', dev], ['mode', mode]];
    if (be !== undefined) sxp.push(['backend', be]);
    await client().call('xend.domain.device_create', dom, sxp);
  });
  sub('network-attach').argument('[args...]').action(async (args: string[]) => {
    if (args.length < 1) throw new XmUsageError(`'xm network-attach' requires at least 1 argument.`, 'network-attach');
    const sxp: SxpList = ['vif'];
    for (const a of args.slice(1)) {
      const eq = a.indexOf('=');
      if (eq < 0 || !VIF_KEYS.includes(a.slice(0, eq))) throw new XmUsageError(`Invalid argument: ${a}`, 'network-attach');
      sxp.push([a.slice(0, eq), a.slice(eq + 1)]);
    }
    await client().call('xend.domain.device_create', args[0], sxp);
  });
  for (const [cmd, cls] of [['block-detach', 'vbd'], ['network-detach', 'vif']] as const) {
    sub(cmd).argument('[args...]').option('-f, --force').action(async (args: string[], o) => {
      if (args.length !== 2) throw new XmUsageError(`'xm ${cmd}' requires 2 arguments.`, cmd);
      await client().call('xend.domain.destroyDevice', args[0], cls, args[1], !!o.force);
    });
  }
  for (const [cmd, cls] of [['block-list', 'vbd'], ['network-list', 'vif']] as const) {
    sub(cmd).argument('[args...]').option('-l, --long').action(async (args: string[], o) => {
      if (args.length < 1) throw new XmUsageError(`'xm ${cmd}' requires at least 1 argument.`, cmd);
      for (const dom of args) {
        const devs = await client().call<SxpValue[]>('xend.domain.getDeviceSxprs', dom, cls);
        const d = devs as never;
        io.out(o.long ? formatDeviceListLong(d) : cls === 'vbd' ? formatBlockList(d) : formatNetworkList(d));
      }
    });
  }
}
