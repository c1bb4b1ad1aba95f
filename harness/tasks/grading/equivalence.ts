// Answer equivalence: is a predicted final answer the same as the gold one? Three layers, cheapest
// first: (1) normalise the LaTeX surface (\left/\right, \dfrac, \text{}, units, degrees, percent,
// thousands commas, `x =` prefixes) and compare strings; (2) plain numbers, compared exactly when
// both are integers and to a relative 1e-4 otherwise; (3) structure (tuples, intervals, sets,
// multiple answers, matrices, equations) recursing into leaves, which are translated to mathjs
// syntax, parsed by mathjs, checked against a whitelist of node types and functions (nothing is
// ever evaluated as code) and compared numerically at fixed points. Every comparison is bounded:
// input length, expression size, number of points, and a wall-clock budget.
import { createRequire } from 'node:module';
import type { MathNode } from 'mathjs';
import { matchBraces } from './extract.ts';

// mathjs costs about 3 s of CPU to load (it builds every function it has), more than anything
// else a CLI process loads, and most comparisons (strings, plain numbers) never need it: it is
// loaded by the first comparison that reaches the expression layer, before that comparison's
// wall-clock budget starts (loadMathjs in answersEquivalent).
let mathjsParse: ((src: string) => MathNode) | null = null;
function loadMathjs(): void {
  mathjsParse ??= (createRequire(import.meta.url)('mathjs') as typeof import('mathjs')).parse;
}
function parse(src: string): MathNode {
  loadMathjs();
  return mathjsParse!(src);
}

export interface EquivalenceOptions {
  /** Relative tolerance for numbers that are not both integers (default 1e-4). */
  relTol?: number;
  /** Wall-clock budget for one comparison in ms (default 50). */
  budgetMs?: number;
}

/** Longest answer string that is compared beyond exact string equality. */
export const MAX_ANSWER_CHARS = 1000;
const MAX_NODES = 400;
const MAX_ELEMENTS = 64;

// ---------------------------------------------------------------------------------------------
// Surface normalisation

interface Norm {
  s: string;
  percent: boolean;
}

// Unit words that may follow a number in plain text ("10 inches"); inside \text{} anything goes.
const UNIT_WORDS = new Set(
  ('cm m km mm in inch inches ft foot feet yd yard yards mi mile miles meter meters metre metres kilometer kilometers ' +
    'centimeter centimeters units unit sq square cubic degree degrees dollars dollar cents cent s sec second seconds ' +
    'min minute minutes h hr hour hours day days week weeks year years mph kg g gram grams pound pounds lb lbs oz ' +
    'liter liters l ml people students cups points ways times').split(' '),
);

const TEXT_CMDS = /\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname)\s*\{/g;

function unwrapTextCommands(s: string): string {
  // \text{…} after some content is a unit ("5\text{ cm}") when it holds only words: dropped.
  // Elsewhere its content is the answer itself ("\text{Evelyn}", "\text{(C)}").
  let out = '';
  let i = 0;
  TEXT_CMDS.lastIndex = 0;
  for (let m = TEXT_CMDS.exec(s); m; m = TEXT_CMDS.exec(s)) {
    const open = m.index + m[0].length - 1;
    const br = matchBraces(s, open);
    if (!br) break;
    out += s.slice(i, m.index);
    const inner = br.content;
    const isUnit = /\d\s*$|\}\s*$/.test(out) && /^[\s~a-zA-Z/.^{}\\]*$/.test(inner) && /[a-zA-Z]{1,}/.test(inner) && !/\\/.test(inner.replace(/\\,|\\ |~/g, ''));
    if (!isUnit) out += inner;
    i = br.end;
    // A unit's power goes with it: "12\text{ cm}^2".
    if (isUnit) {
      const pow = /^\s*\^\s*(?:\{\s*\d\s*\}|\d)/.exec(s.slice(i));
      if (pow) i += pow[0].length;
    }
    TEXT_CMDS.lastIndex = br.end;
  }
  return out + s.slice(i);
}

