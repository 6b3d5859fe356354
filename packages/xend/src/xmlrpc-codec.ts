// XML-RPC documents written and read without a general XML toolkit. The
// xmlrpc package builds documents through xmlbuilder and reads them through
// sax: correct, but about 0.3 ms per small call and over half a second for
// `xm list` of 1000 domains (3 MB), and loading both costs every xm process
// tens of milliseconds. XML-RPC uses a handful of tags without attributes,
// so a direct writer and a direct reader are short.
//
// The reader is deliberately narrow: it accepts exactly the documents that
// XML-RPC implementations write (an optional declaration, the spec's tags,
// whitespace between them, the five entities, character references, CDATA)
// and answers `undefined` for anything else (comments, DOCTYPE, attributes,
// unknown tags, raw carriage returns, malformed numbers...). Callers then
// hand the text to the xmlrpc package's parser, which either reads it the
// same way or produces the error message users have always seen; so the
// fast path can never accept what the full parser would refuse.

/** A value written verbatim inside `<tag>` (doubles in Python's repr, dates, base64). */
export class XmlRpcTagged {
  constructor(readonly tagName: string, readonly raw: string) {}
}

const NEEDS_ESC = /[&<>\r]/;
const ESC = /[&<>\r]/g;
const ESC_MAP: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#xD;' };
export const xmlEscape = (s: string): string => (NEEDS_ESC.test(s) ? s.replace(ESC, (c) => ESC_MAP[c]!) : s);

function writeValue(v: unknown, out: string[], depth: number): void {
  if (depth > 256) throw new Error('value nested too deeply for XML-RPC');
  switch (typeof v) {
    case 'string':
      out.push(v === '' ? '<value><string></string></value>' : `<value><string>${xmlEscape(v)}</string></value>`);
      return;
    case 'number':
      if (Number.isInteger(v)) out.push(`<value><int>${v}</int></value>`);
      else out.push(`<value><double>${v}</double></value>`);
      return;
    case 'boolean':
      out.push(v ? '<value><boolean>1</boolean></value>' : '<value><boolean>0</boolean></value>');
      return;
    case 'bigint':
      out.push(`<value><string>${v}</string></value>`);
      return;
    case 'undefined':
      out.push('<value><nil/></value>');
      return;
    case 'object':
      break;
    default:
      throw new Error(`cannot send a ${typeof v} over XML-RPC`);
  }
  if (v === null) {
    out.push('<value><nil/></value>');
  } else if (v instanceof XmlRpcTagged) {
    out.push(`<value><${v.tagName}>${xmlEscape(v.raw)}</${v.tagName}></value>`);
  } else if (Array.isArray(v)) {
    out.push('<value><array><data>');
    for (const x of v) writeValue(x, out, depth + 1);
    out.push('</data></array></value>');
  } else if (Buffer.isBuffer(v)) {
    out.push(`<value><base64>${v.toString('base64')}</base64></value>`);
  } else if (v instanceof Date) {
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    out.push(`<value><dateTime.iso8601>${v.getUTCFullYear()}${p(v.getUTCMonth() + 1)}${p(v.getUTCDate())}T${p(v.getUTCHours())}:${p(v.getUTCMinutes())}:${p(v.getUTCSeconds())}</dateTime.iso8601></value>`);
  } else {
    out.push('<value><struct>');
    for (const k of Object.keys(v)) {
      out.push(`<member><name>${xmlEscape(k)}</name>`);
      writeValue((v as Record<string, unknown>)[k], out, depth + 1);
      out.push('</member>');
    }
    out.push('</struct></value>');
  }
}

const DECL = '<?xml version="1.0"?>\n';

export function encodeMethodCall(method: string, params: unknown[]): string {
  const out = [DECL, `<methodCall><methodName>${xmlEscape(method)}</methodName><params>`];
  for (const p of params) {
    out.push('<param>');
    writeValue(p, out, 0);
    out.push('</param>');
  }
  out.push('</params></methodCall>');
  return out.join('');
}

export function encodeMethodResponse(value: unknown): string {
  const out = [DECL, '<methodResponse><params><param>'];
  writeValue(value, out, 0);
  out.push('</param></params></methodResponse>');
  return out.join('');
}

export function encodeFault(faultCode: number, faultString: string): string {
  const out = [DECL, '<methodResponse><fault>'];
  writeValue({ faultCode, faultString }, out, 0);
  out.push('</fault></methodResponse>');
  return out.join('');
}

// ---- reading ----

/** The reader met something outside the narrow grammar: use the full parser. */
class NotPlain extends Error {}
const notPlain = (): never => {
  throw new NotPlain();
};

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const INT = /^\s*[+-]?\d+\s*$/;
const DOUBLE = /^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)\s*$/i;

