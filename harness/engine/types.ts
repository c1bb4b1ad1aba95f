// The public surface of the policy engine: what the rollout engine, the trainer and the CLI
// may call. Implemented in harness/engine/policy.ts on ONNX Runtime.

/**
 * The built-in GPT-style policy (learned positions, LayerNorm, GELU MLP, tied head). `arch` is
 * optional and absent means 'gpt', so experiment files, checkpoints and SFT cache keys written
 * before other architectures existed stay valid.
 */
export interface GptConfig {
  arch?: 'gpt';
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** MLP hidden width = mlpRatio * dModel. */
  mlpRatio: number;
}

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

/**
 * The Llama family (Llama 1-3, Qwen2, Qwen3): RMSNorm, rotary positions, SwiGLU MLP and
 * grouped-query attention, differing only in the switches below. Validation, parameter layout
 * and RoPE frequencies live in models/llama-config.ts; config.json mapping in hf/config.ts.
 */
export interface LlamaConfig {
  arch: 'llama';
  /** The Hugging Face model_type it came from (kept for export). */
  modelType: 'llama' | 'qwen2' | 'qwen3';
  vocabSize: number;
  /** Longest sequence (prompt + response) the engine accepts: max_position_embeddings, or less. */
  contextLength: number;
  hiddenSize: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  intermediateSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Biases on q_proj, k_proj, v_proj (Qwen2 always; Llama/Qwen3 when attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama/Qwen3 when attention_bias; never Qwen2). */
  oBias: boolean;
  /** Biases on gate/up/down_proj (Llama mlp_bias). */
  mlpBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  tieWordEmbeddings: boolean;
}

/** Any policy the engine builds; `arch` tells them apart (absent = GPT). */
export type PolicyConfig = GptConfig | LlamaConfig;

export function isLlamaConfig(cfg: PolicyConfig): cfg is LlamaConfig {
  return cfg.arch === 'llama';
}

/**
 * What every architecture shares and callers may rely on, instead of reaching into
 * architecture-specific fields (dModel, hiddenSize, …): vocabulary, context and the KV-cache
 * geometry ([batch, kvHeads, columns, headDim] per layer, keys and values).
 */
export interface PolicyShape {
  arch: 'gpt' | 'llama';
  vocabSize: number;
  contextLength: number;
  nLayers: number;
  kvHeads: number;
  headDim: number;
}

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

export interface EngineOptions {
  provider?: ExecutionProvider;
  /** Intra-op threads for the CPU provider (default: number of cores). */
  threads?: number;
  /**
   * Most tokens (rows x columns) per teacher-forced or prefill session.run; larger batches are
   * split by rows and the results joined (gradients summed), which bounds activation memory
   * (default 2048).
   */
  maxBatchTokens?: number;
  /** Let idle ORT threads spin (faster on a dedicated machine, worse on a shared one; default false). */
  spinThreads?: boolean;
  /**
   * ORT's CPU memory arena, which keeps a run's memory for the next (fresh pages are slow to
   * fault in). Default: on, except for the gradient graph of models of 100M+ parameters, where
   * at the Qwen2.5-0.5B shape it held 3-11 GB more and was not measurably faster.
   */
  cpuMemArena?: boolean;
}

/** One named parameter tensor inside the flat parameter buffer. */
export interface ParamSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** AdamW applies weight decay only to matrices (not norms, biases or position embeddings). */
  decay: boolean;
}

/**
 * A batch of token rows, row-major [batch, time]. Row b starts with offsets[b] PAD tokens
 * (left padding, so prompts of different lengths end in the same column); the real tokens
 * have positions 0, 1, 2, … after the padding and attend only to real tokens at or before
 * them. Trailing PAD after a response is harmless under causal attention (its weights are 0).
 */
export interface TokenBatch {
  tokens: Int32Array;
  batch: number;
  time: number;
  /** Left-padding per row; all zeros when omitted. */
  offsets?: Int32Array;
}

/**
 * Opaque key/value cache of a decode; `length` is the number of columns it holds. The engine
 * writes new columns into the cache in place, so a cache is consumed by the decode call that
 * extends it: always continue from the cache that call returned (reusing an older one throws).
 */
export interface KvCache {
  readonly length: number;
  readonly batch: number;
}

