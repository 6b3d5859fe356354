// Install the suite system-wide from a built checkout, and remove it again.
// Both are idempotent. The runtime (the workspace packages' compiled code and
// their production dependencies, nothing else) is copied to
// <prefix>/lib/xenwasm/node_modules; each program gets a small sh wrapper in
// <prefix>/bin that runs it with the Node.js that did the install and with
// XEN_STATE_DIR defaulting to the state directory.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bindir, dest, libdir, PROGRAMS, type Layout } from './layout.js';
import { tmpfilesConf, units } from './units.js';

/** Written into every file we generate: uninstall removes only files that carry it. */
export const MARKER = 'installed by xen-install (XenWasm)';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The checkout this installer belongs to (packages/xen-system/dist/src -> root). */
export const SOURCE_ROOT = path.resolve(HERE, '../../../..');
const SHIPPED_ETC = path.resolve(HERE, '../../etc');

export interface InstallOptions {
  layout: Layout;
  /** The checkout to install from (default: this one). */
  source?: string;
  log?: (line: string) => void;
  /** Run systemctl daemon-reload / systemd-tmpfiles when installing into '/' (default true). */
  systemctl?: boolean;
}

export interface InstallReport {
  programs: string[];
  units: string[];
  /** Config files left as the admin changed them. */
  kept: string[];
  warnings: string[];
}

// ---- the runtime closure ----

interface Pkg { name: string; src: string; workspace: boolean }

function findPackage(name: string, from: string): string | undefined {
  for (let d = from; ; d = path.dirname(d)) {
    const c = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(c, 'package.json'))) return fs.realpathSync(c);
    if (path.dirname(d) === d) return undefined;
  }
}

/** The packages the programs need at run time: their `dependencies` and `optionalDependencies`, transitively. */
export function runtimeClosure(source: string, roots: string[]): Pkg[] {
  const out = new Map<string, Pkg>();
  const byName = new Map<string, string>();
  const queue: Array<{ name: string; from: string; optional: boolean }> = roots.map((name) => ({ name, from: source, optional: false }));
  while (queue.length) {
    const { name, from, optional } = queue.shift()!;
    const src = findPackage(name, from);
    if (!src) {
      if (optional) continue;
      throw new Error(`${name} (needed from ${from}) is not installed: run npm install in ${source}`);
    }
    if (out.has(src)) continue;
    const workspace = !src.split(path.sep).includes('node_modules');
    // A copy nested inside another package's node_modules travels with that package.
    const nested = [...out.values()].some((p) => !p.workspace && src.startsWith(p.src + path.sep));
    if (!nested) {
      const other = byName.get(name);
      if (other && other !== src) throw new Error(`two copies of ${name} are needed (${other}, ${src}); not supported`);
      byName.set(name, src);
    }
    out.set(src, { name, src, workspace });
    const pj = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const d of Object.keys(pj.dependencies ?? {})) queue.push({ name: d, from: src, optional: false });
    for (const d of Object.keys(pj.optionalDependencies ?? {})) queue.push({ name: d, from: src, optional: true });
  }
  return [...out.values()].filter((p) => byName.get(p.name) === p.src);
}

/** What of a workspace package runs: no sources, tests or benchmarks. */
function copyWorkspacePackage(src: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of ['package.json', 'README.md']) if (fs.existsSync(path.join(src, f))) fs.copyFileSync(path.join(src, f), path.join(to, f));
  for (const dir of ['bin', 'dist', 'build']) {
    const from = path.join(src, dir);
    if (!fs.existsSync(from)) continue;
    fs.cpSync(from, path.join(to, dir), {
      recursive: true,
      filter: (p) => {
        const rel = path.relative(src, p);
        return !/^dist[\\/](test|bench)([\\/]|$)/.test(rel) && !rel.endsWith('.tsbuildinfo');
      },
    });
  }
}

