#!/usr/bin/env node
// `xm`: Xen 3.2's management CLI. Every command goes to xend over XML-RPC
// ($XM_SERVER, or the unix socket of the stack in $XEN_STATE_DIR); output,
// error texts and exit codes follow Xen's xm.

import os from 'node:os';
import { Command, CommanderError } from 'commander';
import { childValue, type SxpValue } from '@xenwasm/sxp';
import { XenError } from '@xenwasm/xen-errno';
import { XendInvalidDomain, XmlRpcFault } from '@xenwasm/xend/xend-errors';
import { XendClient, XendConnectionError } from './xmlrpc-client.js';
import {
  formatInfo, formatList, formatListLong, formatSchedCredit, formatUptimeList, formatVcpuList, pyStr,
} from './format.js';
import { COMMANDS, commandUsage, longHelp, lookupCommand, shortHelp } from './xm-help.js';
import { XmUsageError, type Output } from './xm-usage.js';
import { registerManagedCommands } from './xm-managed.js';
import { registerDeviceCommands } from './xm-devices.js';

const io: Output = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

let clientInstance: XendClient | undefined;
const client = (): XendClient => (clientInstance ??= new XendClient());

/** `'xm x' requires N argument(s).` as Xen's arg_check says it. */
function argCheck(cmd: string, args: string[], min: number, max = min): void {
  if (args.length >= min && args.length <= max) return;
  const n = args.length < min ? min : max;
  const what = min === max ? `${min}` : args.length < min ? `at least ${min}` : `no more than ${max}`;
  throw new XmUsageError(`'xm ${cmd}' requires ${what} argument${n === 1 ? '' : 's'}.`, cmd);
}

/** Memory sizes with an optional k/m/g/t suffix, in `unit` (MiB for mem-set/mem-max). */
export function intUnit(s: string, unit: 'k' | 'm'): number {
  const m = /^\s*(\d+)\s*([bkmgt]?)\s*$/i.exec(s);
  if (!m) throw new XenError('EINVAL', `Invalid memory size: ${s}`);
  const mult: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  const bytes = Number(m[1]) * mult[(m[2] || unit).toLowerCase()]!;
  return Math.floor(bytes / mult[unit]!);
}

async function getDomains(names: string[], state = 'all'): Promise<SxpValue[]> {
  const c = client();
  if (names.length) return Promise.all(names.map((n) => c.call<SxpValue>('xend.domain', n, 1)));
  return c.call<SxpValue[]>('xend.domains_with_state', true, state, 1);
}

const get = (d: SxpValue, k: string) => childValue(d, k);

async function waitFor(pred: () => Promise<boolean>): Promise<void> {
  while (!(await pred())) await new Promise((r) => setTimeout(r, 100));
}

async function shutdownCmd(cmd: 'shutdown' | 'reboot', args: string[], o: { all?: boolean; wait?: boolean; reboot?: boolean; halt?: boolean }): Promise<void> {
  const reason = cmd === 'reboot' || o.reboot ? 'reboot' : o.halt ? 'halt' : 'poweroff';
  if (o.reboot && o.halt) throw new XmUsageError('You may not specify both -R and -H', cmd);
  const c = client();
  let targets: Array<{ name: string; domid: string }>;
  if (o.all) {
    if (args.length) throw new XmUsageError('You may not specify a domain with -a', cmd);
    const doms = await c.call<SxpValue[]>('xend.domains_with_state', true, 'running', 1);
    targets = doms.map((d) => ({ name: pyStr(get(d, 'name')), domid: pyStr(get(d, 'domid')) })).filter((d) => d.domid !== '0');
  } else {
    argCheck(cmd, args, 1);
    const d = await c.call<SxpValue>('xend.domain', args[0], 1);
    targets = [{ name: pyStr(get(d, 'name')), domid: pyStr(get(d, 'domid')) }];
  }
  for (const t of targets) await c.call('xend.domain.shutdown', t.name, reason);
  if (!o.wait) return;
  for (const t of targets) {
    // Done when that domain id is gone (a reboot comes back under a new id).
    // One domain's state per poll (not the whole list: cheap with 1000 domains).
    await waitFor(async () => {
      let d: SxpValue;
      try {
        d = await c.call<SxpValue>('xend.domain', t.domid, 1);
      } catch (e) {
        if (e instanceof XendInvalidDomain) return true;
        throw e;
      }
      return pyStr(get(d, 'domid')) !== t.domid || /[sc]/.test(pyStr(get(d, 'state') ?? ''));
    });
    io.out(reason === 'reboot' ? `Domain ${t.name} rebooted\n` : `Domain ${t.name} terminated\n`);
  }
  if (o.all) io.out(reason === 'reboot' ? 'All domains rebooted\n' : 'All domains terminated\n');
}

