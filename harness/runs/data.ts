// What runs feed the model: the curriculum's problems encoded as prompts ([BOS] + template) and
// SFT targets (worked solution + [EOS]), the training prompt stream every objective of a seed
// shares, the training pool and the benchmarks encoded by the policy's prompt format and checked
// against its context.
import type { Problem, Benchmark } from '../tasks/types.ts';
import type { CharTokenizer } from '../tasks/tokenizer.ts';
import type { PromptFormat } from './prompts.ts';
import { formatTarget } from '../tasks/curriculum.ts';
import { getBenchmark } from '../tasks/registry.ts';
import { UsageError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { BenchmarkEntry } from './experiment.ts';
import type { PreparedBenchmark } from './evaluate.ts';

export { encodePrompt } from './prompts.ts';

export function encodeTarget(tok: CharTokenizer, p: Problem): Int32Array {
  const body = tok.encode(formatTarget(p));
  const out = new Int32Array(body.length + 1);
  out.set(body);
  out[body.length] = tok.eos;
  return out;
}

/**
 * The training prompt order of one seed: pass e over the pool is a permutation drawn from
 * (seed, name, e), and position c of the stream is entry c mod N of pass floor(c / N). It
 * depends only on the seed, the stream's name and the cursor, so every objective of a seed sees
 * the same prompts in the same order, and a resumed run continues from the saved cursor alone.
 *
 * Each step takes exactly promptsPerStep prompts from the main stream ('prompts'); a filtering
 * objective's refills (DAPO's dynamic sampling) come from a second, independent stream of the
 * same pool ('refills', see refills()), so refilling never moves the main cursor and step s of
 * every objective starts from the same prompts.
 */
export class PromptStream {
  private readonly perms = new Map<number, Int32Array>();
  constructor(
    readonly pool: readonly Problem[],
    readonly seed: number,
    readonly name: string = 'prompts',
  ) {
    if (pool.length === 0) throw new RangeError('PromptStream: empty training pool');
  }

  /** The companion stream refills draw from: same pool and seed, its own order and cursor. */
  refills(): PromptStream {
    return new PromptStream(this.pool, this.seed, `${this.name}/refills`);
  }

  private perm(pass: number): Int32Array {
    let p = this.perms.get(pass);
    if (!p) {
      const idx = Array.from({ length: this.pool.length }, (_, i) => i);
      new Rng(this.seed).fork(this.name).fork(pass).shuffle(idx);
      p = Int32Array.from(idx);
      this.perms.set(pass, p);
      if (this.perms.size > 2) this.perms.delete(Math.min(...this.perms.keys()));
    }
    return p;
  }

  /** The problems at stream positions cursor .. cursor+n-1. */
  take(cursor: number, n: number): Problem[] {
    const N = this.pool.length;
    const out: Problem[] = [];
    for (let c = cursor; c < cursor + n; c++) out.push(this.pool[this.perm(Math.floor(c / N))[c % N]!]!);
    return out;
  }
}

/**
 * Encodes a benchmark's problems, leaving out (and counting) those whose prompt is longer than
 * `maxPromptTokens` when it is given; any prompt that does not fit the context with `maxTokens`
 * response tokens is an error naming the problem and both lengths.
 */
export function encodeBenchmark(
  name: string, benchmark: Benchmark, all: readonly Problem[], prompts: PromptFormat, contextLength: number, maxTokens: number,
  opts: { maxPromptTokens?: number; plan?: PreparedBenchmark['plan']; where: string; hint: string },
): PreparedBenchmark {
  const problems: Problem[] = [];
  const encoded: Int32Array[] = [];
  let leftOut = 0;
  for (const p of all) {
    let ids: Int32Array;
    try {
      ids = prompts.encode(p);
    } catch (err) {
      throw new UsageError(`${opts.where}: ${(err as Error).message.startsWith(`problem ${p.id}`) ? '' : `problem ${p.id}: `}${(err as Error).message}`);
    }
    if (opts.maxPromptTokens !== undefined && ids.length > opts.maxPromptTokens) {
      leftOut++;
      continue;
    }
    if (ids.length + maxTokens > contextLength) {
      throw new UsageError(`${opts.where}: problem ${p.id}: prompt of ${ids.length} tokens + ${maxTokens} response tokens = ${ids.length + maxTokens} exceeds the context length ${contextLength}; ${opts.hint}`);
    }
    problems.push(p);
    encoded.push(ids);
  }
  if (problems.length === 0) {
    throw new UsageError(`${opts.where}: no problems left${leftOut ? ` (all ${leftOut} prompts are longer than maxPromptTokens ${opts.maxPromptTokens})` : ''}`);
  }
  return { name, benchmark, problems, prompts: encoded, ...(opts.plan && Object.keys(opts.plan).length ? { plan: opts.plan } : {}), ...(leftOut ? { leftOut } : {}) };
}

/** Loads each benchmark of the experiment and encodes its prompts, checking they fit the context. */
export function prepareBenchmarks(entries: readonly BenchmarkEntry[], prompts: PromptFormat, contextLength: number, maxTokens: number, where: string): PreparedBenchmark[] {
  return entries.map((e, i) => {
    let benchmark: Benchmark;
    try {
      benchmark = getBenchmark(e.name, { limit: e.limit, path: e.path });
    } catch (err) {
      throw new UsageError(`${where}: benchmarks[${i}].name: ${(err as Error).message}`);
    }
    let problems = benchmark.problems();
    if (e.limit !== undefined) problems = problems.slice(0, e.limit);
    if (problems.length === 0) throw new UsageError(`${where}: benchmarks[${i}] (${e.name}) has no problems`);
    const plan: PreparedBenchmark['plan'] = {};
    if (e.k !== undefined) plan.k = e.k;
    if (e.temperature !== undefined) plan.temperature = e.temperature;
    if (e.topP !== undefined) plan.topP = e.topP;
    return encodeBenchmark(e.name, benchmark, problems, prompts, contextLength, maxTokens, {
      maxPromptTokens: e.maxPromptTokens, plan, where: `${where}: benchmarks[${i}] (${e.name})`,
      hint: `lower eval.maxTokens, shorten the prompt template, or leave such problems out with benchmarks[${i}].maxPromptTokens`,
    });
  });
}

export interface PreparedPool {
  pool: Problem[];
  /** Problems left out because their prompt exceeded tasks.maxPromptTokens. */
  leftOut: number;
  /** The longest prompt kept, in tokens. */
  longest: number;
}

/**
 * Encodes a training pool (so each prompt is encoded once) and checks it against the context:
 * with `maxPromptTokens`, longer prompts are left out and counted; any prompt that cannot take
 * rl.maxTokens response tokens within the context is an error naming the problem.
 */
export function prepareTrainingPool(all: readonly Problem[], prompts: PromptFormat, contextLength: number, maxTokens: number, maxPromptTokens: number | undefined, where: string): PreparedPool {
  const pool: Problem[] = [];
  let leftOut = 0;
  let longest = 0;
  for (const p of all) {
    let n: number;
    try {
      n = prompts.encode(p).length;
    } catch (err) {
      throw new UsageError(`${where}: ${(err as Error).message.startsWith(`problem ${p.id}`) ? '' : `problem ${p.id}: `}${(err as Error).message}`);
    }
    if (maxPromptTokens !== undefined && n > maxPromptTokens) {
      leftOut++;
      continue;
    }
    if (n + maxTokens > contextLength) {
      throw new UsageError(`${where}: training problem ${p.id}: prompt of ${n} tokens + rl.maxTokens ${maxTokens} = ${n + maxTokens} exceeds the context length ${contextLength}; leave long prompts out with tasks.maxPromptTokens (at most ${contextLength - maxTokens} here), or lower rl.maxTokens`);
    }
    pool.push(p);
    longest = Math.max(longest, n);
  }
  if (pool.length === 0) throw new UsageError(`${where}: the training pool is empty${leftOut ? ` (all ${leftOut} prompts are longer than tasks.maxPromptTokens ${maxPromptTokens})` : ''}`);
  return { pool, leftOut, longest };
}
