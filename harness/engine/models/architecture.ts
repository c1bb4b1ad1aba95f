// What a model family provides to the engine: its parameter layout and initialisation, the
// shape facts every caller may use (vocabulary, context, KV-cache geometry), constant tables it
// needs fed (e.g. rotary cos/sin), and its trunk: the graph from token ids to the final hidden
// states plus the head that turns them into logits. The graph ends (log-probs, gradient,
// sampling) are shared by every family and live in policy-graph.ts.
import type { DType, Graph, Value } from '../graph/builder.ts';
import type { ParamSpec, PolicyShape } from '../types.ts';

/**
 * The graphs the engine compiles: teacher-forced log-probs + entropy, their weighted-sum
 * gradient, the prompt pass that fills a KV cache, and a step that extends it.
 */
export type GraphKind = 'logprobs' | 'grad' | 'prefill' | 'decode';

/** The graph inputs a trunk reads (B, T symbolic; S = cache capacity in columns). */
export interface TrunkInputs {
  g: Graph;
  kind: GraphKind;
  dtype: DType;
  /** Parameters by name. */
  P: Record<string, Value>;
  /** Token ids and their positions (after left padding), int32 [B,T]. */
  ids: Value;
  pos: Value;
  /** Additive attention mask over the fed columns, [B,1,T,T] (0 = may attend, MASKED = not). */
  mask: Value;
  /** Decode only: the cached columns' mask [B,1,T,S] and per layer cache_k, cache_v [B,KV,S,hd]. */
  past: { mask: Value; caches: Value[] } | null;
  /** The family's constant tables, by name (see Architecture.constants). */
  consts: Record<string, Value>;
  /** Standard ONNX ops only (no com.microsoft kernels), for files other tools run. */
  portable: boolean;
}

export interface Trunk {
  /** Hidden states after the last block, before the final norm: [B,T,D]. */
  hidden: Value;
  /**
   * Final norm, division by the temperature (a [] value; dividing the [.., D] states is exact
   * at 1 and far cheaper than dividing [.., V] logits), and the output head: [.., D] -> [.., V].
   */
  logits(h: Value, temperature: Value | null): Value;
  /** Prefill/decode: keys and values of the fed columns, [k0, v0, k1, v1, …], each [B,KV,T,hd]. */
  fresh: Value[];
}

export interface ConstantTable {
  name: string;
  shape: number[];
  /** Computed in float64; fed as float32 or float64 to match the graph. */
  data: Float64Array;
}

export interface Architecture<C> {
  validate(cfg: C): void;
  layout(cfg: C): ParamSpec[];
  init(cfg: C, seed: number): Float32Array;
  shape(cfg: C): PolicyShape;
  constants(cfg: C): ConstantTable[];
  trunk(cfg: C, x: TrunkInputs): Trunk;
}

/** Added to attention scores of masked keys: exp() of it is exactly 0, and it never makes NaN. */
export const MASKED = -1e9;
