// Graders: response → reward. A math grader extracts the final answer (extract.ts) and decides
// equivalence with the gold one (equivalence.ts). Three are registered:
//   'math'              strict, for training rewards: \boxed{}, `####`, "the (final) answer is";
//   'math-last-number'  strict, falling back to the last number (Qwen2.5-Math eval style);
//   'math-verify'       full extraction, as Math-Verify does it, for evaluation: boxed, then a
//                       final-answer phrase, then the last LaTeX expression or number.
// All three compare answers the same way, and each reports the stage that found the answer.
// Graders are a plugin point: a task registers its own under an id and benchmarks refer to it.
import { UsageError } from '../../util/errors.ts';
import type { GradeResult, Grader } from '../types.ts';
import { extractFinal, type ExtractOptions } from './extract.ts';
import { answersEquivalent, sameAnswer, type EquivalenceOptions } from './equivalence.ts';

export interface GradeOptions extends ExtractOptions, EquivalenceOptions {}

/**
 * The gold answer a grader compares with. Gold is normally an answer string ("\frac{1}{2}"); a
 * gold written as a response (with \boxed{}, or LaTeX inside prose: "$125$ miles",
 * "$1$ and $2$") is read with the full extraction, as Math-Verify reads its gold.
 */
export function goldAnswer(gold: string, opts: GradeOptions = {}): string {
  if (gold.length > 100000 || (gold.indexOf('$') < 0 && gold.indexOf('box') < 0 && gold.indexOf('\\(') < 0 && gold.indexOf('\\[') < 0)) return gold;
  if (!/\\(?:boxed|fbox)\b/.test(gold)) {
    // Prose outside the math ("$125$ miles", "$1$ and $2$"), not LaTeX with a stray "$ $".
    const outside = gold.replace(/\\\$/g, '').replace(/\$[^$]*\$/g, ' ');
    if (outside === gold.replace(/\\\$/g, '') || !/(?<![\\a-zA-Z])[a-zA-Z]{2,}/.test(outside)) return gold;
  }
  const x = extractFinal(gold, { ...opts, mode: 'full' });
  return x ? x.answer : gold;
}

/** Grades one response against a gold answer: { correct, extracted, stage }. */
export function gradeResponse(response: string, gold: string, opts: GradeOptions = {}): GradeResult {
  const found = extractFinal(response, opts);
  if (found === null) return { correct: false, extracted: null, stage: null };
  return { correct: answersEquivalent(found.answer, goldAnswer(gold, opts), opts), extracted: found.answer, stage: found.stage };
}

/** A math grader with fixed options (e.g. `{ mode: 'full' }`). */
export function makeMathGrader(opts: GradeOptions = {}, id = 'math'): Grader {
  return {
    id,
    grade: (response, gold) => gradeResponse(response, gold, opts),
    equivalent: (a, b) => sameAnswer(a, b, opts),
  };
}

/** Strict: an answer counts only behind \boxed{}, `####` or "the (final) answer is". For training rewards. */
export const mathGrader: Grader = makeMathGrader({ mode: 'strict' }, 'math');
/** Strict, falling back to the last number in the response (Qwen2.5-Math eval style). */
export const mathGraderLastNumber: Grader = makeMathGrader({ mode: 'strict', lastNumberFallback: true }, 'math-last-number');
/** Math-Verify's extraction (boxed, final-answer phrase, last LaTeX, last number). For evaluation. */
export const mathVerifyGrader: Grader = makeMathGrader({ mode: 'full' }, 'math-verify');

const graders = new Map<string, Grader>();

export function registerGrader(g: Grader): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(g.id)) throw new UsageError(`grader id '${g.id}' must be lower-case letters, digits and dashes`);
  if (graders.has(g.id) && graders.get(g.id) !== g) throw new UsageError(`a grader with id '${g.id}' is already registered`);
  graders.set(g.id, g);
}

export function getGrader(id: string): Grader {
  const g = graders.get(id);
  if (!g) throw new UsageError(`unknown grader '${id}' (registered: ${[...graders.keys()].join(', ')})`);
  return g;
}

export function listGraders(): string[] {
  return [...graders.keys()];
}

registerGrader(mathGrader);
registerGrader(mathGraderLastNumber);
registerGrader(mathVerifyGrader);
