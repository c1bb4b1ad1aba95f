// The built-in arithmetic curriculum: seeded problems with compact worked solutions that a tiny
// character-level policy can learn, graded by difficulty (more digits, more carries, more
// terms → more steps), a training stream, and six held-out benchmarks. Disjointness is by
// construction: a hash of the prompt text partitions the problem space, training only ever
// emits the "train" side and every benchmark only the "held-out" side.
//
// Worked-solution format (column by column from the units, carry/borrow written explicitly):
//   347+86   →  7+6+0=13,4+8+1=13,3+0+1=4 #### 433
//   347-86   →  7-6-0=1,14-8-0=6,3-0-1=2 #### 261       (a leading 1 marks a borrow)
//   347*6    →  7*6+0=42,4*6+4=28,3*6+2=20 #### 2082
//   7+5-3+8  →  7+5=12,12-3=9,9+8=17 #### 17             (chains: running total, left to right)
// The answer is the last step's full value followed by the units digits of the earlier steps in
// reverse (column ops), or the last step's value (chains).
import { Rng } from '../util/rng.ts';
import { UsageError } from '../util/errors.ts';
import type { Benchmark, Problem } from './types.ts';
import { mathGrader } from './grading/grader.ts';

export type ArithOp = 'add' | 'sub' | 'mul' | 'chain' | 'mulchain';

/** One family of problems: `a`/`b` operand digit counts (column ops), `terms` (chains). */
export interface ArithSpec {
  op: ArithOp;
  a?: number;
  b?: number;
  terms?: number;
  /** Every column but the last produces a carry (add, mul) or a borrow (sub). */
  allCarry?: boolean;
}

/** Training difficulty levels. Level 3 is the hardest the training stream contains. */
export const LEVELS: Readonly<Record<number, readonly ArithSpec[]>> = {
  1: [{ op: 'add', a: 1, b: 1 }, { op: 'sub', a: 1, b: 1 }, { op: 'mul', a: 1 }],
  2: [{ op: 'add', a: 2, b: 1 }, { op: 'add', a: 2, b: 2 }, { op: 'sub', a: 2, b: 1 }, { op: 'sub', a: 2, b: 2 }, { op: 'mul', a: 2 }, { op: 'chain', terms: 3 }],
  3: [{ op: 'add', a: 3, b: 2 }, { op: 'add', a: 3, b: 3 }, { op: 'sub', a: 3, b: 2 }, { op: 'sub', a: 3, b: 3 }, { op: 'mul', a: 3 }, { op: 'chain', terms: 4 }],
};

/** Default training mixture over LEVELS (weights, normalised when drawn). */
export const DEFAULT_LEVEL_WEIGHTS: Readonly<Record<number, number>> = { 1: 0.2, 2: 0.4, 3: 0.4 };

// ---------------------------------------------------------------------------------------------
// Held-out partition of the problem space

const HELDOUT_SALT = 'rlbench/arith/heldout/v1';
/** One problem in HELDOUT_MOD is held out (20%). */
export const HELDOUT_MOD = 5;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche so that near-identical prompts land independently.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** Whether a problem text belongs to the held-out (benchmark) side of the partition. */
export function isHeldOut(problemText: string): boolean {
  return fnv1a(HELDOUT_SALT + problemText) % HELDOUT_MOD === 0;
}

// ---------------------------------------------------------------------------------------------
// Generation

function randDigits(rng: Rng, n: number): number {
  if (n === 1) return rng.int(10);
  return rng.range(10 ** (n - 1), 10 ** n - 1);
}

const digitsOf = (x: number): number[] => String(x).split('').reverse().map(Number);

interface Worked {
  steps: string[];
  answer: number;
  carries: number;
  columns: number;
}

function workAdd(a: number, b: number): Worked {
  const da = digitsOf(a), db = digitsOf(b);
  const n = Math.max(da.length, db.length);
  const steps: string[] = [];
  let c = 0, carries = 0;
  for (let i = 0; i < n; i++) {
    const x = da[i] ?? 0, y = db[i] ?? 0, s = x + y + c;
    steps.push(`${x}+${y}+${c}=${s}`);
    c = s >= 10 ? 1 : 0;
    if (c && i < n - 1) carries++;
  }
  return { steps, answer: a + b, carries, columns: n };
}

function workSub(a: number, b: number): Worked {
  const da = digitsOf(a), db = digitsOf(b);
  const steps: string[] = [];
  let borrow = 0, carries = 0;
  for (let i = 0; i < da.length; i++) {
    const x = da[i]!, y = db[i] ?? 0;
    const r = x - y - borrow;
    if (r < 0) {
      steps.push(`1${x}-${y}-${borrow}=${r + 10}`);
      borrow = 1;
      carries++;
    } else {
      steps.push(`${x}-${y}-${borrow}=${r}`);
      borrow = 0;
    }
  }
  return { steps, answer: a - b, carries, columns: da.length };
}

