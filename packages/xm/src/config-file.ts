// xm config files: run the Python subset of py-parse.ts and collect the
// module-level variables, as `xm create` does with execfile. Errors name the
// file and line ("examples/x.cfg:12: ...").

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { pyRepr, pyStrFloat } from '@xenwasm/sxp';
import { ConfigFileError, parseProgram, type Expr, type Stmt } from './py-parse.js';

export { ConfigFileError } from './py-parse.js';

/** What a config file's variables become once evaluated. */
export type ConfigValue = string | number | boolean | null | ConfigValue[];

// ---- runtime values ----
class PyFloat { constructor(readonly v: number) {} }
class PyTuple { constructor(readonly items: Py[]) {} }
class PyDict { readonly m = new Map<string | number | boolean | null, Py>(); }
class PyFunc {
  constructor(
    readonly name: string,
    readonly call: (args: Py[], kwargs: Map<string, Py>, line: number) => Py,
  ) {}
}
class PyModule { constructor(readonly name: string, readonly attrs: Map<string, Py>) {} }
class PyOpaque { constructor(readonly type: string, readonly repr: string) {} }
class PyExcType { constructor(readonly name: string) {} }
class PyExc { constructor(readonly type: string, readonly msg: string) {} }
type Py = string | number | boolean | null | PyFloat | Py[] | PyTuple | PyDict | PyFunc | PyModule | PyOpaque | PyExcType | PyExc;

class ReturnSignal { constructor(readonly value: Py) {} }
/** A Python exception while evaluating; becomes a ConfigFileError with the line. */
class PyRaise { constructor(readonly type: string, readonly msg: string) {} }

function typeName(v: Py): string {
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'int';
  if (v === null) return 'NoneType';
  if (v instanceof PyFloat) return 'float';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyFunc) return 'function';
  if (v instanceof PyModule) return 'module';
  if (v instanceof PyExcType) return 'type';
  if (v instanceof PyExc) return v.type;
  return v.type;
}

const typeError = (msg: string) => new PyRaise('TypeError', msg);
const valueError = (msg: string) => new PyRaise('ValueError', msg);

function truthy(v: Py): boolean {
  if (v === null || v === false || v === 0 || v === '') return false;
  if (v instanceof PyFloat) return v.v !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof PyTuple) return v.items.length > 0;
  if (v instanceof PyDict) return v.m.size > 0;
  return true;
}

const isNum = (v: Py): v is number | boolean | PyFloat => typeof v === 'number' || typeof v === 'boolean' || v instanceof PyFloat;
const numVal = (v: number | boolean | PyFloat): number => (v instanceof PyFloat ? v.v : Number(v));