/** `\frac12` → `\frac{1}{2}`, `\sqrt2` → `\sqrt{2}`: single-token arguments get braces. */
function braceShortArgs(s: string): string {
  return s
    .replace(/\\frac\s*(\d)\s*(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac\s*(\{[^{}]*\})\s*([a-zA-Z0-9])/g, '\\frac$1{$2}')
    .replace(/\\frac\s*([a-zA-Z0-9])\s*(\{)/g, '\\frac{$1}$2')
    .replace(/\\sqrt\s*([a-zA-Z0-9])/g, '\\sqrt{$1}');
}

function stripOuter(s: string): string {
  let t = s.trim();
  for (let k = 0; k < 4; k++) {
    const before = t;
    if (t.startsWith('\\boxed{') || t.startsWith('\\fbox{')) {
      const m = matchBraces(t, t.indexOf('{'));
      if (m && m.end === t.length) t = m.content.trim();
    }
    if (t.startsWith('\\[') && t.endsWith('\\]')) t = t.slice(2, -2).trim();
    if (t.startsWith('\\(') && t.endsWith('\\)')) t = t.slice(2, -2).trim();
    t = t.replace(/[.\s]+$/, '').replace(/^[\s]+/, '');
    if (t === before) break;
  }
  return t;
}

/** Canonical surface form of an answer string; `percent` records a stripped percent sign. */
export function normalizeAnswer(raw: string): Norm {
  let s = stripOuter(raw.replace(/\\\$/g, '').replace(/\$/g, ''));
  let percent = false;
  s = s
    .replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\s*/g, '')
    .replace(/\\[dt]frac/g, '\\frac')
    .replace(/\\dbinom/g, '\\binom')
    .replace(/\\(?:geqslant|geq)(?![a-zA-Z])/g, '\\ge')
    .replace(/\\(?:leqslant|leq)(?![a-zA-Z])/g, '\\le')
    .replace(/\\neq(?![a-zA-Z])/g, '\\ne')
    .replace(/\\displaystyle/g, '')
    .replace(/(?<!\\)\\(?:!|,|;|:| |quad|qquad)(?![a-zA-Z])/g, ' ')
    .replace(/~/g, ' ')
    .replace(/\{,\}/g, ',')
    .replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree/g, '');
  if (/\\%|%/.test(s)) {
    percent = true;
    s = s.replace(/\\%|%/g, '');
  }
  s = unwrapTextCommands(s);
  // "x \in [2, 5)" states the set the variable lies in: the set is the answer.
  s = s.replace(/^\s*[a-zA-Z]\s*\\in\s*/, '');
  s = braceShortArgs(s);
  // Whitespace carries no meaning except after a command name (`\cot x`).
  s = s.replace(/(\\[a-zA-Z]+)\s+(?=[a-zA-Z])/g, '$1\u0000').replace(/\s+/g, '').replace(/\u0000/g, ' ');
  // Trailing plain-text units: "10inches" after whitespace removal; only known unit words.
  const unit = /^(.*?[\d}])([a-zA-Z]+(?:\^\(?\{?\d\}?\)?)?)$/.exec(s);
  if (unit && UNIT_WORDS.has(unit[2]!.replace(/\^.*/, '').toLowerCase()) && unit[2]!.length >= 2 && isPlainNumber(unit[1]!)) s = unit[1]!;
  if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  s = s.replace(/[.\s]+$/, '');
  return { s, percent };
}

// ---------------------------------------------------------------------------------------------
// Numbers

const PLAIN_INT = /^[+-]?\d{1,300}$/;
const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
function isPlainNumber(s: string): boolean {
  return PLAIN_NUMBER.test(s);
}

interface Num {
  value: number;
  /** Decimal digits of an integer value, sign included, no leading zeros: exact comparison. */
  int: string | null;
}

