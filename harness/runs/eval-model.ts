// `rlbench eval` without the command line: evaluates one checkpoint (a Hugging Face folder, or
// any of rlbench's own checkpoints: runs/policy-source.ts) on benchmarks named by the built-in
// names, the shared datasets' names, or JSONL paths, each with its default protocol
// (tasks/eval-protocol.ts) unless overridden. Prompts go through the policy's prompt format
// (the chat template around the prompt template for a Hugging Face model). Long generations are
// decoded in passes of at most `batchTokens` tokens (rows × (prompt + max new tokens)), so memory
// stays bounded whatever the benchmark. Returns the statistics and every graded response.
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { createPolicyEngine } from '../engine/policy.ts';
import type { Benchmark, Problem } from '../tasks/types.ts';
import { getBenchmark, listBenchmarks, loadJsonlBenchmark } from '../tasks/registry.ts';
import type { AnswerFormat } from '../tasks/datasets.ts';
import { evalDefaults, DEFAULT_EVAL_MAX_TOKENS, type EvalDefaults } from '../tasks/eval-protocol.ts';
import { UsageError } from '../util/errors.ts';
import { encodeBenchmark } from './data.ts';
import { benchmarkPlan, evaluateBenchmark, type BenchmarkEvaluation, type EvalPlan, type EvalProgress, type PreparedBenchmark } from './evaluate.ts';
import { openModelDir, type PolicyInfo } from './policy-source.ts';
import { RolloutEngine } from './rollout.ts';

/** Field names and answer convention for benchmarks given as JSONL paths. */
export interface JsonlFields {
  problemField: string;
  answerField: string;
  idField?: string;
  answerFormat?: AnswerFormat;
}

export interface ResolvedBenchmark {
  name: string;
  /** 'builtin' | 'standard' | the JSONL file. */
  source: string;
  benchmark: Benchmark;
  problems: Problem[];
}

/**
 * A benchmark by name (built-in or shared dataset, read from `dataDir`) or by JSONL path; an
 * unknown name lists the known ones. Nothing is encoded yet (that needs the model's tokenizer).
 */
export function resolveBenchmark(spec: string, opts: { dataDir?: string; limit?: number; fields: JsonlFields }): ResolvedBenchmark {
  const known = listBenchmarks();
  const info = known.find((b) => b.name === spec);
  let benchmark: Benchmark;
  let source: string;
  if (info) {
    benchmark = getBenchmark(spec, { dataDir: opts.dataDir, limit: opts.limit });
    source = info.kind;
  } else if (spec.endsWith('.jsonl') || (existsSync(spec) && statSync(spec).isFile())) {
    if (!existsSync(spec)) throw new UsageError(`--benchmark ${spec}: file not found`);
    benchmark = loadJsonlBenchmark({ path: spec, name: basename(spec).replace(/\.jsonl$/, ''), ...opts.fields, limit: opts.limit });
    source = spec;
  } else {
    throw new UsageError(`--benchmark ${spec}: unknown benchmark; known: ${known.map((b) => b.name).join(', ')}; or give a JSONL file path (with --problem-field and --answer-field)`);
  }
  let problems = benchmark.problems();
  if (opts.limit !== undefined) problems = problems.slice(0, opts.limit);
  if (problems.length === 0) throw new UsageError(`--benchmark ${spec}: no problems`);
  return { name: benchmark.name, source, benchmark, problems };
}

export interface EvalOverrides {
  k?: number;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  greedy?: boolean;
}

export interface ModelEvalRequest {
  model: string;
  benchmarks: ResolvedBenchmark[];
  overrides: EvalOverrides;
  seed: number;
  chatTemplate?: string;
  promptTemplate?: string;
  /** Leave out problems whose prompt is longer than this (counted per benchmark). */
  maxPromptTokens?: number;
  /** Decode-pass budget: rows × (prompt + max new tokens). */
  batchTokens: number;
  /** At most this many rows per decode pass. */
  batchSize: number;
  threads?: number;
  onProgress?: (p: Parameters<EvalProgress>[0] & { index: number; of: number }) => void;
  /** Called when a benchmark is done (its row), e.g. to print it at once. */
  onBenchmark?: (r: BenchmarkResult) => void;
}

