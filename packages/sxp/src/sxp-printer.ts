// xend's SXP output: sxp.show (one line) and PrettyPrint.prettyprint (Oppen
// style, consistent breaking), reproduced to the character.

import { pyRepr, pyStrFloat } from './python-repr.js';
import type { SxpValue } from './sxp-value.js';

const ATOM_RE = /^[A-Za-z0-9._:/~-]*$/;

/** True when Xen prints the string bare (sxp.atomp). */
export function isBareAtom(s: string): boolean {
  return s === '@' || ATOM_RE.test(s);
}

function showAtom(x: SxpValue): string {
  if (typeof x === 'number') {
    // JS cannot tell 2.0 from 2: integral numbers print as Python ints.
    return Number.isInteger(x) ? BigInt(x).toString() : pyStrFloat(x);
  }
  if (typeof x === 'string') return isBareAtom(x) ? x : pyRepr(x);
  if (typeof x === 'boolean') return x ? 'True' : 'False';
  return pyRepr(String(x));
}

/** sxp.show: the value on one line. */
export function showSxp(x: SxpValue): string {
  if (!Array.isArray(x)) return showAtom(x);
  let out = '(';
  for (let i = 0; i < x.length; i++) {
    if (i) out += ' ';
    out += showSxp(x[i]!);
  }
  return out + ')';
}

/**
 * PrettyPrint.prettyprint(x, width): a list that fits in the rest of the line
 * is printed flat; otherwise its first element follows the `(`, each further
 * element goes on its own line indented 4 past the `(`, and the `)` goes on a
 * line of its own at the `(`'s column. Ends with a newline, like `print`.
 */
export function prettyprint(x: SxpValue, width = 80): string {
  const out: string[] = [];
  let col = 0;
  const flatWidth = new Map<SxpValue[], number>();
  const measure = (v: SxpValue): number => {
    if (!Array.isArray(v)) return showAtom(v).length;
    let w = flatWidth.get(v);
    if (w === undefined) {
      w = 2 + Math.max(0, v.length - 1);
      for (const k of v) w += measure(k);
      flatWidth.set(v, w);
    }
    return w;
  };
  const emit = (s: string) => {
    out.push(s);
    col += s.length;
  };
  const newline = (indent: number) => {
    out.push('\n' + ' '.repeat(indent));
    col = indent;
  };
  const walk = (v: SxpValue): void => {
    if (!Array.isArray(v)) {
      emit(showAtom(v));
      return;
    }
    const w = measure(v);
    if (col + w <= width) {
      emit(showSxp(v));
      return;
    }
    const base = col;
    emit('(');
    v.forEach((k, i) => {
      if (i) newline(base + 4);
      walk(k);
    });
    newline(base);
    emit(')');
  };
  walk(x);
  return out.join('') + '\n';
}
