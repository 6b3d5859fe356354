// Managed domains (XendDomain's managed_config): definitions registered with
// `xm new`, started with `xm start`, forgotten with `xm delete`, listed while
// halted, and kept on disk as <xend-domains-path>/<uuid>/config.sxp so that
// they outlive xend and the host. A running managed domain is an ordinary
// domain of the table with the definition's UUID: that is how a restarted
// xend (which recovers running domains from xenstore) pairs the two again.

import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseSxp, prettyprint, type SxpValue } from '@xenwasm/sxp';
import type { XendDomain } from './domain-table.js';
import type { XendLog } from './xend-log.js';
import type { XendXmlRpcServer } from './xmlrpc-server.js';
import { domainConfigToVmSxp, domainToSxp, parseVmSxp, type DomainConfig } from './sxp-config.js';
import { DOM_STATE, POWER_STATE_NAMES } from './xend-constants.js';
import { VMBadState, VmError, XendError, XendInvalidDomain } from './xend-errors.js';

const CONFIG_FILE = 'config.sxp';
const UUID_DIR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Write a file so that after a crash it holds either the old or the new text, never a part. */
async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(path.dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export class ManagedDomains {
  private readonly defs = new Map<string, DomainConfig>();

  constructor(readonly dir: string, private readonly table: XendDomain, private readonly log: XendLog) {}

  /** Read every stored definition; an unreadable one is logged and skipped, never fatal. */
  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.defs.clear();
    for (const ent of await readdir(this.dir, { withFileTypes: true })) {
      if (!ent.isDirectory() || !UUID_DIR.test(ent.name)) continue;
      const file = path.join(this.dir, ent.name, CONFIG_FILE);
      try {
        const c = parseVmSxp(parseSxp(await readFile(file, 'utf8'), { file }));
        if (c.uuid !== ent.name) throw new Error(`its uuid is ${c.uuid}`);
        this.defs.set(c.uuid, c);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.log.error('XendDomain', `Skipping managed domain ${file}: ${(e as Error).message}`);
      }
    }
    this.log.info('XendDomain', `${this.defs.size} managed domain(s) in ${this.dir}`);
  }

  all(): DomainConfig[] {
    return [...this.defs.values()];
  }

  /** By name, then UUID. */
  find(dom: string | number): DomainConfig | undefined {
    const s = String(dom);
    return this.all().find((c) => c.name === s) ?? this.defs.get(s);
  }

  isRunning(c: DomainConfig): boolean {
    return this.table.list('all').some((d) => d.uuid === c.uuid);
  }

  halted(): DomainConfig[] {
    return this.all().filter((c) => !this.isRunning(c));
  }

  /** The `(domain ...)` of a defined but halted domain: no domid, no state, status 0. */
  static haltedSxp(c: DomainConfig): SxpValue {
    return domainToSxp(c, { status: DOM_STATE.HALTED });
  }

  /** xend.domain.new: validate and store (replacing a halted definition of the same UUID). */
  async define(sxp: SxpValue): Promise<DomainConfig> {
    const c = parseVmSxp(sxp);
    const sameName = this.find(c.name);
    if (sameName && sameName.uuid !== c.uuid) throw new VmError(`VM name '${c.name}' already exists`);
    const live = this.table.find(c.name);
    if (live && live.name === c.name && live.uuid !== c.uuid) throw new VmError(`VM name '${c.name}' already exists as domain ${live.domid}`);
    const old = this.defs.get(c.uuid);
    if (old && this.isRunning(old)) throw new VMBadState('Domain is running; shut it down before redefining it');
    const dir = path.join(this.dir, c.uuid);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeDurably(path.join(dir, CONFIG_FILE), prettyprint(domainConfigToVmSxp(c)) + '\n');
    this.defs.set(c.uuid, c);
    this.log.info('XendDomain', `Managed domain ${c.name} (${c.uuid}) ${old ? 'redefined' : 'defined'}`);
    return c;
  }

  /** xend.domain.start: build the defined domain, unpaused unless asked. */
  async start(dom: string, paused = false): Promise<void> {
    const c = this.find(dom);
    if (!c) throw new XendInvalidDomain(dom);
    const running = this.table.list('all').find((d) => d.uuid === c.uuid);
    if (running) throw new VMBadState('Domain is already running', { expected: POWER_STATE_NAMES[DOM_STATE.HALTED], actual: POWER_STATE_NAMES[running.status()] });
    const d = await this.table.create(structuredClone(c));
    if (!paused) await d.unpause();
    this.log.info('XendDomain', `Started managed domain ${c.name} as ${d.domid}`);
  }

  /** xend.domain.delete: forget a halted definition. */
  async delete(dom: string): Promise<void> {
    const c = this.find(dom);
    if (!c) throw new XendInvalidDomain(dom);
    if (this.isRunning(c)) throw new VMBadState('Domain is still running', { expected: POWER_STATE_NAMES[DOM_STATE.HALTED] });
    await rm(path.join(this.dir, c.uuid), { recursive: true, force: true });
    await syncDir(this.dir);
    this.defs.delete(c.uuid);
    this.log.info('XendDomain', `Managed domain ${c.name} (${c.uuid}) deleted`);
  }

  /** At xend start: start the halted definitions marked on_xend_start = start. */
  async autostart(): Promise<string[]> {
    const started: string[] = [];
    for (const c of this.halted().filter((x) => x.onXendStart === 'start')) {
      try {
        await this.start(c.uuid);
        started.push(c.name);
      } catch (e) {
        this.log.error('XendDomain', `on_xend_start: cannot start ${c.name}: ${(e as Error).message}`);
      }
    }
    return started;
  }
}

