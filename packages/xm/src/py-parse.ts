// Lexer and parser for the subset of Python 2 that xm config files are
// written in: assignments, if/elif/else, def/return/raise/pass, import,
// expression statements (calls such as xm_vars.check()), and expressions with
// literals, lists, tuples, dicts, calls, attributes, indexing, arithmetic,
// comparisons and boolean operators. Everything else is refused with the file
// and line, because xm create must never run what it cannot understand.

import { XenError } from '@xenwasm/xen-errno';

export class ConfigFileError extends XenError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, what: string) {
    super('XM_CONFIG', `${file}:${line}: ${what}`, { file, line });
    this.name = 'ConfigFileError';
    this.file = file;
    this.line = line;
  }
}

type TokKind = 'name' | 'int' | 'float' | 'str' | 'op' | 'newline' | 'indent' | 'dedent' | 'eof';
export interface Token {
  kind: TokKind;
  value: string;
  line: number;
  /** For 'int': the value; for 'str': the decoded text. */
  num?: number;
  raw?: boolean;
}

const OPS = [
  '**=', '//=', '>>=', '<<=', '**', '//', '==', '!=', '<>', '<=', '>=', '+=', '-=', '*=', '/=', '%=',
  '<<', '>>', '+', '-', '*', '/', '%', '(', ')', '[', ']', '{', '}', ',', ':', '.', '=', '<', '>', ';',
  '&', '|', '^', '~', '@', '`',
];

const SIMPLE_ESC: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