function workMul(a: number, d: number): Worked {
  const da = digitsOf(a);
  const steps: string[] = [];
  let c = 0, carries = 0;
  for (let i = 0; i < da.length; i++) {
    const p = da[i]! * d + c;
    steps.push(`${da[i]}*${d}+${c}=${p}`);
    c = Math.floor(p / 10);
    if (c && i < da.length - 1) carries++;
  }
  return { steps, answer: a * d, carries, columns: da.length };
}

function workChain(terms: number[], ops: string[]): Worked {
  let total = terms[0]!;
  const steps: string[] = [];
  for (let i = 0; i < ops.length; i++) {
    const t = terms[i + 1]!, op = ops[i]!;
    const next = op === '+' ? total + t : op === '-' ? total - t : total * t;
    steps.push(`${total}${op}${t}=${next}`);
    total = next;
  }
  return { steps, answer: total, carries: 0, columns: ops.length };
}

interface Draft {
  text: string;
  worked: Worked;
}

function draft(spec: ArithSpec, rng: Rng): Draft {
  switch (spec.op) {
    case 'add': {
      // The first operand has at least as many digits as the second (spec.a >= spec.b).
      const a = randDigits(rng, spec.a ?? 1), b = randDigits(rng, spec.b ?? 1);
      return { text: `${a}+${b}`, worked: workAdd(a, b) };
    }
    case 'sub': {
      let a = randDigits(rng, spec.a ?? 1), b = randDigits(rng, spec.b ?? 1);
      if (b > a) [a, b] = [b, a];
      return { text: `${a}-${b}`, worked: workSub(a, b) };
    }
    case 'mul': {
      const a = randDigits(rng, spec.a ?? 1), d = rng.range(2, 9);
      return { text: `${a}*${d}`, worked: workMul(a, d) };
    }
    case 'chain':
    case 'mulchain': {
      const n = spec.terms ?? 3;
      const terms: number[] = [];
      const ops: string[] = [];
      let total: number;
      if (spec.op === 'mulchain') {
        terms.push(rng.range(2, 9), rng.range(2, 9));
        ops.push('*');
        total = terms[0]! * terms[1]!;
      } else {
        terms.push(rng.range(1, 9));
        total = terms[0]!;
      }
      while (terms.length < n) {
        const t = rng.range(1, 9);
        // Keep running totals non-negative: subtraction only where it cannot go below zero.
        const op = t <= total && rng.int(2) === 1 ? '-' : '+';
        total = op === '+' ? total + t : total - t;
        terms.push(t);
        ops.push(op);
      }
      const text = terms.map((t, i) => (i === 0 ? String(t) : ops[i - 1] + String(t))).join('');
      return { text, worked: workChain(terms, ops) };
    }
  }
}

function acceptable(spec: ArithSpec, d: Draft): boolean {
  if (!spec.allCarry) return true;
  return d.worked.carries >= d.worked.columns - 1;
}

function specName(s: ArithSpec): string {
  if (s.op === 'chain' || s.op === 'mulchain') return `${s.op}${s.terms ?? 3}`;
  if (s.op === 'mul') return `mul${s.a ?? 1}x1${s.allCarry ? '-carry' : ''}`;
  return `${s.op}${s.a ?? 1}x${s.b ?? 1}${s.allCarry ? '-carry' : ''}`;
}

function toProblem(id: string, d: Draft, spec: ArithSpec, level: number | null): Problem {
  const solution = `${d.worked.steps.join(',')} #### ${d.worked.answer}`;
  return {
    id,
    problem: d.text,
    answer: String(d.worked.answer),
    solution,
    meta: { source: 'arith', family: specName(spec), level, steps: d.worked.steps.length, carries: d.worked.carries },
  };
}

/**
 * The curriculum problem for a prompt text such as `347+86`, `347-86`, `347*6` (two terms:
 * column arithmetic) or `7+5-3+8`, `7*3+5` (three or more terms: a chain). For tests, demos and
 * user-written problem lists; the text is checked and a bad one is a UsageError.
 */