export interface BenchmarkResult {
  name: string;
  source: string;
  plan: EvalPlan;
  /** Where each setting came from: the benchmark's default protocol, or the command line. */
  defaults: EvalDefaults;
  evaluation: BenchmarkEvaluation;
  problems: Problem[];
  prompts: string[];
}

export interface ModelEvaluation {
  model: string;
  /** The folder the weights were read from. */
  weights: string;
  policy: PolicyInfo;
  seed: number;
  results: BenchmarkResult[];
}

/** The plan of one benchmark: its defaults, the overrides over them, the response limit capped by the context. */
function planFor(name: string, o: EvalOverrides, contextLength: number, longestPrompt: number, where: string): { plan: EvalPlan; defaults: EvalDefaults } {
  const d = evalDefaults(name);
  const temperature = o.temperature ?? d.temperature;
  const k = o.k ?? (temperature === 0 ? 1 : d.k);
  if (temperature === 0 && k !== 1) throw new UsageError(`--temperature 0 decodes greedily: one response per problem, so --k must be 1 (got ${k})`);
  let maxTokens = o.maxTokens ?? Math.min(DEFAULT_EVAL_MAX_TOKENS, contextLength - longestPrompt);
  if (o.maxTokens === undefined && maxTokens < 1) {
    throw new UsageError(`${where}: its longest prompt (${longestPrompt} tokens) leaves no room for a response in the context length ${contextLength}; leave long prompts out with --max-prompt-tokens N`);
  }
  maxTokens = Math.max(1, maxTokens);
  return { plan: { k, temperature, topP: o.topP ?? d.topP, greedy: temperature === 0 ? false : (o.greedy ?? d.greedy), maxTokens, truncatedWrong: true }, defaults: d };
}

export async function evaluateModel(req: ModelEvalRequest): Promise<ModelEvaluation> {
  const opened = await openModelDir(req.model, { chatTemplate: req.chatTemplate, promptTemplate: req.promptTemplate });
  const { source, params } = opened;
  const ctx = source.config.contextLength;
  // Every benchmark is encoded and checked before anything is generated.
  const prepared = req.benchmarks.map((b) => {
    const where = `benchmark ${b.name}`;
    const longest = (ps: readonly Problem[]) => {
      let m = 0;
      for (const p of ps) {
        const n = source.prompts.encode(p).length;
        if (req.maxPromptTokens === undefined || n <= req.maxPromptTokens) m = Math.max(m, n);
      }
      return m;
    };
    let longestPrompt: number;
    try {
      longestPrompt = longest(b.problems);
    } catch (e) {
      throw new UsageError(`${where}: ${(e as Error).message}`);
    }
    const { plan, defaults } = planFor(b.name, req.overrides, ctx, longestPrompt, where);
    const hint = req.overrides.maxTokens !== undefined ? 'lower --max-tokens, or leave such problems out with --max-prompt-tokens N' : 'leave such problems out with --max-prompt-tokens N';
    const pb: PreparedBenchmark = encodeBenchmark(b.name, b.benchmark, b.problems, source.prompts, ctx, plan.maxTokens, { maxPromptTokens: req.maxPromptTokens, where, hint });
    benchmarkPlan(plan, pb);
    return { b, pb, plan, defaults };
  });
  const engine = await createPolicyEngine(source.config, { threads: req.threads });
  try {
    const rollout = new RolloutEngine(engine, { eos: source.eos, pad: source.pad, detokenize: (ids) => source.detokenize(ids), batchSize: req.batchSize, maxBatchTokens: req.batchTokens });
    const results: BenchmarkResult[] = [];
    for (const [index, { b, pb, plan, defaults }] of prepared.entries()) {
      const evaluation = await evaluateBenchmark(rollout, params, pb, plan, req.seed, req.onProgress && ((p) => req.onProgress!({ ...p, index, of: prepared.length })));
      const r: BenchmarkResult = { name: b.name, source: b.source, plan, defaults, evaluation, problems: pb.problems, prompts: pb.problems.map((p) => source.prompts.text(p)) };
      results.push(r);
      req.onBenchmark?.(r);
    }
    return { model: req.model, weights: opened.dir, policy: source.info, seed: req.seed, results };
  } finally {
    await engine.release();
  }
}