class Reader {
  pos = 0;
  constructor(readonly s: string) {}

  ws(): void {
    const s = this.s;
    let p = this.pos;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === 32 || c === 10 || c === 9) p++;
      else if (c === 13) notPlain();
      else break;
    }
    this.pos = p;
  }

  /** `<name>` (or `<name/>`, returned as true). */
  open(name: string): boolean {
    this.ws();
    const s = this.s;
    if (s.charCodeAt(this.pos) !== 60 || !s.startsWith(name, this.pos + 1)) notPlain();
    const end = this.pos + 1 + name.length;
    if (s.charCodeAt(end) === 62) {
      this.pos = end + 1;
      return false;
    }
    if (s.startsWith('/>', end)) {
      this.pos = end + 2;
      return true;
    }
    return notPlain();
  }

  close(name: string): void {
    this.ws();
    const s = this.s;
    if (!s.startsWith('</', this.pos) || !s.startsWith(name, this.pos + 2)) notPlain();
    let p = this.pos + 2 + name.length;
    while (s.charCodeAt(p) === 32) p++;
    if (s.charCodeAt(p) !== 62) notPlain();
    this.pos = p + 1;
  }

  /** The tag name at the cursor if it is an opening tag (no attributes), else undefined. */
  peekOpen(): string | undefined {
    this.ws();
    const s = this.s;
    if (s.charCodeAt(this.pos) !== 60) return undefined;
    const c = s.charCodeAt(this.pos + 1);
    if (c === 47 || c === 33 || c === 63) return undefined;
    let p = this.pos + 1;
    while (p < s.length) {
      const ch = s.charCodeAt(p);
      if (ch === 62 || ch === 47 || ch === 32 || ch === 9 || ch === 10 || ch === 13) break;
      p++;
    }
    return s.slice(this.pos + 1, p);
  }

  /** Character data up to the next tag, entities and CDATA resolved. */
  text(): string {
    const s = this.s;
    let out = '';
    let p = this.pos;
    for (;;) {
      const lt = s.indexOf('<', p);
      if (lt < 0) notPlain();
      let chunk = s.slice(p, lt);
      if (chunk.includes('\r')) notPlain();
      if (chunk.includes('&')) chunk = unescapeText(chunk);
      out += chunk;
      if (s.startsWith('<![CDATA[', lt)) {
        const end = s.indexOf(']]>', lt + 9);
        if (end < 0) notPlain();
        const cdata = s.slice(lt + 9, end);
        if (cdata.includes('\r')) notPlain();
        out += cdata;
        p = end + 3;
        continue;
      }
      this.pos = lt;
      return out;
    }
  }

  /**
   * The shapes that make up nearly every document (`<value><string>`,
   * `<int>`, `<array><data>` with whatever whitespace Python puts between
   * elements), matched on whole literals; anything else, or anything odd
   * inside them, goes to the general path below from the same place.
   */
  value(depth: number): unknown {
    if (depth > 64) notPlain();
    this.ws();
    const s = this.s;
    const start = this.pos;
    if (s.startsWith('<value><', start)) {
      const p = start + 7;
      if (s.startsWith('<string>', p)) {
        const end = s.indexOf('<', p + 8);
        if (end > 0 && s.startsWith('</string></value>', end)) {
          let t = s.slice(p + 8, end);
          if (t.includes('\r')) notPlain();
          if (t.includes('&')) t = unescapeText(t);
          this.pos = end + 17;
          return t;
        }
      } else if (s.startsWith('<int>', p)) {
        const end = s.indexOf('<', p + 5);
        if (end > 0 && s.startsWith('</int></value>', end)) {
          const t = s.slice(p + 5, end);
          if (INT.test(t)) {
            this.pos = end + 14;
            return parseInt(t, 10);
          }
        }
      } else if (s.startsWith('<array><data>', p)) {
        this.pos = p + 13;
        const a: unknown[] = [];
        for (;;) {
          this.ws();
          if (s.startsWith('<value>', this.pos)) a.push(this.value(depth + 1));
          else break;
        }
        if (s.startsWith('</data></array></value>', this.pos)) {
          this.pos += 23;
          return a;
        }
        this.pos = start;
      }
    }
    return this.valueGeneral(depth);
  }

  private valueGeneral(depth: number): unknown {
    if (this.open('value')) return '';
    const save = this.pos;
    const tag = this.peekOpen();
    if (tag === undefined) {
      // <value>text</value> is a string (whitespace included); so is <value></value>.
      this.pos = save;
      const t = this.text();
      this.close('value');
      return t;
    }
    // Whitespace before a typed value is not part of it.
    if (this.s.slice(save, this.pos).trim() !== '') notPlain();
    let v: unknown;
    switch (tag) {
      case 'string':
        v = this.open('string') ? '' : this.textThen('string');
        break;
      case 'int': case 'i4': {
        if (this.open(tag)) notPlain();
        const t = this.textThen(tag);
        if (!INT.test(t)) notPlain();
        v = parseInt(t, 10);
        break;
      }
      case 'i8': {
        if (this.open(tag)) notPlain();
        const t = this.textThen(tag);
        if (!/^-?\d+$/.test(t)) notPlain();
        v = t;
        break;
      }
      case 'double': {
        if (this.open(tag)) notPlain();
        const t = this.textThen(tag);
        if (!DOUBLE.test(t) || /[in]/i.test(t)) notPlain();
        v = parseFloat(t);
        break;
      }
      case 'boolean': {
        if (this.open(tag)) notPlain();
        const t = this.textThen(tag);
        if (t !== '0' && t !== '1') notPlain();
        v = t === '1';
        break;
      }
      case 'nil':
        if (!this.open('nil')) this.close('nil');
        v = null;
        break;
      case 'base64': {
        v = this.open(tag) ? Buffer.alloc(0) : Buffer.from(this.textThen(tag), 'base64');
        break;
      }
      case 'array': {
        if (this.open('array')) notPlain();
        const a: unknown[] = [];
        if (!this.open('data')) {
          while (this.peekOpen() === 'value') a.push(this.value(depth + 1));
          this.close('data');
        }
        this.close('array');
        v = a;
        break;
      }
      case 'struct': {
        const o: Record<string, unknown> = {};
        if (!this.open('struct')) {
          while (this.peekOpen() === 'member') {
            this.open('member');
            if (this.open('name')) notPlain();
            const k = this.textThen('name');
            const x = this.value(depth + 1);
            this.close('member');
            Object.defineProperty(o, k, { value: x, enumerable: true, writable: true, configurable: true });
          }
          this.close('struct');
        }
        v = o;
        break;
      }
      default:
        // dateTime.iso8601 and anything unusual: the full parser.
        return notPlain();
    }
    this.close('value');
    return v;
  }

  private textThen(tag: string): string {
    const t = this.text();
    this.close(tag);
    return t;
  }

  prolog(): void {
    const s = this.s;
    if (s.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.ws();
    if (s.startsWith('<?xml', this.pos)) {
      const end = s.indexOf('?>', this.pos);
      if (end < 0) notPlain();
      this.pos = end + 2;
    }
  }

  end(): void {
    this.ws();
    if (this.pos !== this.s.length) notPlain();
  }
}