export function arithProblem(text: string, id = `arith/${text}`): Problem {
  const m = /^(\d+)([+\-*]\d+)+$/.exec(text);
  if (!m) throw new UsageError(`arithProblem: '${text}' is not of the form 347+86, 347*6 or 7+5-3+8`);
  const terms = text.split(/[+\-*]/).map(Number);
  const ops = text.match(/[+\-*]/g)!;
  let spec: ArithSpec;
  let worked: Worked;
  if (terms.length === 2) {
    const [a, b] = terms as [number, number];
    if (ops[0] === '+') [spec, worked] = [{ op: 'add', a: String(a).length, b: String(b).length }, workAdd(a, b)];
    else if (ops[0] === '-') {
      if (b > a) throw new UsageError(`arithProblem: '${text}' would be negative; the curriculum has a >= b`);
      [spec, worked] = [{ op: 'sub', a: String(a).length, b: String(b).length }, workSub(a, b)];
    } else {
      if (b > 9) throw new UsageError(`arithProblem: '${text}': multiplication is by a single digit`);
      [spec, worked] = [{ op: 'mul', a: String(a).length }, workMul(a, b)];
    }
  } else {
    if (ops.slice(1).includes('*') || terms.slice(1).some((t) => t > 9)) throw new UsageError(`arithProblem: '${text}': chains add or subtract single digits (a product only first)`);
    spec = { op: ops[0] === '*' ? 'mulchain' : 'chain', terms: terms.length };
    worked = workChain(terms, ops);
    if (worked.answer < 0) throw new UsageError(`arithProblem: '${text}' would be negative`);
  }
  return toProblem(id, { text, worked }, spec, null);
}

