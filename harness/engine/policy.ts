// The PolicyEngine on ONNX Runtime, for every architecture: compiles the graphs of
// policy-graph.ts once per engine (lazily, on first use) and runs them for any weights. Owns the
// TS-side bookkeeping the graphs leave out: input validation, shifting tokens into
// inputs/targets, positions and attention masks from left-padding offsets, the architecture's
// constant tables, and the KV cache between decode steps.
import { ort, createSession, collectGarbage, defaultProvider } from './session.ts';
import { Graph } from './graph/builder.ts';
import { buildPolicyGraph, gradOutputName, policyConstants, policyParamLayout, policyShape, validatePolicyConfig, architectureOf, MASKED, type GraphKind } from './policy-graph.ts';
import type { SamplerMode } from './sampler.ts';
import { serializeGraph } from './graph/serialize.ts';
import { UsageError } from '../util/errors.ts';
import type { DecodeOptions, DecodeResult, EngineOptions, ExecutionProvider, GradOptions, KvCache, LogprobOptions, ParamSpec, PolicyConfig, PolicyEngine, PolicyShape, Sampling, TokenBatch } from './types.ts';

/**
 * Default cap on tokens per teacher-forced session.run. Measured on the reference policy
 * (64 x 128 batch, 2 cores): 2048 is as fast as one 8192-token run (activations stay in cache)
 * and needs ~0.85 GB instead of ~2.6 GB. Large vocabularies lower it (defaultMaxBatchTokens).
 */
export const DEFAULT_MAX_BATCH_TOKENS = 2048;

/**
 * The teacher-forced default for a vocabulary: 2048 tokens, or fewer so that one
 * [tokens, vocab] float32 tensor stays within 256 MiB (the log-prob graphs hold a few of them:
 * logits, log-softmax, and in the backward pass their gradients). 441 tokens at Qwen's 151,936.
 * Prefill makes logits for the last column only and keeps 2048.
 */
export function defaultMaxBatchTokens(vocabSize: number): number {
  return Math.max(64, Math.min(DEFAULT_MAX_BATCH_TOKENS, Math.floor(2 ** 26 / vocabSize)));
}

/** Weight sets kept on a GPU at once (a decode's, a scoring call's, one more). */
const RESIDENT_SETS = 3;

/** One upload of the weights (and constant tables) to GPU memory. */
interface DeviceWeights {
  /** The buffer they were uploaded from (a decode step with another buffer uploads again). */
  params: Float32Array;
  feeds: Record<string, ort.Tensor>;
  alive: boolean;
}

function disposeWeights(w: DeviceWeights): void {
  w.alive = false;
  for (const t of Object.values(w.feeds)) t.dispose();
}


/**
 * From this many parameters on, the gradient graph runs without ORT's CPU arena by default.
 * Measured on the Qwen2.5-0.5B shape (2 threads, shared machine): three 1 x 256-token calls
 * peaked at the weights + 3.8, 3.9, 3.9 GB without it (22-32 s of CPU each) and + 5.5, 7.1,
 * 7.1 GB with it (15-31 s); in bench:model's interleaved rounds with it, 20.8-25.4 s per call
 * and a 14.8 GB process peak, no faster than the 22.9-23.5 s measured without. Memory wins at
 * this scale; the reference GPT's gradient runs 3-4x faster with the arena, so it keeps it.
 */
const LARGE_MODEL_PARAMS = 100_000_000;

/** Runs that fetch at least this many float32 values (64 MiB) free the binding's copies at once. */
const BIG_OUTPUT_VALUES = 2 ** 24;

/** Raw logits are returned only for vocabularies up to this size (tests, debugging). */
export const DEBUG_LOGITS_MAX_VOCAB = 4096;

/** Cache capacity grows in steps of this many columns (attention reads every capacity column). */
const CACHE_CHUNK = 32;

/**
 * The engine's KV cache: per layer keys and values [B,KV,capacity,hd] in buffers we own, with
 * `length` valid columns. ORT reads them in place; a decode call writes its new columns into
 * them, so a cache is consumed by the call that extends it: the returned cache is the live
 * one, and passing an old one again is an error.
 */
