// A tiny parser for the command line: words separated by spaces, each either
// `key=value` or a bare `flag`.
import { cmdline } from "./start_info";

/** The value of key (the last occurrence wins), or null. A bare word `key` gives "". */
export function cmdline_get(key: string): string | null {
  return cmdline_get_in(cmdline(), key);
}

export function cmdline_get_in(line: string, key: string): string | null {
  const words = line.split(" ");
  let found: string | null = null;
  for (let i = 0; i < words.length; i++) {
    const w = unchecked(words[i]);
    if (w.length == 0) continue;
    const eq = w.indexOf("=");
    if (eq < 0) {
      if (w == key) found = "";
    } else if (w.substring(0, eq) == key) {
      found = w.substring(eq + 1);
    }
  }
  return found;
}

export function cmdline_has(key: string): bool { return cmdline_get(key) !== null; }

/** Integer value of key (decimal, or hex with 0x), or def when absent or malformed. */
export function cmdline_int(key: string, def: i64): i64 {
  const v = cmdline_get(key);
  if (v === null) return def;
  return parse_int(v, def);
}

export function parse_int(s: string, def: i64): i64 {
  let i = 0;
  let neg = false;
  if (s.length > 0 && s.charCodeAt(0) == 45) { neg = true; i = 1; }
  let base: i64 = 10;
  if (s.length > i + 1 && s.charCodeAt(i) == 48 && (s.charCodeAt(i + 1) | 32) == 120) { base = 16; i += 2; }
  if (i >= s.length) return def;
  let n: i64 = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d: i64;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (base == 16 && (c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
    else return def;
    n = n * base + d;
  }
  return neg ? -n : n;
}