function parseNum(s: string): Num | null {
  if (PLAIN_NUMBER.test(s)) {
    const value = Number(s);
    let int: string | null = null;
    const m = /^([+-]?)(\d+)(?:\.0*)?$/.exec(s);
    if (m) {
      const digits = m[2]!.replace(/^0+(?=\d)/, '');
      int = (m[1] === '-' && digits !== '0' ? '-' : '') + digits;
    }
    return { value, int };
  }
  let m = /^([+-]?)(\d+)\/(\d+)$/.exec(s) ?? /^([+-]?)\\frac\{(\d+)\}\{(\d+)\}$/.exec(s);
  if (m) {
    const v = Number(m[2]) / Number(m[3]);
    return { value: m[1] === '-' ? -v : v, int: null };
  }
  m = /^([+-]?)\\frac\{-(\d+)\}\{(\d+)\}$/.exec(s);
  if (m) {
    const v = -Number(m[2]) / Number(m[3]);
    return { value: m[1] === '-' ? -v : v, int: null };
  }
  return null;
}

function numbersEqual(a: Num, b: Num, relTol: number): boolean {
  if (a.int !== null && b.int !== null) return a.int === b.int;
  return closeTo(a.value, b.value, relTol);
}

function closeTo(a: number, b: number, relTol: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= relTol * Math.max(Math.abs(a), Math.abs(b));
}

// ---------------------------------------------------------------------------------------------
// Structure: splitting at top-level separators

/** Splits at `sep` outside (), [], {}, and \{ \}. Returns null when brackets do not balance. */
function splitTop(s: string, sep: string): string[] | null {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && (s[i + 1] === '{' || s[i + 1] === '}')) {
      depth += s[i + 1] === '{' ? 1 : -1;
      i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      out.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
    if (depth < 0) return null;
  }
  if (depth !== 0) return null;
  out.push(s.slice(start));
  return out;
}

/** `(a,b]` → { open:'(', close:']', items } when the brackets enclose the whole string. */
function bracketed(s: string): { open: string; close: string; items: string[] } | null {
  let open: string, inner: string, close: string;
  if (s.startsWith('\\{') && s.endsWith('\\}')) {
    open = '{';
    close = '}';
    inner = s.slice(2, -2);
  } else {
    open = s[0]!;
    close = s[s.length - 1]!;
    if (!'(['.includes(open) || !')]'.includes(close) || s.length < 2) return null;
    inner = s.slice(1, -1);
  }
  // The opening bracket must close at the very end: "(1,2)+(3,4)" is not one tuple.
  const items = splitTop(inner, ',');
  if (!items) return null;
  return { open, close, items };
}

