// Answer equivalence: is a predicted final answer the same as the gold one? Layers, cheapest
// first, each in its own file:
//   normalize.ts  the LaTeX and prose surface (delimiters, \text, units, percent, separators);
//   numbers.ts    plain numbers, exactly at any size (big decimals and rationals);
//   structure.ts  lists, tuples, intervals, sets, unions, matrices, relations, leaves;
//   relations.ts  inequalities as sets of reals, and sets compared canonically;
//   latex.ts + numeric.ts  a leaf translated to mathjs through a whitelist, and compared exactly
//                 (integer arithmetic) or numerically at fixed points.
// This file compares the parsed structures. Gold and prediction are not symmetric, as in
// Math-Verify: a predicted equation `x = 5` is read as its value 5 against a gold that is not a
// relation, while a gold equation is read as its value only when its left side names the answer
// (`k = 1`, `f(x) = …`, `|AB| = …`); a gold inequality matches a predicted interval, but a gold
// interval matches a predicted inequality only with `setRelation: 'both'`.
// Every comparison is bounded: input length, items, nesting depth, and a deterministic work
// budget (plus a wall-clock safety net that ordinary answers never reach).
import { normalizeAnswer } from './normalize.ts';
import {
  parseDecimal, decimalsEqual, percentOf, decimalToRational, ratEqual, ratClose, ratDiv, rational,
  type Decimal, type Rational,
} from './numbers.ts';
import { parseAnswer, isEquation, isAssignment, MAX_ITEMS, type AnswerNode } from './structure.ts';
import { nodeToSet, relationToSet, setsEqual } from './relations.ts';
import { expressionsEqual, proportional, constantValue, clearCompiledCache, loadMathjs, step, type Budget } from './numeric.ts';

export { normalizeAnswer } from './normalize.ts';
export { latexToMathjs } from './latex.ts';

export interface EquivalenceOptions {
  /**
   * Relative tolerance for a number written with a decimal point against an exact value that
   * is not a terminating decimal (0.3333 vs 1/3, 3.14159 vs \pi). Default 1e-4. Two written
   * decimals, or a decimal and an integer, always compare exactly.
   */
  relTol?: number;
  /**
   * Relation/set policy. 'gold-relation' (default, Math-Verify's): a gold inequality matches a
   * predicted interval or union, not the other way round. 'both': either way.
   */
  setRelation?: 'gold-relation' | 'both';
  /**
   * Deterministic budgets for one comparison: evaluation work (default 5000 units: a point
   * evaluation costs 2, a new expression 11) and structural steps (default 100,000 pairs of nodes
   * or leaves compared). Either exhausted, the answer is "not equal"; about 20 ms at most.
   */
  maxWork?: number;
  maxSteps?: number;
  /** Wall-clock safety net for one comparison in ms (default 1000); ordinary answers take < 1 ms. */
  budgetMs?: number;
}

/** Longest normalised answer that is compared beyond exact string equality. */
export const MAX_ANSWER_CHARS = 1000;
const PLAIN_INT = /^[+-]?\d{1,300}$/;

/** Comparison state; in leaf comparisons the first answer is the gold one. */
interface Ctx {
  relTol: number;
  /** The gold / predicted answer carried a percent sign: it may also be read divided by 100. */
  percentA: boolean;
  percentB: boolean;
  setRelation: 'gold-relation' | 'both';
  budget: Budget;
  /** Endpoint tolerance for sets: exact unless a decimal is written somewhere. */
  setTol: number;
}

/** Drops the compiled-expression cache (benchmarks measure cold-cache throughput with it). */
export function clearEquivalenceCache(): void {
  clearCompiledCache();
}

// ---------------------------------------------------------------------------------------------
// Plain numbers: integers, decimals, fractions (a/b, \frac{a}{b}), with a sign

interface PlainNumber {
  dec: Decimal | null;
  rat: Rational | null;
  /** Written with a decimal point. */
  point: boolean;
}

