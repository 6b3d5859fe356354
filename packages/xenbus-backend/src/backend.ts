// The backend side of the xenbus protocol (xen-facts 4.1-4.2): watches
// /local/domain/0/backend/<class>, makes a device for each <fe>/<devid> that
// xend writes, publishes the driver's keys and InitWait, connects when the
// frontend is Initialised/Connected, and closes on online=0, on the
// frontend closing, or when the device's directory goes away. A device that
// fails (bad ring, bad frontend data) is closed with its reason logged and
// written to /local/domain/0/error/<backend path>/error; nothing else stops.
import type { Xs, WatchEvent } from '@xenwasm/xs';
import type { Dom0Services } from './dom0.js';
import { XenbusState } from './xenbus-state.js';

export interface DeviceContext {
  xs: Xs;
  dom0: Dom0Services;
  fe: number;
  devid: number;
  bePath: string;
  fePath: string;
  log(m: string): void;
  /** Stop this device, log the reason, and tell the toolstack. */
  fail(reason: string): void;
}

export interface BackendDriver {
  /** Device class in xenstore: vbd, vif. */
  readonly type: string;
  /** Set up from the backend keys; write features and hotplug-status. Throw to fail the device. */
  probe(ctx: DeviceContext): Promise<DeviceInstance>;
}
export interface DeviceInstance {
  /** The frontend is ready: map its rings, bind its channel. Throw to fail. */
  connect(): Promise<void>;
  /** Undo connect (idempotent); resolves when nothing of the frontend is mapped any more. */
  disconnect(): Promise<void>;
}

class Device {
  inst: DeviceInstance | undefined;
  connected = false;
  closed = false;
  failed = false;
  private queue: Promise<void> = Promise.resolve();
  readonly ctx: DeviceContext;
  constructor(readonly be: BackendWatcher, readonly fe: number, readonly devid: number, fePath: string) {
    const bePath = `${be.root}/${fe}/${devid}`;
    this.ctx = {
      xs: be.xs, dom0: be.dom0, fe, devid, bePath, fePath,
      log: (m) => be.log(`${be.driver.type}-${fe}-${devid}: ${m}`),
      fail: (r) => this.fail(r),
    };
  }
  get token(): string {
    return `fe-${this.be.driver.type}-${this.fe}-${this.devid}`;
  }
  run(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((e) => this.fail((e as Error).message));
  }
  async start(): Promise<void> {
    const { xs, bePath } = this.ctx;
    try {
      this.inst = await this.be.driver.probe(this.ctx);
    } catch (e) {
      const msg = (e as Error).message;
      this.ctx.log(`probe failed: ${msg}`);
      await xs.write(`${bePath}/hotplug-error`, msg).catch(() => undefined);
      await xs.write(`${bePath}/hotplug-status`, 'error').catch(() => undefined);
      this.failed = true;
      return;
    }
    await xs.write(`${bePath}/state`, String(XenbusState.InitWait));
    await xs.watch(`${this.ctx.fePath}/state`, this.token);
  }
  async frontendChanged(): Promise<void> {
    if (this.closed || this.failed || !this.inst) return;
    const s = Number(await this.ctx.xs.tryRead(`${this.ctx.fePath}/state`));
    // The device may have failed or closed while we read: a failed device never reconnects.
    if (this.closed || this.failed) return;
    if ((s === XenbusState.Initialised || s === XenbusState.Connected) && !this.connected) {
      await this.inst.connect();
      this.connected = true;
      await this.ctx.xs.write(`${this.ctx.bePath}/state`, String(XenbusState.Connected));
      this.ctx.log('connected');
    } else if ((s === XenbusState.Closing || s === XenbusState.Closed) && this.connected) {
      await this.close('the frontend closed');
    }
  }
  async backendChanged(): Promise<void> {
    if (this.closed) return;
    const [online, fe] = await Promise.all([this.ctx.xs.tryRead(`${this.ctx.bePath}/online`), this.ctx.xs.tryRead(`${this.ctx.bePath}/frontend`)]);
    if (fe === undefined) await this.remove();
    else if (online === '0') await this.close('taken offline');
  }
  async close(why: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inst?.disconnect();
    this.connected = false;
    await this.ctx.xs.unwatch(`${this.ctx.fePath}/state`, this.token).catch(() => undefined);
    await this.ctx.xs.write(`${this.ctx.bePath}/state`, String(XenbusState.Closed)).catch(() => undefined);
    this.ctx.log(`closed: ${why}`);
  }
  async remove(): Promise<void> {
    this.be.devices.delete(`${this.fe}/${this.devid}`);
    if (this.closed) return;
    this.closed = true;
    await this.inst?.disconnect();
    await this.ctx.xs.unwatch(`${this.ctx.fePath}/state`, this.token).catch(() => undefined);
    this.ctx.log('removed');
  }
  fail(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.ctx.log(`failed: ${reason}`);
    const xs = this.ctx.xs;
    void (async () => {
      await this.inst?.disconnect().catch(() => undefined);
      this.connected = false;
      await xs.write(`/local/domain/0/error${this.ctx.bePath.replace(/^\/local\/domain\/0/, '')}/error`, reason).catch(() => undefined);
      await xs.write(`${this.ctx.bePath}/state`, String(XenbusState.Closing)).catch(() => undefined);
    })();
  }
}