class OrtKvCache implements KvCache {
  /** Extended by a later decode call (its buffers live on there), or released to the pool. */
  consumed: false | 'extended' | 'released' = false;
  constructor(
    readonly length: number,
    readonly batch: number,
    readonly capacity: number,
    readonly offsets: Int32Array,
    /** keys then values per layer: [k0, v0, k1, v1, …] */
    readonly buffers: Float32Array[],
    /** WebGPU: the weights its prefill uploaded, which its decode steps reuse. */
    readonly device: DeviceWeights | null = null,
  ) {}
}

/**
 * dst[d..d+n) = src[s..s+n). Short runs (a decode step's one column per row and head) are copied
 * by a loop: subarray() allocates a view per call, which cost 13 ms per step for the reference
 * policy's 16k runs of 32 values at batch 256.
 */
function copyBlock(dst: Float32Array, d: number, src: Float32Array, s: number, n: number): void {
  if (n >= 4096) dst.set(src.subarray(s, s + n), d);
  else for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
}

/**
 * Free KV-cache memory for reuse. Fresh memory is expensive: every page is faulted in on its
 * first write (here touching 256 MiB took 0.9-1.0 s the first time, 2-7 ms the second), so
 * memory of a grown or released cache serves the next cache that fits in it, zeroed. Holds at
 * most two caches' worth (the largest seen), so a decode that grows needs at most its cache
 * three times over, and a rollout that releases its cache reuses it for the next one.
 */
class BufferPool {
  private free: ArrayBuffer[] = [];
  private held = 0;
  private limit = 0;

  /** A zeroed view of `length` floats, from the smallest free buffer that holds it. */
  take(length: number): Float32Array {
    let best = -1;
    this.free.forEach((b, i) => {
      if (b.byteLength >= 4 * length && (best < 0 || b.byteLength < this.free[best]!.byteLength)) best = i;
    });
    if (best < 0) return new Float32Array(length);
    const [b] = this.free.splice(best, 1);
    this.held -= b!.byteLength;
    return new Float32Array(b!, 0, length).fill(0);
  }

  /** A cache of `values` floats in all was just made: allow holding two of them. */
  grow(values: number): void {
    this.limit = Math.max(this.limit, 2 * 4 * values);
  }

  give(views: Float32Array[]): void {
    for (const v of views) {
      const b = v.buffer as ArrayBuffer;
      if (this.free.includes(b) || this.held + b.byteLength > this.limit) continue;
      this.free.push(b);
      this.held += b.byteLength;
    }
  }

  clear(): void {
    this.free = [];
    this.held = 0;
  }
}

function checkLive(cache: OrtKvCache, where: string): void {
  if (cache.consumed === 'extended') throw new UsageError(`${where}: this cache was already extended by a later decode call (caches are updated in place; pass the cache that call returned)`);
  if (cache.consumed === 'released') throw new UsageError(`${where}: this cache was released (releaseCache) and its memory reused`);
}

function checkBatch(cfg: PolicyConfig, b: TokenBatch, where: string, minTime: number): Int32Array {
  if (!Number.isInteger(b.batch) || b.batch < 1) throw new UsageError(`${where}: batch must be a positive integer, got ${b.batch}`);
  if (!Number.isInteger(b.time) || b.time < minTime) throw new UsageError(`${where}: time must be an integer >= ${minTime}, got ${b.time}`);
  if (b.tokens.length !== b.batch * b.time) throw new UsageError(`${where}: tokens has ${b.tokens.length} ids, expected batch*time = ${b.batch}*${b.time}`);
  for (let i = 0; i < b.tokens.length; i++) {
    const t = b.tokens[i]!;
    if (!(t >= 0 && t < cfg.vocabSize)) throw new UsageError(`${where}: token ${t} at row ${Math.floor(i / b.time)}, column ${i % b.time} is outside the vocabulary [0, ${cfg.vocabSize})`);
  }
  const offsets = b.offsets ?? new Int32Array(b.batch);
  if (offsets.length !== b.batch) throw new UsageError(`${where}: offsets has ${offsets.length} entries, expected batch = ${b.batch}`);
  for (let r = 0; r < b.batch; r++) {
    if (!(offsets[r]! >= 0 && offsets[r]! < b.time)) throw new UsageError(`${where}: offsets[${r}] = ${offsets[r]} must be in [0, ${b.time})`);
  }
  return offsets;
}

