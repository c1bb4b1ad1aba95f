// Evaluation of one set of weights on the experiment's benchmarks, through the shared rollout
// engine: k sampled responses per problem at the evaluation temperature, plus one greedy
// response, graded by each benchmark's own grader (maj@k votes by its `equivalent` when it has
// one). Produces the eval.jsonl rows (results/README.md): avg@k, pass@1..k, maj@k, greedy
// accuracy, mean response length, and the per-problem outcomes behind them, from which the
// report computes the uncertainty due to the finite benchmark.
import type { Benchmark, Problem } from '../tasks/types.ts';
import { Rng } from '../util/rng.ts';
import type { RolloutEngine } from './rollout.ts';
import { scoreSamples, type GradedSample } from './pass-at-k.ts';

export interface EvalPlan {
  k: number;
  temperature: number;
  topP: number;
  greedy: boolean;
  maxTokens: number;
}

/** A benchmark with its problems already encoded as prompts. */
export interface PreparedBenchmark {
  name: string;
  benchmark: Benchmark;
  problems: Problem[];
  prompts: Int32Array[];
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
  avgAtK: number;
  passAtK: number[];
  majAtK: number;
  greedy: number | null;
  meanLength: number;
  /** Fraction of sampled responses that hit the token limit. */
  truncated: number;
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

/**
 * The sampling stream of an evaluation depends only on (eval seed, benchmark), not on the run,
 * the step or the weights: every evaluation draws the same uniforms (common random numbers), so
 * the difference between two checkpoints, e.g. a run's final policy and the SFT start, reflects
 * the policies and not the luck of the draw. The SFT rows are exactly the step-0 row of each run.
 */
export function evalRng(evalSeed: number, benchmark: string): Rng {
  return new Rng(evalSeed).fork(`eval:${benchmark}`);
}

export async function evaluate(engine: RolloutEngine, params: Float32Array, benches: readonly PreparedBenchmark[], plan: EvalPlan, evalSeed: number, at: EvalPoint): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  for (const b of benches) {
    const t0 = performance.now();
    const rng = evalRng(evalSeed, b.name);
    const sampled = await engine.generate({
      params,
      prompts: b.prompts,
      samples: plan.k,
      sampling: { temperature: plan.temperature, topP: plan.topP, maxTokens: plan.maxTokens },
      rng: rng.fork('sampled'),
      behaviourLogprobs: false,
    });
    const perProblem: GradedSample[][] = b.problems.map(() => []);
    let length = 0;
    let truncated = 0;
    for (const g of sampled) {
      const p = b.problems[g.promptIndex]!;
      const r = b.benchmark.grader.grade(g.text, p.answer);
      perProblem[g.promptIndex]!.push({ correct: r.correct, extracted: r.extracted });
      length += g.tokens.length;
      if (g.truncated) truncated++;
    }
    const grader = b.benchmark.grader;
    const scores = scoreSamples(perProblem, grader.equivalent ? (x, y) => grader.equivalent!(x, y) : undefined);
    let greedy: number | null = null;
    let greedyPer: number[] | null = null;
    if (plan.greedy) {
      const gr = await engine.generate({
        params,
        prompts: b.prompts,
        samples: 1,
        sampling: { temperature: 0, topP: 1, maxTokens: plan.maxTokens },
        rng: rng.fork('greedy'),
        behaviourLogprobs: false,
      });
      greedyPer = new Array<number>(b.problems.length).fill(0);
      for (const g of gr) if (grader.grade(g.text, b.problems[g.promptIndex]!.answer).correct) greedyPer[g.promptIndex] = 1;
      greedy = greedyPer.reduce((a, x) => a + x, 0) / b.problems.length;
    }
    rows.push({
      ...at,
      benchmark: b.name,
      n: scores.n,
      k: scores.k,
      temperature: plan.temperature,
      avgAtK: scores.avgAtK,
      passAtK: scores.passAtK,
      majAtK: scores.majAtK,
      greedy,
      meanLength: length / sampled.length,
      truncated: truncated / sampled.length,
      evalTime: (performance.now() - t0) / 1000,
      perProblem: { correct: scores.correct, maj: scores.maj, greedy: greedyPer },
    });
  }
  return rows;
}