export function tokenize(src: string, file: string): Token[] {
  const toks: Token[] = [];
  const indents = [0];
  let i = 0;
  let line = 1;
  let depth = 0; // bracket nesting: newlines inside brackets are not statement ends
  const openLines: number[] = [];
  let atLineStart = true;
  const fail = (what: string, l = line): never => {
    throw new ConfigFileError(file, l, what);
  };
  while (i <= src.length) {
    if (atLineStart && depth === 0) {
      // Measure indentation of a logical line; blank/comment lines do not count.
      let col = 0;
      let j = i;
      for (; j < src.length; j++) {
        const c = src[j];
        if (c === ' ') col++;
        else if (c === '\t') col = (Math.floor(col / 8) + 1) * 8;
        else if (c === '\f') col = 0;
        else break;
      }
      const c = src[j];
      if (j >= src.length || c === '\n' || c === '#' || (c === '\r' && src[j + 1] === '\n')) {
        // blank line
        while (j < src.length && src[j] !== '\n') j++;
        if (j >= src.length) { i = j; atLineStart = false; continue; }
        i = j + 1;
        line++;
        continue;
      }
      i = j;
      atLineStart = false;
      const top = indents[indents.length - 1]!;
      if (col > top) {
        indents.push(col);
        toks.push({ kind: 'indent', value: '', line });
      } else if (col < top) {
        while (col < indents[indents.length - 1]!) {
          indents.pop();
          toks.push({ kind: 'dedent', value: '', line });
        }
        if (col !== indents[indents.length - 1]) fail('unindent does not match any outer indentation level');
      }
    }
    if (i >= src.length) break;
    const c = src[i]!;
    if (c === '\n') {
      if (depth === 0) {
        toks.push({ kind: 'newline', value: '', line });
        atLineStart = true;
      }
      i++;
      line++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f') { i++; continue; }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (c === '\\' && (src[i + 1] === '\n' || (src[i + 1] === '\r' && src[i + 2] === '\n'))) {
      i += src[i + 1] === '\n' ? 2 : 3;
      line++;
      continue;
    }
    // String literal, with optional prefix.
    const sm = /^([rRuUbB]{0,2})('''|"""|'|")/.exec(src.slice(i, i + 5));
    if (sm && (sm[1] === '' || /^[rRuUbB]+$/.test(sm[1]!))) {
      const raw = /[rR]/.test(sm[1]!);
      const q = sm[2]!;
      const startLine = line;
      i += sm[0].length;
      let out = '';
      for (;;) {
        if (i >= src.length) {
          fail(q.length === 3 ? 'EOF while scanning triple-quoted string literal' : 'EOL while scanning string literal', startLine);
        }
        if (src.startsWith(q, i)) { i += q.length; break; }
        const d = src[i]!;
        if (d === '\n') {
          if (q.length === 1) fail('EOL while scanning string literal', startLine);
          line++;
          out += d;
          i++;
          continue;
        }
        if (d !== '\\') { out += d; i++; continue; }
        const e = src[i + 1];
        if (e === undefined) { i++; continue; }
        if (e === '\n') { line++; i += 2; if (raw) out += '\\\n'; continue; }
        if (raw) { out += '\\' + e; i += 2; continue; }
        if (e in SIMPLE_ESC) { out += SIMPLE_ESC[e]; i += 2; continue; }
        if (e === 'x') {
          const h = /^[0-9a-fA-F]{2}/.exec(src.slice(i + 2, i + 4));
          if (!h) fail('invalid \\x escape');
          out += String.fromCharCode(parseInt(h![0], 16));
          i += 4;
          continue;
        }
        if (e === 'u' || e === 'U') {
          const n = e === 'u' ? 4 : 8;
          const h = new RegExp(`^[0-9a-fA-F]{${n}}`).exec(src.slice(i + 2, i + 2 + n));
          if (!h) { out += '\\' + e; i += 2; continue; }
          out += String.fromCodePoint(parseInt(h[0], 16));
          i += 2 + n;
          continue;
        }
        if (e >= '0' && e <= '7') {
          const o = /^[0-7]{1,3}/.exec(src.slice(i + 1, i + 4))!;
          out += String.fromCharCode(parseInt(o[0], 8) & 0xff);
          i += 1 + o[0].length;
          continue;
        }
        out += '\\' + e;
        i += 2;
      }
      toks.push({ kind: 'str', value: out, line: startLine, raw });
      continue;
    }
    // Number.
    const nm = /^(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)[lLjJ]?/.exec(src.slice(i, i + 64));
    if (nm && /[0-9.]/.test(c) && !(c === '.' && !/^\.\d/.test(nm[0]))) {
      let t = nm[0];
      if (/[jJ]$/.test(t)) fail('complex numbers are not supported');
      t = t.replace(/[lL]$/, '');
      let tok: Token;
      if (/^0[xX]/.test(t)) tok = { kind: 'int', value: t, line, num: parseInt(t.slice(2), 16) };
      else if (/^0[oO]/.test(t)) tok = { kind: 'int', value: t, line, num: parseInt(t.slice(2), 8) };
      else if (/[.eE]/.test(t)) tok = { kind: 'float', value: t, line, num: Number(t) };
      else if (/^0\d+$/.test(t)) {
        if (/[89]/.test(t)) fail(`invalid token ${t}`);
        tok = { kind: 'int', value: t, line, num: parseInt(t, 8) }; // Python 2 octal
      } else tok = { kind: 'int', value: t, line, num: Number(t) };
      toks.push(tok);
      i += nm[0].length;
      continue;
    }
    const idm = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i, i + 256));
    if (idm) {
      toks.push({ kind: 'name', value: idm[0], line });
      i += idm[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) fail(`invalid character ${JSON.stringify(c)} in config file`);
    if ('([{'.includes(op!)) { depth++; openLines.push(line); }
    if (')]}'.includes(op!)) {
      if (depth === 0) fail(`unmatched '${op}'`);
      depth--;
      openLines.pop();
    }
    toks.push({ kind: 'op', value: op!, line });
    i += op!.length;
  }
  if (depth > 0) fail('unexpected end of file: a bracket is never closed', openLines[openLines.length - 1]);
  if (toks.length && toks[toks.length - 1]!.kind !== 'newline') toks.push({ kind: 'newline', value: '', line });
  while (indents.length > 1) {
    indents.pop();
    toks.push({ kind: 'dedent', value: '', line });
  }
  toks.push({ kind: 'eof', value: '', line });
  return toks;
}

// ---- AST ----
export type Expr =
  | { t: 'const'; v: string | number | boolean | null; float?: boolean; line: number }
  | { t: 'name'; id: string; line: number }
  | { t: 'list' | 'tuple'; items: Expr[]; line: number }
  | { t: 'dict'; keys: Expr[]; values: Expr[]; line: number }
  | { t: 'bin'; op: string; l: Expr; r: Expr; line: number }
  | { t: 'unary'; op: string; e: Expr; line: number }
  | { t: 'bool'; op: 'and' | 'or'; l: Expr; r: Expr; line: number }
  | { t: 'cmp'; ops: string[]; items: Expr[]; line: number }
  | { t: 'cond'; test: Expr; a: Expr; b: Expr; line: number }
  | { t: 'call'; f: Expr; args: Expr[]; kwargs: Array<[string, Expr]>; line: number }
  | { t: 'attr'; e: Expr; name: string; line: number }
  | { t: 'index'; e: Expr; i: Expr; line: number };

export type Stmt =
  | { t: 'assign'; targets: string[]; e: Expr; line: number }
  | { t: 'augassign'; target: string; op: string; e: Expr; line: number }
  | { t: 'expr'; e: Expr; line: number }
  | { t: 'if'; branches: Array<[Expr, Stmt[]]>; orelse: Stmt[] | null; line: number }
  | { t: 'def'; name: string; params: Array<[string, Expr | null]>; body: Stmt[]; line: number }
  | { t: 'return'; e: Expr | null; line: number }
  | { t: 'raise'; e: Expr | null; line: number }
  | { t: 'pass'; line: number }
  | { t: 'import'; names: string[]; line: number };

const UNSUPPORTED_KEYWORDS = new Set([
  'for', 'while', 'class', 'try', 'except', 'finally', 'with', 'lambda', 'yield', 'global', 'exec',
  'print', 'del', 'assert', 'from', 'break', 'continue', 'is', 'nonlocal', 'async', 'await',
]);
const KEYWORDS = new Set(['if', 'elif', 'else', 'def', 'return', 'raise', 'pass', 'import', 'and', 'or', 'not', 'in', 'True', 'False', 'None', ...UNSUPPORTED_KEYWORDS]);

export function parseProgram(src: string, file: string): Stmt[] {
  const toks = tokenize(src, file);
  let p = 0;
  const peek = (o = 0) => toks[p + o]!;
  const fail = (what: string, tok = peek()): never => {
    throw new ConfigFileError(file, tok.line, what);
  };
  const describe = (tok: Token) =>
    tok.kind === 'newline' ? 'end of line' : tok.kind === 'eof' ? 'end of file' :
      tok.kind === 'indent' ? 'unexpected indent' : tok.kind === 'dedent' ? 'dedent' :
        tok.kind === 'str' ? 'string' : `'${tok.value}'`;
  const isOp = (v: string, o = 0) => peek(o).kind === 'op' && peek(o).value === v;
  const isKw = (v: string) => peek().kind === 'name' && peek().value === v;
  const expectOp = (v: string) => {
    if (!isOp(v)) fail(`invalid syntax: expected '${v}', found ${describe(peek())}`);
    return toks[p++]!;
  };
  const expectName = (): string => {
    const t = peek();
    if (t.kind !== 'name' || KEYWORDS.has(t.value)) fail(`invalid syntax: expected a name, found ${describe(t)}`);
    p++;
    return t.value;
  };
  const endStatement = () => {
    if (isOp(';')) { p++; if (peek().kind === 'newline') p++; return; }
    if (peek().kind !== 'newline') fail(`invalid syntax: unexpected ${describe(peek())}`);
    p++;
  };

  function block(): Stmt[] {
    expectOp(':');
    if (peek().kind !== 'newline') {
      // one-line suite: `if x: y = 1`
      return [simpleStatement()];
    }
    p++;
    if (peek().kind !== 'indent') fail('expected an indented block');
    p++;
    const body: Stmt[] = [];
    while (peek().kind !== 'dedent' && peek().kind !== 'eof') body.push(statement());
    if (peek().kind === 'dedent') p++;
    return body;
  }

  function statement(): Stmt {
    const t = peek();
    if (t.kind === 'indent') fail('unexpected indent');
    if (t.kind === 'name') {
      if (t.value === 'if') {
        p++;
        const branches: Array<[Expr, Stmt[]]> = [[expr(), block()]];
        let orelse: Stmt[] | null = null;
        while (isKw('elif')) { p++; branches.push([expr(), block()]); }
        if (isKw('else')) { p++; orelse = block(); }
        return { t: 'if', branches, orelse, line: t.line };
      }
      if (t.value === 'def') {
        p++;
        const name = expectName();
        expectOp('(');
        const params: Array<[string, Expr | null]> = [];
        while (!isOp(')')) {
          const pn = expectName();
          let d: Expr | null = null;
          if (isOp('=')) { p++; d = expr(); }
          params.push([pn, d]);
          if (!isOp(')')) expectOp(',');
        }
        p++;
        return { t: 'def', name, params, body: block(), line: t.line };
      }
    }
    return simpleStatement();
  }

  function simpleStatement(): Stmt {
    const t = peek();
    let s: Stmt;
    if (t.kind === 'name' && UNSUPPORTED_KEYWORDS.has(t.value)) {
      fail(`'${t.value}' is not supported in xm config files`);
    }
    if (t.kind === 'name' && t.value === 'pass') { p++; s = { t: 'pass', line: t.line }; }
    else if (t.kind === 'name' && t.value === 'return') {
      p++;
      s = { t: 'return', e: peek().kind === 'newline' || isOp(';') ? null : exprList(), line: t.line };
    } else if (t.kind === 'name' && t.value === 'raise') {
      p++;
      s = { t: 'raise', e: peek().kind === 'newline' ? null : expr(), line: t.line };
    } else if (t.kind === 'name' && t.value === 'import') {
      p++;
      const names = [dotted()];
      while (isOp(',')) { p++; names.push(dotted()); }
      if (isKw('as')) fail("'import ... as' is not supported in xm config files");
      s = { t: 'import', names, line: t.line };
    } else if (t.kind === 'name' && !KEYWORDS.has(t.value) && (isOp('=', 1) || /^(\+|-|\*|\/|%|\/\/|\*\*)=$/.test(peek(1).kind === 'op' ? peek(1).value : ''))) {
      if (isOp('=', 1)) {
        const targets: string[] = [];
        let e: Expr;
        for (;;) {
          targets.push(expectName());
          expectOp('=');
          // chained `a = b = 1`
          if (peek().kind === 'name' && !KEYWORDS.has(peek().value) && isOp('=', 1)) continue;
          e = exprList();
          break;
        }
        s = { t: 'assign', targets, e, line: t.line };
      } else {
        const target = expectName();
        const op = toks[p++]!.value.slice(0, -1);
        s = { t: 'augassign', target, op, e: exprList(), line: t.line };
      }
    } else {
      const e = exprList();
      if (isOp('=')) {
        fail('only assignments to plain names are supported in xm config files');
      }
      s = { t: 'expr', e, line: t.line };
    }
    endStatement();
    return s;
  }

  function dotted(): string {
    let n = expectName();
    while (isOp('.')) { p++; n += '.' + expectName(); }
    return n;
  }

  // exprList: `a, b` makes a tuple (as on the right of `=`).
  function exprList(): Expr {
    const line = peek().line;
    const first = expr();
    if (!isOp(',')) return first;
    const items = [first];
    while (isOp(',')) {
      p++;
      if (peek().kind === 'newline' || isOp(';') || isOp(')')) break;
      items.push(expr());
    }
    return { t: 'tuple', items, line };
  }

  function expr(): Expr {
    const line = peek().line;
    if (isKw('lambda')) fail("'lambda' is not supported in xm config files");
    const e = orExpr();
    if (isKw('if')) {
      p++;
      const test = orExpr();
      if (!isKw('else')) fail("invalid syntax: expected 'else'");
      p++;
      return { t: 'cond', test, a: e, b: expr(), line };
    }
    return e;
  }
  function orExpr(): Expr {
    let l = andExpr();
    while (isKw('or')) { const line = toks[p++]!.line; l = { t: 'bool', op: 'or', l, r: andExpr(), line }; }
    return l;
  }
  function andExpr(): Expr {
    let l = notExpr();
    while (isKw('and')) { const line = toks[p++]!.line; l = { t: 'bool', op: 'and', l, r: notExpr(), line }; }
    return l;
  }
  function notExpr(): Expr {
    if (isKw('not')) { const line = toks[p++]!.line; return { t: 'unary', op: 'not', e: notExpr(), line }; }
    return comparison();
  }
  function comparison(): Expr {
    const line = peek().line;
    const first = arith();
    const ops: string[] = [];
    const items = [first];
    for (;;) {
      const t = peek();
      let op: string | null = null;
      if (t.kind === 'op' && ['<', '>', '==', '>=', '<=', '!=', '<>'].includes(t.value)) { op = t.value === '<>' ? '!=' : t.value; p++; }
      else if (isKw('in')) { op = 'in'; p++; }
      else if (isKw('not') && peek(1).kind === 'name' && peek(1).value === 'in') { op = 'not in'; p += 2; }
      else if (isKw('is')) fail("'is' is not supported in xm config files");
      if (!op) break;
      ops.push(op);
      items.push(arith());
    }
    return ops.length ? { t: 'cmp', ops, items, line } : first;
  }
  function arith(): Expr {
    let l = term();
    while (isOp('+') || isOp('-')) { const o = toks[p++]!; l = { t: 'bin', op: o.value, l, r: term(), line: o.line }; }
    return l;
  }
  function term(): Expr {
    let l = factor();
    while (isOp('*') || isOp('/') || isOp('%') || isOp('//')) { const o = toks[p++]!; l = { t: 'bin', op: o.value, l, r: factor(), line: o.line }; }
    return l;
  }
  function factor(): Expr {
    if (isOp('-') || isOp('+')) { const o = toks[p++]!; return { t: 'unary', op: o.value, e: factor(), line: o.line }; }
    if (isOp('~')) fail("operator '~' is not supported in xm config files");
    return power();
  }
  function power(): Expr {
    const b = postfix();
    if (isOp('**')) { const o = toks[p++]!; return { t: 'bin', op: '**', l: b, r: factor(), line: o.line }; }
    return b;
  }
  function postfix(): Expr {
    let e = atom();
    for (;;) {
      if (isOp('(')) {
        const line = toks[p++]!.line;
        const args: Expr[] = [];
        const kwargs: Array<[string, Expr]> = [];
        while (!isOp(')')) {
          if (isOp('*') || isOp('**')) fail('*args and **kwargs are not supported in xm config files');
          if (peek().kind === 'name' && isOp('=', 1)) {
            const k = expectName();
            p++;
            kwargs.push([k, expr()]);
          } else {
            if (kwargs.length) fail('non-keyword argument after keyword argument');
            args.push(expr());
          }
          if (!isOp(')')) expectOp(',');
        }
        p++;
        e = { t: 'call', f: e, args, kwargs, line };
      } else if (isOp('.')) {
        const line = toks[p++]!.line;
        e = { t: 'attr', e, name: expectName(), line };
      } else if (isOp('[')) {
        const line = toks[p++]!.line;
        const i = expr();
        if (isOp(':')) fail('slices are not supported in xm config files');
        expectOp(']');
        e = { t: 'index', e, i, line };
      } else return e;
    }
  }
  function atom(): Expr {
    const t = peek();
    const line = t.line;
    switch (t.kind) {
      case 'int': p++; return { t: 'const', v: t.num!, line };
      case 'float': p++; return { t: 'const', v: t.num!, float: true, line };
      case 'str': {
        // adjacent literals concatenate
        let v = '';
        while (peek().kind === 'str') v += toks[p++]!.value;
        return { t: 'const', v, line };
      }
      case 'name': {
        if (t.value === 'True' || t.value === 'False') { p++; return { t: 'const', v: t.value === 'True', line }; }
        if (t.value === 'None') { p++; return { t: 'const', v: null, line }; }
        if (UNSUPPORTED_KEYWORDS.has(t.value) || t.value === 'lambda') fail(`'${t.value}' is not supported in xm config files`);
        if (KEYWORDS.has(t.value)) fail(`invalid syntax: unexpected '${t.value}'`);
        p++;
        return { t: 'name', id: t.value, line };
      }
      case 'op': {
        if (t.value === '(' || t.value === '[') {
          p++;
          const close = t.value === '(' ? ')' : ']';
          const items: Expr[] = [];
          let comma = false;
          while (!isOp(close)) {
            items.push(expr());
            if (isKw('for')) fail('list comprehensions are not supported in xm config files');
            if (!isOp(close)) { expectOp(','); comma = true; }
          }
          p++;
          if (close === ')' && items.length === 1 && !comma) return items[0]!;
          return { t: close === ')' ? 'tuple' : 'list', items, line };
        }
        if (t.value === '{') {
          p++;
          const keys: Expr[] = [];
          const values: Expr[] = [];
          while (!isOp('}')) {
            keys.push(expr());
            expectOp(':');
            values.push(expr());
            if (!isOp('}')) expectOp(',');
          }
          p++;
          return { t: 'dict', keys, values, line };
        }
        if (t.value === '`') fail('backquotes are not supported in xm config files');
        return fail(`invalid syntax: unexpected '${t.value}'`);
      }
      default:
        return fail(`invalid syntax: unexpected ${describe(t)}`);
    }
  }

  const prog: Stmt[] = [];
  while (peek().kind !== 'eof') {
    if (peek().kind === 'newline') { p++; continue; }
    if (peek().kind === 'dedent') fail('unindent does not match any outer indentation level');
    prog.push(statement());
  }
  return prog;
}