const DOM = { name: 'dom', type: 'domain' } as const;

/**
 * The managed-domain methods, and the listing and lookup methods again so
 * that they see halted definitions (registered after registerXendMethods:
 * a later registration replaces an earlier one).
 */
export function registerManagedMethods(srv: XendXmlRpcServer, table: XendDomain, managed: ManagedDomains): void {
  srv.register('xend.domain.new', async (config: SxpValue) => ManagedDomains.haltedSxp(await managed.define(config)),
    { params: [{ name: 'config', type: 'sxp' }] });
  srv.register('xend.domain.start', async (dom: string, paused = false) => {
    await table.refresh();
    await managed.start(dom, paused);
    return null;
  }, { params: [DOM, { name: 'paused', type: 'boolean', optional: true }] });
  srv.register('xend.domain.delete', async (dom: string) => {
    await table.refresh();
    await managed.delete(dom);
    return null;
  }, { params: [DOM] });
  srv.register('xend.domain.suspend', () => {
    throw new XendError('xm suspend needs domain save, which this hypervisor does not have yet');
  }, { params: [DOM] });
  srv.register('xend.domain.resume', () => {
    throw new XendError('xm resume needs domain restore, which this hypervisor does not have yet');
  }, { params: [DOM, { name: 'paused', type: 'boolean', optional: true }] });

  srv.register('xend.domains_with_state', async (detail = true, state = 'all') => {
    await table.refresh();
    const s = state.toLowerCase();
    if (!['all', 'running', 'paused', 'halted', 'suspended', 'unknown'].includes(s)) throw new XendError(`Invalid state: ${state}`);
    const rows: Array<{ name: string; sxp: () => SxpValue }> = table.list(s).map((d) => ({ name: d.name, sxp: () => d.sxp() }));
    if (s === 'all' || s === 'halted') for (const c of managed.halted()) rows.push({ name: c.name, sxp: () => ManagedDomains.haltedSxp(c) });
    rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return detail ? rows.map((r) => r.sxp()) : rows.map((r) => r.name);
  }, { params: [{ name: 'detail', type: 'boolean', optional: true }, { name: 'state', type: 'string', optional: true }, { name: 'full', type: 'boolean', optional: true }] });

  srv.register('xend.domain', async (dom: string) => {
    // One domain's state alone (table.current), not a pass over every domain.
    if (table.find(dom)) {
      try {
        return (await table.current(dom)).sxp();
      } catch (e) {
        if (!(e instanceof XendInvalidDomain)) throw e;
      }
    }
    const c = managed.find(dom);
    if (c) return ManagedDomains.haltedSxp(c);
    throw new XendInvalidDomain(dom);
  }, { params: [DOM, { name: 'full', type: 'boolean', optional: true }] });

  // xm create must not take the name of a defined domain.
  srv.register('xend.domain.create', async (config: SxpValue) => {
    const c = parseVmSxp(config);
    const def = managed.find(c.name);
    if (def && def.name === c.name && def.uuid !== c.uuid) throw new VmError(`VM name '${c.name}' already exists`);
    return (await table.create(c)).sxp();
  }, { params: [{ name: 'config', type: 'sxp' }] });
}