function buildProgram(): Command {
  const program = new Command('xm').exitOverride().helpOption(false).allowExcessArguments(true)
    .configureOutput({ writeErr: () => undefined, writeOut: (s) => io.out(s) });
  const sub = (name: string) => program.command(name).helpOption(false).exitOverride().allowExcessArguments(true)
    .configureOutput({ writeErr: () => undefined });

  sub('create').argument('[args...]')
    .option('-c, --console_autoconnect').option('-n, --dryrun').option('-p, --paused').option('-q, --quiet')
    .option('--path <path>').option('-f, --defconfig <file>').option('-F, --config <file>')
    .action(async (args: string[], o) => {
      const { xmCreate } = await import('./xm-create.js');
      await xmCreate(client, args, { dryrun: o.dryrun, paused: o.paused, console: o.console_autoconnect, quiet: o.quiet, path: o.path, defconfig: o.defconfig, config: o.config }, io);
    });

  sub('list').argument('[domains...]').option('-l, --long').option('--state <state>', '', 'all').option('-v, --vcpus')
    .action(async (doms: string[], o) => {
      if (o.state !== 'all' && doms.length) throw new XmUsageError('You may specify either a state or a particular VM, but not both', 'list');
      if (o.vcpus) {
        io.err('xm list -v is deprecated.  Please use xm vcpu-list.\n');
        await vcpuList(doms);
        return;
      }
      const list = await getDomains(doms, o.state);
      io.out(o.long ? formatListLong(list) : formatList(list));
    });

  for (const name of ['destroy', 'pause', 'unpause'] as const) {
    sub(name).argument('[args...]').action(async (args: string[]) => {
      argCheck(name, args, 1);
      await client().call(`xend.domain.${name}`, args[0]);
    });
  }

  sub('shutdown').argument('[args...]').option('-a, --all').option('-w, --wait').option('-R, --reboot').option('-H, --halt')
    .action(async (args: string[], o) => shutdownCmd('shutdown', args, o));
  sub('reboot').argument('[args...]').option('-a, --all').option('-w, --wait')
    .action(async (args: string[], o) => shutdownCmd('reboot', args, o));

  sub('console').argument('[args...]').option('-q, --quiet').action(async (args: string[], o) => {
    argCheck('console', args, 1);
    let dom: SxpValue;
    try {
      dom = await client().call<SxpValue>('xend.domain', args[0], 1);
    } catch (e) {
      if (o.quiet) process.exit(1);
      throw e;
    }
    if (get(dom, 'domid') === undefined) throw new XmlRpcFault(0, `Domain '${args[0]}' is not started`);
    const { runConsole } = await import('@xenwasm/xenconsoled/client');
    await runConsole(Number(get(dom, 'domid')), process.stdin, process.stdout);
  });

  sub('info').argument('[args...]').option('-c, --config').action(async (args: string[]) => {
    argCheck('info', args, 0);
    io.out(formatInfo(await client().call<SxpValue[]>('xend.node.info')));
  });

  sub('dmesg').argument('[args...]').option('-c, --clear').action(async (args: string[], o) => {
    if (args.length) throw new XmUsageError('No parameter required', 'dmesg');
    const text = await client().call<string>(o.clear ? 'xend.node.dmesg.clear' : 'xend.node.dmesg.info');
    io.out(text);
  });

  sub('log').argument('[args...]').action(async (args: string[]) => {
    argCheck('log', args, 0);
    io.out(`${await client().call<string>('xend.node.log')}\n`);
  });

  sub('uptime').argument('[domains...]').option('-s, --short').action(async (doms: string[], o) => {
    const list = await getDomains(doms, doms.length ? 'all' : 'running');
    const t = Date.now() / 1000;
    const rows = list.map((d) => {
      const domid = pyStr(get(d, 'domid'));
      const start = Number(get(d, 'start_time') ?? 0);
      return { name: pyStr(get(d, 'name')), domid, seconds: Math.round(domid === '0' || !start ? os.uptime() : t - start) };
    });
    io.out(formatUptimeList(rows, { short: o.short }));
  });

  sub('domid').argument('[args...]').action(async (args: string[]) => {
    argCheck('domid', args, 1);
    io.out(`${pyStr(get(await client().call<SxpValue>('xend.domain', args[0], 1), 'domid'))}\n`);
  });
  sub('domname').argument('[args...]').action(async (args: string[]) => {
    argCheck('domname', args, 1);
    io.out(`${pyStr(get(await client().call<SxpValue>('xend.domain', args[0], 1), 'name'))}\n`);
  });

  sub('rename').argument('[args...]').action(async (args: string[]) => {
    argCheck('rename', args, 2);
    await client().call('xend.domain.setName', args[0], args[1]);
  });

  sub('sysrq').argument('[args...]').action(async (args: string[]) => {
    argCheck('sysrq', args, 2);
    await client().call('xend.domain.send_sysrq', args[0], args[1]);
  });

  sub('mem-set').argument('[args...]').action(async (args: string[]) => {
    argCheck('mem-set', args, 2);
    await client().call('xend.domain.setMemoryTarget', args[0], intUnit(args[1]!, 'm'));
  });
  sub('mem-max').argument('[args...]').action(async (args: string[]) => {
    argCheck('mem-max', args, 2);
    await client().call('xend.domain.maxmem_set', args[0], intUnit(args[1]!, 'm'));
  });

  sub('vcpu-list').argument('[domains...]').action(async (doms: string[]) => vcpuList(doms));

  sub('sched-credit').argument('[args...]').option('-d, --domain <dom>').option('-w, --weight <n>').option('-c, --cap <n>')
    .action(async (args: string[], o) => {
      if (args.length) throw new XmUsageError(`Invalid argument: ${args[0]}`, 'sched-credit');
      const c = client();
      const info = await c.call<SxpValue[]>('xend.node.info');
      const sched = info.find((p) => Array.isArray(p) && p[0] === 'xen_scheduler');
      const name = Array.isArray(sched) ? pyStr(sched[1]) : 'unknown';
      if (name !== 'credit') throw new XenError('EINVAL', `Xen is running with the ${name} scheduler`);
      const num = (v: string | undefined, what: string) => {
        if (v === undefined) return null;
        const s = v.replace(/^=/, '');
        if (!/^-?\d+$/.test(s)) throw new XmUsageError(`invalid literal for int(): ${s} (${what})`, 'sched-credit');
        return Number(s);
      };
      const weight = num(o.weight, 'weight');
      const cap = num(o.cap, 'cap');
      if (weight === null && cap === null) {
        let doms = await c.call<SxpValue[]>('xend.domains_with_state', true, 'running', 1);
        if (o.domain !== undefined) {
          doms = doms.filter((d) => pyStr(get(d, 'name')) === o.domain || pyStr(get(d, 'domid')) === o.domain);
          if (!doms.length) throw new XendInvalidDomain(o.domain);
        }
        const rows = [];
        for (const d of doms) {
          const domid = pyStr(get(d, 'domid'));
          let w = -1, cp = -1;
          try {
            const r = await c.call<{ weight: number; cap: number }>('xend.domain.sched_credit_get', domid);
            w = r.weight; cp = r.cap;
          } catch (e) {
            if (!(e instanceof XmlRpcFault)) throw e;
          }
          rows.push({ name: pyStr(get(d, 'name')), domid, weight: w, cap: cp });
        }
        io.out(formatSchedCredit(rows));
        return;
      }
      if (o.domain === undefined) throw new XmUsageError('No domain given.', 'sched-credit');
      const rc = await c.call<number>('xend.domain.sched_credit_set', o.domain, weight, cap);
      if (rc !== 0) throw new XenError('EINVAL', String(rc));
    });

  registerManagedCommands(sub, client, io);
  registerDeviceCommands(sub, client, io);

  sub('help').argument('[args...]').option('--long').action(async (args: string[], o) => {
    const cmd = args[0] && lookupCommand(args[0]);
    io.out(cmd ? commandUsage(cmd) : o.long ? longHelp() : shortHelp());
  });
  return program;
}

