// HVM domains (image.py's HVMImageHandler, for WASI programs): the device
// model's config from the domain config, qemu-dm started per domain (a
// Domain-0 process, one per HVM guest) or a stub domain in the hypervisor
// host, the program's argv and environment, and its exit status.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { SxpValue } from '@xenwasm/sxp';
import type { DomainConfig, VbdDevice } from './sxp-config.js';
import type { XendContext } from './domain-info.js';
import { domainPath } from './domain-store.js';
import { VmError } from './xend-errors.js';

/** Where qemu-dm is (the @xenwasm/qemu-dm package, found at run time: xend does not link it). */
function qemuDmPath(): string {
  if (process.env.XEN_QEMU_DM) return process.env.XEN_QEMU_DM;
  const req = createRequire(import.meta.url);
  return path.join(path.dirname(req.resolve('@xenwasm/qemu-dm/package.json')), 'dist', 'src', 'main.js');
}

const stateDir = () => path.resolve(process.env.XEN_STATE_DIR ?? './var');

/** A list value of the image: `(key (a b c))` or `(key a)`. */
function strList(v: SxpValue | undefined): string[] {
  if (v === undefined || v === '') return [];
  if (Array.isArray(v)) return v.map((x) => String(x));
  return [String(v)];
}

/** argv[1..]: `args = [...]`, else `extra` split like a shell would. */
export function splitShellWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (q) throw new VmError(`extra: unterminated quote in "${s}"`);
  if (has || cur) out.push(cur);
  return out;
}

export interface HvmPlan {
  args: string[];
  env: string[];
  stubdom: boolean;
  dmConfig: {
    domid: number;
    name: string;
    disks: Array<{ image: string; vdev: string; readonly: boolean; mount: string }>;
    shares: Array<{ tag: string; path: string; mount: string; readonly: boolean }>;
    listeners: Array<{ host: string; port: number }>;
    consoleLog: string;
    consoleSocket: string;
  };
}

export function planHvm(config: DomainConfig, domid: number): HvmPlan {
  const h = config.image.hvm;
  const argv0 = path.basename(config.image.kernel);
  const given = strList(h.wasi_args);
  const args = [argv0, ...(given.length ? given : splitShellWords(config.image.args ?? ''))];
  const env = strList(h.wasi_env);
  for (const e of env) if (!/^[^=]+=/.test(e)) throw new VmError(`env: "${e}" is not NAME=value`);
  const disks = config.devices.filter((d): d is VbdDevice => d.kind === 'vbd' || d.kind === 'tap').map((d, i) => {
    const uname = d.uname;
    const image = uname.startsWith('file:') ? uname.slice(5) : uname.startsWith('tap:aio:') ? uname.slice(8) : null;
    if (!image) throw new VmError(`HVM disk ${uname}: only file: images are supported`);
    const dev = d.dev.replace(/^ioemu:/, '').replace(/:disk$/, '');
    return { image: path.resolve(image), vdev: dev, readonly: d.mode === 'r', mount: i === 0 || /a$/.test(dev) ? '/' : `/mnt/${dev}` };
  });
  const shares = strList(h.p9).map((spec) => {
    const kv = new Map(spec.split(',').map((p) => { const i = p.indexOf('='); return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as [string, string]; }));
    const tag = kv.get('tag'), p = kv.get('path');
    if (!tag || !p || !p.startsWith('/')) throw new VmError(`p9: "${spec}" needs tag=NAME and an absolute path=`);
    if ((kv.get('security_model') ?? 'none') !== 'none') throw new VmError(`p9: only security_model=none is supported`);
    const mount = kv.get('mount') ?? `/${tag}`;
    if (!mount.startsWith('/')) throw new VmError(`p9: mount must be an absolute guest path`);
    const ro = kv.get('readonly');
    return { tag, path: p, mount, readonly: ro === '1' || ro === 'true' };
  });
  const listeners = strList(h.wasi_listen).map((s) => {
    const m = /^(?:(?:127\.0\.0\.1|localhost):)?(\d+)$/.exec(s.trim());
    if (!m || Number(m[1]) > 65535) throw new VmError(`wasi_listen: "${s}" is not [127.0.0.1:]PORT`);
    return { host: '127.0.0.1', port: Number(m[1]) };
  });
  const sd = h.device_model_stubdomain_override;
  const stubdom = sd !== undefined && sd !== '' && sd !== 0 && sd !== '0';
  return {
    args, env, stubdom,
    dmConfig: { domid, name: config.name, disks, shares, listeners, consoleLog: path.join(stateDir(), 'log', 'console', `guest-${config.name}.log`),
      consoleSocket: path.join(stateDir(), 'run', 'qemu-dm', `${domid}.console`) },
  };
}

const deviceModels = new Map<number, ChildProcess>();

