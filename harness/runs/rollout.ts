// The shared rollout engine: one instance per process serves every run (training and
// evaluation) of every objective. It holds the compiled sessions (through the PolicyEngine);
// each request brings its own weights. It batches prompts (left-padded), decodes with the KV
// cache, picks tokens inside the decode graph from seeded per-sequence uniforms (one per live
// row per token), and then scores the finished sequences with the teacher-forced log-probs graph
// at the behaviour weights, so that logpOld is exactly what the trainer's first logprobs call
// computes and ratios start at exactly 1.
import type { PolicyEngine } from '../engine/types.ts';
import { Rng } from '../util/rng.ts';
import { packSequences, gatherResponse, type Sequence } from './batch.ts';

export interface SamplingOptions {
  /** 0 means greedy (argmax, lowest id on ties). */
  temperature: number;
  topP: number;
  /** Response token limit; a response that reaches it without EOS is truncated. */
  maxTokens: number;
}

export interface GenerateRequest {
  params: Float32Array;
  prompts: readonly Int32Array[];
  /** Completions per prompt (K). */
  samples: number;
  sampling: SamplingOptions;
  /** Sequence i (prompt-major: prompt p, sample j is i = p*samples + j) samples from rng.fork(i). */
  rng: Rng;
  /** Score the responses at `params` (logpOld, entropy). Default true. */
  behaviourLogprobs?: boolean;
  /** Also score them at these weights (logpRef). */
  refParams?: Float32Array;
  /** Called after each decoded chunk: sequences finished so far (of prompts × samples) and response tokens generated. */
  onProgress?: (done: number, tokens: number) => void;
}

export interface Generation {
  promptIndex: number;
  sample: number;
  prompt: Int32Array;
  /** Response tokens, including the final EOS when one was produced. */
  tokens: Int32Array;
  /**
   * Log-prob of each response token under the distribution that sampled it, as the decode graph
   * computed it: log-softmax(logits / temperature) (temperature 1 when greedy), before top-p
   * truncation. logpOld re-scores the same tokens teacher-forced.
   */
  sampleLogp: Float32Array;
  /** Decoded text of the response without EOS. */
  text: string;
  truncated: boolean;
  logpOld?: Float32Array;
  entropy?: Float32Array;
  logpRef?: Float32Array;
}

export interface RolloutEngineOptions {
  /** End-of-sequence id, or several (Hugging Face generation configs list some): decoding stops at any. */
  eos: number | readonly number[];
  pad: number;
  /** Token ids -> text (EOS already removed). */
  detokenize: (ids: Int32Array) => string;
  /** Sequences decoded together in one KV-cache pass (default 256). */
  batchSize?: number;
  /**
   * Token budget of one decode pass: rows × (longest prompt + maxTokens) stays within it, so the
   * KV cache of long generations stays bounded (at least one row). 0: rows are bounded by
   * batchSize only (the default).
   */
  maxBatchTokens?: number;
}

export class RolloutEngine {
  readonly policy: PolicyEngine;
  private readonly opts: Required<RolloutEngineOptions>;
  private readonly eos: ReadonlySet<number>;

  constructor(policy: PolicyEngine, opts: RolloutEngineOptions) {
    this.policy = policy;
    this.opts = { batchSize: 256, maxBatchTokens: 0, ...opts };
    this.eos = new Set(typeof opts.eos === 'number' ? [opts.eos] : opts.eos);
  }

  get batchSize(): number {
    return this.opts.batchSize;
  }

  /** Generates `samples` completions of every prompt, then scores them (see GenerateRequest). */
  async generate(req: GenerateRequest): Promise<Generation[]> {
    const seqs: { promptIndex: number; sample: number; prompt: Int32Array; rng: Rng }[] = [];
    req.prompts.forEach((prompt, p) => {
      for (let j = 0; j < req.samples; j++) seqs.push({ promptIndex: p, sample: j, prompt, rng: req.rng.fork(p * req.samples + j) });
    });
    const out: Generation[] = [];
    let tokens = 0;
    for (const chunk of this.chunks(seqs, req.sampling.maxTokens)) {
      const responses = await this.decodeChunk(req.params, chunk.map((s) => s.prompt), chunk.map((s) => s.rng), req.sampling);
      chunk.forEach((s, b) => {
        const r = responses[b]!;
        const ids = this.eos.has(r.tokens[r.tokens.length - 1]!) ? r.tokens.subarray(0, r.tokens.length - 1) : r.tokens;
        out.push({ promptIndex: s.promptIndex, sample: s.sample, prompt: s.prompt, tokens: r.tokens, sampleLogp: r.logp, text: this.opts.detokenize(ids), truncated: r.truncated });
        tokens += r.tokens.length;
      });
      req.onProgress?.(out.length, tokens);
    }
    const B = this.opts.batchSize;
    if (req.behaviourLogprobs !== false || req.refParams) {
      for (let i = 0; i < out.length; i += B) {
        const chunk = out.slice(i, i + B);
        const seq = chunk.map((g) => ({ prompt: g.prompt, response: g.tokens }));
        if (req.behaviourLogprobs !== false) {
          const s = await this.score(req.params, seq);
          chunk.forEach((g, b) => {
            g.logpOld = s.logp[b];
            g.entropy = s.entropy[b];
          });
        }
        if (req.refParams) {
          const s = await this.score(req.refParams, seq);
          chunk.forEach((g, b) => (g.logpRef = s.logp[b]));
        }
      }
    }
    return out;
  }

