// One domain as xend manages it (XendDomainInfo): build through libxc, the
// xenstore tree, and the per-domain operations of the XML-RPC API.

import { createDevice, removeBackends } from './dev-controller.js';
import { access } from 'node:fs/promises';
import type { DomainInfo as XcDomainInfo, Xc } from '@xenwasm/libxc';
import type { Xs } from '@xenwasm/xs';
import type { SxpList } from '@xenwasm/sxp';
import { HypercallError } from '@xenwasm/xen-errno';
import { domainToSxp, type DomainConfig } from './sxp-config.js';
import { VmError, XendError, VMBadState } from './xend-errors.js';
import {
  DOM_STATE, DOM0_ID, SHUTDOWN_CODES, SHUTDOWN_REASONS, SHUTDOWN_TIMEOUT,
} from './xend-constants.js';
import { domainPath, removeDomain, storeConfig, storeDomain, vmPathOf, type DomainChannels } from './domain-store.js';
import { shutdownReasonName } from './restart-policy.js';
import { createHvmDomain, learnExitCode, stopDeviceModel } from './hvm-image.js';
import type { XendLog } from './xend-log.js';

export interface XendContext {
  xc: Xc;
  xs: Xs;
  log: XendLog;
  /** console-limit from xend-config.sxp, KiB. */
  consoleLimitKiB: number;
}

/** The `rbpscd` string of xm list. */
export function stateString(i: Pick<XcDomainInfo, 'running' | 'blocked' | 'paused' | 'shutdown' | 'crashed' | 'dying'>): string {
  const shut = i.shutdown && !i.crashed;
  return (i.running ? 'r' : '-') + (i.blocked ? 'b' : '-') + (i.paused ? 'p' : '-') + (shut ? 's' : '-') + (i.crashed ? 'c' : '-') + (i.dying ? 'd' : '-');
}