function matrixRows(s: string): string[][] | null {
  const m = /^\\begin\{([pbvB]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}$/.exec(s);
  if (!m) return null;
  return m[2]!.split('\\\\').filter((r) => r.length).map((r) => r.split('&'));
}

// ---------------------------------------------------------------------------------------------
// Leaves: LaTeX → mathjs → numeric comparison at fixed points

const FUNCS: Record<string, string> = {
  sin: 'sin', cos: 'cos', tan: 'tan', cot: 'cot', sec: 'sec', csc: 'csc',
  arcsin: 'asin', arccos: 'acos', arctan: 'atan', sinh: 'sinh', cosh: 'cosh', tanh: 'tanh',
  ln: 'log', log: 'log', exp: 'exp',
};
const ALLOWED_FUNCS = new Set(['sqrt', 'nthRoot', 'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'tanh', 'log', 'exp', 'abs', 'floor', 'ceil', 'combinations']);
const CONSTANTS = new Set(['pi', 'e', 'i', 'Infinity']);
const ALLOWED_OPS = new Set(['add', 'subtract', 'multiply', 'divide', 'pow', 'unaryMinus', 'unaryPlus', 'factorial']);

/** Translates normalised LaTeX into mathjs syntax; null when something is not understood. */
export function latexToMathjs(s: string): string | null {
  let out = '';
  let i = 0;
  const group = (at: number): { content: string; end: number } | null => {
    while (s[at] === ' ') at++;
    if (s[at] === '{') return matchBraces(s, at);
    if (at < s.length && /[a-zA-Z0-9]/.test(s[at]!)) return { content: s[at]!, end: at + 1 };
    return null;
  };
  const sub = (t: string): string | null => latexToMathjs(t);
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\') {
      const m = /^\\([a-zA-Z]+|.)/.exec(s.slice(i, i + 20));
      if (!m) return null;
      const cmd = m[1]!;
      let j = i + m[0].length;
      if (cmd === 'frac' || cmd === 'binom') {
        const a = group(j);
        if (!a) return null;
        const b = group(a.end);
        if (!b) return null;
        const x = sub(a.content), y = sub(b.content);
        if (x === null || y === null) return null;
        out += cmd === 'frac' ? `((${x})/(${y}))` : ` combinations(${x},${y})`;
        i = b.end;
      } else if (cmd === 'sqrt') {
        let index: string | null = null;
        while (s[j] === ' ') j++;
        if (s[j] === '[') {
          const close = s.indexOf(']', j);
          if (close < 0) return null;
          index = sub(s.slice(j + 1, close));
          if (index === null) return null;
          j = close + 1;
        }
        const a = group(j);
        if (!a) return null;
        const x = sub(a.content);
        if (x === null) return null;
        out += index === null ? ` sqrt(${x})` : ` nthRoot(${x},${index})`;
        i = a.end;
      } else if (cmd === 'pi') {
        out += ' pi ';
        i = j;
      } else if (cmd === 'infty') {
        out += ' Infinity ';
        i = j;
      } else if (cmd === 'cdot' || cmd === 'times' || cmd === 'ast') {
        out += '*';
        i = j;
      } else if (cmd === 'div') {
        out += '/';
        i = j;
      } else if (cmd === 'lfloor' || cmd === 'lceil') {
        out += cmd === 'lfloor' ? ' floor(' : ' ceil(';
        i = j;
      } else if (cmd === 'rfloor' || cmd === 'rceil') {
        out += ')';
        i = j;
      } else if (cmd === 'lvert' || cmd === 'rvert' || cmd === '|') {
        return null;
      } else if (FUNCS[cmd]) {
        // `\sin x`, `\sin^2 x` are rare in answers; only the parenthesised or single-token form.
        while (s[j] === ' ') j++;
        if (s[j] === '(') {
          out += ` ${FUNCS[cmd]}`;
          i = j;
        } else {
          const a = group(j);
          if (!a) return null;
          const x = sub(a.content);
          if (x === null) return null;
          out += ` ${FUNCS[cmd]}(${x})`;
          i = a.end;
        }
      } else return null;
    } else if (c === '^') {
      const a = group(i + 1);
      if (!a) return null;
      const x = sub(a.content);
      if (x === null) return null;
      out += `^(${x})`;
      i = a.end;
    } else if (c === '_') {
      // Subscripted variables (a_1, a_{12}) become one symbol; anything else is not arithmetic.
      const a = group(i + 1);
      if (!a || !/^[a-zA-Z0-9]+$/.test(a.content) || !/[a-zA-Z]$/.test(out)) return null;
      out += `_${a.content}`;
      i = a.end;
    } else if (c === '{') {
      out += '(';
      i++;
    } else if (c === '}') {
      out += ')';
      i++;
    } else if (/[a-zA-Z]/.test(c)) {
      // A run of letters is a product of single-letter variables (`ab` = a*b), not a name.
      let j = i;
      while (j < s.length && /[a-zA-Z]/.test(s[j]!)) j++;
      let subscripted = false;
      if (s[j] === '_') subscripted = true;
      const run = s.slice(i, j);
      out += ' ' + run.split('').join('*') + (subscripted ? '' : ' ');
      // `n(n+1)` is a product: mathjs would read a symbol before a parenthesis as a call.
      if (!subscripted && s[j] === '(') out += '*';
      i = j;
    } else if (/[0-9.+\-*/()!,=<> ]/.test(c)) {
      out += c;
      i++;
    } else return null;
  }
  return out;
}

interface Compiled {
  evaluate(scope: Record<string, unknown>): unknown;
  symbols: string[];
}

function checkNode(node: MathNode, symbols: Set<string>, count: { n: number }): boolean {
  if (++count.n > MAX_NODES) return false;
  switch (node.type) {
    case 'ConstantNode':
      return typeof (node as unknown as { value: unknown }).value === 'number';
    case 'SymbolNode': {
      const name = (node as unknown as { name: string }).name;
      if (!CONSTANTS.has(name)) {
        if (!/^[a-zA-Z](?:_[a-zA-Z0-9]+)?$/.test(name)) return false;
        symbols.add(name);
      }
      return true;
    }
    case 'ParenthesisNode':
      return checkNode((node as unknown as { content: MathNode }).content, symbols, count);
    case 'OperatorNode': {
      const op = node as unknown as { fn: string; args: MathNode[] };
      return ALLOWED_OPS.has(op.fn) && op.args.every((a) => checkNode(a, symbols, count));
    }
    case 'FunctionNode': {
      const f = node as unknown as { fn: { name?: string }; args: MathNode[] };
      return !!f.fn.name && ALLOWED_FUNCS.has(f.fn.name) && f.args.length <= 2 && f.args.every((a) => checkNode(a, symbols, count));
    }
    default:
      return false;
  }
}

const compiledCache = new Map<string, Compiled | null>();

/** Drops the compiled-expression cache (benchmarks measure cold-cache throughput with it). */
export function clearEquivalenceCache(): void {
  compiledCache.clear();
}

function compileExpr(src: string): Compiled | null {
  const hit = compiledCache.get(src);
  if (hit !== undefined) return hit;
  let result: Compiled | null = null;
  try {
    const node = parse(src);
    const symbols = new Set<string>();
    if (checkNode(node, symbols, { n: 0 })) {
      const code = node.compile();
      result = { evaluate: (scope) => code.evaluate(scope), symbols: [...symbols].sort() };
    }
  } catch {
    result = null;
  }
  if (compiledCache.size > 20000) compiledCache.clear();
  compiledCache.set(src, result);
  return result;
}

/** C(n, k) with a bounded loop (mathjs' own loops up to n times: seconds for n = 10^8). */
function boundedCombinations(n: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 0 || k > n || n > 1e5) return NaN;
  k = Math.min(k, n - k);
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r < 2 ** 53 ? Math.round(r) : r;
}