function plainNumber(s: string): PlainNumber | null {
  const dec = parseDecimal(s);
  if (dec) return { dec, rat: null, point: dec.point };
  const m = /^([+-]?)(?:(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)|\\frac\{([+-]?\d+(?:\.\d+)?)\}\{([+-]?\d+(?:\.\d+)?)\})$/.exec(s);
  if (!m) return null;
  const num = parseDecimal(m[2] ?? m[4]!), den = parseDecimal(m[3] ?? m[5]!);
  if (!num || !den) return null;
  const rn = decimalToRational(num), rd = decimalToRational(den);
  if (!rn || !rd) return null;
  const q = ratDiv(rn, rd);
  if (!q) return null;
  return { dec: null, rat: m[1] === '-' ? { n: -q.n, d: q.d } : q, point: num.point || den.point };
}

function plainNumbersEqual(a: PlainNumber, b: PlainNumber, c: Ctx): boolean {
  const same = (x: PlainNumber, y: PlainNumber): boolean => {
    // Two written numbers are exact: 16386.20 ≠ 16386.17, 1e999999 ≠ 2e999999, 1e-999999 ≠ 0.
    if (x.dec && y.dec) return decimalsEqual(x.dec, y.dec);
    const rx = x.rat ?? decimalToRational(x.dec!), ry = y.rat ?? decimalToRational(y.dec!);
    if (!rx || !ry) return false;
    // A decimal against a fraction may be its rounding (0.3333 for 1/3).
    return x.point || y.point ? ratClose(rx, ry, c.relTol) : ratEqual(rx, ry);
  };
  if (same(a, b)) return true;
  const pct = (x: PlainNumber): PlainNumber | null => {
    if (x.dec) return { ...x, dec: percentOf(x.dec) };
    const r = ratDiv(x.rat!, rational(100n)!);
    return r ? { ...x, rat: r } : null;
  };
  const pa = c.percentA ? pct(a) : null, pb = c.percentB ? pct(b) : null;
  return (!!pb && same(a, pb)) || (!!pa && same(pa, b));
}

// ---------------------------------------------------------------------------------------------
// Leaves

