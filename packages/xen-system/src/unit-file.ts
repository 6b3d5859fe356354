// Reading systemd unit files back: enough of systemd.unit(5) to check what
// we install and to start the services in the order systemd would (tests,
// and hosts without systemd).

export type UnitSections = Map<string, Array<[string, string]>>;

export function parseUnit(text: string): UnitSections {
  const out: UnitSections = new Map();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      if (!out.has(section)) out.set(section, []);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    out.get(section)?.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** Every value of a key (space-separated list keys are split). */
export function unitValues(u: UnitSections, section: string, key: string, split = false): string[] {
  const vals = (u.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
  return split ? vals.flatMap((v) => v.split(/\s+/).filter(Boolean)) : vals;
}

/** Start order: each unit after those it is After= (among the given ones); throws on a cycle. */
export function startOrder(units: Map<string, UnitSections>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') throw new Error(`ordering cycle at ${n}`);
    state.set(n, 'visiting');
    for (const dep of unitValues(units.get(n)!, 'Unit', 'After', true)) if (units.has(dep)) visit(dep);
    state.set(n, 'done');
    order.push(n);
  };
  for (const n of [...units.keys()].sort()) visit(n);
  return order;
}

/** Environment= assignments (KEY=VALUE, several per line allowed, no quoting beyond "..."). */
export function unitEnvironment(u: UnitSections): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of unitValues(u, 'Service', 'Environment')) {
    for (const m of v.matchAll(/"([^"]*)"|(\S+)/g)) {
      const a = m[1] ?? m[2]!;
      const eq = a.indexOf('=');
      if (eq > 0) env[a.slice(0, eq)] = a.slice(eq + 1);
    }
  }
  return env;
}
