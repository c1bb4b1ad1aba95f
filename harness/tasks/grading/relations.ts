// Sets of reals and relations. An inequality in one variable is the set it describes
// (x \ge 5 is [5, ∞); -x > -1 is (-∞, 1); 1 < x \le 2 is (1, 2]; 1 \le |z| \le 2 is
// [-2, -1] ∪ [1, 2]; x \ne 3 is (-∞, 3) ∪ (3, ∞)), and so are intervals, finite sets of
// constants and their unions. Two such sets are compared in a canonical form (sorted, merged).
// Relations that are not sets (in several variables, or equations) are compared up to a factor:
// the same equation up to a nonzero scalar and side, the same inequality up to a positive one.
import type { AnswerNode, RelOp } from './structure.ts';
import { constantValue, variablesOf, compileLatex, type Budget } from './numeric.ts';

export interface Interval {
  lo: number;
  hi: number;
  loClosed: boolean;
  hiClosed: boolean;
}
/** Disjoint intervals in increasing order. */
export type RealSet = Interval[];

function near(a: number, b: number, tol: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b), 1e-300);
}

/** Sorts and merges overlapping or touching intervals; drops empty ones. */
function canonical(set: RealSet): RealSet {
  const xs = set
    .filter((iv) => iv.lo < iv.hi || (iv.lo === iv.hi && iv.loClosed && iv.hiClosed))
    .sort((a, b) => a.lo - b.lo || (a.loClosed === b.loClosed ? 0 : a.loClosed ? -1 : 1));
  const out: RealSet = [];
  for (const iv of xs) {
    const last = out.at(-1);
    if (last && (iv.lo < last.hi || (iv.lo === last.hi && (iv.loClosed || last.hiClosed)))) {
      if (iv.hi > last.hi || (iv.hi === last.hi && iv.hiClosed)) {
        last.hiClosed = iv.hi === last.hi ? last.hiClosed || iv.hiClosed : iv.hiClosed;
        last.hi = Math.max(last.hi, iv.hi);
      }
    } else out.push({ ...iv });
  }
  return out;
}

export function setsEqual(a: RealSet, b: RealSet, relTol: number): boolean {
  const x = canonical(a), y = canonical(b);
  if (x.length !== y.length) return false;
  return x.every((iv, k) => {
    const jv = y[k]!;
    const closedOk = (c1: boolean, c2: boolean, v: number) => !Number.isFinite(v) || c1 === c2;
    return near(iv.lo, jv.lo, relTol) && near(iv.hi, jv.hi, relTol) && closedOk(iv.loClosed, jv.loClosed, iv.lo) && closedOk(iv.hiClosed, jv.hiClosed, iv.hi);
  });
}

function intersect(a: RealSet, b: RealSet): RealSet {
  const out: RealSet = [];
  for (const x of a) {
    for (const y of b) {
      const lo = Math.max(x.lo, y.lo), hi = Math.min(x.hi, y.hi);
      const loClosed = x.lo === y.lo ? x.loClosed && y.loClosed : lo === x.lo ? x.loClosed : y.loClosed;
      const hiClosed = x.hi === y.hi ? x.hiClosed && y.hiClosed : hi === x.hi ? x.hiClosed : y.hiClosed;
      if (lo < hi || (lo === hi && loClosed && hiClosed)) out.push({ lo, hi, loClosed, hiClosed });
    }
  }
  return out;
}

const ALL: Interval = { lo: -Infinity, hi: Infinity, loClosed: false, hiClosed: false };

/** { x : x op c } */
function halfLine(op: RelOp, c: number): RealSet | null {
  switch (op) {
    case '<': return [{ lo: -Infinity, hi: c, loClosed: false, hiClosed: false }];
    case '\\le': return [{ lo: -Infinity, hi: c, loClosed: false, hiClosed: true }];
    case '>': return [{ lo: c, hi: Infinity, loClosed: false, hiClosed: false }];
    case '\\ge': return [{ lo: c, hi: Infinity, loClosed: true, hiClosed: false }];
    case '\\ne': return [{ lo: -Infinity, hi: c, loClosed: false, hiClosed: false }, { lo: c, hi: Infinity, loClosed: false, hiClosed: false }];
    default: return null;
  }
}

const FLIP: Partial<Record<RelOp, RelOp>> = { '<': '>', '>': '<', '\\le': '\\ge', '\\ge': '\\le', '\\ne': '\\ne', '=': '=' };

