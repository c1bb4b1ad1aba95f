// The shared rollout engine: one instance per process serves every run (training and
// evaluation) of every objective. It holds the compiled sessions (through the PolicyEngine);
// each request brings its own weights. It batches prompts (left-padded), decodes with the KV
// cache, samples with seeded per-sequence generators, and then scores the finished sequences
// with the teacher-forced log-probs graph at the behaviour weights, so that logpOld is exactly
// what the trainer's first logprobs call computes and ratios start at exactly 1.
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
}

export interface Generation {
  promptIndex: number;
  sample: number;
  prompt: Int32Array;
  /** Response tokens, including the final EOS when one was produced. */
  tokens: Int32Array;
  /** Decoded text of the response without EOS. */
  text: string;
  truncated: boolean;
  logpOld?: Float32Array;
  entropy?: Float32Array;
  logpRef?: Float32Array;
}

export interface RolloutEngineOptions {
  eos: number;
  pad: number;
  /** Token ids -> text (EOS already removed). */
  detokenize: (ids: Int32Array) => string;
  /** Sequences decoded together in one KV-cache pass (default 256). */
  batchSize?: number;
}

/** Samples one token id from logits[off .. off+V) (temperature > 0) or takes the argmax. */
export function sampleToken(logits: Float32Array, off: number, V: number, temperature: number, topP: number, u: number, scratch?: { p: Float64Array; idx: Int32Array }): number {
  if (temperature <= 0) {
    let best = 0;
    let bv = -Infinity;
    for (let v = 0; v < V; v++) {
      const x = logits[off + v]!;
      if (x > bv) {
        bv = x;
        best = v;
      }
    }
    return best;
  }
  const p = scratch?.p ?? new Float64Array(V);
  let mx = -Infinity;
  for (let v = 0; v < V; v++) mx = Math.max(mx, logits[off + v]!);
  let z = 0;
  for (let v = 0; v < V; v++) {
    const e = Math.exp((logits[off + v]! - mx) / temperature);
    p[v] = e;
    z += e;
  }
  if (topP >= 1) {
    let acc = 0;
    const target = u * z;
    for (let v = 0; v < V; v++) {
      acc += p[v]!;
      if (acc > target) return v;
    }
    return V - 1;
  }
  // Nucleus: the smallest set of most likely tokens whose mass reaches topP (ties by id).
  const idx = scratch?.idx ?? new Int32Array(V);
  for (let v = 0; v < V; v++) idx[v] = v;
  const order = Array.from(idx.subarray(0, V)).sort((a, b) => p[b]! - p[a]! || a - b);
  let kept = 0;
  let mass = 0;
  while (kept < V) {
    mass += p[order[kept]!]!;
    kept++;
    if (mass >= topP * z) break;
  }
  const target = u * mass;
  let acc = 0;
  for (let i = 0; i < kept; i++) {
    acc += p[order[i]!]!;
    if (acc > target) return order[i]!;
  }
  return order[kept - 1]!;
}

export class RolloutEngine {
  readonly policy: PolicyEngine;
  private readonly opts: Required<RolloutEngineOptions>;

  constructor(policy: PolicyEngine, opts: RolloutEngineOptions) {
    this.policy = policy;
    this.opts = { batchSize: 256, ...opts };
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
    const B = this.opts.batchSize;
    for (let i = 0; i < seqs.length; i += B) {
      const chunk = seqs.slice(i, i + B);
      const responses = await this.decodeChunk(req.params, chunk.map((s) => s.prompt), chunk.map((s) => s.rng), req.sampling);
      chunk.forEach((s, b) => {
        const r = responses[b]!;
        const ids = r.tokens[r.tokens.length - 1] === this.opts.eos ? r.tokens.subarray(0, r.tokens.length - 1) : r.tokens;
        out.push({ promptIndex: s.promptIndex, sample: s.sample, prompt: s.prompt, tokens: r.tokens, text: this.opts.detokenize(ids), truncated: r.truncated });
      });
    }
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

  /** Teacher-forced log-probs and entropies of each response token, in one graph call. */
  async score(params: Float32Array, seqs: readonly Sequence[]): Promise<{ logp: Float32Array[]; entropy: Float32Array[] }> {
    const packed = packSequences(seqs, this.opts.pad);
    const { logp, entropy } = await this.policy.logprobs(params, packed.batch);
    return { logp: gatherResponse(packed, logp), entropy: gatherResponse(packed, entropy) };
  }

  /**
   * KV-cache decoding of one chunk: a prefill of the left-padded prompts, then one column per
   * step for every row until all rows have emitted EOS or the token limit is reached. Finished
   * rows keep being fed PAD (their outputs are ignored) so the batch shape stays fixed.
   */
  private async decodeChunk(params: Float32Array, prompts: Int32Array[], rngs: Rng[], s: SamplingOptions): Promise<{ tokens: Int32Array; truncated: boolean }[]> {
    const { eos, pad } = this.opts;
    const V = this.policy.config.vocabSize;
    const Bn = prompts.length;
    const P = Math.max(...prompts.map((p) => p.length));
    if (P + s.maxTokens > this.policy.config.contextLength) {
      throw new RangeError(`rollout: prompt length ${P} + maxTokens ${s.maxTokens} exceeds the policy's contextLength ${this.policy.config.contextLength}`);
    }
    const offsets = new Int32Array(Bn);
    const prefill = new Int32Array(Bn * P).fill(pad);
    prompts.forEach((p, b) => {
      offsets[b] = P - p.length;
      prefill.set(p, b * P + offsets[b]!);
    });
    const resp: number[][] = prompts.map(() => []);
    const done = new Uint8Array(Bn);
    let live = Bn;
    const scratch = { p: new Float64Array(V), idx: new Int32Array(V) };
    let { logits, cache } = await this.policy.decode(params, null, { tokens: prefill, batch: Bn, time: P, offsets });
    for (let t = 0; t < s.maxTokens && live > 0; t++) {
      const next = new Int32Array(Bn).fill(pad);
      for (let b = 0; b < Bn; b++) {
        if (done[b]) continue;
        // Every live row draws exactly one uniform per token, so a sequence's sample does not
        // depend on which other rows share its chunk.
        const u = rngs[b]!.next();
        const tok = sampleToken(logits, b * V, V, s.temperature, s.topP, u, scratch);
        resp[b]!.push(tok);
        next[b] = tok;
        if (tok === eos) {
          done[b] = 1;
          live--;
        }
      }
      if (live === 0 || t === s.maxTokens - 1) break;
      ({ logits, cache } = await this.policy.decode(params, cache, { tokens: next, batch: Bn, time: 1, offsets }));
    }
    return resp.map((r, b) => ({ tokens: Int32Array.from(r), truncated: !done[b] }));
  }
}
