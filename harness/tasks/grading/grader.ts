// Graders: response → reward. The default math grader extracts the final answer (extract.ts)
// and decides equivalence with the gold one (equivalence.ts). Graders are a plugin point: a task
// registers its own under an id and benchmarks refer to it.
import { UsageError } from '../../util/errors.ts';
import type { GradeResult, Grader } from '../types.ts';
import { extractAnswer, type ExtractOptions } from './extract.ts';
import { answersEquivalent, type EquivalenceOptions } from './equivalence.ts';

export interface GradeOptions extends ExtractOptions, EquivalenceOptions {}

/** Grades one response against a gold answer: { correct, extracted }. */
export function gradeResponse(response: string, gold: string, opts: GradeOptions = {}): GradeResult {
  const extracted = extractAnswer(response, opts);
  if (extracted === null) return { correct: false, extracted: null };
  return { correct: answersEquivalent(extracted, gold, opts), extracted };
}

/** A math grader with fixed options (e.g. `{ lastNumberFallback: true }`). */
export function makeMathGrader(opts: GradeOptions = {}, id = 'math'): Grader {
  return { id, grade: (response, gold) => gradeResponse(response, gold, opts) };
}

/** Strict: an answer counts only behind \boxed{}, `####` or "the answer is". */
export const mathGrader: Grader = makeMathGrader({}, 'math');
/** Lenient: also falls back to the last number in the response (Qwen2.5-Math eval style). */
export const mathGraderLastNumber: Grader = makeMathGrader({ lastNumberFallback: true }, 'math-last-number');

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
