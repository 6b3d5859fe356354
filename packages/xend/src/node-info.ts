// Host information (XendNode): xend.node.info's pairs in xm info's order,
// from libxc physinfo / xeninfo and the host's uname.

import os from 'node:os';
import type { Xc } from '@xenwasm/libxc';
import type { SxpList } from '@xenwasm/sxp';
import { XEND_CONFIG_FORMAT } from './xend-constants.js';

function cpuRanges(cpus: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length;) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** `[[key, value], ...]`, the first pair being `system` (xm info skips it). */
export async function nodeInfo(xc: Xc): Promise<SxpList> {
  const [p, v] = await Promise.all([xc.physinfo(), xc.xeninfo()]);
  const mib = (pages: number) => Math.floor((pages * v.xen_pagesize) / (1024 * 1024));
  // hw_caps: %08x words joined by ':', trailing zero words dropped.
  const caps = [...p.hw_cap];
  while (caps.length > 1 && caps[caps.length - 1] === 0) caps.pop();
  const perNode = Math.max(1, Math.ceil(p.nr_cpus / Math.max(1, p.nr_nodes)));
  const nodes: string[] = [];
  for (let n = 0; n < Math.max(1, p.nr_nodes); n++) {
    const cpus = Array.from({ length: p.nr_cpus }, (_, c) => c).filter((c) => Math.floor(c / perNode) === n);
    nodes.push(`node${n}:${cpus.length ? cpuRanges(cpus) : 'no cpus'}`);
  }
  const machine = typeof os.machine === 'function' ? os.machine() : os.arch();
  return [
    ['system', os.type()],
    ['host', os.hostname()],
    ['release', os.release()],
    ['version', os.version()],
    ['machine', machine],
    ['nr_cpus', p.nr_cpus],
    ['nr_nodes', p.nr_nodes],
    ['cores_per_socket', p.cores_per_socket],
    ['threads_per_core', p.threads_per_core],
    ['cpu_mhz', Math.floor(p.cpu_khz / 1000)],
    ['hw_caps', caps.map((w) => (w >>> 0).toString(16).padStart(8, '0')).join(':')],
    ['total_memory', mib(p.total_pages)],
    ['free_memory', mib(p.free_pages)],
    ['node_to_cpu', nodes.join('\n' + ' '.repeat(25))],
    ['xen_major', v.xen_major],
    ['xen_minor', v.xen_minor],
    ['xen_extra', v.xen_extra],
    ['xen_caps', v.xen_caps],
    ['xen_scheduler', v.xen_scheduler],
    ['xen_pagesize', v.xen_pagesize],
    ['platform_params', v.platform_params],
    ['xen_changeset', v.xen_changeset],
    ['cc_compiler', v.cc_compiler],
    ['cc_compile_by', v.cc_compile_by],
    ['cc_compile_domain', v.cc_compile_domain],
    ['cc_compile_date', v.cc_compile_date],
    ['xend_config_format', XEND_CONFIG_FORMAT],
  ];
}