function unescapeText(t: string): string {
  return t.replace(/&([^;]{0,10});?/g, (m, name: string) => {
    if (!m.endsWith(';')) return notPlain();
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff || code === 13) return notPlain();
      return String.fromCodePoint(code);
    }
    return ENTITIES[name] ?? notPlain();
  });
}

function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NotPlain) return undefined;
    throw e;
  }
}

/** A methodCall, or undefined when the text needs the full parser. */
export function decodeMethodCall(text: string): { method: string; params: unknown[] } | undefined {
  return attempt(() => {
    const r = new Reader(text);
    r.prolog();
    r.open('methodCall');
    if (r.open('methodName')) notPlain();
    const method = r.text();
    r.close('methodName');
    const params: unknown[] = [];
    if (r.peekOpen() === 'params' && !r.open('params')) {
      while (r.peekOpen() === 'param') {
        r.open('param');
        params.push(r.value(0));
        r.close('param');
      }
      r.close('params');
    }
    r.close('methodCall');
    r.end();
    return { method, params };
  });
}

export type DecodedResponse = { value: unknown } | { fault: { faultCode: unknown; faultString: unknown } };

/** A methodResponse, or undefined when the text needs the full parser. */
export function decodeMethodResponse(text: string): DecodedResponse | undefined {
  return attempt(() => {
    const r = new Reader(text);
    r.prolog();
    r.open('methodResponse');
    let out: DecodedResponse;
    if (r.peekOpen() === 'fault') {
      r.open('fault');
      const f = r.value(0) as Record<string, unknown>;
      if (typeof f !== 'object' || f === null) notPlain();
      r.close('fault');
      out = { fault: { faultCode: f.faultCode, faultString: f.faultString } };
    } else {
      r.open('params');
      r.open('param');
      out = { value: r.value(0) };
      r.close('param');
      r.close('params');
    }
    r.close('methodResponse');
    r.end();
    return out;
  });
}