function checkTemperature(t: number | undefined, where: string): number {
  const T = t ?? 1;
  if (!(typeof T === 'number' && Number.isFinite(T) && T > 0)) throw new UsageError(`${where}: temperature must be a positive number, got ${t}`);
  return T;
}

/** The sampler mode and its scalar inputs for a decode call; validates the uniforms. */
function samplingPlan(s: Sampling, rows: number, where: string): { mode: SamplerMode; temperature: number; topP: number; uniforms: Float32Array | null } {
  if (!s || typeof s !== 'object') throw new UsageError(`${where}: sampling options are required ({ temperature: 0 } for greedy)`);
  const { temperature } = s;
  if (!(typeof temperature === 'number' && Number.isFinite(temperature) && temperature >= 0)) throw new UsageError(`${where}: temperature must be a number >= 0, got ${temperature}`);
  const topP = s.topP ?? 1;
  if (!(typeof topP === 'number' && topP > 0 && topP <= 1)) throw new UsageError(`${where}: topP must be in (0, 1], got ${s.topP}`);
  if (temperature === 0) return { mode: 'greedy', temperature, topP, uniforms: null };
  const u = s.uniforms;
  if (!u || u.length !== rows) throw new UsageError(`${where}: sampling at temperature ${temperature} needs one uniform per row (${rows}), got ${u ? u.length : 'none'}`);
  const uniforms = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const x = u[r]!;
    if (!(x >= 0 && x < 1)) throw new UsageError(`${where}: uniforms[${r}] = ${x} must be in [0, 1)`);
    uniforms[r] = x;
  }
  return { mode: topP < 1 ? 'nucleus' : 'sample', temperature, topP, uniforms };
}

/**
 * Positions and the additive causal + padding mask for `time` new columns after `past` cached
 * ones. Column c of row r has position c - offsets[r] (0 on padding) and sees keys j with
 * offsets[r] <= j <= c; a padding query sees only itself so its softmax stays finite.
 */
export function positionsAndMask(batch: number, past: number, time: number, offsets: Int32Array, ctx: number, where: string, keys = past + time) {
  const pos = new Int32Array(batch * time);
  const mask = new Float32Array(batch * time * keys).fill(MASKED);
  for (let r = 0; r < batch; r++) {
    const off = offsets[r]!;
    for (let i = 0; i < time; i++) {
      const c = past + i;
      const p = Math.max(0, c - off);
      if (p >= ctx) throw new UsageError(`${where}: row ${r} reaches position ${p}, beyond the context length ${ctx}`);
      pos[r * time + i] = p;
      const row = (r * time + i) * keys;
      if (c < off) mask[row + c] = 0;
      else for (let j = off; j <= c; j++) mask[row + j] = 0;
    }
  }
  return { pos, mask };
}

export class OrtPolicyEngine implements PolicyEngine {
  readonly params: readonly ParamSpec[];
  readonly paramCount: number;
  readonly shape: PolicyShape;
  /** Tokens per teacher-forced run (vocabulary-aware default) and per prefill run (which makes logits for the last column only). */
  private readonly maxBatchTokens: number;
  private readonly maxPrefillTokens: number;
  private readonly constantFeeds: Record<string, ort.Tensor>;
  private sessions = new Map<string, Promise<ort.InferenceSession>>();
  private released = false;
  private readonly pool = new BufferPool();
  private readonly provider: ExecutionProvider;
  /** WebGPU: weight sets resident on the device, newest last (at most RESIDENT_SETS). */
  private resident: DeviceWeights[] = [];
  /** What crossed from host to device memory (GPU providers; all zero on the CPU). */
  readonly transfers = { weightUploads: 0, weightBytes: 0, inputBytes: 0 };

  constructor(
    readonly config: PolicyConfig,
    private readonly opts: EngineOptions = {},
  ) {
    validatePolicyConfig(config);
    this.provider = opts.provider ?? defaultProvider();
    const mbt = opts.maxBatchTokens;
    if (mbt !== undefined && !(Number.isInteger(mbt) && mbt >= 1)) throw new UsageError(`engine: maxBatchTokens must be a positive integer, got ${mbt}`);
    this.maxBatchTokens = mbt ?? defaultMaxBatchTokens(config.vocabSize);
    this.maxPrefillTokens = mbt ?? DEFAULT_MAX_BATCH_TOKENS;
    this.params = policyParamLayout(config);
    const last = this.params[this.params.length - 1]!;
    this.paramCount = last.offset + last.size;
    this.shape = policyShape(config);
    // Constant tables (e.g. RoPE cos/sin): computed in float64 once, fed by reference each run.
    this.constantFeeds = Object.fromEntries(policyConstants(config).map((c) => [c.name, new ort.Tensor('float32', Float32Array.from(c.data), c.shape)]));
  }

