// What runs feed the model: problems encoded as prompts ([BOS] + template) and SFT targets
// (worked solution + [EOS]), the training prompt stream every objective of a seed shares, and
// the benchmarks prepared for evaluation.
import type { Problem, Benchmark } from '../tasks/types.ts';
import type { CharTokenizer } from '../tasks/tokenizer.ts';
import { formatPrompt, formatTarget } from '../tasks/curriculum.ts';
import { getBenchmark } from '../tasks/registry.ts';
import { UsageError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { BenchmarkEntry } from './experiment.ts';
import type { PreparedBenchmark } from './evaluate.ts';

export function encodePrompt(tok: CharTokenizer, p: Problem): Int32Array {
  const body = tok.encode(formatPrompt(p));
  const out = new Int32Array(body.length + 1);
  out[0] = tok.bos;
  out.set(body, 1);
  return out;
}

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

/** Loads each benchmark of the experiment and encodes its prompts, checking they fit the context. */
export function prepareBenchmarks(entries: readonly BenchmarkEntry[], tok: CharTokenizer, contextLength: number, maxTokens: number, where: string): PreparedBenchmark[] {
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
    const prompts = problems.map((p) => {
      let ids: Int32Array;
      try {
        ids = encodePrompt(tok, p);
      } catch (err) {
        throw new UsageError(`${where}: benchmarks[${i}] (${e.name}), problem ${p.id}: ${(err as Error).message}`);
      }
      if (ids.length + maxTokens > contextLength) {
        throw new UsageError(`${where}: benchmarks[${i}] (${e.name}), problem ${p.id}: prompt of ${ids.length} tokens + ${maxTokens} response tokens exceeds policy.contextLength ${contextLength}`);
      }
      return ids;
    });
    return { name: e.name, benchmark, problems, prompts };
  });
}