export function installedPrograms(source: string): typeof PROGRAMS {
  return PROGRAMS.filter((p) => !p.optional || fs.existsSync(path.join(source, 'packages', p.pkg, p.entry)));
}

function wrapper(l: Layout, pkg: string, entry: string, name: string): string {
  return `#!/bin/sh
# ${name}: ${MARKER}.
# Runs the program with the Node.js that installed it; the stack's state is
# in $XEN_STATE_DIR (default ${l.statedir}).
: "\${XEN_STATE_DIR:=${l.statedir}}"
export XEN_STATE_DIR
here=$(dirname "$(readlink -f "$0")")
exec "\${XENWASM_NODE:-${l.node}}" "$here/../lib/xenwasm/node_modules/@xenwasm/${pkg}/${entry}" "$@"
`;
}

// ---- small file helpers ----

function writeIfChanged(file: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) {
    fs.chmodSync(file, mode);
    return;
  }
  const tmp = `${file}.xen-install-tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** A config file the admin may edit: written when absent, never overwritten. */
function writeConfig(file: string, text: string, report: InstallReport): void {
  if (fs.existsSync(file)) {
    if (fs.readFileSync(file, 'utf8') !== text) report.kept.push(file);
    return;
  }
  writeIfChanged(file, text);
}

function symlink(at: string, target: string, report: InstallReport): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(at);
  } catch { /* absent */ }
  if (st?.isSymbolicLink() && fs.readlinkSync(at) === target) return;
  if (st && !st.isSymbolicLink()) {
    report.warnings.push(`${at} exists and is not a link to ${target}; left as it is`);
    return;
  }
  if (st) fs.rmSync(at);
  fs.symlinkSync(target, at);
}

/** The example domain configs, with the guests' paths as installed. */
function exampleConfigs(source: string, l: Layout): Array<{ name: string; text: string }> {
  const dir = path.join(source, 'examples');
  if (!fs.existsSync(dir)) return [];
  const guests = path.join(source, 'packages', 'example-guests');
  const installed = path.join(libdir(l), 'node_modules', '@xenwasm', 'example-guests');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.cfg')).sort().map((f) => {
    const text = fs.readFileSync(path.join(dir, f), 'utf8').replace(/^(\s*kernel\s*=\s*)(["'])(.*?)\2/m, (all, lhs: string, q: string, k: string) => {
      const abs = path.resolve(dir, k);
      return abs.startsWith(guests + path.sep) ? `${lhs}${q}${path.join(installed, path.relative(guests, abs))}${q}` : all;
    });
    return { name: f, text: `# ${MARKER}: an example; copy it before changing it.\n${text}` };
  });
}

const XEN_DEFAULTS = `# /etc/default/xen: options of the hypervisor host (xen.service).
# --nr-cpus N       pCPUs the scheduler hands out (default: host cores)
# --mem MiB         host memory pool (default: half the machine, at most 16 GiB)
# --dom0-mem MiB    Domain-0's memory (default 512)
XEN_ARGS=""
`;

function systemdRunning(): boolean {
  return fs.existsSync('/run/systemd/system');
}