  /**
   * Consecutive runs of sequences decoded together: at most batchSize rows, and with a token
   * budget, rows × (longest prompt of the run + maxTokens) within it.
   */
  private chunks<T extends { prompt: Int32Array }>(seqs: readonly T[], maxTokens: number): T[][] {
    const { batchSize, maxBatchTokens } = this.opts;
    const out: T[][] = [];
    let cur: T[] = [];
    let longest = 0;
    for (const s of seqs) {
      const P = Math.max(longest, s.prompt.length);
      const full = cur.length >= batchSize || (maxBatchTokens > 0 && cur.length > 0 && (cur.length + 1) * (P + maxTokens) > maxBatchTokens);
      if (full) {
        out.push(cur);
        cur = [];
        longest = 0;
      }
      cur.push(s);
      longest = Math.max(longest, s.prompt.length);
    }
    if (cur.length) out.push(cur);
    return out;
  }

  /** Teacher-forced log-probs and entropies of each response token, in one graph call. */
  async score(params: Float32Array, seqs: readonly Sequence[]): Promise<{ logp: Float32Array[]; entropy: Float32Array[] }> {
    const packed = packSequences(seqs, this.opts.pad);
    const { logp, entropy } = await this.policy.logprobs(params, packed.batch);
    return { logp: gatherResponse(packed, logp), entropy: gatherResponse(packed, entropy) };
  }

  /**
   * KV-cache decoding of one chunk: a prefill of the left-padded prompts (which also picks each
   * row's first token), then one column per step for every row until all rows have emitted EOS
   * or the token limit is reached. Finished rows keep being fed PAD (their outputs are ignored)
   * so the batch shape stays fixed.
   */
  private async decodeChunk(params: Float32Array, prompts: Int32Array[], rngs: Rng[], s: SamplingOptions): Promise<{ tokens: Int32Array; logp: Float32Array; truncated: boolean }[]> {
    const { pad } = this.opts;
    const Bn = prompts.length;
    const P = Math.max(...prompts.map((p) => p.length));
    const ctx = this.policy.shape.contextLength;
    if (P + s.maxTokens > ctx) {
      throw new RangeError(`rollout: prompt length ${P} + maxTokens ${s.maxTokens} exceeds the policy's contextLength ${ctx}`);
    }
    const offsets = new Int32Array(Bn);
    const prefill = new Int32Array(Bn * P).fill(pad);
    prompts.forEach((p, b) => {
      offsets[b] = P - p.length;
      prefill.set(p, b * P + offsets[b]!);
    });
    const resp: number[][] = prompts.map(() => []);
    const logps: number[][] = prompts.map(() => []);
    const done = new Uint8Array(Bn);
    let live = Bn;
    const greedy = s.temperature <= 0;
    // Every live row draws exactly one uniform per token, so a sequence's sample does not
    // depend on which other rows share its chunk (finished rows get 0, never read).
    const sampling = () => {
      if (greedy) return { temperature: 0 };
      const uniforms = new Float64Array(Bn);
      for (let b = 0; b < Bn; b++) if (!done[b]) uniforms[b] = rngs[b]!.next();
      return { temperature: s.temperature, topP: s.topP, uniforms };
    };
    let r = await this.policy.decode(params, null, { tokens: prefill, batch: Bn, time: P, offsets }, sampling());
    for (let t = 0; t < s.maxTokens && live > 0; t++) {
      const next = new Int32Array(Bn).fill(pad);
      for (let b = 0; b < Bn; b++) {
        if (done[b]) continue;
        const tok = r.tokens[b]!;
        resp[b]!.push(tok);
        logps[b]!.push(r.logp[b]!);
        next[b] = tok;
        if (this.eos.has(tok)) {
          done[b] = 1;
          live--;
        }
      }
      if (live === 0 || t === s.maxTokens - 1) break;
      r = await this.policy.decode(params, r.cache, { tokens: next, batch: Bn, time: 1, offsets }, sampling());
    }
    this.policy.releaseCache(r.cache); // the next chunk reuses its memory (no fresh pages to fault in)
    return resp.map((x, b) => ({ tokens: Int32Array.from(x), logp: Float32Array.from(logps[b]!), truncated: !done[b] }));
  }
}
