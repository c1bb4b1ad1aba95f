// Numeric comparison of expressions. A LaTeX leaf is translated (latex.ts), parsed by mathjs and
// checked against a whitelist of node types, operators, functions and symbols before it is
// compiled, so nothing outside arithmetic is ever evaluated. Then:
// - constants (no variables) are evaluated exactly with BigInt rationals where the expression is
//   integer arithmetic (2^{64}, \frac{100!}{2^{50}}, \binom{10}{3}), else in complex doubles;
// - expressions in variables are compared at fixed points (deterministic), skipping points where
//   only one side is real: x^{2/3} and \sqrt[3]{x}^2 agree wherever both are real;
// - relations use `proportional`: L − R on both sides agree up to a nonzero (or positive) factor.
// All work is counted against the comparison's budget (see Budget) and every size is bounded.
import { createRequire } from 'node:module';
import type { MathNode } from 'mathjs';
import { latexToMathjs, GREEK_PREFIX } from './latex.ts';
import {
  ratAdd, ratSub, ratMul, ratDiv, ratNeg, ratPow, ratFactorial, ratBinomial, ratEqual, ratClose, ratToNumber,
  parseDecimal, decimalToRational, rational, type Rational,
} from './numbers.ts';

// mathjs costs about 3 s of CPU to load (it builds every function it has), more than everything
// else a run process loads, and most comparisons never reach this layer: it is loaded on first
// use. answersEquivalent loads it before a comparison's clock starts, so the load never counts
// against the budget's deadline.
let mathjsParse: ((src: string) => MathNode) | null = null;

/** Loads mathjs unless it is loaded; true when this call loaded it. */
export function loadMathjs(): boolean {
  if (mathjsParse) return false;
  mathjsParse = (createRequire(import.meta.url)('mathjs') as typeof import('mathjs')).parse;
  return true;
}

function parse(src: string): MathNode {
  loadMathjs();
  return mathjsParse!(src);
}

/** Work counters and wall-clock safety net shared by one comparison. */
export interface Budget {
  /** Evaluation work left: a translation costs 1, a point evaluation 2, a mathjs parse COMPILE_COST. */
  work: number;
  /** Structural steps left (one per pair of nodes or leaves compared). */
  steps: number;
  /** Absolute time (ms, performance.now) after which everything answers "not equal". */
  deadline: number;
}

/** Units a mathjs parse costs (about ten times a point evaluation). */
export const COMPILE_COST = 10;

export function spend(b: Budget, units = 1): boolean {
  b.work -= units;
  return b.work >= 0 && performance.now() <= b.deadline;
}

/** One structural step; the clock is read every 256 steps only. */
export function step(b: Budget): boolean {
  b.steps--;
  return b.steps >= 0 && ((b.steps & 255) !== 0 || performance.now() <= b.deadline);
}

