// Evaluation of one set of weights on benchmarks, through the shared rollout engine: k sampled
// responses per problem at the evaluation temperature, plus one greedy response, graded by each
// benchmark's own grader (maj@k votes by its `equivalent` when it has one). A temperature of 0
// means greedy decoding only (k = 1; the greedy column is the same decode). A response that hits
// the token limit counts as wrong with `truncatedWrong` (rlbench eval, the Hugging Face suites),
// else it is graded as it stands; either way it is counted in the truncated fraction. Produces the eval.jsonl rows (results/README.md): avg@k,
// pass@1..k, maj@k, greedy accuracy, mean response length, truncated fractions and the
// per-problem outcomes behind them; evaluateBenchmark also returns every graded response (for
// `rlbench eval --out`).
import type { Benchmark, ExtractionStage, Problem } from '../tasks/types.ts';
import { Rng } from '../util/rng.ts';
import type { RolloutEngine } from './rollout.ts';
import { scoreSamples, type GradedSample } from './pass-at-k.ts';

export interface EvalPlan {
  k: number;
  /** 0: greedy decoding only (k must be 1). */
  temperature: number;
  topP: number;
  greedy: boolean;
  maxTokens: number;
  /**
   * A response that hits the token limit counts as wrong (and does not vote in maj@k), whatever
   * it holds. Off (absent): it is graded as it stands, as the built-in suites always have been.
   */
  truncatedWrong?: boolean;
}

/** A benchmark with its problems already encoded as prompts. */
export interface PreparedBenchmark {
  name: string;
  benchmark: Benchmark;
  problems: Problem[];
  prompts: Int32Array[];
  /** Settings of this benchmark that differ from the evaluation's (e.g. avg@32 on AIME). */
  plan?: Partial<Pick<EvalPlan, 'k' | 'temperature' | 'topP'>>;
  /** Problems left out because their prompt was longer than the benchmark's maxPromptTokens. */
  leftOut?: number;
}

export interface EvalRow {
  step: number;
  rollouts: number;
  tokens: number;
  wallTime: number;
  benchmark: string;
  n: number;
  k: number;
  temperature: number;
  topP?: number;
  avgAtK: number;
  passAtK: number[];
  majAtK: number;
  greedy: number | null;
  meanLength: number;
  /** Fraction of sampled responses that hit the token limit. */
  truncated: number;
  /** Fraction of greedy responses that hit the token limit (null without greedy decoding). */
  greedyTruncated?: number | null;
  /** Problems of the benchmark left out for a prompt longer than its maxPromptTokens (absent: none). */
  leftOut?: number;
  /** Seconds this evaluation took (not counted in the run's training wall time). */
  evalTime: number;
  /**
   * Per problem, in benchmark order: correct samples (0..k), majority vote correct (0/1), and
   * greedy correct (0/1, null without greedy decoding).
   */
  perProblem: { correct: number[]; maj: number[]; greedy: number[] | null };
}

export interface EvalPoint {
  step: number;
  rollouts: number;
  tokens: number;
  wallTime: number;
}

/** One graded response. */
export interface GradedResponse {
  text: string;
  /** Response tokens, the EOS included when one was produced. */
  tokens: number;
  truncated: boolean;
  extracted: string | null;
  stage: ExtractionStage | null;
  correct: boolean;
}

export interface BenchmarkEvaluation {
  row: Omit<EvalRow, keyof EvalPoint>;
  /** Per problem, its k sampled responses. */
  samples: GradedResponse[][];
  /** Per problem, its greedy response (null without greedy decoding). */
  greedy: GradedResponse[] | null;
}

/** Progress of one benchmark's evaluation: sequences decoded of the total, and response tokens. */
export type EvalProgress = (p: { benchmark: string; done: number; total: number; tokens: number }) => void;

/**
 * The sampling stream of an evaluation depends only on (eval seed, benchmark), not on the run,
 * the step or the weights: every evaluation draws the same uniforms (common random numbers), so
 * the difference between two checkpoints, e.g. a run's final policy and the SFT start, reflects
 * the policies and not the luck of the draw. The SFT rows are exactly the step-0 row of each run.
 */
export function evalRng(evalSeed: number, benchmark: string): Rng {
  return new Rng(evalSeed).fork(`eval:${benchmark}`);
}

/** The plan one benchmark is evaluated with: the evaluation's, with the benchmark's own settings over it. */
export function benchmarkPlan(plan: EvalPlan, b: Pick<PreparedBenchmark, 'plan'>): EvalPlan {
  const p = { ...plan, ...b.plan };
  if (p.temperature === 0) {
    if (p.k !== 1) throw new RangeError(`evaluation at temperature 0 is greedy decoding: k must be 1, got ${p.k}`);
    return { ...p, greedy: false };
  }
  return p;
}

