// xm's table and text output, with the column widths of Xen 3.2's Python
// format strings (quirks included: the list Time(s) column is 9 wide in the
// header and 8 in rows; vcpu-list has two spaces before the time).

import { childValue, prettyprint, pyStrFloat, type SxpValue } from '@xenwasm/sxp';

// %-Ns / %Ns / %Nd / %-Nd / %N.1f, never truncating, as Python does.
const left = (v: unknown, w: number) => String(v).padEnd(w);
const right = (v: unknown, w: number) => String(v).padStart(w);
const int = (v: unknown): number => {
  const n = typeof v === 'number' ? v : parseInt(String(v), 10);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
};
const fixed1 = (v: unknown): string => {
  const n = typeof v === 'number' ? v : parseFloat(String(v));
  return (Number.isFinite(n) ? n : 0).toFixed(1);
};

/** Python 2 str() of an SXP/XML-RPC value, as `print` shows it. */
export function pyStr(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyStrFloat(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null || v === undefined) return 'None';
  return String(v);
}

/** The six-character `rbpscd` state of `xm list`. */
export interface DomainFlags {
  running?: boolean; blocked?: boolean; paused?: boolean;
  /** Shut down for any reason. */
  shutdown?: boolean;
  /** Shut down with reason crash: shows `c`, and not `s`. */
  crashed?: boolean;
  dying?: boolean;
}

export function domainStateString(f: DomainFlags): string {
  return (f.running ? 'r' : '-') + (f.blocked ? 'b' : '-') + (f.paused ? 'p' : '-') +
    (f.shutdown && !f.crashed ? 's' : '-') + (f.crashed ? 'c' : '-') + (f.dying ? 'd' : '-');
}

/** What `xm list` reads from one domain's SXP. */
export interface ListRow { name: string; domid: string; mem: number; vcpus: number; state: string; cpu_time: number }

export function listRowFromSxp(dom: SxpValue): ListRow {
  const get = (k: string) => childValue(dom, k);
  const domid = get('domid');
  const online = get('online_vcpus');
  return {
    name: pyStr(get('name') ?? ''),
    domid: domid === undefined ? '' : pyStr(domid),
    mem: int(get('memory') ?? 0),
    vcpus: int(online ?? get('vcpus') ?? 0),
    state: get('state') === undefined ? '' : pyStr(get('state')),
    cpu_time: Number(get('cpu_time') ?? 0) || 0,
  };
}

const byName = <T extends { name: string }>(rows: T[]) =>
  [...rows].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

export const LIST_HEADER = `${left('Name', 40)} ${right('ID', 5)} ${right('Mem', 5)} ${right('VCPUs', 5)} ${right('State', 10)} ${right('Time(s)', 9)}`;

/** `xm list`: header and one row per domain, sorted by name. */
export function formatList(doms: SxpValue[]): string {
  const rows = byName(doms.map(listRowFromSxp));
  const lines = [LIST_HEADER];
  for (const r of rows) {
    lines.push(`${left(r.name, 40)} ${right(r.domid, 5)} ${right(r.mem, 5)} ${right(r.vcpus, 5)} ${right(r.state, 10)} ${right(fixed1(r.cpu_time), 8)}`);
  }
  return lines.join('\n') + '\n';
}

/** `xm list --long`: each domain's SXP pretty-printed, sorted by name. */
export function formatListLong(doms: SxpValue[]): string {
  const named = doms.map((d) => ({ name: pyStr(childValue(d, 'name') ?? ''), d }));
  return byName(named).map((x) => prettyprint(x.d)).join('');
}

/** `xm info`: `xend.node.info()` pairs, minus the first (`system`). */
export function formatInfo(pairs: SxpValue[]): string {
  let out = '';
  for (const p of pairs.slice(1)) {
    if (!Array.isArray(p) || p.length === 0) continue;
    out += p.length < 2 ? `${left(pyStr(p[0]), 23)}: (none)\n` : `${left(pyStr(p[0]), 23)}: ${pyStr(p[1])}\n`;
  }
  return out;
}