/** Draws one problem of `spec` on the requested side of the partition (bounded retries). */
function drawOne(spec: ArithSpec, rng: Rng, heldOut: boolean, reject?: (text: string) => boolean): Draft | null {
  for (let attempt = 0; attempt < 400; attempt++) {
    const d = draft(spec, rng);
    if (isHeldOut(d.text) !== heldOut) continue;
    if (!acceptable(spec, d)) continue;
    if (reject && reject(d.text)) continue;
    return d;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Prompt and target formats

const isArith = (p: Problem): boolean => (p.meta as { source?: unknown } | undefined)?.source === 'arith';

/** What the model is conditioned on: `347+86=` for the curriculum, `<problem>\n` otherwise. */
export function formatPrompt(p: Problem): string {
  return isArith(p) ? `${p.problem}=` : `${p.problem}\n`;
}

/** The response the SFT trains on: the worked solution ending in `#### <answer>`. */
export function formatTarget(p: Problem): string {
  if (isArith(p) && p.solution) return p.solution;
  return `#### ${p.answer}`;
}

// ---------------------------------------------------------------------------------------------
// Training stream

export interface TrainingOptions {
  /** Level → weight; defaults to DEFAULT_LEVEL_WEIGHTS. */
  levelWeights?: Record<number, number>;
}

function pickWeighted<T>(rng: Rng, items: readonly { item: T; w: number }[]): T {
  const total = items.reduce((s, x) => s + x.w, 0);
  let u = rng.next() * total;
  for (const x of items) {
    u -= x.w;
    if (u < 0) return x.item;
  }
  return items[items.length - 1]!.item;
}

/** `count` training problems for `seed` (deterministic; never a held-out problem; repeats allowed). */
export function trainingProblems(seed: number, count: number, opts: TrainingOptions = {}): Problem[] {
  if (!Number.isInteger(count) || count < 0) throw new UsageError(`trainingProblems: count must be a non-negative integer, got ${count}`);
  const weights = opts.levelWeights ?? DEFAULT_LEVEL_WEIGHTS;
  const levels = Object.entries(weights).map(([k, w]) => {
    const level = Number(k);
    if (!LEVELS[level]) throw new UsageError(`trainingProblems: unknown level ${k} (levels: ${Object.keys(LEVELS).join(', ')})`);
    if (!(w >= 0)) throw new UsageError(`trainingProblems: weight of level ${k} must be >= 0, got ${w}`);
    return { item: level, w };
  });
  if (!levels.some((l) => l.w > 0)) throw new UsageError('trainingProblems: all level weights are zero');
  const rng = new Rng(seed).fork('arith-train');
  const out: Problem[] = [];
  for (let i = 0; i < count; i++) {
    const level = pickWeighted(rng, levels);
    const specs = LEVELS[level]!;
    const spec = specs[rng.int(specs.length)]!;
    const d = drawOne(spec, rng, false);
    if (!d) throw new Error(`trainingProblems: could not draw a training problem for ${specName(spec)}`);
    out.push(toProblem(`arith-train/${seed}/${i}`, d, spec, level));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The six built-in benchmarks

interface BuiltinDef {
  name: string;
  description: string;
  seed: number;
  specs: { spec: ArithSpec; level: number | null; w?: number }[];
}

const fromLevels = (...levels: number[]) => levels.flatMap((l) => LEVELS[l]!.map((spec) => ({ spec, level: l })));
// The in-distribution test follows the default training mixture: a level by its weight, then a family.
const idSpecs = () =>
  Object.entries(DEFAULT_LEVEL_WEIGHTS).flatMap(([l, w]) => LEVELS[Number(l)]!.map((spec) => ({ spec, level: Number(l), w: w / LEVELS[Number(l)]!.length })));

const DEFS: BuiltinDef[] = [
  {
    name: 'arith-id',
    description: 'In-distribution test: the training mixture (levels 1-3: add/sub up to 3 digits, 1-3 digit x digit, 3-4 term chains), held-out prompts.',
    seed: 1001,
    specs: idSpecs(),
  },
  {
    name: 'arith-hard',
    description: 'Hardest training level only (level 3: 3-digit add/sub, 3-digit x digit, 4-term chains), held-out prompts.',
    seed: 1002,
    specs: fromLevels(3),
  },
  {
    name: 'arith-carry',
    description: 'Carry stress test within training lengths: 2-3 digit add/sub/mul where every column but the last carries or borrows.',
    seed: 1003,
    specs: [
      { spec: { op: 'add', a: 2, b: 2, allCarry: true }, level: 2 },
      { spec: { op: 'add', a: 3, b: 3, allCarry: true }, level: 3 },
      { spec: { op: 'sub', a: 2, b: 2, allCarry: true }, level: 2 },
      { spec: { op: 'sub', a: 3, b: 3, allCarry: true }, level: 3 },
      { spec: { op: 'mul', a: 2, allCarry: true }, level: 2 },
      { spec: { op: 'mul', a: 3, allCarry: true }, level: 3 },
    ],
  },
  {
    name: 'arith-long',
    description: 'Length generalisation: 4-5 digit operands (training has at most 3), add/sub/mul; more columns, more steps.',
    seed: 1004,
    specs: [
      { spec: { op: 'add', a: 4, b: 4 }, level: null },
      { spec: { op: 'add', a: 5, b: 4 }, level: null },
      { spec: { op: 'sub', a: 4, b: 4 }, level: null },
      { spec: { op: 'sub', a: 5, b: 4 }, level: null },
      { spec: { op: 'mul', a: 4 }, level: null },
      { spec: { op: 'mul', a: 5 }, level: null },
    ],
  },
  {
    name: 'arith-chain',
    description: 'Longer reasoning: +/- chains of 5-6 single-digit terms (training has at most 4 terms).',
    seed: 1005,
    specs: [
      { spec: { op: 'chain', terms: 5 }, level: null },
      { spec: { op: 'chain', terms: 6 }, level: null },
    ],
  },
  {
    name: 'arith-mix',
    description: 'Different operation mix: chains that start with a digit product (e.g. 7*3+5-8), 3-4 terms; training chains are +/- only.',
    seed: 1006,
    specs: [
      { spec: { op: 'mulchain', terms: 3 }, level: null },
      { spec: { op: 'mulchain', terms: 4 }, level: null },
    ],
  },
];

export const BUILTIN_BENCHMARKS: readonly string[] = DEFS.map((d) => d.name);
export const BUILTIN_DEFAULT_SIZE = 200;

export function builtinDescription(name: string): string | undefined {
  return DEFS.find((d) => d.name === name)?.description;
}

/**
 * Problems of a built-in benchmark: `size` distinct held-out prompts. Generation is sequential,
 * so a smaller size gives a prefix of a larger one with the same seed.
 */
export function builtinProblems(name: string, size = BUILTIN_DEFAULT_SIZE, seed?: number): Problem[] {
  const def = DEFS.find((d) => d.name === name);
  if (!def) throw new UsageError(`unknown built-in benchmark '${name}' (known: ${BUILTIN_BENCHMARKS.join(', ')})`);
  if (!Number.isInteger(size) || size < 0) throw new UsageError(`benchmark ${name}: size must be a non-negative integer, got ${size}`);
  const rng = new Rng(`arith-bench:${name}:${seed ?? def.seed}`);
  const seen = new Set<string>();
  const out: Problem[] = [];
  let failures = 0;
  while (out.length < size) {
    const { spec, level } = pickWeighted(rng, def.specs.map((s) => ({ item: s, w: s.w ?? 1 })));
    const d = drawOne(spec, rng, true, (t) => seen.has(t));
    if (!d) {
      // A small family (e.g. 1-digit sums) can run out of distinct held-out prompts.
      if (++failures > 1000) throw new UsageError(`benchmark ${name}: only ${out.length} distinct held-out problems exist, asked for ${size}`);
      continue;
    }
    seen.add(d.text);
    out.push(toProblem(`${name}/${out.length}`, d, spec, level));
  }
  return out;
}

export function builtinBenchmark(name: string, opts: { limit?: number; seed?: number } = {}): Benchmark {
  const def = DEFS.find((d) => d.name === name);
  if (!def) throw new UsageError(`unknown built-in benchmark '${name}' (known: ${BUILTIN_BENCHMARKS.join(', ')})`);
  let cache: Problem[] | null = null;
  return {
    name,
    description: def.description,
    grader: mathGrader,
    problems: () => (cache ??= builtinProblems(name, opts.limit ?? BUILTIN_DEFAULT_SIZE, opts.seed)),
  };
}