export async function evaluateBenchmark(engine: RolloutEngine, params: Float32Array, b: PreparedBenchmark, basePlan: EvalPlan, evalSeed: number, onProgress?: EvalProgress): Promise<BenchmarkEvaluation> {
  const t0 = performance.now();
  const plan = benchmarkPlan(basePlan, b);
  const greedyOnly = plan.temperature === 0;
  const n = b.problems.length;
  const total = n * plan.k + (plan.greedy ? n : 0);
  const rng = evalRng(evalSeed, b.name);
  const grader = b.benchmark.grader;
  const graded = (g: { promptIndex: number; text: string; tokens: Int32Array; truncated: boolean }): GradedResponse => {
    const r = grader.grade(g.text, b.problems[g.promptIndex]!.answer);
    const correct = r.correct && !(plan.truncatedWrong && g.truncated);
    return { text: g.text, tokens: g.tokens.length, truncated: g.truncated, extracted: r.extracted, stage: r.stage ?? null, correct };
  };
  let sampledTokens = 0;
  onProgress?.({ benchmark: b.name, done: 0, total, tokens: 0 });
  const sampled = await engine.generate({
    params,
    prompts: b.prompts,
    samples: plan.k,
    sampling: { temperature: plan.temperature, topP: plan.topP, maxTokens: plan.maxTokens },
    rng: rng.fork('sampled'),
    behaviourLogprobs: false,
    onProgress: onProgress && ((done, tokens) => onProgress({ benchmark: b.name, done, total, tokens: (sampledTokens = tokens) })),
  });
  const samples: GradedResponse[][] = b.problems.map(() => []);
  let length = 0;
  let truncated = 0;
  for (const g of sampled) {
    samples[g.promptIndex]!.push(graded(g));
    length += g.tokens.length;
    if (g.truncated) truncated++;
  }
  // A truncated response that counts as wrong does not vote either.
  const perProblem: GradedSample[][] = samples.map((xs) => xs.map((x) => ({ correct: x.correct, extracted: plan.truncatedWrong && x.truncated ? null : x.extracted })));
  const scores = scoreSamples(perProblem, grader.equivalent ? (x, y) => grader.equivalent!(x, y) : undefined);
  let greedy: GradedResponse[] | null = null;
  if (plan.greedy) {
    const gr = await engine.generate({
      params,
      prompts: b.prompts,
      samples: 1,
      sampling: { temperature: 0, topP: 1, maxTokens: plan.maxTokens },
      rng: rng.fork('greedy'),
      behaviourLogprobs: false,
      onProgress: onProgress && ((done, tokens) => onProgress({ benchmark: b.name, done: n * plan.k + done, total, tokens: sampledTokens + tokens })),
    });
    greedy = new Array<GradedResponse>(n);
    for (const g of gr) greedy[g.promptIndex] = graded(g);
  }
  const greedyPer = greedyOnly ? scores.correct.map((c) => (c > 0 ? 1 : 0)) : greedy ? greedy.map((g) => (g.correct ? 1 : 0)) : null;
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const row: BenchmarkEvaluation['row'] = {
    benchmark: b.name,
    n: scores.n,
    k: scores.k,
    temperature: plan.temperature,
    topP: plan.topP,
    avgAtK: scores.avgAtK,
    passAtK: scores.passAtK,
    majAtK: scores.majAtK,
    greedy: greedyPer ? mean(greedyPer) : null,
    meanLength: length / sampled.length,
    truncated: truncated / sampled.length,
    greedyTruncated: greedyOnly ? truncated / sampled.length : greedy ? greedy.filter((g) => g.truncated).length / n : null,
    ...(b.leftOut ? { leftOut: b.leftOut } : {}),
    evalTime: (performance.now() - t0) / 1000,
    perProblem: { correct: scores.correct, maj: scores.maj, greedy: greedyPer },
  };
  return { row, samples, greedy: greedyOnly ? samples.map((xs) => xs[0]!) : greedy };
}

export async function evaluate(engine: RolloutEngine, params: Float32Array, benches: readonly PreparedBenchmark[], plan: EvalPlan, evalSeed: number, at: EvalPoint): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  for (const b of benches) {
    const { row } = await evaluateBenchmark(engine, params, b, plan, evalSeed);
    rows.push({ ...at, ...row });
  }
  return rows;
}