async function vcpuList(doms: string[]): Promise<void> {
  const c = client();
  const names = doms.length ? doms : await c.call<string[]>('xend.domains_with_state', false, 'running', 1);
  const infos = await Promise.all(names.map((n) => c.call<SxpValue>('xend.domain.getVCPUInfo', n)));
  const node = await c.call<SxpValue[]>('xend.node.info');
  const nr = node.find((p) => Array.isArray(p) && p[0] === 'nr_cpus');
  io.out(formatVcpuList(infos, Array.isArray(nr) ? Number(nr[1]) : 0));
}

function usageExit(cmd?: string): number {
  io.err(cmd && COMMANDS[cmd] ? commandUsage(cmd) : shortHelp());
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  if (args.length === 0) return usageExit();
  if (args[0] === '-h' || args[0] === '--help') {
    io.out(longHelp());
    return 0;
  }
  const cmd = lookupCommand(args[0]!);
  if (!cmd) {
    io.err(`Error: Subcommand ${args[0]} not found!\n`);
    return usageExit();
  }
  if (args.slice(1).some((a) => a === '-h' || a === '--help')) {
    io.out(commandUsage(cmd));
    return 0;
  }
  const program = buildProgram();
  try {
    await program.parseAsync([cmd, ...args.slice(1)], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      io.err(`Error: ${e.message.replace(/^error: /, '')}\n`);
      return usageExit(cmd);
    }
    if (e instanceof XendInvalidDomain) {
      io.err(`Error: Domain '${e.domain}' does not exist.\n`);
      return 1;
    }
    if (e instanceof XmUsageError) {
      io.err(`Error: ${e.message}\n\n`);
      return usageExit(e.command);
    }
    if (e instanceof XmlRpcFault) {
      io.err(`Error: ${e.faultString}\n`);
      return usageExit(cmd);
    }
    if (e instanceof XendConnectionError || e instanceof XenError) {
      io.err(`Error: ${e.message}\n`);
      return 1;
    }
    io.err(`Error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  } finally {
    clientInstance?.close();
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
}, (e) => {
  process.stderr.write(`Error: ${(e as Error)?.stack ?? e}\n`);
  process.exitCode = 1;
});