/** Options of the teacher-forced graphs. */
export interface LogprobOptions {
  /**
   * Log-probs of the tempered distribution, log-softmax(logits / temperature) (verl's
   * convention for the distribution a rollout at that temperature sampled from). Default 1.
   */
  temperature?: number;
}

export interface GradOptions extends LogprobOptions {
  /**
   * Write the gradient into this buffer (params' length; overwritten) and return it, instead of
   * a new one: a trainer that keeps one gradient buffer saves a fresh allocation per call, whose
   * pages (2 GB at 0.5B) cost seconds to fault in on first write.
   */
  into?: Float32Array;
}

/** How decode picks the next token of every row, inside the graph. */
export interface Sampling {
  /** 0 = greedy (argmax, lowest id on ties); otherwise logits are divided by it. */
  temperature: number;
  /**
   * Nucleus mass in (0, 1] (default 1). 1 samples by inverse CDF over the vocabulary in id
   * order (no sort); below 1 the distribution is sorted (a TopK over the whole vocabulary) and
   * sampling is restricted to the smallest most-likely set whose mass reaches topP (ties by id).
   */
  topP?: number;
  /**
   * One uniform in [0, 1) per row, required when temperature > 0. Row b's token depends only on
   * its own logits and uniforms[b], so a sequence samples the same token whatever batch it is in.
   */
  uniforms?: ArrayLike<number>;
}

export interface DecodeResult {
  /** The sampled (or argmax) token of every row, [batch]. */
  tokens: Int32Array;
  /**
   * Its log-prob under the distribution that sampled it: log-softmax(logits / temperature) at
   * that token (temperature 1 for greedy), not renormalised to the top-p nucleus. [batch]
   */
  logp: Float32Array;
  cache: KvCache;
  /** Raw next-token logits [batch, vocabSize], only when asked for (debugging, small vocabularies). */
  logits?: Float32Array;
}

export interface DecodeOptions {
  /** Also return the raw logits (refused above a small vocabulary: they never cross into JS in production). */
  logits?: boolean;
  /**
   * Prefill only: room for this many more columns in the new cache (e.g. the response token
   * limit), so it never grows; without it the cache grows 32 columns at a time, copying itself.
   * Attention reads every reserved column (masked), so reserve what will be used.
   */
  reserve?: number;
}

export interface PolicyEngine {
  readonly config: PolicyConfig;
  /** Vocabulary, context length and KV-cache geometry, the same for every architecture. */
  readonly shape: PolicyShape;
  readonly paramCount: number;
  readonly params: readonly ParamSpec[];
  /** The architecture's initialisation (GPT-2 style for the GPT), deterministic for a seed. */
  initParams(seed: number): Float32Array;
  /**
   * Teacher-forced log pi(tokens[:, t+1] | tokens[:, ..t]) and the entropy of that
   * distribution, both [batch, time-1], at `opts.temperature` (default 1).
   */
  logprobs(params: Float32Array, batch: TokenBatch, opts?: LogprobOptions): Promise<{ logp: Float32Array; entropy: Float32Array }>;
  /**
   * Gradient w.r.t. params of sum_{b,t} weights[b,t] * logp[b,t] (weights [batch, time-1]),
   * as a flat buffer laid out like params. The only backward pass any objective needs.
   */
  gradWeightedLogprob(params: Float32Array, batch: TokenBatch, weights: Float32Array, opts?: GradOptions): Promise<{ grad: Float32Array; value: number }>;
  /**
   * Feeds `batch` new columns (prefill when cache is null, usually one column per step after)
   * and picks the next token of every row from the last column's distribution inside the graph
   * (logits never cross into JavaScript). Returns the tokens, their log-probs and the grown cache.
   */
  decode(params: Float32Array, cache: KvCache | null, batch: TokenBatch, sampling: Sampling, opts?: DecodeOptions): Promise<DecodeResult>;
  /**
   * A new cache whose row i is row rows[i] of `cache` (repeats allowed; `cache` stays usable):
   * the samples of one prompt can share its prefill, and finished rows can be dropped.
   */
  selectCacheRows(cache: KvCache, rows: ArrayLike<number>): KvCache;
  /**
   * Says a cache will not be used again, so its memory can serve the next decode (fresh memory
   * costs a page fault per 4 KiB on first write). Using it afterwards is an error.
   */
  releaseCache(cache: KvCache): void;
  /** Frees the ONNX Runtime sessions. */
  release(): Promise<void>;
}