function run(cmd: string, args: string[], log: (l: string) => void): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) log(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

// ---- install ----

export function install(o: InstallOptions): InstallReport {
  const l = o.layout;
  const log = o.log ?? (() => undefined);
  const source = path.resolve(o.source ?? SOURCE_ROOT);
  const report: InstallReport = { programs: [], units: [], kept: [], warnings: [] };
  const programs = installedPrograms(source);
  for (const p of programs) {
    if (!fs.existsSync(path.join(source, 'packages', p.pkg, p.entry))) {
      throw new Error(`packages/${p.pkg}/${p.entry} is missing: build the checkout first (npm install, or npm run build)`);
    }
  }

  // 1. The runtime, staged then swapped in whole.
  const lib = dest(l, libdir(l));
  const staging = `${lib}.new`;
  fs.rmSync(staging, { recursive: true, force: true });
  const pkgs = runtimeClosure(source, [...new Set(programs.map((p) => `@xenwasm/${p.pkg}`))]);
  for (const p of pkgs) {
    const to = path.join(staging, 'node_modules', p.name);
    if (p.workspace) copyWorkspacePackage(p.src, to);
    else fs.cpSync(p.src, to, { recursive: true, verbatimSymlinks: true });
  }
  if (fs.existsSync(path.join(source, 'README.md'))) fs.copyFileSync(path.join(source, 'README.md'), path.join(staging, 'README.md'));
  fs.writeFileSync(path.join(staging, 'install.json'), JSON.stringify({
    marker: MARKER, source, node: l.node, packages: pkgs.map((p) => p.name).sort(), layout: { ...l, root: undefined },
  }, null, 2) + '\n');
  fs.rmSync(lib, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(lib), { recursive: true });
  fs.renameSync(staging, lib);
  log(`runtime: ${lib} (${pkgs.length} packages)`);

  // 2. Programs on the PATH.
  for (const p of programs) {
    writeIfChanged(dest(l, path.join(bindir(l), p.name)), wrapper(l, p.pkg, p.entry, p.name), 0o755);
    report.programs.push(p.name);
  }

  // 3. Configuration.
  const etc = dest(l, l.sysconfdir);
  writeConfig(path.join(etc, 'xend-config.sxp'), fs.readFileSync(path.join(SHIPPED_ETC, 'xend-config.sxp'), 'utf8'), report);
  for (const ex of exampleConfigs(source, l)) writeIfChanged(path.join(etc, 'examples', ex.name), ex.text);
  fs.mkdirSync(path.join(etc, 'auto'), { recursive: true, mode: 0o755 });
  writeConfig(dest(l, path.join(l.defaultsdir, 'xendomains')), fs.readFileSync(path.join(SHIPPED_ETC, 'xendomains'), 'utf8'), report);
  writeConfig(dest(l, path.join(l.defaultsdir, 'xen')), XEN_DEFAULTS, report);

  // 4. systemd.
  const haveConsoled = programs.some((p) => p.name === 'xenconsoled');
  for (const u of units(l, { xenconsoled: haveConsoled })) {
    writeIfChanged(dest(l, path.join(l.unitdir, u.name)), u.text);
    report.units.push(u.name);
  }
  writeIfChanged(dest(l, path.join(l.tmpfilesdir, 'xenwasm.conf')), `# ${MARKER}\n${tmpfilesConf(l)}`);

  // 5. State, sockets and logs; the daemons look for all of it under XEN_STATE_DIR.
  const state = dest(l, l.statedir);
  fs.mkdirSync(state, { recursive: true, mode: 0o700 });
  fs.mkdirSync(dest(l, l.logdir), { recursive: true, mode: 0o750 });
  fs.mkdirSync(dest(l, l.rundir), { recursive: true, mode: 0o700 });
  // Relative links, so that a tree under a temporary root points into itself.
  symlink(path.join(state, 'run'), path.relative(l.statedir, l.rundir), report);
  symlink(path.join(state, 'log'), path.relative(l.statedir, l.logdir), report);
  symlink(path.join(state, 'xend-config.sxp'), path.relative(l.statedir, path.join(l.sysconfdir, 'xend-config.sxp')), report);

  if (l.root === '/' && o.systemctl !== false && systemdRunning()) {
    run('systemd-tmpfiles', ['--create', path.join(l.tmpfilesdir, 'xenwasm.conf')], log);
    run('systemctl', ['daemon-reload'], log);
  }
  for (const w of report.warnings) log(`warning: ${w}`);
  for (const k of report.kept) log(`kept your ${k} (the shipped one is in ${SHIPPED_ETC})`);
  return report;
}

// ---- uninstall ----

export interface UninstallOptions extends InstallOptions {
  /** Remove the state directory and the logs too. */
  purge?: boolean;
}

function isOurs(file: string): boolean {
  try {
    return fs.readFileSync(file, 'utf8').includes(MARKER);
  } catch {
    return false;
  }
}

function rmdirIfEmpty(dir: string): void {
  try {
    if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  } catch { /* absent or not empty */ }
}

export function uninstall(o: UninstallOptions): { removed: string[]; kept: string[] } {
  const l = o.layout;
  const log = o.log ?? (() => undefined);
  const source = path.resolve(o.source ?? SOURCE_ROOT);
  const removed: string[] = [];
  const kept: string[] = [];
  const rm = (p: string) => {
    if (!fs.existsSync(p) && !isLink(p)) return;
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(p);
  };
  const unitNames = units(l, { xenconsoled: true }).map((u) => u.name);
  if (l.root === '/' && o.systemctl !== false && systemdRunning()) {
    const present = unitNames.filter((u) => fs.existsSync(path.join(l.unitdir, u))).reverse();
    if (present.length) run('systemctl', ['disable', '--now', ...present], log);
  }
  for (const p of PROGRAMS) {
    const f = dest(l, path.join(bindir(l), p.name));
    if (isOurs(f)) rm(f);
  }
  const lib = dest(l, libdir(l));
  if (fs.existsSync(path.join(lib, 'install.json'))) rm(lib);
  rm(`${lib}.new`);
  for (const u of unitNames) {
    const f = dest(l, path.join(l.unitdir, u));
    if (isOurs(f)) rm(f);
    // Drop-ins are the admin's (systemctl edit).
    if (o.purge) rm(`${f}.d`);
  }
  const tmpfiles = dest(l, path.join(l.tmpfilesdir, 'xenwasm.conf'));
  if (isOurs(tmpfiles)) rm(tmpfiles);

  // Config files: ours if unchanged (or with --purge); the admin's edits stay.
  const etc = dest(l, l.sysconfdir);
  const shipped: Array<[string, string]> = [
    [path.join(etc, 'xend-config.sxp'), fs.readFileSync(path.join(SHIPPED_ETC, 'xend-config.sxp'), 'utf8')],
    [dest(l, path.join(l.defaultsdir, 'xendomains')), fs.readFileSync(path.join(SHIPPED_ETC, 'xendomains'), 'utf8')],
    [dest(l, path.join(l.defaultsdir, 'xen')), XEN_DEFAULTS],
  ];
  for (const [f, text] of shipped) {
    if (!fs.existsSync(f)) continue;
    if (o.purge || fs.readFileSync(f, 'utf8') === text) rm(f);
    else kept.push(f);
  }
  for (const ex of exampleConfigs(source, l)) {
    const f = path.join(etc, 'examples', ex.name);
    if (isOurs(f)) rm(f);
  }
  rmdirIfEmpty(path.join(etc, 'examples'));
  rmdirIfEmpty(path.join(etc, 'auto'));
  rmdirIfEmpty(etc);

  // The links into /etc and /run are the install's; the state itself stays unless purged.
  const state = dest(l, l.statedir);
  for (const link of ['run', 'log', 'xend-config.sxp']) if (isLink(path.join(state, link))) rm(path.join(state, link));
  if (o.purge) {
    rm(state);
    rm(dest(l, l.logdir));
  }
  // Sockets of daemons still running (outside systemd) stay until purge.
  if (o.purge) rm(dest(l, l.rundir));
  else rmdirIfEmpty(dest(l, l.rundir));
  // Under a staging root (DESTDIR) the directories themselves are ours too.
  if (l.root !== '/') {
    for (const d of [bindir(l), path.dirname(libdir(l)), l.unitdir, l.tmpfilesdir, l.defaultsdir, l.rundir]) {
      for (let p = d; p !== path.dirname(p); p = path.dirname(p)) rmdirIfEmpty(dest(l, p));
    }
  }
  if (l.root === '/' && o.systemctl !== false && systemdRunning()) run('systemctl', ['daemon-reload'], log);
  for (const k of kept) log(`kept ${k} (changed since install; --purge removes it)`);
  return { removed, kept };
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