const MAX_NODES = 400;
const ALLOWED_FUNCS = new Set(['sqrt', 'nthRoot', 'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'tanh', 'log', 'exp', 'abs', 'floor', 'ceil', 'combinations']);
const CONSTANTS = new Set(['pi', 'e', 'i', 'Infinity']);
const ALLOWED_OPS = new Set(['add', 'subtract', 'multiply', 'divide', 'pow', 'unaryMinus', 'unaryPlus', 'factorial']);
const VARIABLE = new RegExp(`^(?:[a-zA-Z](?:_[a-zA-Z0-9]+)?|${GREEK_PREFIX}[a-zA-Z]+)$`);

export interface Compiled {
  evaluate(scope: Record<string, unknown>): unknown;
  node: MathNode;
  /** Free variables, sorted. */
  symbols: string[];
  /** Numeric literals in source order (placeholders N__k in the shape; exact values need the text). */
  literals: string[];
  /** Some literal has a decimal point: the value may be an approximation. */
  approx: boolean;
  /** Mentions \infty. */
  infinite: boolean;
  /** Value at the fingerprint point (see fingerprintOf), computed once. */
  fingerprint?: Complex | null;
}

function checkNode(node: MathNode, symbols: Set<string>, count: { n: number }): boolean {
  if (++count.n > MAX_NODES) return false;
  const n = node as unknown as { type: string; value?: unknown; name?: string; fn?: string | { name?: string }; args?: MathNode[]; content?: MathNode };
  switch (n.type) {
    case 'ConstantNode':
      // Literals are placeholders (see shapeOf); mathjs itself reads `Infinity` as a constant.
      return typeof n.value === 'number' && (Number.isFinite(n.value) || n.value === Infinity);
    case 'SymbolNode':
      if (CONSTANTS.has(n.name!) || PLACEHOLDER.test(n.name!)) return true;
      if (!VARIABLE.test(n.name!)) return false;
      symbols.add(n.name!);
      return true;
    case 'ParenthesisNode':
      return checkNode(n.content!, symbols, count);
    case 'OperatorNode':
      return ALLOWED_OPS.has(n.fn as string) && n.args!.every((a) => checkNode(a, symbols, count));
    case 'FunctionNode': {
      const name = (n.fn as { name?: string }).name;
      return !!name && ALLOWED_FUNCS.has(name) && n.args!.length <= 2 && n.args!.every((a) => checkNode(a, symbols, count));
    }
    default:
      return false;
  }
}

const LITERAL = /(?<![\w.])(?:\d+\.?\d*|\.\d+)/g;
/** Placeholder symbol of the k-th literal: never a variable (those have at most one underscore). */
const PLACEHOLDER = /^N__(\d+)$/;

/**
 * The expression's shape: every numeric literal replaced by a placeholder symbol, so that
 * expressions differing only in their numbers share one parse ("\frac{3}{56}", "\frac{5}{7}").
 * Null for two literals side by side ("2 3"), which is not arithmetic.
 */
function shapeOf(src: string): { shape: string; literals: string[] } | null {
  const literals: string[] = [];
  let out = '';
  let last = 0;
  LITERAL.lastIndex = 0;
  for (let m = LITERAL.exec(src); m; m = LITERAL.exec(src)) {
    out += src.slice(last, m.index) + `N__${literals.length}`;
    literals.push(m[0]);
    last = m.index + m[0].length;
    const next = /^\s*(.)/.exec(src.slice(last, last + 8))?.[1];
    // "2(x+1)" is a product (a symbol before a parenthesis would be a call); "2 3" is nothing.
    if (next === '(') out += '*';
    else if (next !== undefined && /[\d.]/.test(next)) return null;
  }
  return { shape: out + src.slice(last), literals };
}

interface Shape {
  node: MathNode;
  code: { evaluate(scope: Record<string, unknown>): unknown };
  symbols: string[];
}

const shapes = new Map<string, Shape | null>();
const cache = new Map<string, Compiled | null>();

/** Drops the compiled-expression caches (benchmarks measure cold-cache throughput with it). */
export function clearCompiledCache(): void {
  cache.clear();
  shapes.clear();
}

function compileShape(shape: string): Shape | null {
  const hit = shapes.get(shape);
  if (hit !== undefined) return hit;
  let result: Shape | null = null;
  try {
    const node = parse(shape);
    const symbols = new Set<string>();
    if (checkNode(node, symbols, { n: 0 })) result = { node, code: node.compile(), symbols: [...symbols].sort() };
  } catch {
    result = null;
  }
  if (shapes.size > 20000) shapes.clear();
  shapes.set(shape, result);
  return result;
}

/** Compiles one LaTeX leaf, or null when it is outside the whitelist. Cached by its text. */
export function compileLatex(latex: string, budget: Budget): Compiled | null {
  const hit = cache.get(latex);
  if (hit !== undefined) return hit;
  if (!spend(budget)) return null;
  let result: Compiled | null = null;
  const src = latexToMathjs(latex);
  const sh = src !== null && !/[=<>]/.test(src) ? shapeOf(src) : null;
  // A parse is the expensive part; a shape already parsed costs only its translation.
  if (sh && !shapes.has(sh.shape) && !spend(budget, COMPILE_COST)) return null;
  const compiled = sh ? compileShape(sh.shape) : null;
  if (sh && compiled) {
    const values: Record<string, number> = {};
    sh.literals.forEach((l, k) => (values[`N__${k}`] = Number(l)));
    if (Object.values(values).every(Number.isFinite)) {
      result = {
        evaluate: (scope) => compiled.code.evaluate({ ...scope, ...values }),
        node: compiled.node,
        symbols: compiled.symbols,
        literals: sh.literals,
        approx: sh.literals.some((l) => l.includes('.')),
        infinite: src!.includes('Infinity'),
      };
    }
  }
  if (cache.size > 20000) cache.clear();
  cache.set(latex, result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Exact evaluation (integer arithmetic)

/** The exact rational value of a constant expression, or null when it is not integer arithmetic. */
export function exactValue(c: Compiled): Rational | null {
  if (c.symbols.length || c.infinite) return null;
  const lits = c.literals;
  const ev = (node: MathNode): Rational | null => {
    const n = node as unknown as { type: string; name?: string; value?: number; fn?: string | { name?: string }; args?: MathNode[]; content?: MathNode };
    switch (n.type) {
      case 'SymbolNode': {
        const k = PLACEHOLDER.exec(n.name!);
        const d = k ? parseDecimal(lits[Number(k[1])]!) : null;
        return d ? decimalToRational(d) : null;
      }
      case 'ConstantNode': {
        const d = typeof n.value === 'number' && Number.isSafeInteger(n.value) ? parseDecimal(String(n.value)) : null;
        return d ? decimalToRational(d) : null;
      }
      case 'ParenthesisNode':
        return ev(n.content!);
      case 'OperatorNode': {
        const args: Rational[] = [];
        for (const a of n.args!) {
          const v = ev(a);
          if (!v) return null;
          args.push(v);
        }
        const [x, y] = args as [Rational, Rational];
        switch (n.fn as string) {
          case 'add': return ratAdd(x, y);
          case 'subtract': return ratSub(x, y);
          case 'multiply': return ratMul(x, y);
          case 'divide': return ratDiv(x, y);
          case 'pow': return ratPow(x, y);
          case 'unaryMinus': return ratNeg(x);
          case 'unaryPlus': return x;
          case 'factorial': return ratFactorial(x);
        }
        return null;
      }
      case 'FunctionNode': {
        const name = (n.fn as { name?: string }).name;
        const args: Rational[] = [];
        for (const a of n.args!) {
          const v = ev(a);
          if (!v) return null;
          args.push(v);
        }
        if (name === 'combinations' && args.length === 2) return ratBinomial(args[0]!, args[1]!);
        if (name === 'abs' && args.length === 1) return args[0]!.n < 0n ? ratNeg(args[0]!) : args[0]!;
        if (name === 'sqrt' && args.length === 1) return exactRoot(args[0]!, 2n);
        if (name === 'nthRoot' && args.length === 2 && args[1]!.d === 1n && args[1]!.n > 1n && args[1]!.n <= 64n) return exactRoot(args[0]!, args[1]!.n);
        return null;
      }
    }
    return null;
  };
  try {
    return ev(c.node);
  } catch {
    return null;
  }
}

/** The exact k-th root of a rational when it is rational (√(9/4) = 3/2), else null. */
function exactRoot(a: Rational, k: bigint): Rational | null {
  if (a.n < 0n && k % 2n === 0n) return null;
  const root = (x: bigint): bigint | null => {
    if (x < 0n) {
      const r = root(-x);
      return r === null ? null : -r;
    }
    if (x < 2n) return x;
    // Newton's method on integers, from a power-of-two upper bound.
    let r = 1n << BigInt(Math.ceil(x.toString(2).length / Number(k)) + 1);
    for (let it = 0; it < 400; it++) {
      const next = ((k - 1n) * r + x / r ** (k - 1n)) / k;
      if (next >= r) break;
      r = next;
    }
    return r ** k === x ? r : null;
  };
  const n = root(a.n), d = root(a.d);
  return n === null || d === null ? null : rational(n, d);
}

// ---------------------------------------------------------------------------------------------
// Evaluation at points

// Fixed evaluation points: grading is deterministic. Values avoid integers and small rationals
// where distinct expressions often agree by accident.
const POINTS = [0.5772, 1.3247, 2.7183, -0.8319, 3.1416, 0.2357, -1.618, 4.6692];
/** Points (both sides real, or both complex) that must agree for an identity in variables. */
const MIN_AGREEING = 4;

type Complex = [number, number];

function asComplex(v: unknown): Complex | null {
  if (typeof v === 'number') return [v, 0];
  if (v && typeof v === 'object' && 're' in v && 'im' in v) {
    const c = v as { re: number; im: number };
    return [c.re, c.im];
  }
  return null;
}

/** mathjs' own C(n, k) loops n times; this one refuses huge n instead of taking seconds. */
function boundedCombinations(n: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 0 || k > n || n > 1e5) return NaN;
  k = Math.min(k, n - k);
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r < 2 ** 53 ? Math.round(r) : r;
}

function scopeAt(vars: readonly string[], p: number): Record<string, unknown> {
  const scope: Record<string, unknown> = { combinations: boundedCombinations };
  vars.forEach((v, k) => (scope[v] = POINTS[(p + 3 * k) % POINTS.length]!));
  return scope;
}

function valueAt(c: Compiled, scope: Record<string, unknown>): Complex | null {
  try {
    return asComplex(c.evaluate(scope));
  } catch {
    return null;
  }
}

const isReal = (v: Complex): boolean => Math.abs(v[1]) <= 1e-12 * Math.max(1, Math.abs(v[0]));
const finite = (v: Complex): boolean => Number.isFinite(v[0]) && Number.isFinite(v[1]);

function close(a: Complex, b: Complex, tol: number, floor: number): boolean {
  const scale = Math.max(Math.hypot(a[0], a[1]), Math.hypot(b[0], b[1]), floor);
  return Math.hypot(a[0] - b[0], a[1] - b[1]) <= tol * scale;
}

export interface CompareOptions {
  relTol: number;
  /** The first / second answer carried a percent sign: it may also be read divided by 100. */
  percentA: boolean;
  percentB: boolean;
  budget: Budget;
}

/**
 * The value at one fixed positive point, each variable's value chosen by its name: two equal
 * functions have equal fingerprints, so most different pairs are told apart by two cached
 * numbers, without evaluating anything (what makes a set of 60 expressions cheap to match).
 */
function fingerprintOf(c: Compiled): Complex | null {
  if (c.fingerprint === undefined) {
    const scope: Record<string, unknown> = { combinations: boundedCombinations };
    for (const v of c.symbols) {
      let h = 0;
      for (let k = 0; k < v.length; k++) h = (h * 31 + v.charCodeAt(k)) >>> 0;
      scope[v] = 0.6 + (h % 1000) / 577;
    }
    c.fingerprint = valueAt(c, scope);
  }
  return c.fingerprint;
}

/** Whether two leaves are the same number or the same function of their variables. */
export function expressionsEqual(a: string, b: string, o: CompareOptions): boolean {
  const ca = compileLatex(a, o.budget), cb = compileLatex(b, o.budget);
  if (!ca || !cb) return false;
  const vars = [...new Set([...ca.symbols, ...cb.symbols])].sort();
  if (!vars.length) return constantsEqual(ca, cb, o);
  // Quick rejection: both fingerprints real and finite, and clearly different.
  const fa = fingerprintOf(ca), fb = fingerprintOf(cb);
  if (fa && fb && finite(fa) && finite(fb) && isReal(fa) && isReal(fb) && !close(fa, fb, 1e-6, 1)) return false;
  let agreed = 0;
  for (let p = 0; p < POINTS.length; p++) {
    if (!spend(o.budget, 2)) return false;
    const scope = scopeAt(vars, p);
    const va = valueAt(ca, scope), vb = valueAt(cb, scope);
    if (!va || !vb) return false;
    if (!finite(va) || !finite(vb)) {
      if (Number.isNaN(va[0]) && Number.isNaN(vb[0])) continue;
      if (!finite(va) && !finite(vb)) continue;
      return false;
    }
    // Off the real domain of one side only (x^{2/3} at x < 0 is complex, \sqrt[3]{x}^2 real): skip.
    if (isReal(va) !== isReal(vb)) continue;
    if (!close(va, vb, 1e-8, 1)) return false;
    agreed++;
  }
  return agreed >= MIN_AGREEING;
}

/** Constants: exactly when both are integer arithmetic, else to the tolerance their form allows. */
function constantsEqual(ca: Compiled, cb: Compiled, o: CompareOptions): boolean {
  if (!spend(o.budget, 2)) return false;
  const approx = ca.approx || cb.approx;
  const ea = exactValue(ca), eb = exactValue(cb);
  if (ea && eb) {
    if (approx ? ratClose(ea, eb, o.relTol) : ratEqual(ea, eb)) return true;
    const hundred = rational(100n)!;
    const a100 = o.percentA ? ratDiv(ea, hundred) : null, b100 = o.percentB ? ratDiv(eb, hundred) : null;
    return (!!b100 && ratClose(ea, b100, o.relTol)) || (!!a100 && ratClose(a100, eb, o.relTol));
  }
  const scope = scopeAt([], 0);
  const va = valueAt(ca, scope), vb = valueAt(cb, scope);
  if (!va || !vb) return false;
  if (!finite(va) || !finite(vb)) {
    // Overflow says nothing about equality; only a written infinity may equal another.
    return ca.infinite && cb.infinite && va[0] === vb[0] && va[1] === vb[1];
  }
  // An exact value beyond double range (2^{5000}) evaluates to Infinity above; here both are
  // finite, but a huge exact integer must not meet a nearby double by rounding.
  if ((ea && !Number.isFinite(ratToNumber(ea))) || (eb && !Number.isFinite(ratToNumber(eb)))) return false;
  const tol = approx ? o.relTol : 1e-10;
  if (close(va, vb, tol, 0)) return true;
  return (o.percentB && close(va, [vb[0] / 100, vb[1] / 100], tol, 0)) || (o.percentA && close([va[0] / 100, va[1] / 100], vb, tol, 0));
}

/** A constant leaf's value (for interval endpoints), or null when it has variables or is not understood. */
export function constantValue(latex: string, budget: Budget): { value: number; approx: boolean } | null {
  const c = compileLatex(latex, budget);
  if (!c || c.symbols.length) return null;
  const v = valueAt(c, scopeAt([], 0));
  if (!v || !isReal(v)) return null;
  if (!Number.isFinite(v[0]) && !c.infinite) return null;
  return { value: v[0], approx: c.approx };
}

/** The variables of a leaf, or null when it is not understood. */
export function variablesOf(latex: string, budget: Budget): string[] | null {
  return compileLatex(latex, budget)?.symbols ?? null;
}

/**
 * Whether (La − Ra) = k·(Lb − Rb) identically for one constant k ≠ 0 (k > 0 when `positive`):
 * the same equation or inequality up to scale and side.
 */
export function proportional(a: [string, string], b: [string, string], positive: boolean, budget: Budget): boolean {
  const cs = [...a, ...b].map((x) => compileLatex(x, budget));
  if (cs.some((c) => !c)) return false;
  const [la, ra, lb, rb] = cs as [Compiled, Compiled, Compiled, Compiled];
  const vars = [...new Set(cs.flatMap((c) => c!.symbols))].sort();
  // Without unknowns an equation is a claim about two numbers, not a relation to scale.
  if (!vars.length) return false;
  let k: number | null = null;
  let agreed = 0;
  for (let p = 0; p < POINTS.length; p++) {
    if (!spend(budget, 4)) return false;
    const scope = scopeAt(vars, p);
    const vals = [la, ra, lb, rb].map((c) => valueAt(c, scope));
    if (vals.some((v) => !v || !finite(v) || !isReal(v))) continue;
    const da = vals[0]![0] - vals[1]![0], db = vals[2]![0] - vals[3]![0];
    const scale = Math.max(...vals.map((v) => Math.abs(v![0])), 1);
    const za = Math.abs(da) <= 1e-9 * scale, zb = Math.abs(db) <= 1e-9 * scale;
    if (za || zb) {
      if (za !== zb) return false;
      agreed++;
      continue;
    }
    const r = da / db;
    if (k === null) k = r;
    else if (Math.abs(r - k) > 1e-8 * Math.max(Math.abs(r), Math.abs(k))) return false;
    agreed++;
  }
  if (k !== null && positive && k <= 0) return false;
  return agreed >= MIN_AGREEING;
}
