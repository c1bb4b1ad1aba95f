// Evaluation statistics over k samples per problem: the unbiased pass@k estimator
// (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"), avg@k and maj@k (a
// vote over answers that the benchmark's grader calls equivalent, so 1/2 and 0.5 are one
// answer), and the per-problem outcomes the report's benchmark-noise intervals need.
// pass@1 is avg@k (c/k per problem, averaged): reports show avg@k only.

/**
 * Unbiased pass@k for one problem with n samples of which c are correct:
 * 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i), which never forms
 * the binomials and so stays exact in floating point for any n.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw new RangeError(`passAtK: need integers 0 <= c <= n and 1 <= k <= n, got n=${n}, c=${c}, k=${k}`);
  }
  if (k === 1) return c / n; // the product below telescopes to this; exact, so pass@1 = avg@k
  if (n - c < k) return 1;
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

/** pass@1..n for one problem, index j-1 holding pass@j. */
export function passAtKCurve(n: number, c: number): number[] {
  const out: number[] = [];
  for (let k = 1; k <= n; k++) out.push(passAtK(n, c, k));
  return out;
}

/** One sampled response to a problem, as graded. */
export interface GradedSample {
  correct: boolean;
  /** The final answer the grader extracted, or null when none was found. */
  extracted: string | null;
}

/** Whether two extracted answers are the same answer (a grader's `equivalent`). */
export type Equivalence = (a: string, b: string) => boolean;

/**
 * Majority vote over the extracted answers (responses without one do not vote). Answers are
 * grouped with `equivalent` when given (each answer joins the first earlier group whose first
 * answer it is equivalent to), else by their trimmed text. Ties go to the group seen first, so
 * the result is deterministic and does not depend on sorting strings. Returns whether the
 * winning group's answer is correct.
 */
export function majorityCorrect(samples: readonly GradedSample[], equivalent?: Equivalence): boolean {
  const votes: { key: string; count: number; correct: boolean }[] = [];
  for (const s of samples) {
    if (s.extracted === null) continue;
    const key = s.extracted.trim();
    const v = votes.find((x) => x.key === key || (equivalent !== undefined && equivalent(x.key, key)));
    if (v) {
      v.count += 1;
      v.correct ||= s.correct;
    } else votes.push({ key, count: 1, correct: s.correct });
  }
  let best: { count: number; correct: boolean } | null = null;
  for (const v of votes) if (!best || v.count > best.count) best = v;
  return best?.correct ?? false;
}

export interface BenchmarkScores {
  n: number;
  k: number;
  avgAtK: number;
  passAtK: number[];
  majAtK: number;
  /** Per problem: correct samples (0..k) and whether the majority vote was correct (0/1). */
  correct: number[];
  maj: number[];
}

/** Aggregates per-problem samples (each problem has exactly k samples) into benchmark scores. */
export function scoreSamples(perProblem: readonly (readonly GradedSample[])[], equivalent?: Equivalence): BenchmarkScores {
  const n = perProblem.length;
  if (n === 0) throw new RangeError('scoreSamples: no problems');
  const k = perProblem[0]!.length;
  if (k < 1) throw new RangeError('scoreSamples: no samples per problem');
  let correct = 0;
  const perCorrect: number[] = [];
  const perMaj: number[] = [];
  const pass = new Array<number>(k).fill(0);
  perProblem.forEach((samples, i) => {
    if (samples.length !== k) throw new RangeError(`scoreSamples: problem ${i} has ${samples.length} samples, expected ${k}`);
    const c = samples.filter((s) => s.correct).length;
    correct += c;
    perCorrect.push(c);
    perMaj.push(majorityCorrect(samples, equivalent) ? 1 : 0);
    const curve = passAtKCurve(k, c);
    for (let j = 0; j < k; j++) pass[j]! += curve[j]!;
  });
  const maj = perMaj.reduce((a, b) => a + b, 0);
  return { n, k, avgAtK: correct / (n * k), passAtK: pass.map((p) => p / n), majAtK: maj / n, correct: perCorrect, maj: perMaj };
}
