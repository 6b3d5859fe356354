// Python 2 byte-string repr and string-literal evaluation. xend's SXP printer
// quotes non-atom strings with repr(), and its XML-RPC server sends top-level
// string results as repr() without the outer quotes (the client evaluates them
// back); both work on the UTF-8 bytes, as Python 2 str did.

const HEX = '0123456789abcdef';

function escapeBytes(bytes: Uint8Array, quote: string): string {
  let out = '';
  const q = quote.charCodeAt(0);
  for (const b of bytes) {
    if (b === 0x5c) out += '\\\\';
    else if (b === q) out += '\\' + quote;
    else if (b === 0x09) out += '\\t';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b < 0x20 || b >= 0x7f) out += '\\x' + HEX[b >> 4] + HEX[b & 15];
    else out += String.fromCharCode(b);
  }
  return out;
}

/** Python 2 `repr(str)` of the UTF-8 encoding of s, quotes included. */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  return quote + escapeBytes(Buffer.from(s, 'utf8'), quote) + quote;
}

/** `repr(s)[1:-1]`: what xend sends for a top-level string result. */
export function pyReprInner(s: string): string {
  return pyRepr(s).slice(1, -1);
}

const SIMPLE: Record<string, number> = {
  '\\': 0x5c, "'": 0x27, '"': 0x22, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11,
};

/**
 * Evaluate the body of a Python 2 single-quoted byte-string literal (escapes
 * \\ \' \" \a \b \f \n \r \t \v \xhh \ooo, backslash-newline; unknown escapes
 * keep their backslash) and decode the bytes as UTF-8. The inverse of
 * pyReprInner, used for xend's string-result quirk.
 */
export function pyUnescape(body: string): string {
  const bytes: number[] = [];
  const pushChar = (ch: string) => {
    for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\' || i + 1 >= body.length) {
      pushChar(c);
      continue;
    }
    const e = body[++i]!;
    if (e in SIMPLE) bytes.push(SIMPLE[e]!);
    else if (e === '\n') { /* line continuation */ }
    else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e >= '0' && e <= '7') {
      let j = i;
      while (j < body.length && j < i + 3 && body[j]! >= '0' && body[j]! <= '7') j++;
      bytes.push(parseInt(body.slice(i, j), 8) & 0xff);
      i = j - 1;
    } else {
      bytes.push(0x5c);
      pushChar(e);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Python 2 `str(float)`: 12 significant digits, `.0` on integral values. */
export function pyStrFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  let s = formatG(x, 12);
  if (!/[.e]/.test(s)) s += '.0';
  return s;
}

/** C's `%.<p>g`. */
export function formatG(x: number, p: number): string {
  if (x === 0) return '0';
  const [mant, expStr] = x.toExponential(p - 1).split('e') as [string, string];
  const exp = Number(expStr);
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= p) {
    const e = Math.abs(exp);
    return `${strip(mant)}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  return strip(x.toFixed(Math.max(0, p - 1 - exp)));
}
