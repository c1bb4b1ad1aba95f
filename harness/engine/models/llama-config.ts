// The Llama family's configuration and parameter layout: Llama (1–3), Qwen2 and Qwen3 are one
// decoder (RMSNorm, rotary positions, SwiGLU MLP, grouped-query attention) that differs only in
// switches: q/k/v biases (Qwen2), per-head q/k RMSNorm (Qwen3), a tied or untied output head,
// and the RoPE frequency scaling. Parameters keep their Hugging Face names and shapes
// (projection weights are [out, in]), so loading and saving safetensors is a copy, and the
// graphs read the weights transposed (ORT folds MatMul(x, Transpose(W)) into one kernel).
import { UsageError } from '../../util/errors.ts';
import type { LlamaConfig, ParamSpec } from '../types.ts';

// The config types live with the engine's public contract (types.ts); re-exported here for
// the modules that work with Llama-family configs.
export type { LlamaConfig, RopeScaling } from '../types.ts';

const POSITIVE_INTS: (keyof LlamaConfig)[] = ['vocabSize', 'contextLength', 'hiddenSize', 'nLayers', 'nHeads', 'nKvHeads', 'headDim', 'intermediateSize'];

export function validateLlamaConfig(cfg: LlamaConfig, where = 'llama config'): void {
  if (cfg.arch !== 'llama') throw new UsageError(`${where}: arch must be 'llama', got ${JSON.stringify(cfg.arch)}`);
  if (!['llama', 'qwen2', 'qwen3'].includes(cfg.modelType)) throw new UsageError(`${where}: modelType must be llama, qwen2 or qwen3, got ${JSON.stringify(cfg.modelType)}`);
  for (const f of POSITIVE_INTS) {
    const v = cfg[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`${where}: ${f} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (cfg.nHeads % cfg.nKvHeads !== 0) throw new UsageError(`${where}: nHeads (${cfg.nHeads}) must be a multiple of nKvHeads (${cfg.nKvHeads})`);
  if (cfg.headDim % 2 !== 0) throw new UsageError(`${where}: headDim (${cfg.headDim}) must be even for rotary embeddings`);
  for (const f of ['rmsNormEps', 'ropeTheta'] as const) {
    if (!(typeof cfg[f] === 'number' && cfg[f] > 0 && Number.isFinite(cfg[f]))) throw new UsageError(`${where}: ${f} must be a positive number, got ${JSON.stringify(cfg[f])}`);
  }
  for (const f of ['qkvBias', 'oBias', 'mlpBias', 'qkNorm', 'tieWordEmbeddings'] as const) {
    if (typeof cfg[f] !== 'boolean') throw new UsageError(`${where}: ${f} must be a boolean, got ${JSON.stringify(cfg[f])}`);
  }
  const s = cfg.ropeScaling;
  if (s !== null) {
    if (!(s.factor > 0)) throw new UsageError(`${where}: ropeScaling.factor must be positive, got ${s.factor}`);
    if (s.type === 'llama3') {
      if (!(s.highFreqFactor > s.lowFreqFactor && s.lowFreqFactor > 0)) throw new UsageError(`${where}: llama3 rope scaling needs 0 < lowFreqFactor < highFreqFactor, got ${s.lowFreqFactor}, ${s.highFreqFactor}`);
      if (!(Number.isInteger(s.originalMaxPositionEmbeddings) && s.originalMaxPositionEmbeddings > 0)) throw new UsageError(`${where}: ropeScaling.originalMaxPositionEmbeddings must be a positive integer`);
    } else if (s.type !== 'linear') {
      throw new UsageError(`${where}: ropeScaling.type must be linear or llama3, got ${JSON.stringify((s as { type: unknown }).type)}`);
    }
  }
}

/**
 * The flat parameter layout: Hugging Face tensor names and shapes, in a fixed order (embedding,
 * then per layer: input norm, q/k/v (+biases), q/k norms, o, post-attention norm, gate/up/down,
 * then the final norm and the untied head). AdamW decays matrices only.
 */
export function llamaParamLayout(cfg: LlamaConfig): ParamSpec[] {
  const { vocabSize: V, hiddenSize: D, nHeads: H, nKvHeads: KV, headDim: hd, intermediateSize: I } = cfg;
  const specs: ParamSpec[] = [];
  let offset = 0;
  const p = (name: string, shape: number[]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, offset, size, decay: shape.length === 2 });
    offset += size;
  };
  p('model.embed_tokens.weight', [V, D]);
  for (let l = 0; l < cfg.nLayers; l++) {
    const pre = `model.layers.${l}.`;
    p(pre + 'input_layernorm.weight', [D]);
    for (const [n, out] of [['q', H * hd], ['k', KV * hd], ['v', KV * hd]] as const) {
      p(`${pre}self_attn.${n}_proj.weight`, [out, D]);
      if (cfg.qkvBias) p(`${pre}self_attn.${n}_proj.bias`, [out]);
    }
    if (cfg.qkNorm) {
      p(pre + 'self_attn.q_norm.weight', [hd]);
      p(pre + 'self_attn.k_norm.weight', [hd]);
    }
    p(pre + 'self_attn.o_proj.weight', [D, H * hd]);
    if (cfg.oBias) p(pre + 'self_attn.o_proj.bias', [D]);
    p(pre + 'post_attention_layernorm.weight', [D]);
    for (const [n, shape] of [['gate', [I, D]], ['up', [I, D]], ['down', [D, I]]] as const) {
      p(`${pre}mlp.${n}_proj.weight`, [...shape]);
      if (cfg.mlpBias) p(`${pre}mlp.${n}_proj.bias`, [shape[0]]);
    }
  }
  p('model.norm.weight', [D]);
  if (!cfg.tieWordEmbeddings) p('lm_head.weight', [V, D]);
  return specs;
}

/**
 * RoPE inverse frequencies theta^(-2i/headDim), i < headDim/2, computed in float64 and then
 * scaled as transformers' rope_init_fn does: `linear` divides every frequency by the factor
 * (positions are divided by it); `llama3` divides the low frequencies by the factor, keeps the
 * high ones, and interpolates smoothly between the two wavelength bands.
 */
export function ropeInvFreq(cfg: LlamaConfig): Float64Array {
  const half = cfg.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
  const s = cfg.ropeScaling;
  if (s === null) return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** Parameter count of a configuration (for `model info` and memory estimates). */
export function llamaParamCount(cfg: LlamaConfig): number {
  const specs = llamaParamLayout(cfg);
  const last = specs[specs.length - 1]!;
  return last.offset + last.size;
}