export function uuidFromHandle(h: number[]): string {
  const x = h.map((b) => (b & 0xff).toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

const now = () => Date.now() / 1000;

export interface CreateOptions {
  restartCount?: number;
  previousRestartTime?: number;
  /** Reuse this /vm path (a restart keeps the VM's). */
  vmPath?: string;
}

export class XendDomainInfo {
  /** The last libxc view (refreshed by the domain table). */
  info: XcDomainInfo | undefined;
  /** The shutdown has been acted on (preserve keeps it so). */
  shutdownHandled = false;
  /** Set once destroy started: lookups skip it, refresh leaves it alone. */
  destroyed = false;
  private shutdownTimer: NodeJS.Timeout | undefined;
  /** An HVM guest's exit status, once it has exited. */
  exitCode: number | undefined;

  /** After a shutdown: learn an HVM program's exit status (xenstore exit_code, xm list --long). */
  async noteShutdown(): Promise<void> {
    if (this.config.image.kind === 'hvm' && this.exitCode === undefined) this.exitCode = await learnExitCode(this.ctx, this.domid);
  }

  constructor(
    private readonly ctx: XendContext,
    public config: DomainConfig,
    readonly domid: number,
    public vmPath: string,
    public channels: DomainChannels | undefined,
    public startTime: number | undefined,
    public restartCount = 0,
    public previousRestartTime?: number,
    /** Balloon target in MiB (config memory until mem-set). */
    public memoryTarget?: number,
  ) {}

  get name(): string { return this.config.name; }
  get uuid(): string { return this.config.uuid; }
  get isDom0(): boolean { return this.domid === DOM0_ID; }

  /** Build a new domain from a validated config; it is left paused (xm create unpauses it). */
  static async create(ctx: XendContext, config: DomainConfig, opts: CreateOptions = {}): Promise<XendDomainInfo> {
    const { xc, xs } = ctx;
    if (config.image.kind === 'hvm') {
      const h = await createHvmDomain(ctx, config, opts);
      return new XendDomainInfo(ctx, config, h.domid, h.vmPath, undefined, h.startTime, h.restartCount, opts.previousRestartTime);
    }
    // The tree's transaction is opened while the domain is being made (it
    // needs no domid), so that writing the tree costs no round trip of its own.
    const txStart = xs.transactionStart();
    const dropTx = () => void txStart.then((tx) => xs.transactionEnd(tx, false)).catch(() => undefined);
    // The kernel is checked while the domain is made; a missing one undoes the domain.
    const [kernel, made] = await Promise.allSettled([access(config.image.kernel), xc.domainCreate({ handle: config.uuid })]);
    if (kernel.status === 'rejected') {
      dropTx();
      if (made.status === 'fulfilled') await xc.domainDestroy(made.value).catch(() => undefined);
      throw new VmError(`Kernel image does not exist: ${config.image.kernel}`);
    }
    if (made.status === 'rejected') {
      dropTx();
      throw new VmError(`Creating domain failed: name=${config.name}: ${(made.reason as Error).message}`);
    }
    const domid = made.value;
    const vmPath = opts.vmPath ?? vmPathOf(config.uuid);
    let storing: Promise<void> | undefined;
    try {
      // Requests on one privcmd connection are answered in order: send them together.
      const [, storePort, consolePort] = await Promise.all([
        xc.domainMaxVcpus(domid, config.vcpus),
        xc.evtchnAllocUnbound(domid, 0),
        xc.evtchnAllocUnbound(domid, 0),
      ]);
      const startTime = now();
      const restartCount = opts.restartCount ?? 0;
      // The tree goes to xenstored while the image is built; only the ring
      // references wait for the build, then one commit (one fsync) ends it.
      const building = xc.linuxBuild({
        domid, kernel: config.image.kernel, cmdline: config.image.cmdline, memoryMb: config.memory,
        maxMemoryMb: config.maxmem, storeEvtchn: storePort, consoleEvtchn: consolePort, vcpus: config.vcpus,
      }).then((built): DomainChannels => ({ storePort, storeMfn: built.store_mfn, consolePort, consoleMfn: built.console_mfn }));
      storing = storeDomain(xs, { domid, vmPath, config, channels: building, startTime, restartCount, previousRestartTime: opts.previousRestartTime },
        ctx.consoleLimitKiB, txStart);
      const steps = await Promise.allSettled([
        building,
        storing,
        building.then((ch) => xs.introduce(domid, ch.storeMfn, ch.storePort)),
        config.cpuWeight !== 256 || config.cpuCap !== 0 ? xc.schedCreditSet(domid, config.cpuWeight, config.cpuCap) : Promise.resolve(),
        building.then(() => xc.domainInfo(domid)),
      ]);
      const failed = steps.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const channels = (steps[0] as PromiseFulfilledResult<DomainChannels>).value;
      for (const dev of config.devices) await createDevice(xs, domid, config.name, dev);
      const d = new XendDomainInfo(ctx, config, domid, vmPath, channels, startTime, restartCount, opts.previousRestartTime);
      d.info = (steps[4] as PromiseFulfilledResult<XcDomainInfo>).value;
      return d;
    } catch (e) {
      if (!storing) dropTx();
      await xc.domainDestroy(domid).catch(() => undefined);
      await xs.release(domid).catch(() => undefined);
      await removeDomain(xs, domid, opts.vmPath ? undefined : vmPath);
      await removeBackends(xs, domid);
      if (e instanceof XendError) throw e;
      throw new VmError(`Building domain failed: ${(e as Error).message}`);
    }
  }

  /** xend's DOM_STATES index from the last libxc view. */
  status(): number {
    const i = this.info;
    if (!i) return DOM_STATE.HALTED;
    if (i.dying || i.shutdown || i.crashed) return DOM_STATE.SHUTDOWN;
    if (i.paused) return DOM_STATE.PAUSED;
    return DOM_STATE.RUNNING;
  }

  /** The `(domain ...)` of xend.domain and xm list --long. */
  sxp(): SxpList {
    const i = this.info;
    const reason = i && (i.shutdown || i.crashed) ? shutdownReasonName(i) : undefined;
    return domainToSxp(this.config, {
      domid: this.domid,
      state: i ? stateString(i) : '------',
      status: this.status(),
      startTime: this.startTime,
      cpuTime: i ? Number(i.cpu_time) / 1e9 : 0,
      onlineVcpus: i ? i.online_vcpus : this.config.vcpus,
      memory: this.isDom0 && i ? Math.floor(i.mem_kb / 1024) : this.memoryTarget,
      storeMfn: this.channels?.storeMfn,
      consoleMfn: this.channels?.consoleMfn,
      shutdownReason: reason,
      exitCode: this.exitCode,
    });
  }

  private requireNotDom0(what: string): void {
    if (this.isDom0) throw new XendError(`Cannot ${what} privileged domain ${this.domid}`);
  }

  async pause(): Promise<void> {
    this.requireNotDom0('pause');
    this.requireStarted();
    await this.ctx.xc.domainPause(this.domid);
  }

  async unpause(): Promise<void> {
    this.requireNotDom0('unpause');
    this.requireStarted();
    await this.ctx.xc.domainUnpause(this.domid);
  }

  private requireStarted(): void {
    const s = this.status();
    if (s !== DOM_STATE.RUNNING && s !== DOM_STATE.PAUSED) throw new VMBadState(`Domain '${this.name}' is not started`);
  }

  /**
   * Ask the guest to shut down: write control/shutdown (the guest acknowledges
   * and calls SCHEDOP_shutdown; xend sees that through VIRQ_DOM_EXC). A guest
   * that never does stays up and is marked unresponsive after SHUTDOWN_TIMEOUT.
   */
  async shutdown(reason: string): Promise<void> {
    if (!(reason in SHUTDOWN_CODES)) throw new XendError(`Invalid reason: ${reason}`);
    if (this.isDom0) throw new XendError('Domain 0 cannot be shutdown');
    const dp = domainPath(this.domid);
    const { xs, log } = this.ctx;
    await xs.write(`${dp}/control/shutdown`, reason);
    if (reason !== 'suspend') {
      await xs.write(`${dp}/xend/shutdown_start_time`, String(now()));
      clearTimeout(this.shutdownTimer);
      this.shutdownTimer = setTimeout(() => {
        if (this.destroyed || this.info?.shutdown || this.info?.crashed) return;
        log.warn('XendDomainInfo', `Domain ${this.name} (${this.domid}) did not shut down after ${SHUTDOWN_TIMEOUT} s: marking it unresponsive`);
        void xs.write(`${dp}/xend/unresponsive`, 'True').catch(() => undefined);
      }, SHUTDOWN_TIMEOUT * 1000);
      this.shutdownTimer.unref();
    }
    log.info('XendDomainInfo', `Requested ${reason} of domain ${this.name} (${this.domid})`);
  }

  /** Hard destroy; the tree goes too (the /vm entry survives when the VM restarts). */
  async destroy(keepVm = false): Promise<void> {
    this.requireNotDom0('destroy');
    this.destroyed = true;
    clearTimeout(this.shutdownTimer);
    const { xc, xs } = this.ctx;
    try {
      await xc.domainDestroy(this.domid);
    } catch (e) {
      if (!(e instanceof HypercallError && e.code === 'ESRCH')) {
        this.destroyed = false;
        throw e;
      }
    }
    stopDeviceModel(this.domid);
    await xs.release(this.domid).catch(() => undefined);
    await removeDomain(xs, this.domid, keepVm ? undefined : this.vmPath);
    await removeBackends(xs, this.domid);
  }

  async setMemoryTarget(mib: number): Promise<void> {
    if (!(mib > 0)) throw new XendError(`Invalid memory size: ${mib}`);
    if (mib > this.config.maxmem) throw new XendError(`Memory target ${mib} MiB is above maxmem (${this.config.maxmem} MiB)`);
    this.memoryTarget = mib;
    if (!this.isDom0) this.config.memory = mib;
    const { xs } = this.ctx;
    await Promise.all([
      xs.write(`${this.vmPath}/memory`, String(mib)),
      xs.write(`${domainPath(this.domid)}/memory/target`, String(mib * 1024)),
      this.isDom0 ? Promise.resolve() : storeConfig(xs, this.vmPath, this.config),
    ]);
  }

  async setMaxMem(mib: number): Promise<void> {
    if (!(mib > 0)) throw new XendError(`Invalid memory size: ${mib}`);
    await this.ctx.xc.domainSetMaxMem(this.domid, mib * 1024);
    if (this.isDom0) return;
    this.config.maxmem = mib;
    if (this.config.memory > mib) this.config.memory = mib;
    await Promise.all([this.ctx.xs.write(`${this.vmPath}/maxmem`, String(mib)), storeConfig(this.ctx.xs, this.vmPath, this.config)]);
  }

  async setName(name: string): Promise<void> {
    this.config.name = name;
    if (this.isDom0) return;
    const { xs } = this.ctx;
    await Promise.all([
      xs.write(`${domainPath(this.domid)}/name`, name),
      xs.write(`${this.vmPath}/name`, name),
      storeConfig(xs, this.vmPath, this.config),
    ]);
  }

  async schedCreditGet(): Promise<{ weight: number; cap: number }> {
    return this.ctx.xc.schedCreditGet(this.domid);
  }

  /** xend's checks, then the hypercall (0 / 0xFFFF mean unchanged). */
  async schedCreditSet(weight: number | null, cap: number | null): Promise<number> {
    if (weight !== null && (weight < 1 || weight > 65535)) throw new XendError('weight is out of range');
    const vcpus = this.isDom0 ? (this.info?.online_vcpus ?? 1) : this.config.vcpus;
    if (cap !== null && (cap < 0 || cap > vcpus * 100)) throw new XendError('cap is out of range');
    await this.ctx.xc.schedCreditSet(this.domid, weight ?? 0, cap ?? 0xffff);
    if (!this.isDom0) {
      if (weight !== null) this.config.cpuWeight = weight;
      if (cap !== null) this.config.cpuCap = cap;
      await storeConfig(this.ctx.xs, this.vmPath, this.config);
    }
    return 0;
  }

  /** getVCPUInfo's `(domain (domid)(name)(vcpu_count)(vcpu ...)...)`. */
  async vcpuInfo(): Promise<SxpList> {
    const n = this.info ? this.info.max_vcpu_id + 1 : this.config.vcpus;
    const vcpus = await Promise.all(Array.from({ length: n }, (_, v) => this.ctx.xc.vcpuGetInfo(this.domid, v)));
    const out: SxpList = ['domain', ['domid', this.domid], ['name', this.name], ['vcpu_count', this.info?.online_vcpus ?? n]];
    vcpus.forEach((v, number) => {
      out.push(['vcpu', ['number', number], ['online', v.online ? 1 : 0], ['blocked', v.blocked ? 1 : 0], ['running', v.running ? 1 : 0],
        ['cpu_time', Number(v.cpu_time) / 1e9], ['cpu', v.cpu], ['cpumap', v.cpumap]]);
    });
    return out;
  }

  /** A preserved or acted-on shutdown's reason, for logs. */
  shutdownReason(): string | undefined {
    const i = this.info;
    return i && (i.shutdown || i.crashed) ? shutdownReasonName(i) : undefined;
  }

  /** The guest's pending request, if any (xm shutdown -w looks for the domain going away instead). */
  static reasonName(code: number): string {
    return SHUTDOWN_REASONS[code] ?? String(code);
  }
}