const WORDS = /^[a-zA-Z() ']+$/;

function leafEqual(a: string, b: string, c: Ctx): boolean {
  if (a === b) return true;
  if (!step(c.budget)) return false;
  const na = plainNumber(a), nb = plainNumber(b);
  if (na && nb) return plainNumbersEqual(na, nb, c);
  // Plain words ("Evelyn", "east", "odd") compare without case; one- and two-letter strings are
  // variables or products of variables ("d" ≠ "E", "ab" = "ba") and go on as expressions.
  if (WORDS.test(a) && WORDS.test(b) && Math.max(a.length, b.length) >= 3) return a.toLowerCase() === b.toLowerCase();
  // Ratios and times: 7:32, 12:00.
  if (a.includes(':') || b.includes(':')) {
    const ra = a.split(':'), rb = b.split(':');
    return ra.length === rb.length && ra.length <= 4 && ra.every((x, k) => leafEqual(x, rb[k]!, c));
  }
  return expressionsEqual(a, b, c);
}

// ---------------------------------------------------------------------------------------------
// Structures

type Rel = Extract<AnswerNode, { t: 'rel' }>;

const lastSide = (r: Rel): AnswerNode => parseAnswer(r.sides.at(-1)!);
const isInequality = (n: AnswerNode): n is Rel => n.t === 'rel' && n.ops.every((o) => o !== '=');
const isSetLike = (n: AnswerNode): boolean => n.t === 'union' || n.t === 'set' || (n.t === 'seq' && n.items.length === 2);

/** The items without repeats: several answers form a set ("(3,17,3,7)" written twice is one). */
function distinct(xs: AnswerNode[], c: Ctx, depth: number): AnswerNode[] {
  const out: AnswerNode[] = [];
  for (const x of xs) if (!out.some((y) => nodesEqual(y, x, c, depth + 1))) out.push(x);
  return out;
}

function unorderedEqual(gs: AnswerNode[], ps: AnswerNode[], c: Ctx, depth: number): boolean {
  if (gs.length > MAX_ITEMS || ps.length > MAX_ITEMS) return false;
  if (gs.length !== ps.length) {
    gs = distinct(gs, c, depth);
    ps = distinct(ps, c, depth);
    if (gs.length !== ps.length) return false;
  }
  const used = new Uint8Array(ps.length);
  outer: for (const g of gs) {
    for (let k = 0; k < ps.length; k++) {
      if (!used[k] && nodesEqual(g, ps[k]!, c, depth + 1)) {
        used[k] = 1;
        continue outer;
      }
    }
    return false;
  }
  return true;
}

function orderedEqual(gs: AnswerNode[], ps: AnswerNode[], c: Ctx, depth: number): boolean {
  return gs.length === ps.length && gs.every((g, k) => nodesEqual(g, ps[k]!, c, depth + 1));
}

/** An inequality and a set, or two inequalities in the same variable, as sets of reals. */
function asSets(g: AnswerNode, p: AnswerNode, c: Ctx): boolean | null {
  const setOf = (n: AnswerNode) => (n.t === 'rel' ? relationToSet(n, c.budget) : null);
  const rg = setOf(g), rp = setOf(p);
  // Two inequalities as sets only in the same variable (x < 1 and y < 1 differ as relations).
  if (rg && rp) return rg.variable === rp.variable ? setsEqual(rg.set, rp.set, c.setTol) : null;
  if (rg && !rp && p.t !== 'rel') {
    const sp = nodeToSet(p, c.budget);
    return sp ? setsEqual(rg.set, sp, c.setTol) : null;
  }
  if (rp && !rg && g.t !== 'rel' && c.setRelation === 'both') {
    const sg = nodeToSet(g, c.budget);
    return sg ? setsEqual(sg, rp.set, c.setTol) : null;
  }
  return null;
}

/** Whether the written decimal `dec` is `x` rounded to its own number of places (0.67 for 2/3). */
function roundsTo(x: string, dec: string, c: Ctx): boolean {
  const places = /^-?\d*\.(\d+)$/.exec(dec)?.[1]?.length;
  const v = constantValue(x, c.budget);
  if (places === undefined || !v) return false;
  return Math.abs(v.value - Number(dec)) <= 0.5 * 10 ** -places * (1 + 1e-9);
}

/** An equation between constants that are all equal: one value written several ways. */
function isIdentity(r: Rel, c: Ctx): boolean {
  if (!isEquation(r) || r.sides.some((s) => plainNumber(s) === null && !/\\frac|\^|\\sqrt|\\pi/.test(s))) return false;
  const [first] = r.sides as [string];
  return r.sides.every((s, k) => k === 0 || leafEqual(first, s, c) || leafEqual(s, first, c) || roundsTo(first, s, c) || roundsTo(s, first, c));
}

function relationsEqual(g: Rel, p: Rel, c: Ctx, depth: number): boolean {
  if (isEquation(g) && isEquation(p)) {
    // An assignment chain `x = 5+5+1 = 11` states x = 11.
    const gs = isAssignment(g) ? [g.sides[0]!, g.sides.at(-1)!] : g.sides;
    const ps = isAssignment(p) ? [p.sides[0]!, p.sides.at(-1)!] : p.sides;
    if (gs.length !== ps.length) return false;
    const sidesEqual = (order: number[]) => gs.every((s, k) => nodesEqual(parseAnswer(s), parseAnswer(ps[order[k]!]!), c, depth + 1));
    if (sidesEqual(gs.map((_, k) => k))) return true;
    if (gs.length !== 2) return false;
    if (sidesEqual([1, 0])) return true;
    // The same equation up to a nonzero factor and side: 2x+4y-3=0 and y=-x/2+3/4.
    return proportional([gs[0]!, gs[1]!], [ps[0]!, ps[1]!], false, c.budget);
  }
  if (!isInequality(g) || !isInequality(p)) return false;
  const sets = asSets(g, p, c);
  if (sets !== null) return sets;
  // Inequalities in several variables: as `D op 0` with op in {<, ≤, ≠}, up to a positive factor.
  if (g.sides.length !== 2 || p.sides.length !== 2) {
    return g.ops.length === p.ops.length && g.ops.every((o, k) => o === p.ops[k]) && g.sides.every((s, k) => leafEqual(s, p.sides[k]!, c));
  }
  const canon = (r: Rel): { op: string; l: string; r: string } => {
    const op = r.ops[0]!;
    if (op === '>' || op === '\\ge') return { op: op === '>' ? '<' : '\\le', l: r.sides[1]!, r: r.sides[0]! };
    return { op, l: r.sides[0]!, r: r.sides[1]! };
  };
  const cg = canon(g), cp = canon(p);
  if (cg.op !== cp.op) return false;
  return proportional([cg.l, cg.r], [cp.l, cp.r], cg.op !== '\\ne', c.budget);
}

function nodesEqual(g: AnswerNode, p: AnswerNode, c: Ctx, depth: number): boolean {
  if (depth > 10 || !step(c.budget)) return false;
  if (g.t === 'list' && g.items.length === 1) return nodesEqual(g.items[0]!, p, c, depth + 1);
  if (p.t === 'list' && p.items.length === 1) return nodesEqual(g, p.items[0]!, c, depth + 1);
  if (g.t === 'leaf' && p.t === 'leaf') return leafEqual(g.s, p.s, c);

  // Relations and the answers they name.
  if (g.t === 'rel' || p.t === 'rel') {
    // "\frac23 \approx 0.67", "0.56 = 56\%": one value in several forms; any form matches.
    if (g.t === 'rel' && p.t !== 'rel' && isIdentity(g, c)) return g.sides.some((s) => nodesEqual(parseAnswer(s), p, c, depth + 1));
    if (p.t === 'rel' && g.t !== 'rel' && isIdentity(p, c)) return p.sides.some((s) => nodesEqual(g, parseAnswer(s), c, depth + 1));
    if (g.t === 'rel' && p.t === 'rel') return relationsEqual(g, p, c, depth);
    if (p.t === 'rel' && isEquation(p)) return nodesEqual(g, lastSide(p), c, depth + 1);
    if (g.t === 'rel' && isAssignment(g)) return nodesEqual(lastSide(g), p, c, depth + 1);
    return asSets(g, p, c) ?? false;
  }

  switch (g.t) {
    case 'list':
      if (p.t === 'list' || p.t === 'set') return unorderedEqual(g.items, p.items, c, depth);
      // A bare list against a tuple: the tuple written without its brackets.
      if (p.t === 'seq' && p.open === '(' && p.close === ')') return orderedEqual(g.items, p.items, c, depth);
      return p.t === 'leaf' && decimalComma(g, p.s, c);
    case 'set':
      if (p.t === 'set' || p.t === 'list') return unorderedEqual(g.items, p.items, c, depth);
      return p.t === 'union' && setsCompare(g, p, c);
    case 'seq':
      if (p.t === 'seq') {
        if (g.open !== p.open || g.close !== p.close) return false;
        return orderedEqual(g.items, p.items, c, depth);
      }
      if (p.t === 'list' && g.open === '(' && g.close === ')') return orderedEqual(g.items, p.items, c, depth);
      return p.t === 'union' && setsCompare(g, p, c);
    case 'union':
      if (p.t === 'union' && g.parts.length === p.parts.length && orderedEqual(g.parts, p.parts, c, depth)) return true;
      return isSetLike(p) && setsCompare(g, p, c);
    case 'matrix':
      if (p.t !== 'matrix' || p.det !== g.det || p.rows.length !== g.rows.length) return false;
      return g.rows.every((row, r) => orderedEqual(row, p.rows[r]!, c, depth));
    case 'leaf':
      return p.t === 'list' && decimalComma(p, g.s, c);
  }
  return false;
}

function setsCompare(g: AnswerNode, p: AnswerNode, c: Ctx): boolean {
  const sg = nodeToSet(g, c.budget), sp = nodeToSet(p, c.budget);
  return !!sg && !!sp && setsEqual(sg, sp, c.setTol);
}

/** "1,22" against the single number 1.22: a decimal comma (never against a list or an integer). */
function decimalComma(list: Extract<AnswerNode, { t: 'list' }>, other: string, c: Ctx): boolean {
  if (list.items.length !== 2 || !/^\d+\.\d+$/.test(other)) return false;
  const [x, y] = list.items as [AnswerNode, AnswerNode];
  if (x.t !== 'leaf' || y.t !== 'leaf' || !/^[+-]?\d+$/.test(x.s) || !/^\d+$/.test(y.s)) return false;
  // "1,000" is a thousands separator, never a decimal comma (unless the integer part is 0).
  if (y.s.length === 3 && !/^[+-]?0$/.test(x.s)) return false;
  return leafEqual(`${x.s}.${y.s}`, other, c);
}

// ---------------------------------------------------------------------------------------------

function checkOptions(o: EquivalenceOptions): void {
  if (o.relTol !== undefined && !(o.relTol > 0 && o.relTol < 0.1)) throw new RangeError(`relTol must be in (0, 0.1), got ${o.relTol}`);
}

/** Whether `pred` and `gold` denote the same final answer (gold decides the reading, see header). */
export function answersEquivalent(pred: string, gold: string, opts: EquivalenceOptions = {}): boolean {
  checkOptions(opts);
  // An empty gold (a defective record) matches nothing, not even an empty answer.
  if (!gold.trim()) return false;
  if (pred === gold) return true;
  // Fastest path, the curriculum's and GSM8K's: two plain integers.
  if (PLAIN_INT.test(pred) && PLAIN_INT.test(gold)) return decimalsEqual(parseDecimal(pred)!, parseDecimal(gold)!);
  // Answers are short; a huge "answer" gets exact comparison only, which keeps every regex
  // below on bounded input.
  if (pred.length > 4 * MAX_ANSWER_CHARS || gold.length > 4 * MAX_ANSWER_CHARS) return pred.trim() === gold.trim();
  const np = normalizeAnswer(pred), ng = normalizeAnswer(gold);
  if (np.s === ng.s && np.s.length) return true;
  if (!np.s.length || !ng.s.length) return false;
  const relTol = opts.relTol ?? 1e-4;
  const c: Ctx = {
    relTol,
    percentA: ng.percent,
    percentB: np.percent,
    setRelation: opts.setRelation ?? 'gold-relation',
    budget: { work: opts.maxWork ?? 5000, steps: opts.maxSteps ?? 100000, deadline: performance.now() + (opts.budgetMs ?? 1000) },
    setTol: /\d\.\d|\.\d/.test(np.s + ng.s) ? relTol : 1e-9,
  };
  // Fast path: two plain numbers never need the structure.
  const g = plainNumber(ng.s), p = plainNumber(np.s);
  if (g && p) return plainNumbersEqual(g, p, c);
  if (np.s.length > MAX_ANSWER_CHARS || ng.s.length > MAX_ANSWER_CHARS) return false;
  // The layers below may need mathjs, loaded on first use (numeric.ts): not on this comparison's clock.
  if (loadMathjs()) c.budget.deadline = performance.now() + (opts.budgetMs ?? 1000);
  return nodesEqual(parseAnswer(ng.s), parseAnswer(np.s), c, 0);
}

/**
 * Whether two extracted answers are the same answer, with neither one the gold: used to vote
 * maj@k. Symmetric: either reading may match, and sets match relations both ways.
 */
export function sameAnswer(a: string, b: string, opts: EquivalenceOptions = {}): boolean {
  const o = { ...opts, setRelation: 'both' as const };
  return answersEquivalent(a, b, o) || answersEquivalent(b, a, o);
}