function pyStr(v: Py): string {
  if (typeof v === 'string') return v;
  return pyReprValue(v);
}
function pyReprValue(v: Py): string {
  if (typeof v === 'string') return pyRepr(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (v === null) return 'None';
  if (v instanceof PyFloat) return pyStrFloat(v.v);
  if (Array.isArray(v)) return '[' + v.map(pyReprValue).join(', ') + ']';
  if (v instanceof PyTuple) return v.items.length === 1 ? `(${pyReprValue(v.items[0]!)},)` : '(' + v.items.map(pyReprValue).join(', ') + ')';
  if (v instanceof PyDict) return '{' + [...v.m].map(([k, x]) => `${pyReprValue(k)}: ${pyReprValue(x)}`).join(', ') + '}';
  if (v instanceof PyFunc) return `<function ${v.name}>`;
  if (v instanceof PyModule) return `<module '${v.name}'>`;
  if (v instanceof PyExcType) return `<type 'exceptions.${v.name}'>`;
  if (v instanceof PyExc) return `${v.type}(${pyRepr(v.msg)})`;
  return v.repr;
}

function pyEqual(a: Py, b: Py): boolean {
  if (isNum(a) && isNum(b)) return numVal(a) === numVal(b);
  if (typeof a === 'string' || typeof b === 'string' || a === null || b === null) return a === b;
  const seq = (x: Py) => (Array.isArray(x) ? x : x instanceof PyTuple ? x.items : null);
  const sa = seq(a), sb = seq(b);
  if (sa && sb) {
    if (Array.isArray(a) !== Array.isArray(b) || sa.length !== sb.length) return false;
    return sa.every((x, i) => pyEqual(x, sb[i]!));
  }
  return a === b;
}

function pyCompare(op: string, a: Py, b: Py): boolean {
  if (op === '==') return pyEqual(a, b);
  if (op === '!=') return !pyEqual(a, b);
  if (op === 'in' || op === 'not in') {
    let r: boolean;
    if (typeof b === 'string') {
      if (typeof a !== 'string') throw typeError("'in <string>' requires string as left operand");
      r = b.includes(a);
    } else if (Array.isArray(b) || b instanceof PyTuple) r = (Array.isArray(b) ? b : b.items).some((x) => pyEqual(a, x));
    else if (b instanceof PyDict) r = b.m.has(hashKey(a));
    else throw typeError(`argument of type '${typeName(b)}' is not iterable`);
    return op === 'in' ? r : !r;
  }
  let c: number;
  if (isNum(a) && isNum(b)) c = numVal(a) - numVal(b);
  else if (typeof a === 'string' && typeof b === 'string') c = a < b ? -1 : a > b ? 1 : 0;
  else throw typeError(`cannot compare '${typeName(a)}' and '${typeName(b)}' in an xm config file`);
  return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
}

function hashKey(v: Py): string | number | boolean | null {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  if (v instanceof PyFloat) return v.v;
  throw typeError(`unhashable type: '${typeName(v)}'`);
}

function mkNum(x: number, float: boolean): Py {
  return float ? new PyFloat(x) : x;
}

function binop(op: string, a: Py, b: Py): Py {
  const unsupported = () => typeError(`unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`);
  if (op === '%' && typeof a === 'string') return formatPercent(a, b);
  if (isNum(a) && isNum(b)) {
    const x = numVal(a), y = numVal(b);
    const fl = a instanceof PyFloat || b instanceof PyFloat;
    switch (op) {
      case '+': return mkNum(x + y, fl);
      case '-': return mkNum(x - y, fl);
      case '*': return mkNum(x * y, fl);
      case '/':
      case '//':
        if (y === 0) throw new PyRaise('ZeroDivisionError', fl ? 'float division by zero' : 'integer division or modulo by zero');
        // Python 2: int / int floors.
        return fl && op === '/' ? new PyFloat(x / y) : mkNum(Math.floor(x / y), fl);
      case '%':
        if (y === 0) throw new PyRaise('ZeroDivisionError', 'integer division or modulo by zero');
        return mkNum(x - y * Math.floor(x / y), fl);
      case '**':
        return mkNum(x ** y, fl || y < 0);
    }
  }
  if (op === '+') {
    if (typeof a === 'string' && typeof b === 'string') return a + b;
    if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
    if (a instanceof PyTuple && b instanceof PyTuple) return new PyTuple([...a.items, ...b.items]);
    if (typeof a === 'string' || typeof b === 'string') {
      throw typeError(typeof a === 'string' ? `cannot concatenate 'str' and '${typeName(b)}' objects` : unsupported().msg);
    }
  }
  if (op === '*') {
    const rep = (s: Py, n: Py): Py | undefined => {
      if (typeof n !== 'number' && typeof n !== 'boolean') return undefined;
      const k = Math.max(0, Number(n));
      if (typeof s === 'string') return s.repeat(k);
      if (Array.isArray(s)) return Array.from({ length: k }, () => s).flat(1) as Py[];
      if (s instanceof PyTuple) return new PyTuple(Array.from({ length: k }, () => s.items).flat(1));
      return undefined;
    };
    const r = rep(a, b) ?? rep(b, a);
    if (r !== undefined) return r;
  }
  throw unsupported();
}

/** Python's `fmt % args`. */
function formatPercent(fmt: string, args: Py): string {
  const list = args instanceof PyTuple ? args.items : [args];
  const dict = args instanceof PyDict ? args : null;
  let ai = 0;
  const next = (): Py => {
    if (ai >= list.length) throw typeError('not enough arguments for format string');
    return list[ai++]!;
  };
  const re = /%(?:\(([^)]*)\))?([#0\- +]*)(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)?/g;
  let out = '';
  let last = 0;
  let usedMapping = false;
  for (let m = re.exec(fmt); m; m = re.exec(fmt)) {
    out += fmt.slice(last, m.index);
    last = re.lastIndex;
    const [, key, flags = '', w, pr, conv] = m;
    if (conv === undefined) throw valueError('incomplete format');
    if (conv === '%') { out += '%'; continue; }
    let val: Py;
    if (key !== undefined) {
      if (!dict) throw typeError('format requires a mapping');
      usedMapping = true;
      if (!dict.m.has(key)) throw new PyRaise('KeyError', pyRepr(key));
      val = dict.m.get(key)!;
    } else val = next();
    const width = w === '*' ? Number(next()) : w ? Number(w) : 0;
    const prec = pr === '*' ? Number(next()) : pr !== undefined ? Number(pr) : undefined;
    let s: string;
    const needNum = () => {
      if (!isNum(val)) throw typeError(`%${conv} format: a number is required, not ${typeName(val)}`);
      return numVal(val);
    };
    switch (conv) {
      case 's': s = pyStr(val); if (prec !== undefined) s = s.slice(0, prec); break;
      case 'r': s = pyReprValue(val); if (prec !== undefined) s = s.slice(0, prec); break;
      case 'd': case 'i': case 'u': s = String(Math.trunc(needNum())); break;
      case 'x': case 'X': case 'o': {
        const n = Math.trunc(needNum());
        s = Math.abs(n).toString(conv === 'o' ? 8 : 16);
        if (conv === 'X') s = s.toUpperCase();
        if (flags.includes('#')) s = (conv === 'o' ? '0' : conv === 'x' ? '0x' : '0X') + s;
        if (n < 0) s = '-' + s;
        break;
      }
      case 'f': case 'F': s = needNum().toFixed(prec ?? 6); break;
      case 'e': case 'E': {
        const e = needNum().toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
        s = conv === 'E' ? e.toUpperCase() : e;
        break;
      }
      case 'g': case 'G': s = String(Number(needNum().toPrecision(prec || 6))); break;
      case 'c': s = typeof val === 'string' ? val : String.fromCharCode(Number(needNum())); break;
      default: throw valueError(`unsupported format character '${conv}'`);
    }
    if ('dioxXufFeEgG'.includes(conv) && !s.startsWith('-')) {
      if (flags.includes('+')) s = '+' + s;
      else if (flags.includes(' ')) s = ' ' + s;
    }
    if (s.length < width) {
      if (flags.includes('-')) s = s.padEnd(width);
      else if (flags.includes('0') && 'dioxXufFeEgG'.includes(conv)) {
        const sign = /^[-+ ]/.test(s) ? s[0]! : '';
        s = sign + s.slice(sign.length).padStart(width - sign.length, '0');
      } else s = s.padStart(width);
    }
    out += s;
  }
  out += fmt.slice(last);
  if (!dict && !usedMapping && ai < list.length) throw typeError('not all arguments converted during string formatting');
  return out;
}

function toInt(v: Py, base?: Py): number {
  if (typeof v === 'string') {
    const b = base === undefined ? 10 : Number(base);
    const s = v.trim();
    const ok = b === 10 ? /^[+-]?\d+[lL]?$/ : b === 16 ? /^[+-]?(0[xX])?[0-9a-fA-F]+$/ : b === 8 ? /^[+-]?[0-7]+$/ : /^[+-]?[0-9a-zA-Z]+$/;
    const n = parseInt(s.replace(/^([+-]?)0[xX]/, '$1'), b);
    if (!ok.test(s) || Number.isNaN(n)) throw valueError(`invalid literal for int() with base ${b}: ${pyRepr(v)}`);
    return n;
  }
  if (isNum(v)) return Math.trunc(numVal(v));
  throw typeError(`int() argument must be a string or a number, not '${typeName(v)}'`);
}

function builtin(name: string, f: (args: Py[], kwargs: Map<string, Py>) => Py): PyFunc {
  return new PyFunc(name, (a, k) => f(a, k));
}

function seqItems(v: Py, what: string): Py[] {
  if (typeof v === 'string') return [...v];
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  if (v instanceof PyDict) return [...v.m.keys()];
  throw typeError(`'${typeName(v)}' object is not iterable (${what})`);
}

const BUILTINS = new Map<string, Py>([
  ['int', builtin('int', (a) => (a.length ? toInt(a[0]!, a[1]) : 0))],
  ['long', builtin('long', (a) => (a.length ? toInt(a[0]!, a[1]) : 0))],
  ['float', builtin('float', (a) => {
    const v = a[0] ?? 0;
    if (typeof v === 'string') {
      const n = Number(v.trim());
      if (v.trim() === '' || Number.isNaN(n)) throw valueError(`could not convert string to float: ${v}`);
      return new PyFloat(n);
    }
    if (isNum(v)) return new PyFloat(numVal(v));
    throw typeError(`float() argument must be a string or a number`);
  })],
  ['str', builtin('str', (a) => (a.length ? pyStr(a[0]!) : ''))],
  ['repr', builtin('repr', (a) => pyReprValue(a[0] ?? null))],
  ['bool', builtin('bool', (a) => truthy(a[0] ?? false))],
  ['len', builtin('len', (a) => {
    const v = a[0] ?? null;
    if (typeof v === 'string' || Array.isArray(v) || v instanceof PyTuple || v instanceof PyDict) return seqItems(v, 'len').length;
    throw typeError(`object of type '${typeName(v)}' has no len()`);
  })],
  ['list', builtin('list', (a) => (a.length ? [...seqItems(a[0]!, 'list')] : []))],
  ['tuple', builtin('tuple', (a) => new PyTuple(a.length ? [...seqItems(a[0]!, 'tuple')] : []))],
  ['range', builtin('range', (a) => {
    const n = a.map((x) => toInt(x));
    const [start, stop, step] = n.length === 1 ? [0, n[0]!, 1] : [n[0]!, n[1]!, n[2] ?? 1];
    if (step === 0) throw valueError('range() step argument must not be zero');
    const out: Py[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) {
      out.push(i);
      if (out.length > 1e6) throw valueError('range() too large for an xm config file');
    }
    return out;
  })],
  ['abs', builtin('abs', (a) => {
    const v = a[0] ?? null;
    if (!isNum(v)) throw typeError(`bad operand type for abs(): '${typeName(v)}'`);
    return v instanceof PyFloat ? new PyFloat(Math.abs(v.v)) : Math.abs(Number(v));
  })],
  ['min', builtin('min', (a) => pickExtreme(a, (x, y) => pyCompare('<', x, y)))],
  ['max', builtin('max', (a) => pickExtreme(a, (x, y) => pyCompare('>', x, y)))],
  ...['Exception', 'ValueError', 'TypeError', 'KeyError', 'RuntimeError', 'IndexError', 'NameError', 'SystemExit']
    .map((n): [string, Py] => [n, new PyExcType(n)]),
]);

function pickExtreme(a: Py[], better: (x: Py, y: Py) => boolean): Py {
  const items = a.length === 1 ? seqItems(a[0]!, 'min/max') : a;
  if (!items.length) throw valueError('min() or max() arg is an empty sequence');
  return items.reduce((m, x) => (better(x, m) ? x : m));
}

function makeModule(name: string): PyModule | undefined {
  if (name === 'os') {
    const environ = new PyDict();
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) environ.m.set(k, v);
    return new PyModule('os', new Map<string, Py>([
      ['uname', builtin('uname', () => new PyTuple([os.type(), os.hostname(), os.release(), os.version(), os.machine()]))],
      ['getenv', builtin('getenv', (a) => {
        const v = process.env[pyStr(a[0] ?? '')];
        return v === undefined ? (a[1] ?? null) : v;
      })],
      ['environ', environ],
    ]));
  }
  if (name === 're') {
    const compile = (p: Py): RegExp => {
      try {
        return new RegExp(pyStr(p));
      } catch (e) {
        throw new PyRaise('error', (e as Error).message);
      }
    };
    const match = (anchored: boolean) => builtin(anchored ? 'match' : 'search', (a) => {
      const s = pyStr(a[1] ?? '');
      const m = compile(a[0] ?? '').exec(s);
      if (!m || (anchored && m.index !== 0)) return null;
      return new PyOpaque('_sre.SRE_Match', `<_sre.SRE_Match object>`);
    });
    return new PyModule('re', new Map<string, Py>([['search', match(false)], ['match', match(true)]]));
  }
  return undefined;
}

/** `xm_vars`: script variables declared by the file and set on the command line. */
class XmVars {
  readonly declared = new Map<string, { use: string; check: Py }>();
  constructor(private readonly cmdline: Record<string, string>, private readonly globals: Map<string, Py>, private readonly call: (f: Py, args: Py[], line: number) => Py) {}
  module(): PyModule {
    return new PyModule('xm_vars', new Map<string, Py>([
      ['var', builtin('var', (a, k) => {
        const name = pyStr(a[0] ?? '');
        this.declared.set(name, { use: pyStr(k.get('use') ?? a[1] ?? ''), check: k.get('check') ?? a[2] ?? null });
        return null;
      })],
      ['check', new PyFunc('check', (_a, _k, line) => {
        for (const [name, d] of this.declared) {
          let v: Py = Object.prototype.hasOwnProperty.call(this.cmdline, name) ? this.cmdline[name]! : null;
          if (d.check !== null) v = this.call(d.check, [name, v], line);
          this.globals.set(name, v);
        }
        return null;
      })],
    ]));
  }
}

export interface ConfigFileOptions {
  /** Name used in error messages (the path as the user gave it). */
  file?: string;
  /** `name=value` from the command line, visible to the file as strings. */
  vars?: Record<string, string>;
}

export interface ConfigFile {
  /** Module-level variables of type str, int, float, bool, list or tuple. */
  vars: Map<string, ConfigValue>;
  /** Line of the last assignment of each variable. */
  lines: Map<string, number>;
  /** Script variables declared with xm_vars.var(name, use=...). */
  declared: Map<string, string>;
}

function exportValue(v: Py): ConfigValue | undefined {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof PyFloat) return v.v;
  if (Array.isArray(v) || v instanceof PyTuple) {
    const items = (Array.isArray(v) ? v : v.items).map((x) => exportValue(x) ?? (x === null ? null : pyStr(x)));
    return items as ConfigValue[];
  }
  return undefined;
}