/** CPU numbers as ranges: [0,1,2,4] -> "0-2,4". */
export function cpuRanges(cpus: number[]): string {
  const s = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** xend's node_to_cpu value: one `nodeN:cpus` per node, continuation lines indented 25. */
export function formatNodeToCpu(nodes: number[][]): string {
  return nodes.map((cpus, n) => `node${n}:${cpus.length ? cpuRanges(cpus) : 'no cpus'}`).join('\n' + ' '.repeat(25));
}

/** Affinity column of vcpu-list. */
export function formatCpumap(cpumap: number[], nrCpus: number): string {
  const s = [...new Set(cpumap.map(Number))].filter((c) => c >= 0);
  if (s.length === 0) return 'no cpus';
  if (nrCpus > 0 && s.filter((c) => c < nrCpus).length >= nrCpus) return 'any cpu';
  return cpuRanges(s);
}

export const VCPU_LIST_HEADER = `${left('Name', 32)} ${right('ID', 5)} ${right('VCPU', 5)} ${right('CPU', 5)} ${right('State', 5)} ${right('Time(s)', 9)} CPU Affinity`;

/** `xm vcpu-list` rows for one domain's getVCPUInfo SXP. */
export function formatVcpuRows(info: SxpValue, nrCpus: number): string[] {
  const name = pyStr(childValue(info, 'name') ?? '');
  const domid = pyStr(childValue(info, 'domid') ?? '');
  const rows: string[] = [];
  if (!Array.isArray(info)) return rows;
  for (const v of info) {
    if (!Array.isArray(v) || v[0] !== 'vcpu') continue;
    const g = (k: string) => childValue(v, k);
    const cpu = int(g('cpu') ?? -1);
    const online = int(g('online') ?? 0) !== 0;
    let c: string, s: string;
    if (cpu < 0) { c = ''; s = ''; }
    else if (online) {
      c = String(cpu);
      s = (int(g('running') ?? 0) ? 'r' : '-') + (int(g('blocked') ?? 0) ? 'b' : '-') + '-';
    } else { c = '-'; s = '--p'; }
    const mapv = g('cpumap');
    const cpumap = Array.isArray(mapv) ? mapv.map((x) => int(x)) : [];
    rows.push(`${left(name, 32)} ${right(domid, 5)} ${right(int(g('number') ?? 0), 5)} ${right(c, 5)} ${right(s, 5)}  ${right(fixed1(g('cpu_time') ?? 0), 8)} ${formatCpumap(cpumap, nrCpus)}`);
  }
  return rows;
}

/** `xm vcpu-list`. */
export function formatVcpuList(infos: SxpValue[], nrCpus: number): string {
  return [VCPU_LIST_HEADER, ...infos.flatMap((i) => formatVcpuRows(i, nrCpus))].join('\n') + '\n';
}

export const SCHED_CREDIT_HEADER = `${left('Name', 33)} ${right('ID', 4)} ${right('Weight', 6)} ${right('Cap', 4)}`;

export interface SchedCreditRow { name: string; domid: string | number; weight: number; cap: number }

/** `xm sched-credit` (listing form); -1 -1 when a domain's info is unavailable. */
export function formatSchedCredit(rows: SchedCreditRow[]): string {
  return [SCHED_CREDIT_HEADER, ...rows.map((r) =>
    `${left(r.name, 32)} ${right(r.domid, 5)} ${right(int(r.weight), 6)} ${right(int(r.cap), 4)}`)].join('\n') + '\n';
}

export const UPTIME_HEADER = `${left('Name', 33)} ${right('ID', 4)} Uptime `;

/** `[<d> day[s], ]H:MM:SS` with the hours right-aligned in 2. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  let up = '';
  if (days > 0) up += `${days} day${days > 1 ? 's' : ''}, `;
  return up + `${right(h, 2)}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

export interface UptimeRow { name: string; domid: string | number; seconds: number }

/** `xm uptime`; with `short`, ` HH:MM:SS up <uptime>, <name> (<domid>)` per domain. */
export function formatUptimeList(rows: UptimeRow[], opts: { short?: boolean; now?: Date } = {}): string {
  if (opts.short) {
    const now = opts.now ?? new Date();
    const hms = [now.getHours(), now.getMinutes(), now.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
    return rows.map((r) => ` ${hms} up ${formatUptime(r.seconds)}, ${r.name} (${r.domid})\n`).join('');
  }
  return [UPTIME_HEADER, ...rows.map((r) => `${left(r.name, 32)} ${right(r.domid, 5)} ${formatUptime(r.seconds)}`)].join('\n') + '\n';
}

/** One device of getDeviceSxprs: `[devid, [[key, value], ...]]`. */
export type DeviceSxpr = SxpValue;

function devInfo(dev: SxpValue): { idx: number; get: (k: string) => SxpValue | undefined } {
  const arr = Array.isArray(dev) ? dev : [];
  const pairs = Array.isArray(arr[1]) ? arr[1] : [];
  const m = new Map<string, SxpValue>();
  for (const p of pairs) if (Array.isArray(p) && p.length >= 2) m.set(String(p[0]), p[1]!);
  return { idx: int(arr[0] ?? -1), get: (k) => m.get(k) };
}
const intOr = (v: SxpValue | undefined) => (v === undefined ? -1 : int(v));
const strOr = (v: SxpValue | undefined) => (v === undefined ? '' : pyStr(v));

export const BLOCK_LIST_HEADER = 'Vdev  BE handle state evt-ch ring-ref BE-path';

/** `xm block-list`. */
export function formatBlockList(devs: DeviceSxpr[]): string {
  return [BLOCK_LIST_HEADER, ...devs.map((d) => {
    const { idx, get } = devInfo(d);
    return `${left(idx, 3)}    ${left(intOr(get('backend-id')), 3)}  ${left(intOr(get('handle')), 3)}   ${left(intOr(get('state')), 3)}    ${left(intOr(get('event-channel') ?? get('event-ch')), 3)}    ${left(intOr(get('ring-ref')), 5)} ${left(strOr(get('backend')), 30)}  `;
  })].join('\n') + '\n';
}

export const NETWORK_LIST_HEADER = 'Idx BE     MAC Addr.     handle state evt-ch tx-/rx-ring-ref BE-path';

/** `xm network-list`. */
export function formatNetworkList(devs: DeviceSxpr[]): string {
  return [NETWORK_LIST_HEADER, ...devs.map((d) => {
    const { idx, get } = devInfo(d);
    return `${left(idx, 3)} ${left(intOr(get('backend-id')), 3)}${left(strOr(get('mac')), 17)}    ${left(intOr(get('handle')), 3)}   ${left(intOr(get('state')), 3)}    ${left(intOr(get('event-channel') ?? get('event-ch')), 3)}   ${left(intOr(get('tx-ring-ref')), 5)}/${left(intOr(get('rx-ring-ref')), 5)}   ${left(strOr(get('backend')), 30)}  `;
  })].join('\n') + '\n';
}

/** `xm block-list --long` / `network-list --long`: each device SXP pretty-printed. */
export function formatDeviceListLong(devs: DeviceSxpr[]): string {
  return devs.map((d) => prettyprint(d)).join('');
}
