// `xm create`: find the config file, evaluate it with the command line's
// name=value variables, build the `(vm ...)` SXP, then ask xend to create
// the domain and unpause it (unless -p). Relative kernel/ramdisk paths are
// resolved against the config file's directory, so a config can point at a
// guest beside it whatever the caller's working directory.

import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { childValue, parseSxp, prettyprint, type SxpList, type SxpValue } from '@xenwasm/sxp';
import { XenError } from '@xenwasm/xen-errno';
import { readConfigFile } from './config-file.js';
import { makeCreateConfig } from './create-config.js';
import type { XendClient } from './xmlrpc-client.js';
import { XmUsageError, type Output } from './xm-usage.js';

export { XmUsageError, type Output };

export interface CreateOptions {
  dryrun?: boolean;
  paused?: boolean;
  console?: boolean;
  quiet?: boolean;
  path?: string;
  defconfig?: string;
  config?: string;
}


/** Look a config file up on the search path (`.:/etc/xen` by default); names with a '/' are taken as given. */
export async function findConfigFile(name: string, searchPath = '.:/etc/xen', cwd = process.cwd()): Promise<string> {
  const candidates = name.includes('/') ? [path.resolve(cwd, name)] : searchPath.split(':').filter(Boolean).map((d) => path.resolve(cwd, d, name));
  for (const c of candidates) {
    try {
      await access(c);
      return c;
    } catch { /* next */ }
  }
  throw new XenError('ENOENT', `Unable to open config file: ${name}`);
}

/** Split create's positional arguments: the config file and name=value variables. */
export function splitCreateArgs(args: string[], defconfig?: string): { file?: string; vars: Record<string, string> } {
  const vars: Record<string, string> = {};
  let file = defconfig;
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(a.slice(0, eq))) vars[a.slice(0, eq)] = a.slice(eq + 1);
    else if (file === undefined) file = a;
    else throw new XmUsageError(`Invalid argument: ${a}`, 'create');
  }
  return { file, vars };
}

/** The SXP that `xm create` would send, with the file it came from. */
export async function buildCreateSxp(args: string[], opts: CreateOptions, io: Output): Promise<{ sxp: SxpList; file: string }> {
  if (opts.config) {
    const file = path.resolve(opts.config);
    const sxp = parseSxp(await readFile(file, 'utf8'), { file }) as SxpList;
    return { sxp, file };
  }
  const { file: name, vars } = splitCreateArgs(args, opts.defconfig);
  const file = await findConfigFile(name ?? 'xmdefconfig', opts.path);
  if (!opts.quiet) io.out(`Using config file "${path.relative(process.cwd(), file).startsWith('..') ? file : './' + path.relative(process.cwd(), file)}".\n`);
  const cfg = await readConfigFile(file, { vars });
  const made = makeCreateConfig(cfg.vars, { configFile: file, overrides: vars, cwd: path.dirname(file), scriptVars: cfg.declared.keys() });
  for (const w of made.warnings) io.err(`Warning: ${w}\n`);
  return { sxp: made.sxp, file };
}

export async function xmCreate(client: () => XendClient, args: string[], opts: CreateOptions, io: Output): Promise<number> {
  const { sxp } = await buildCreateSxp(args, opts, io);
  if (opts.dryrun) {
    io.out(prettyprint(sxp));
    return 0;
  }
  const c = client();
  const info = await c.call<SxpValue>('xend.domain.create', sxp);
  const domid = childValue(info, 'domid');
  const name = String(childValue(info, 'name') ?? '');
  try {
    await c.call('xend.domain.waitForDevices', domid);
  } catch (e) {
    // As Xen's xm create: a domain whose devices cannot connect is not left behind.
    await c.call('xend.domain.destroy', domid).catch(() => undefined);
    throw e;
  }
  if (!opts.paused) await c.call('xend.domain.unpause', domid);
  if (!opts.quiet) io.out(`Started domain ${name}\n`);
  if (opts.console) {
    const { runConsole } = await import('@xenwasm/xenconsoled/client');
    await runConsole(Number(domid), process.stdin, process.stdout);
  }
  return 0;
}