/** A node as a set of reals: an interval, a finite set of constants, a union; null otherwise. */
export function nodeToSet(n: AnswerNode, budget: Budget): RealSet | null {
  if (n.t === 'seq' && n.items.length === 2 && n.items[0]!.t === 'leaf' && n.items[1]!.t === 'leaf') {
    const lo = constantValue(n.items[0]!.s, budget), hi = constantValue(n.items[1]!.s, budget);
    if (!lo || !hi || !(lo.value <= hi.value)) return null;
    return [{ lo: lo.value, hi: hi.value, loClosed: n.open === '[', hiClosed: n.close === ']' }];
  }
  if (n.t === 'set') {
    const out: RealSet = [];
    for (const it of n.items) {
      if (it.t !== 'leaf') return null;
      const v = constantValue(it.s, budget);
      if (!v || !Number.isFinite(v.value)) return null;
      out.push({ lo: v.value, hi: v.value, loClosed: true, hiClosed: true });
    }
    return out;
  }
  if (n.t === 'union') {
    const out: RealSet = [];
    for (const p of n.parts) {
      const s = nodeToSet(p, budget);
      if (!s) return null;
      out.push(...s);
    }
    return out;
  }
  if (n.t === 'leaf' && /^\\mathbb\{R\}$|^\\R$|^\(-\\infty,\\infty\)$/.test(n.s)) return [{ ...ALL }];
  if (n.t === 'leaf' && /^\\(?:emptyset|varnothing)$|^\\\{\\\}$/.test(n.s)) return [];
  return null;
}

/** The variable term a relation constrains ("x", "f(x)", "|z|") and the set it lies in. */
export interface RelationSet {
  variable: string;
  set: RealSet;
}

/** Mirrors a set of values of |v| into the set of v. */
function mirrorAbs(set: RealSet): RealSet {
  const pos = intersect(set, [{ lo: 0, hi: Infinity, loClosed: true, hiClosed: false }]);
  const neg = pos.map((iv) => ({ lo: -iv.hi, hi: -iv.lo, loClosed: iv.hiClosed, hiClosed: iv.loClosed }));
  return [...neg, ...pos];
}

/** `c op term` with the variable term on the right, as a set for the term. */
function bound(op: RelOp, c: number, termOnRight: boolean): RealSet | null {
  return halfLine(termOnRight ? FLIP[op]! : op, c);
}

/**
 * A relation in one variable term as the set it describes: `v op c`, `c op v`, `a op v op b`,
 * `|v|` in place of v, and linear `L op R` in a single variable (solved for it).
 */
export function relationToSet(n: Extract<AnswerNode, { t: 'rel' }>, budget: Budget): RelationSet | null {
  if (n.ops.some((o) => o === '=')) return null;
  const vals = n.sides.map((s) => constantValue(s, budget));
  const nonConst = vals.map((v, k) => (v ? -1 : k)).filter((k) => k >= 0);
  if (nonConst.length !== 1) return null;
  const vi = nonConst[0]!;
  let term = n.sides[vi]!;
  let set: RealSet = [{ ...ALL }];
  for (let k = 0; k < n.ops.length; k++) {
    // Relation k links sides k and k+1; exactly one of them is the term.
    if (k !== vi && k + 1 !== vi) return null;
    const c = vals[k === vi ? k + 1 : k]!.value;
    const s = bound(n.ops[k]!, c, k + 1 === vi);
    if (!s) return null;
    set = intersect(set, s);
  }
  const abs = /^\|(.+)\|$/.exec(term);
  if (abs) {
    term = abs[1]!;
    set = mirrorAbs(set);
  }
  // A linear term in one variable (2x - 4, -x): solve for the variable. A term in several
  // variables (x + y < 1) is not a set of reals.
  const vars = variablesOf(term, budget);
  if (vars && vars.length !== 1) return null;
  if (vars && term !== vars[0] && n.sides.length === 2) {
    const lin = linear(term, vars[0]!, budget);
    if (!lin || lin.k === 0) return null;
    set = set.map((iv) => {
      const a = (iv.lo - lin.c) / lin.k, b = (iv.hi - lin.c) / lin.k;
      return lin.k > 0 ? { lo: a, hi: b, loClosed: iv.loClosed, hiClosed: iv.hiClosed } : { lo: b, hi: a, loClosed: iv.hiClosed, hiClosed: iv.loClosed };
    });
    term = vars[0]!;
  }
  return { variable: term, set: canonical(set) };
}

/** term = k·v + c exactly (checked at three points), or null. */
function linear(term: string, v: string, budget: Budget): { k: number; c: number } | null {
  const c = compileLatex(term, budget);
  if (!c) return null;
  const at = (x: number): number | null => {
    try {
      const r = c.evaluate({ [v]: x });
      return typeof r === 'number' && Number.isFinite(r) ? r : null;
    } catch {
      return null;
    }
  };
  const f0 = at(0), f1 = at(1), f2 = at(2.5);
  if (f0 === null || f1 === null || f2 === null) return null;
  const k = f1 - f0;
  if (Math.abs(f0 + 2.5 * k - f2) > 1e-9 * Math.max(1, Math.abs(f2))) return null;
  return { k, c: f0 };
}

