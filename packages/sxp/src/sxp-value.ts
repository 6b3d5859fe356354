// The value model of Xen's SXP: atoms and nested lists. Text parsed from SXP
// only ever yields string atoms (as Xen's parser does); numbers appear in
// values built in code (xend's to_sxp) and in values received over XML-RPC.

export type SxpAtom = string | number;
export type SxpValue = SxpAtom | SxpList;
export interface SxpList extends Array<SxpValue> {}

export function isList(x: unknown): x is SxpList {
  return Array.isArray(x);
}

/** An element is a non-empty list; its name is the first item. */
export function isElement(x: unknown, name?: string): x is SxpList {
  return Array.isArray(x) && x.length > 0 && (name === undefined || x[0] === name);
}

/** Element name: the atom itself, or the first item of a list. */
export function sxpName(x: SxpValue): SxpValue | undefined {
  if (!Array.isArray(x)) return x;
  return x.length ? x[0] : undefined;
}

/** Everything after the name. */
export function children(x: SxpValue, name?: string): SxpValue[] {
  if (!Array.isArray(x) || x.length < 2) return [];
  const kids = x.slice(1);
  return name === undefined ? kids : kids.filter((k) => isElement(k, name));
}

/** First child element called `name`. */
export function child(x: SxpValue, name: string): SxpList | undefined {
  if (!Array.isArray(x)) return undefined;
  for (let i = 1; i < x.length; i++) {
    const k = x[i];
    if (isElement(k, name)) return k;
  }
  return undefined;
}

/** Value of `(name value)` inside x, or `dflt`. */
export function childValue<T = SxpValue>(x: SxpValue, name: string, dflt?: T): SxpValue | T | undefined {
  const k = child(x, name);
  return k && k.length > 1 ? k[1] : dflt;
}

/** `(name v)` pairs of an element as a Map (first occurrence wins). */
export function childMap(x: SxpValue): Map<string, SxpValue> {
  const m = new Map<string, SxpValue>();
  for (const k of children(x)) {
    if (Array.isArray(k) && k.length >= 1 && typeof k[0] === 'string' && !m.has(k[0])) {
      m.set(k[0], k.length > 1 ? k[1] : '');
    }
  }
  return m;
}

/** Structural equality of two SXP values. */
export function sxpEqual(a: SxpValue, b: SxpValue): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => sxpEqual(v, b[i]!));
  }
  return a === b;
}