// Fixed evaluation points: grading is deterministic. Values avoid integers and small rationals
// where distinct expressions often agree by accident.
const POINTS = [0.5772, 1.3247, 2.7183, -0.8319, 3.1416, 0.2357, -1.618, 4.6692];
const N_POINTS = 5;

function asComplex(v: unknown): [number, number] | null {
  if (typeof v === 'number') return [v, 0];
  if (v && typeof v === 'object' && 're' in v && 'im' in v) {
    const c = v as { re: number; im: number };
    return [c.re, c.im];
  }
  return null;
}

function exprEqual(a: string, b: string, relTol: number, deadline: number): boolean {
  const ja = latexToMathjs(a), jb = latexToMathjs(b);
  if (ja === null || jb === null) return false;
  if (/[=<>]/.test(ja) || /[=<>]/.test(jb)) return false;
  const ca = compileExpr(ja), cb = compileExpr(jb);
  if (!ca || !cb) return false;
  const vars = [...new Set([...ca.symbols, ...cb.symbols])];
  // Expressions in variables must agree identically; constants to the numeric tolerance.
  const tol = vars.length ? 1e-8 : relTol;
  let agreed = 0;
  for (let p = 0; p < (vars.length ? POINTS.length : 1) && agreed < (vars.length ? N_POINTS : 1); p++) {
    if (Date.now() > deadline) return false;
    const scope: Record<string, unknown> = { combinations: boundedCombinations };
    vars.forEach((v, k) => (scope[v] = POINTS[(p + 3 * k) % POINTS.length]!));
    let va: [number, number] | null, vb: [number, number] | null;
    try {
      va = asComplex(ca.evaluate(scope));
      vb = asComplex(cb.evaluate(scope));
    } catch {
      return false;
    }
    if (!va || !vb) return false;
    const finite = va.every(Number.isFinite) && vb.every(Number.isFinite);
    if (!finite) {
      // Overflow says nothing about equality; only a written infinity may equal another.
      if (va[0] === vb[0] && va[1] === vb[1] && ja.includes('Infinity') && jb.includes('Infinity')) { agreed++; continue; }
      if (Number.isNaN(va[0]) && Number.isNaN(vb[0]) && vars.length) continue;
      return false;
    }
    const scale = Math.max(Math.hypot(va[0], va[1]), Math.hypot(vb[0], vb[1]), vars.length ? 1 : 0);
    if (Math.hypot(va[0] - vb[0], va[1] - vb[1]) > tol * scale) return false;
    agreed++;
  }
  return agreed > 0;
}

