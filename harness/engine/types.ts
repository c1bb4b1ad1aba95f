// The public surface of the policy engine: what the rollout engine, the trainer and the CLI
// may call. Implemented in harness/engine/policy.ts on ONNX Runtime.

export interface PolicyConfig {
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** MLP hidden width = mlpRatio * dModel. */
  mlpRatio: number;
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
  /** Logits are divided by it before the softmax (verl's convention); default 1. Must be > 0. */
  temperature?: number;
}

export interface PolicyEngine {
  readonly config: PolicyConfig;
  readonly paramCount: number;
  readonly params: readonly ParamSpec[];
  /** GPT-2 style initialisation, deterministic for a seed. */
  initParams(seed: number): Float32Array;
  /**
   * Teacher-forced log pi_T(tokens[:, t+1] | tokens[:, ..t]) and the entropy of that
   * distribution, both [batch, time-1], where pi_T = softmax(logits / T) is the distribution
   * that sampling at temperature T draws from (default T = 1). Top-p is not applied (see README).
   */
  logprobs(params: Float32Array, batch: TokenBatch, opts?: LogprobOptions): Promise<{ logp: Float32Array; entropy: Float32Array }>;
  /**
   * Gradient w.r.t. params of sum_{b,t} weights[b,t] * logp[b,t] (weights [batch, time-1]),
   * logp at temperature opts.temperature as in logprobs(), as a flat buffer laid out like
   * params. The only backward pass any objective needs.
   */
  gradWeightedLogprob(params: Float32Array, batch: TokenBatch, weights: Float32Array, opts?: LogprobOptions): Promise<{ grad: Float32Array; value: number }>;
  /**
   * Feeds `batch` new columns (prefill when cache is null, one column per decode step after)
   * and returns next-token logits [batch.batch, vocabSize] at the last column plus the grown cache.
   */
  decode(params: Float32Array, cache: KvCache | null, batch: TokenBatch): Promise<{ logits: Float32Array; cache: KvCache }>;
  /** Frees the ONNX Runtime sessions. */
  release(): Promise<void>;
}