/** Evaluate config file text. */
export function parseConfigText(text: string, opts: ConfigFileOptions = {}): ConfigFile {
  const file = opts.file ?? '<config>';
  const prog = parseProgram(text, file);
  const globals = new Map<string, Py>();
  const lines = new Map<string, number>();
  const cmdline = opts.vars ?? {};
  for (const [k, v] of Object.entries(cmdline)) globals.set(k, v);

  const fail = (line: number, what: string): never => {
    throw new ConfigFileError(file, line, what);
  };

  let callDepth = 0;
  const callValue = (f: Py, args: Py[], kwargs: Map<string, Py>, line: number): Py => {
    if (f instanceof PyFunc) return f.call(args, kwargs, line);
    if (f instanceof PyExcType) return new PyExc(f.name, args.length ? pyStr(args[0]!) : '');
    throw typeError(`'${typeName(f)}' object is not callable`);
  };
  const xmVars = new XmVars(cmdline, globals, (f, a, line) => callValue(f, a, new Map(), line));
  globals.set('xm_vars', xmVars.module());

  const lookup = (id: string, locals: Map<string, Py> | null, line: number): Py => {
    if (locals?.has(id)) return locals.get(id)!;
    if (globals.has(id)) return globals.get(id)!;
    if (BUILTINS.has(id)) return BUILTINS.get(id)!;
    return fail(line, `NameError: name '${id}' is not defined`);
  };

  const evalExpr = (e: Expr, locals: Map<string, Py> | null): Py => {
    switch (e.t) {
      case 'const': return e.float ? new PyFloat(e.v as number) : e.v;
      case 'name': return lookup(e.id, locals, e.line);
      case 'list': return e.items.map((x) => evalExpr(x, locals));
      case 'tuple': return new PyTuple(e.items.map((x) => evalExpr(x, locals)));
      case 'dict': {
        const d = new PyDict();
        e.keys.forEach((k, i) => d.m.set(hashKey(evalExpr(k, locals)), evalExpr(e.values[i]!, locals)));
        return d;
      }
      case 'bin': return binop(e.op, evalExpr(e.l, locals), evalExpr(e.r, locals));
      case 'unary': {
        const v = evalExpr(e.e, locals);
        if (e.op === 'not') return !truthy(v);
        if (!isNum(v)) throw typeError(`bad operand type for unary ${e.op}: '${typeName(v)}'`);
        if (e.op === '+') return v instanceof PyFloat ? v : Number(v);
        return v instanceof PyFloat ? new PyFloat(-v.v) : -Number(v);
      }
      case 'bool': {
        const l = evalExpr(e.l, locals);
        if (e.op === 'and') return truthy(l) ? evalExpr(e.r, locals) : l;
        return truthy(l) ? l : evalExpr(e.r, locals);
      }
      case 'cmp': {
        let l = evalExpr(e.items[0]!, locals);
        for (let i = 0; i < e.ops.length; i++) {
          const r = evalExpr(e.items[i + 1]!, locals);
          if (!pyCompare(e.ops[i]!, l, r)) return false;
          l = r;
        }
        return true;
      }
      case 'cond': return truthy(evalExpr(e.test, locals)) ? evalExpr(e.a, locals) : evalExpr(e.b, locals);
      case 'call': {
        const f = evalExpr(e.f, locals);
        const args = e.args.map((a) => evalExpr(a, locals));
        const kwargs = new Map(e.kwargs.map(([k, v]) => [k, evalExpr(v, locals)] as [string, Py]));
        return callValue(f, args, kwargs, e.line);
      }
      case 'attr': {
        const v = evalExpr(e.e, locals);
        if (v instanceof PyModule && v.attrs.has(e.name)) return v.attrs.get(e.name)!;
        if (typeof v === 'string') {
          const m = stringMethod(v, e.name);
          if (m) return m;
        }
        throw new PyRaise('AttributeError', `'${typeName(v)}' object has no attribute '${e.name}'`);
      }
      case 'index': {
        const v = evalExpr(e.e, locals);
        const i = evalExpr(e.i, locals);
        if (v instanceof PyDict) {
          const k = hashKey(i);
          if (!v.m.has(k)) throw new PyRaise('KeyError', pyReprValue(i));
          return v.m.get(k)!;
        }
        if (typeof v === 'string' || Array.isArray(v) || v instanceof PyTuple) {
          if (typeof i !== 'number' && typeof i !== 'boolean') throw typeError(`indices must be integers, not ${typeName(i)}`);
          const items = seqItems(v, 'index');
          const n = Number(i) < 0 ? items.length + Number(i) : Number(i);
          if (n < 0 || n >= items.length) throw new PyRaise('IndexError', `${typeName(v)} index out of range`);
          return items[n]!;
        }
        throw typeError(`'${typeName(v)}' object is not subscriptable`);
      }
    }
  };

  const run = (body: Stmt[], locals: Map<string, Py> | null): void => {
    for (const s of body) {
      try {
        exec(s, locals);
      } catch (err) {
        if (err instanceof PyRaise) fail(s.line, `${err.type}: ${err.msg}`);
        throw err;
      }
    }
  };

  const assign = (name: string, v: Py, locals: Map<string, Py> | null, line: number) => {
    if (locals) locals.set(name, v);
    else {
      globals.set(name, v);
      lines.set(name, line);
    }
  };

  const exec = (s: Stmt, locals: Map<string, Py> | null): void => {
    switch (s.t) {
      case 'assign': {
        const v = evalExpr(s.e, locals);
        for (const t of s.targets) assign(t, v, locals, s.line);
        return;
      }
      case 'augassign': {
        const cur = lookup(s.target, locals, s.line);
        assign(s.target, binop(s.op, cur, evalExpr(s.e, locals)), locals, s.line);
        return;
      }
      case 'expr': evalExpr(s.e, locals); return;
      case 'pass': return;
      case 'if': {
        for (const [test, body] of s.branches) {
          if (truthy(evalExpr(test, locals))) { run(body, locals); return; }
        }
        if (s.orelse) run(s.orelse, locals);
        return;
      }
      case 'import': {
        for (const n of s.names) {
          const m = makeModule(n);
          if (!m) fail(s.line, `ImportError: module '${n}' is not available to xm config files (only os and re)`);
          assign(n, m!, locals, s.line);
        }
        return;
      }
      case 'return':
        if (!locals) fail(s.line, "SyntaxError: 'return' outside function");
        throw new ReturnSignal(s.e ? evalExpr(s.e, locals) : null);
      case 'raise': {
        const v = s.e ? evalExpr(s.e, locals) : null;
        if (v instanceof PyExcType) fail(s.line, v.name);
        if (v instanceof PyExc) fail(s.line, v.msg ? `${v.type}: ${v.msg}` : v.type);
        fail(s.line, `raise of ${typeName(v)}: ${pyStr(v)}`);
        return;
      }
      case 'def': {
        const defaults = s.params.map(([, d]) => (d ? evalExpr(d, locals) : undefined));
        const fn = new PyFunc(s.name, (args, kwargs) => {
          if (args.length > s.params.length) throw typeError(`${s.name}() takes at most ${s.params.length} arguments (${args.length} given)`);
          const loc = new Map<string, Py>();
          s.params.forEach(([pn], i) => {
            if (i < args.length) loc.set(pn, args[i]!);
            else if (kwargs.has(pn)) loc.set(pn, kwargs.get(pn)!);
            else if (defaults[i] !== undefined) loc.set(pn, defaults[i]!);
            else throw typeError(`${s.name}() takes exactly ${s.params.length} arguments (${args.length} given)`);
          });
          if (++callDepth > 50) throw new PyRaise('RuntimeError', 'maximum recursion depth exceeded');
          try {
            run(s.body, loc);
            return null;
          } catch (r) {
            if (r instanceof ReturnSignal) return r.value;
            throw r;
          } finally {
            callDepth--;
          }
        });
        assign(s.name, fn, locals, s.line);
        return;
      }
    }
  };

  run(prog, null);

  const vars = new Map<string, ConfigValue>();
  for (const [k, v] of globals) {
    if (k.startsWith('_') || k === 'xm_vars') continue;
    const x = exportValue(v);
    if (x !== undefined && lines.has(k)) vars.set(k, x);
  }
  const declared = new Map([...xmVars.declared].map(([k, d]) => [k, d.use]));
  return { vars, lines, declared };
}

function stringMethod(s: string, name: string): PyFunc | undefined {
  const m: Record<string, (a: Py[]) => Py> = {
    upper: () => s.toUpperCase(),
    lower: () => s.toLowerCase(),
    strip: () => s.trim(),
    split: (a) => (a.length && a[0] !== null ? s.split(pyStr(a[0]!)) : s.trim().split(/\s+/).filter(Boolean)),
    join: (a) => seqItems(a[0] ?? [], 'join').map((x) => {
      if (typeof x !== 'string') throw typeError(`sequence item: expected string, ${typeName(x)} found`);
      return x;
    }).join(s),
    replace: (a) => s.split(pyStr(a[0] ?? '')).join(pyStr(a[1] ?? '')),
    startswith: (a) => s.startsWith(pyStr(a[0] ?? '')),
    endswith: (a) => s.endsWith(pyStr(a[0] ?? '')),
  };
  const f = m[name];
  return f ? builtin(name, (a) => f(a)) : undefined;
}

/** Read and evaluate a config file. */
export async function readConfigFile(path: string, opts: ConfigFileOptions = {}): Promise<ConfigFile> {
  const text = await readFile(path, 'utf8');
  return parseConfigText(text, { file: path, ...opts });
}