// ---------------------------------------------------------------------------------------------
// Recursive comparison

/** Drops a `x =` / `f(x) =` / `m_{max} =` prefix naming what the answer is. */
function stripAssignment(s: string): string {
  const at = s.indexOf('=');
  if (at <= 0 || s.indexOf('=', at + 1) >= 0) return s;
  const lhs = s.slice(0, at);
  if (lhs.length <= 16 && /^[a-zA-Z\\]/.test(lhs) && !/\d{2}|[+\-*/^]/.test(lhs.replace(/_\{?[^}]*\}?/, ''))) return s.slice(at + 1);
  return s;
}

interface Ctx {
  relTol: number;
  deadline: number;
  percent: boolean;
}

function expandPm(items: string[]): string[] {
  const out: string[] = [];
  for (const it of items) {
    const k = it.indexOf('\\pm');
    if (k >= 0 && it.indexOf('\\pm', k + 1) < 0) out.push(it.slice(0, k) + '+' + it.slice(k + 3), it.slice(0, k) + '-' + it.slice(k + 3));
    else out.push(it);
  }
  return out;
}

function leafEqual(a: string, b: string, ctx: Ctx): boolean {
  if (a === b) return true;
  const sa = stripAssignment(a), sb = stripAssignment(b);
  if (sa === sb) return true;
  const na = parseNum(sa), nb = parseNum(sb);
  if (na && nb) {
    if (numbersEqual(na, nb, ctx.relTol)) return true;
    if (ctx.percent) return closeTo(na.value, nb.value / 100, ctx.relTol) || closeTo(na.value / 100, nb.value, ctx.relTol);
    return false;
  }
  // Plain words ("Evelyn", "east", "(C)") compare without case; one- and two-letter strings are
  // products of variables ("ab" = "ba") and go on to the expression comparison.
  if (/^[a-zA-Z() ]+$/.test(sa) && /^[a-zA-Z() ]+$/.test(sb) && Math.max(sa.length, sb.length) >= 3) {
    return sa.toLowerCase() === sb.toLowerCase();
  }
  if (Date.now() > ctx.deadline) return false;
  // Equations on both sides: same sides, either way round.
  const ea = splitTop(sa, '='), eb = splitTop(sb, '=');
  if (ea && eb && ea.length === 2 && eb.length === 2) {
    return (exprEqual(ea[0]!, eb[0]!, ctx.relTol, ctx.deadline) && exprEqual(ea[1]!, eb[1]!, ctx.relTol, ctx.deadline)) ||
      (exprEqual(ea[0]!, eb[1]!, ctx.relTol, ctx.deadline) && exprEqual(ea[1]!, eb[0]!, ctx.relTol, ctx.deadline));
  }
  return exprEqual(sa, sb, ctx.relTol, ctx.deadline);
}

function unorderedEqual(as: string[], bs: string[], ctx: Ctx, depth: number): boolean {
  if (as.length !== bs.length || as.length > MAX_ELEMENTS) return false;
  const used = new Uint8Array(bs.length);
  outer: for (const a of as) {
    for (let k = 0; k < bs.length; k++) {
      if (!used[k] && formsEqual(a, bs[k]!, ctx, depth + 1)) {
        used[k] = 1;
        continue outer;
      }
    }
    return false;
  }
  return true;
}

function orderedEqual(as: string[], bs: string[], ctx: Ctx, depth: number): boolean {
  if (as.length !== bs.length || as.length > MAX_ELEMENTS) return false;
  return as.every((a, k) => formsEqual(a, bs[k]!, ctx, depth + 1));
}