/** Build an HVM domain whose domid exists: start its device model, then hvm_build. */
export async function buildHvm(ctx: XendContext, config: DomainConfig, domid: number): Promise<void> {
  const plan = planHvm(config, domid);
  const base = { domid, kernel: config.image.kernel, memoryMb: config.memory, maxMemoryMb: config.maxmem, args: plan.args, env: plan.env };
  if (plan.stubdom) {
    await ctx.xc.hvmBuild({ ...base, dm: { mode: 'stubdom', config: plan.dmConfig } });
  } else {
    const sock = await startQemuDm(ctx, plan, domid);
    await ctx.xc.hvmBuild({ ...base, dm: { mode: 'qemu-dm', socket: sock } });
  }
  const dp = domainPath(domid);
  await ctx.xs.write(`${dp}/device-model`, plan.stubdom ? 'stubdom' : 'qemu-dm');
  // The console is the device model's (as Xen's qemu-dm writes console/tty for
  // an HVM serial port): xenconsoled relays `xm console` to this socket. tty
  // first, so that whoever sees type=ioemu finds it.
  await ctx.xs.write(`${dp}/console/tty`, plan.dmConfig.consoleSocket);
  await ctx.xs.write(`${dp}/console/type`, 'ioemu');
}

async function startQemuDm(ctx: XendContext, plan: HvmPlan, domid: number): Promise<string> {
  const dir = path.join(stateDir(), 'run', 'qemu-dm');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const cfgFile = path.join(dir, `${domid}.json`);
  const sock = path.join(dir, `${domid}.sock`);
  await fs.writeFile(cfgFile, JSON.stringify(plan.dmConfig), { mode: 0o600 });
  const child = spawn(process.execPath, [qemuDmPath(), '-d', String(domid), '--config', cfgFile, '--socket', sock], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  deviceModels.set(domid, child);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const onData = (b: Buffer) => {
      err += b.toString();
      if (/qemu-dm: ready/.test(err)) {
        child.stderr!.off('data', onData);
        child.stderr!.on('data', (x: Buffer) => ctx.log.info('qemu-dm', `${domid}: ${x.toString().trim()}`));
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new VmError(`qemu-dm for domain ${domid} exited (${code}): ${err.trim()}`)));
    child.once('error', (e) => reject(new VmError(`qemu-dm: ${e.message}`)));
  });
  child.on('exit', () => {
    if (deviceModels.get(domid) === child) deviceModels.delete(domid);
    void fs.rm(cfgFile, { force: true });
  });
  ctx.log.info('XendDomainInfo', `qemu-dm for domain ${domid} started (pid ${child.pid})`);
  return sock;
}

/** Stop a domain's qemu-dm (destroy, or a failed build). */
export function stopDeviceModel(domid: number): void {
  const c = deviceModels.get(domid);
  if (!c) return;
  deviceModels.delete(domid);
  c.kill('SIGTERM');
}

/** pid of a domain's qemu-dm, if xend started one. */
export function deviceModelPid(domid: number): number | undefined {
  return deviceModels.get(domid)?.pid;
}

/** After an HVM domain shut down: its program's exit status, recorded in xenstore. */
export async function learnExitCode(ctx: XendContext, domid: number): Promise<number | undefined> {
  const code = await ctx.xc.hvmExitCode(domid).catch(() => null);
  if (code === null || code === undefined) return undefined;
  await ctx.xs.write(`${domainPath(domid)}/exit_code`, String(code)).catch(() => undefined);
  return code;
}

/**
 * XendDomainInfo.create for builder='hvm': no xenstore or console ring (the
 * program knows nothing of Xen), disks and shares go to the device model
 * instead of blkback. The domain is left paused.
 */
export async function createHvmDomain(ctx: XendContext, config: DomainConfig, opts: { vmPath?: string; restartCount?: number; previousRestartTime?: number }):
  Promise<{ domid: number; vmPath: string; startTime: number; restartCount: number }> {
  const { xc, xs } = ctx;
  try {
    await fs.access(config.image.kernel);
  } catch {
    throw new VmError(`Kernel image does not exist: ${config.image.kernel}`);
  }
  let domid: number;
  try {
    domid = await xc.domainCreate({ handle: config.uuid, hvm: true });
  } catch (e) {
    throw new VmError(`Creating domain failed: name=${config.name}: ${(e as Error).message}`);
  }
  const { vmPathOf, storeDomain, removeDomain } = await import('./domain-store.js');
  const vmPath = opts.vmPath ?? vmPathOf(config.uuid);
  try {
    await xc.domainMaxVcpus(domid, 1);
    const startTime = Date.now() / 1000;
    const restartCount = opts.restartCount ?? 0;
    await storeDomain(xs, { domid, vmPath, config, channels: null, startTime, restartCount, previousRestartTime: opts.previousRestartTime }, ctx.consoleLimitKiB);
    await buildHvm(ctx, config, domid);
    if (config.cpuWeight !== 256 || config.cpuCap !== 0) await xc.schedCreditSet(domid, config.cpuWeight, config.cpuCap);
    return { domid, vmPath, startTime, restartCount };
  } catch (e) {
    stopDeviceModel(domid);
    await xc.domainDestroy(domid).catch(() => undefined);
    await removeDomain(xs, domid, opts.vmPath ? undefined : vmPath);
    if (e instanceof VmError) throw e;
    throw new VmError(`Building domain failed: ${(e as Error).message}`);
  }
}