export class BackendWatcher {
  readonly devices = new Map<string, Device>();
  readonly root: string;
  constructor(
    readonly xs: Xs,
    readonly dom0: Dom0Services,
    readonly driver: BackendDriver,
    readonly log: (m: string) => void,
  ) {
    this.root = `/local/domain/0/backend/${driver.type}`;
  }
  async start(): Promise<void> {
    this.xs.on('watch', (ev: WatchEvent) => this.onWatch(ev));
    await this.xs.watch(this.root, `be-${this.driver.type}`);
  }
  private onWatch(ev: WatchEvent): void {
    if (ev.token === `be-${this.driver.type}`) {
      const rest = ev.path.startsWith(this.root + '/') ? ev.path.slice(this.root.length + 1).split('/') : [];
      if (rest.length < 2) {
        if (ev.path === this.root || rest.length === 1) void this.rescan();
        return;
      }
      const [fe, devid] = [Number(rest[0]), Number(rest[1])];
      if (!Number.isInteger(fe) || !Number.isInteger(devid)) return;
      const d = this.devices.get(`${fe}/${devid}`);
      if (d) {
        if (rest.length === 2 || rest[2] === 'online') d.run(() => d.backendChanged());
      } else if (rest.length === 2 || rest[2] === 'frontend' || rest[2] === 'online') void this.maybeAdd(fe, devid);
    } else if (ev.token.startsWith(`fe-${this.driver.type}-`)) {
      const [fe, devid] = ev.token.split('-').slice(2).map(Number);
      const d = this.devices.get(`${fe}/${devid}`);
      if (d) d.run(() => d.frontendChanged());
    }
  }
  private async rescan(): Promise<void> {
    let fes: string[] = [];
    try {
      fes = await this.xs.directory(this.root);
    } catch { /* none yet */ }
    for (const fe of fes) {
      let ids: string[] = [];
      try {
        ids = await this.xs.directory(`${this.root}/${fe}`);
      } catch { /* gone */ }
      for (const id of ids) await this.maybeAdd(Number(fe), Number(id));
    }
    for (const d of this.devices.values()) d.run(() => d.backendChanged());
  }
  private adding = new Set<string>();
  private async maybeAdd(fe: number, devid: number): Promise<void> {
    const key = `${fe}/${devid}`;
    if (this.devices.has(key) || this.adding.has(key)) return;
    this.adding.add(key);
    try {
      const be = `${this.root}/${fe}/${devid}`;
      const [fePath, online, state] = await Promise.all([this.xs.tryRead(`${be}/frontend`), this.xs.tryRead(`${be}/online`), this.xs.tryRead(`${be}/state`)]);
      // xend writes the frontend path and state 1 in the same transaction: wait for both.
      if (!fePath || online === '0' || state !== String(XenbusState.Initialising)) return;
      const d = new Device(this, fe, devid, fePath);
      this.devices.set(key, d);
      d.run(() => d.start());
    } finally {
      this.adding.delete(key);
    }
  }
  async stop(): Promise<void> {
    for (const d of this.devices.values()) await d.inst?.disconnect().catch(() => undefined);
    this.devices.clear();
  }
}