function formsEqual(a: string, b: string, ctx: Ctx, depth: number): boolean {
  if (a === b) return true;
  if (depth > 6 || Date.now() > ctx.deadline) return false;
  const ma = matrixRows(a), mb = matrixRows(b);
  if (ma || mb) {
    if (!ma || !mb || ma.length !== mb.length) return false;
    return ma.every((row, r) => orderedEqual(row, mb[r]!, ctx, depth));
  }
  // Unions of intervals/sets: in order.
  const ua = splitTop(a, '\\cup'), ub = splitTop(b, '\\cup');
  if ((ua && ua.length > 1) || (ub && ub.length > 1)) {
    return !!ua && !!ub && orderedEqual(ua, ub, ctx, depth);
  }
  const ba = bracketed(a), bb = bracketed(b);
  const la = splitTop(a, ','), lb = splitTop(b, ',');
  const listA = la && la.length > 1 ? la : null, listB = lb && lb.length > 1 ? lb : null;
  // A tuple or interval: same brackets, same items in order. Sets (\{…\}) are unordered.
  if (ba && bb && (ba.items.length > 1 || bb.items.length > 1)) {
    if (ba.open !== bb.open || ba.close !== bb.close) return false;
    return ba.open === '{' ? unorderedEqual(ba.items, bb.items, ctx, depth) : orderedEqual(ba.items, bb.items, ctx, depth);
  }
  // Multiple answers "1, -2" (either side may use \pm): unordered.
  if (listA || listB || a.includes('\\pm') || b.includes('\\pm')) {
    const xa = expandPm(listA ?? (ba?.open === '{' ? ba.items : [a]));
    const xb = expandPm(listB ?? (bb?.open === '{' ? bb.items : [b]));
    if (xa.length > 1 || xb.length > 1) {
      if (xa.length === xb.length && unorderedEqual(xa, xb, ctx, depth)) return true;
      // "(1,2)" against a bare "1,2": the tuple written without its brackets.
      if (ba && ba.open === '(' && listB) return orderedEqual(ba.items, listB, ctx, depth);
      if (bb && bb.open === '(' && listA) return orderedEqual(listA, bb.items, ctx, depth);
      return false;
    }
  }
  return leafEqual(a, b, ctx);
}

/** Whether `pred` and `gold` denote the same final answer. */
export function answersEquivalent(pred: string, gold: string, opts: EquivalenceOptions = {}): boolean {
  // An empty gold (a defective record) matches nothing, not even an empty answer.
  if (!gold.trim()) return false;
  if (pred === gold) return true;
  // Fastest path, the curriculum's and GSM8K's: two plain integers.
  if (PLAIN_INT.test(pred) && PLAIN_INT.test(gold)) return parseNum(pred)!.int === parseNum(gold)!.int;
  // Answers are short; a huge "answer" gets exact comparison only, which keeps every regex
  // below on bounded input.
  if (pred.length > 4 * MAX_ANSWER_CHARS || gold.length > 4 * MAX_ANSWER_CHARS) return pred.trim() === gold.trim();
  const np = normalizeAnswer(pred), ng = normalizeAnswer(gold);
  if (np.s === ng.s) return true;
  if (!np.s.length || !ng.s.length) return false;
  const relTol = opts.relTol ?? 1e-4;
  // Fast path: two plain numbers never need the expression machinery.
  const a = parseNum(np.s), b = parseNum(ng.s);
  const percent = np.percent || ng.percent;
  if (a && b) {
    if (numbersEqual(a, b, relTol)) return true;
    return percent && (closeTo(a.value, b.value / 100, relTol) || closeTo(a.value / 100, b.value, relTol));
  }
  if (np.s.length > MAX_ANSWER_CHARS || ng.s.length > MAX_ANSWER_CHARS) return false;
  loadMathjs();
  const ctx: Ctx = { relTol, deadline: Date.now() + (opts.budgetMs ?? 50), percent };
  return formsEqual(np.s, ng.s, ctx, 0);
}
