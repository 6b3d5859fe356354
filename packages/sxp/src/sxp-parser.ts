// SXP text to values: lists in parentheses, bare atoms, strings in single or
// double quotes with C/Python escapes, `#` comments to end of line. Atoms are
// always strings, as in Xen's parser. Errors carry line and column (1-based).

import { XenError } from '@xenwasm/xen-errno';
import type { SxpList, SxpValue } from './sxp-value.js';

export class SxpParseError extends XenError {
  readonly line: number;
  readonly column: number;
  constructor(file: string | undefined, line: number, column: number, what: string) {
    super('SXP_PARSE', `${file ? file + ':' : ''}${line}:${column}: ${what}`, { file, line, column });
    this.name = 'SxpParseError';
    this.line = line;
    this.column = column;
  }
}

const ESCAPES: Record<string, string> = {
  a: '\x07', b: '\b', t: '\t', n: '\n', v: '\v', f: '\f', r: '\r', '\\': '\\', "'": "'", '"': '"',
};

// Characters that end a bare atom (Xen's separators, whitespace, comment).
const ATOM_END = new Set([...' \t\n\v\f\r()#{}<>[]!;']);

export interface ParseOptions {
  /** Named in error messages. */
  file?: string;
}

/** Parse every top-level value in the text. */
export function parseSxpAll(text: string, opts: ParseOptions = {}): SxpValue[] {
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (what: string, at = i, l = line, ls = lineStart): never => {
    throw new SxpParseError(opts.file, l, at - ls + 1, what);
  };
  const top: SxpValue[] = [];
  // Stack of open lists with where they started, for "unclosed" errors.
  const stack: Array<{ list: SxpList; line: number; col: number }> = [];
  const put = (v: SxpValue) => (stack.length ? stack[stack.length - 1]!.list : top).push(v);

  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\v' || c === '\f') {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '(') {
      stack.push({ list: [], line, col: i - lineStart + 1 });
      i++;
    } else if (c === ')') {
      const open = stack.pop();
      if (!open) fail("syntax error: unexpected ')'");
      i++;
      put(open!.list);
    } else if (c === '"' || c === "'") {
      const sl = line, sls = lineStart, start = i;
      i++;
      // Bytes, so that \xNN escapes of UTF-8 (as repr writes them) decode.
      const bytes: number[] = [];
      const add = (str: string) => { for (const b of Buffer.from(str, 'utf8')) bytes.push(b); };
      for (;;) {
        if (i >= text.length) fail('unexpected end of input in string', start, sl, sls);
        const d = text[i]!;
        if (d === c) { i++; break; }
        if (d === '\n') { line++; lineStart = i + 1; }
        if (d !== '\\') { add(d); i++; continue; }
        i++;
        if (i >= text.length) fail('unexpected end of input in string', start, sl, sls);
        const e = text[i]!;
        if (e in ESCAPES) { add(ESCAPES[e]!); i++; }
        else if (e === 'x') {
          const m = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 1, i + 3));
          if (!m) fail('invalid hex escape');
          bytes.push(parseInt(m![0], 16));
          i += 1 + m![0].length;
        } else if (e >= '0' && e <= '7') {
          const m = /^[0-7]{1,3}/.exec(text.slice(i, i + 3))!;
          const v = parseInt(m[0], 8);
          if (v > 0xff) fail(`invalid octal escape: out of range \\${m[0]}`);
          bytes.push(v);
          i += m[0].length;
        } else {
          add('\\');
        }
      }
      put(Buffer.from(bytes).toString('utf8'));
    } else {
      const code = c.charCodeAt(0);
      if (code < 0x20 || code === 0x7f) fail(`invalid character: code ${code}`);
      const start = i;
      while (i < text.length && !ATOM_END.has(text[i]!) && !(text.charCodeAt(i) < 0x20)) i++;
      if (i === start) i++; // a lone separator such as '[' is an atom of its own
      put(text.slice(start, i));
    }
  }
  if (stack.length) {
    const open = stack[stack.length - 1]!;
    throw new SxpParseError(opts.file, open.line, open.col, "unexpected end of input: '(' is never closed");
  }
  return top;
}

/** Parse text holding exactly one value. */
export function parseSxp(text: string, opts: ParseOptions = {}): SxpValue {
  const all = parseSxpAll(text, opts);
  if (all.length !== 1) {
    throw new SxpParseError(opts.file, 1, 1, all.length ? `expected one value, found ${all.length}` : 'no value');
  }
  return all[0]!;
}