  initParams(seed: number): Float32Array {
    return architectureOf(this.config).init(this.config, seed);
  }

  /** Compiles a graph once; concurrent first calls share the same promise. */
  session(kind: GraphKind, sampler: SamplerMode = 'greedy'): Promise<ort.InferenceSession> {
    if (this.released) throw new UsageError('policy engine: used after release()');
    const key = kind === 'prefill' || kind === 'decode' ? `${kind}:${sampler}` : kind;
    let s = this.sessions.get(key);
    if (!s) {
      const arena = this.opts.cpuMemArena ?? !(kind === 'grad' && this.paramCount >= LARGE_MODEL_PARAMS);
      s = createSession(serializeGraph(buildPolicyGraph(this.config, kind, 'float32', false, sampler).graph), { ...this.opts, cpuMemArena: arena });
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Parameter feeds: tensors over views of the flat buffer (ORT reads views in place), plus the constant tables. */
  private paramFeeds(params: Float32Array, where: string): Record<string, ort.Tensor> {
    if (!(params instanceof Float32Array)) throw new UsageError(`${where}: params must be a Float32Array`);
    if (params.length !== this.paramCount) throw new UsageError(`${where}: params has ${params.length} values, this policy has ${this.paramCount}`);
    const feeds: Record<string, ort.Tensor> = { ...this.constantFeeds };
    for (const s of this.params) feeds[s.name] = new ort.Tensor('float32', params.subarray(s.offset, s.offset + s.size), s.shape);
    return feeds;
  }

  /**
   * The weights for one computation (a log-prob or gradient call, a prefill and its decode
   * steps). On the CPU they are views of `params`. On WebGPU a host tensor would be copied to
   * the device at every session.run, so the weights are uploaded once (an identity graph whose
   * outputs stay in GPU buffers) and those buffers are fed to every run of the computation.
   * (onnxruntime-node can hold device tensors only for WebGPU; on CUDA the weights are copied
   * each run.)
   */
  private async weights(params: Float32Array, where: string, reuse: DeviceWeights | null = null): Promise<{ feeds: Record<string, ort.Tensor>; device: DeviceWeights | null }> {
    const host = this.paramFeeds(params, where);
    if (this.provider !== 'webgpu') return { feeds: host, device: null };
    if (reuse && reuse.alive && reuse.params === params) return { feeds: reuse.feeds, device: reuse };
    if (!this.uploader) {
      const g = new Graph('upload');
      for (const name of Object.keys(host)) {
        const t = host[name]!;
        g.output(g.input(name, 'float32', t.dims as number[]), `dev:${name}`);
      }
      this.uploader = createSession(serializeGraph(g), this.opts, { preferredOutputLocation: 'gpu-buffer' });
    }
    const out = await (await this.uploader).run(host);
    const feeds = Object.fromEntries(Object.keys(host).map((name) => [name, out[`dev:${name}`] as ort.Tensor]));
    const device: DeviceWeights = { params, feeds, alive: true };
    this.transfers.weightUploads++;
    this.transfers.weightBytes += Object.values(host).reduce((n, t) => n + (t.data as Float32Array).byteLength, 0);
    this.resident.push(device);
    while (this.resident.length > RESIDENT_SETS) disposeWeights(this.resident.shift()!);
    return { feeds, device };
  }
  private uploader: Promise<ort.InferenceSession> | null = null;

  /** Counts the host inputs a GPU run copies to the device (all but resident weights). */
  private countInputs(feeds: Record<string, ort.Tensor>): void {
    if (this.provider === 'cpu') return;
    for (const t of Object.values(feeds)) if (t.location === 'cpu') this.transfers.inputBytes += (t.data as ArrayBufferView).byteLength;
  }

  /** Validates a teacher-forced batch; returns its offsets and the rows per session.run. */
  private teacherPlan(b: TokenBatch, where: string): { offsets: Int32Array; T: number; rowsPerRun: number } {
    const offsets = checkBatch(this.config, b, where, 2);
    if (b.time - 1 > this.config.contextLength) throw new UsageError(`${where}: time ${b.time} exceeds context length + 1 (${this.config.contextLength + 1})`);
    const T = b.time - 1;
    return { offsets, T, rowsPerRun: Math.max(1, Math.floor(this.maxBatchTokens / T)) };
  }

  /** Inputs for rows r0..r1 of the teacher-forced graphs: columns 0..T-2 predict columns 1..T-1. */
  private teacherFeeds(b: TokenBatch, offsets: Int32Array, r0: number, r1: number, temperature: number): Record<string, ort.Tensor> {
    const T = b.time - 1, n = r1 - r0;
    const ids = new Int32Array(n * T);
    const targets = new Int32Array(n * T);
    for (let r = r0; r < r1; r++) {
      ids.set(b.tokens.subarray(r * b.time, r * b.time + T), (r - r0) * T);
      targets.set(b.tokens.subarray(r * b.time + 1, (r + 1) * b.time), (r - r0) * T);
    }
    const { pos, mask } = positionsAndMask(n, 0, T, offsets.subarray(r0, r1), this.config.contextLength, 'teacher');
    return {
      ids: new ort.Tensor('int32', ids, [n, T]),
      targets: new ort.Tensor('int32', targets, [n, T]),
      pos: new ort.Tensor('int32', pos, [n, T]),
      mask: new ort.Tensor('float32', mask, [n, 1, T, T]),
      temperature: new ort.Tensor('float32', Float32Array.of(temperature), []),
    };
  }

  async logprobs(params: Float32Array, batch: TokenBatch, opts: LogprobOptions = {}): Promise<{ logp: Float32Array; entropy: Float32Array }> {
    const where = 'logprobs';
    const { offsets, T, rowsPerRun } = this.teacherPlan(batch, where);
    const temperature = checkTemperature(opts.temperature, where);
    const { feeds: pf } = await this.weights(params, where);
    const sess = await this.session('logprobs');
    const logp = new Float32Array(batch.batch * T);
    const entropy = new Float32Array(batch.batch * T);
    for (let r0 = 0; r0 < batch.batch; r0 += rowsPerRun) {
      const r1 = Math.min(batch.batch, r0 + rowsPerRun);
      const feeds = { ...pf, ...this.teacherFeeds(batch, offsets, r0, r1, temperature) };
      this.countInputs(feeds);
      const out = await sess.run(feeds);
      logp.set(out.logp!.data as Float32Array, r0 * T);
      entropy.set(out.entropy!.data as Float32Array, r0 * T);
    }
    // Predictions made from a padding column are meaningless: report 0.
    for (let r = 0; r < batch.batch; r++) {
      logp.fill(0, r * T, r * T + offsets[r]!);
      entropy.fill(0, r * T, r * T + offsets[r]!);
    }
    return { logp, entropy };
  }

  async gradWeightedLogprob(params: Float32Array, batch: TokenBatch, weights: Float32Array, opts: GradOptions = {}): Promise<{ grad: Float32Array; value: number }> {
    const where = 'gradWeightedLogprob';
    const { offsets, T, rowsPerRun } = this.teacherPlan(batch, where);
    const temperature = checkTemperature(opts.temperature, where);
    if (weights.length !== batch.batch * T) throw new UsageError(`${where}: weights has ${weights.length} values, expected batch*(time-1) = ${batch.batch}*${T}`);
    const w = Float32Array.from(weights);
    for (let r = 0; r < batch.batch; r++) w.fill(0, r * T, r * T + offsets[r]!);
    for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i]!)) throw new UsageError(`${where}: weights[${i}] is ${w[i]}`);
    const { feeds: pf } = await this.weights(params, where);
    const sess = await this.session('grad');
    // ORT writes each parameter's gradient straight into its view of `grad` (preallocated
    // fetches); later row chunks go to a scratch buffer that is added in (the objective is a sum
    // over rows, so chunk gradients add up exactly, and activation memory stays bounded).
    // Free what earlier calls left behind (a dropped gradient, the binding's copies) first.
    if (this.paramCount >= BIG_OUTPUT_VALUES) collectGarbage();
    const { into: out } = opts;
    if (out !== undefined && !(out instanceof Float32Array && out.length === this.paramCount && out !== params)) {
      throw new UsageError(`${where}: into must be a Float32Array of ${this.paramCount} values other than params`);
    }
    const grad = out ?? new Float32Array(this.paramCount);
    let scratch: Float32Array | null = null;
    let value = 0;
    for (let r0 = 0; r0 < batch.batch; r0 += rowsPerRun) {
      const r1 = Math.min(batch.batch, r0 + rowsPerRun);
      const into = r0 === 0 ? grad : (scratch ??= new Float32Array(this.paramCount));
      const feeds = { ...pf, ...this.teacherFeeds(batch, offsets, r0, r1, temperature), weights: new ort.Tensor('float32', w.subarray(r0 * T, r1 * T), [r1 - r0, T]) };
      value += await this.runGrad(sess, feeds, into);
      if (into !== grad) for (let i = 0; i < grad.length; i++) grad[i]! += into[i]!;
    }
    return { grad, value };
  }

  /** One gradient run into `into` (laid out like params); returns the chunk's value. */
  private async runGrad(sess: ort.InferenceSession, feeds: Record<string, ort.Tensor>, into: Float32Array): Promise<number> {
    const fetches: Record<string, ort.Tensor | null> = { value: null };
    for (const s of this.params) fetches[gradOutputName(s.name)] = new ort.Tensor('float32', into.subarray(s.offset, s.offset + s.size), s.shape);
    this.countInputs(feeds);
    const value = Number((await sess.run(feeds, fetches)).value!.data[0]);
    // The binding also returned a copy of every gradient (dead now): free it before the next run.
    if (this.paramCount >= BIG_OUTPUT_VALUES) collectGarbage();
    return value;
  }

  async decode(params: Float32Array, cache: KvCache | null, batch: TokenBatch, sampling: Sampling, opts: DecodeOptions = {}): Promise<DecodeResult> {
    const where = 'decode';
    const plan = samplingPlan(sampling, batch.batch, where);
    if (opts.logits && this.config.vocabSize > DEBUG_LOGITS_MAX_VOCAB) {
      throw new UsageError(`${where}: raw logits are only returned for vocabularies up to ${DEBUG_LOGITS_MAX_VOCAB} (this one has ${this.config.vocabSize}); production paths never move [batch, vocab] into JavaScript`);
    }
    const reserve = opts.reserve ?? 0;
    if (!(Number.isInteger(reserve) && reserve >= 0)) throw new UsageError(`${where}: reserve must be a whole number of columns >= 0, got ${opts.reserve}`);
    return cache === null ? this.prefill(params, batch, plan, !!opts.logits, reserve) : this.step(params, cache, batch, plan, !!opts.logits);
  }

  /** The outputs a decode call fetches (ORT copies only these into JS). */
  private fetches(logits: boolean): string[] {
    const L = this.shape.nLayers;
    const names = ['token', 'logp'];
    for (let l = 0; l < L; l++) names.push(`k${l}`, `v${l}`);
    if (logits) names.push('logits');
    return names;
  }

  /** The sampler's inputs for rows r0..r1. */
  private samplerFeeds(plan: ReturnType<typeof samplingPlan>, r0: number, r1: number): Record<string, ort.Tensor> {
    if (plan.mode === 'greedy') return {};
    const feeds: Record<string, ort.Tensor> = {
      temperature: new ort.Tensor('float32', Float32Array.of(plan.temperature), []),
      uniform: new ort.Tensor('float32', plan.uniforms!.subarray(r0, r1), [r1 - r0]),
    };
    if (plan.mode === 'nucleus') feeds.top_p = new ort.Tensor('float32', Float32Array.of(plan.topP), []);
    return feeds;
  }

  /** Copies the fed columns' keys and values (outputs k{l}, v{l}: [rows,KV,Tn,hd]) into the cache at column `at`. */
  private writeColumns(buffers: Float32Array[], out: Record<string, ort.OnnxValue>, row0: number, rows: number, Tn: number, at: number, capacity: number): void {
    const { nLayers: L, kvHeads: H, headDim: dh } = this.shape;
    for (let l = 0; l < L; l++) {
      for (const [j, kv] of [[0, 'k'], [1, 'v']] as const) {
        const src = out[`${kv}${l}`]!.data as Float32Array;
        const dst = buffers[2 * l + j]!;
        for (let bh = 0; bh < rows * H; bh++) copyBlock(dst, ((row0 * H + bh) * capacity + at) * dh, src, bh * Tn * dh, Tn * dh);
      }
    }
  }

  /** The prompt pass: rows in chunks of at most maxBatchTokens (rows are independent), filling a fresh cache. */
  private async prefill(params: Float32Array, batch: TokenBatch, plan: ReturnType<typeof samplingPlan>, withLogits: boolean, reserve: number): Promise<DecodeResult> {
    const where = 'decode';
    const { nLayers: L, kvHeads: H, headDim: dh, vocabSize: V } = this.shape;
    const B = batch.batch, Tn = batch.time;
    const offsets = checkBatch(this.config, batch, where, 1);
    const capacity = Math.ceil((Tn + Math.max(1, reserve)) / CACHE_CHUNK) * CACHE_CHUNK;
    const buffers = this.cacheBuffers(B * H * capacity * dh);
    const tokens = new Int32Array(B), logp = new Float32Array(B);
    const logits = withLogits ? new Float32Array(B * V) : undefined;
    const { feeds: pf, device } = await this.weights(params, where);
    const sess = await this.session('prefill', plan.mode);
    const fetches = this.fetches(withLogits);
    const rowsPerRun = Math.max(1, Math.floor(this.maxPrefillTokens / Tn));
    for (let r0 = 0; r0 < B; r0 += rowsPerRun) {
      const r1 = Math.min(B, r0 + rowsPerRun), n = r1 - r0;
      const { pos, mask } = positionsAndMask(n, 0, Tn, offsets.subarray(r0, r1), this.config.contextLength, where);
      const feeds = {
        ...pf,
        ...this.samplerFeeds(plan, r0, r1),
        ids: new ort.Tensor('int32', batch.tokens.subarray(r0 * Tn, r1 * Tn), [n, Tn]),
        pos: new ort.Tensor('int32', pos, [n, Tn]),
        mask: new ort.Tensor('float32', mask, [n, 1, Tn, Tn]),
      };
      this.countInputs(feeds);
      const out = await sess.run(feeds, fetches);
      tokens.set(out.token!.data as Int32Array, r0);
      logp.set(out.logp!.data as Float32Array, r0);
      logits?.set(out.logits!.data as Float32Array, r0 * V);
      this.writeColumns(buffers, out, r0, n, Tn, 0, capacity);
    }
    return { tokens, logp, cache: new OrtKvCache(Tn, B, capacity, Int32Array.from(offsets), buffers, device), ...(logits ? { logits } : {}) };
  }

  /** Feeds new columns after the cached ones; the cache is read in place and extended. */
  private async step(params: Float32Array, cache: KvCache, batch: TokenBatch, plan: ReturnType<typeof samplingPlan>, withLogits: boolean): Promise<DecodeResult> {
    const where = 'decode';
    const { nLayers: L, kvHeads: H, headDim: dh } = this.shape;
    const B = batch.batch, Tn = batch.time;
    if (!(cache instanceof OrtKvCache)) throw new UsageError(`${where}: cache was not made by this engine`);
    checkLive(cache, where);
    if (cache.batch !== B) throw new UsageError(`${where}: batch ${B} differs from the cache's ${cache.batch}`);
    checkBatch(this.config, { ...batch, offsets: undefined }, where, 1);
    const { offsets, length: past } = cache;
    let { capacity, buffers } = cache;
    const { pos, mask: full } = positionsAndMask(B, past, Tn, offsets, this.config.contextLength, where);
    // Split the [B,Tn,past+Tn] mask into the fed columns and the cached ones (padded to capacity).
    const keys = past + Tn;
    const mask = new Float32Array(B * Tn * Tn);
    const maskPast = new Float32Array(B * Tn * capacity).fill(MASKED);
    for (let r = 0; r < B * Tn; r++) {
      mask.set(full.subarray(r * keys + past, (r + 1) * keys), r * Tn);
      maskPast.set(full.subarray(r * keys, r * keys + past), r * capacity);
    }
    const w = await this.weights(params, where, cache.device);
    const feeds: Record<string, ort.Tensor> = {
      ...w.feeds,
      ...this.samplerFeeds(plan, 0, B),
      ids: new ort.Tensor('int32', batch.tokens, [B, Tn]),
      pos: new ort.Tensor('int32', pos, [B, Tn]),
      mask: new ort.Tensor('float32', mask, [B, 1, Tn, Tn]),
      mask_past: new ort.Tensor('float32', maskPast, [B, 1, Tn, capacity]),
    };
    for (let l = 0; l < L; l++) {
      // ORT reads these buffers in place (no copy); they are never outputs.
      feeds[`cache_k${l}`] = new ort.Tensor('float32', buffers[2 * l]!, [B, H, capacity, dh]);
      feeds[`cache_v${l}`] = new ort.Tensor('float32', buffers[2 * l + 1]!, [B, H, capacity, dh]);
    }
    this.countInputs(feeds);
    const out = await (await this.session('decode', plan.mode)).run(feeds, this.fetches(withLogits));
    cache.consumed = 'extended';
    if (past + Tn > capacity) {
      // Grow: copy each (row, head) block of `past` columns into larger buffers, once per chunk.
      const bigger = Math.ceil((past + Tn) / CACHE_CHUNK) * CACHE_CHUNK;
      const olds = buffers;
      buffers = this.cacheBuffers(B * H * bigger * dh).map((nb, i) => {
        const old = olds[i]!;
        for (let bh = 0; bh < B * H; bh++) copyBlock(nb, bh * bigger * dh, old, bh * capacity * dh, past * dh);
        return nb;
      });
      this.pool.give(olds); // consumed: nothing can read them any more
      capacity = bigger;
    }
    this.writeColumns(buffers, out, 0, B, Tn, past, capacity);
    const result: DecodeResult = { tokens: out.token!.data as Int32Array, logp: out.logp!.data as Float32Array, cache: new OrtKvCache(past + Tn, B, capacity, offsets, buffers, w.device) };
    if (withLogits) result.logits = out.logits!.data as Float32Array;
    return result;
  }

  selectCacheRows(cache: KvCache, rows: ArrayLike<number>): KvCache {
    const where = 'selectCacheRows';
    if (!(cache instanceof OrtKvCache)) throw new UsageError(`${where}: cache was not made by this engine`);
    checkLive(cache, where);
    const n = rows.length;
    if (n < 1) throw new UsageError(`${where}: rows must not be empty`);
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      if (!(Number.isInteger(r) && r >= 0 && r < cache.batch)) throw new UsageError(`${where}: rows[${i}] = ${r} is not a row of this cache (batch ${cache.batch})`);
    }
    const { kvHeads: H, headDim: dh } = this.shape;
    const { capacity, length } = cache;
    const block = H * capacity * dh; // one row of one layer's keys or values
    const used = (H - 1) * capacity * dh + length * dh; // up to the last valid column of the last head
    const fresh = this.cacheBuffers(n * block);
    const buffers = cache.buffers.map((src, j) => {
      const dst = fresh[j]!;
      for (let i = 0; i < n; i++) copyBlock(dst, i * block, src, rows[i]! * block, used);
      return dst;
    });
    const offsets = Int32Array.from({ length: n }, (_, i) => cache.offsets[rows[i]!]!);
    return new OrtKvCache(length, n, capacity, offsets, buffers, cache.device);
  }

  releaseCache(cache: KvCache): void {
    if (!(cache instanceof OrtKvCache)) throw new UsageError('releaseCache: cache was not made by this engine');
    if (cache.consumed) return; // released already, or its buffers live on in the cache that extended it
    cache.consumed = 'released';
    this.pool.give(cache.buffers);
  }

  /** Keys and values for every layer, each `values` long: from the pool where it has them. */
  private cacheBuffers(values: number): Float32Array[] {
    this.pool.grow(2 * this.shape.nLayers * values);
    return Array.from({ length: 2 * this.shape.nLayers }, () => this.pool.take(values));
  }

  async release(): Promise<void> {
    this.pool.clear();
    for (const w of this.resident) disposeWeights(w);
    this.resident = [];
    if (this.uploader) await (await this.uploader).release();
    this.uploader = null;
    this.released = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}

export async function createPolicyEngine(config: PolicyConfig, opts: EngineOptions = {}): Promise<PolicyEngine> {
  const engine = new OrtPolicyEngine(config, opts);
  // Compile the teacher-forced graph now so a bad provider fails here, not mid-run.
  await engine.session('logprobs');
  return engine;
}
