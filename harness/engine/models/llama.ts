// The Llama family (Llama 1-3, Qwen2, Qwen3) as graphs: pre-norm blocks with RMSNorm, rotary
// position embeddings, grouped-query attention, a SwiGLU MLP, a final RMSNorm and a tied or
// untied head; optional q/k/v (and o, MLP) biases and Qwen3's per-head q/k RMSNorm. Config,
// validation and the Hugging Face parameter layout are in llama-config.ts.
//
// Choices made for speed at real scale (e.g. Qwen2.5-0.5B: vocabulary 152k, 24 layers):
// - weights stay in Hugging Face's [out, in] layout and are read as MatMul(x, Transpose(W)),
//   which ORT compiles into one FusedMatMul (transB): no transposed copy of any weight, and the
//   backward pass makes dW in [out, in] directly (autodiff/vjp.ts, MatMul);
// - grouped-query attention never repeats K/V: queries are viewed as [B, KV, G, T, hd] and
//   multiplied with K/V [B, KV, 1, S, hd] by a broadcasting MatMul;
// - RoPE cos/sin tables are computed once in float64 (TS) and gathered by position in the
//   graph; the rotation is rotate_half's, in standard ops (so it has VJP rules and float64).
import type { Value } from '../graph/builder.ts';
import * as op from '../graph/ops.ts';
import { Rng } from '../../util/rng.ts';
import type { LlamaConfig } from '../types.ts';
import type { Architecture, ConstantTable, Trunk, TrunkInputs } from './architecture.ts';
import { llamaParamLayout, ropeInvFreq, validateLlamaConfig } from './llama-config.ts';

/**
 * Hugging Face's initialisation for a model built from its config alone: every matrix
 * N(0, 0.02) (initializer_range), biases 0, norm weights 1. Deterministic for a seed.
 */
export function llamaInitParams(cfg: LlamaConfig, seed: number): Float32Array {
  const specs = llamaParamLayout(cfg);
  const last = specs[specs.length - 1]!;
  const out = new Float32Array(last.offset + last.size);
  const rng = new Rng(seed).fork('llama-init');
  for (const s of specs) {
    const view = out.subarray(s.offset, s.offset + s.size);
    if (s.name.endsWith('norm.weight')) view.fill(1);
    else if (s.name.endsWith('.bias')) view.fill(0);
    else for (let i = 0; i < view.length; i++) view[i] = rng.normal() * 0.02;
  }
  return out;
}

/** cos and sin of position x inverse frequency, [contextLength, headDim/2], in float64. */
export function ropeTables(cfg: LlamaConfig): ConstantTable[] {
  const inv = ropeInvFreq(cfg);
  const half = inv.length, C = cfg.contextLength;
  const cos = new Float64Array(C * half), sin = new Float64Array(C * half);
  for (let p = 0; p < C; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * inv[i]!;
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return [
    { name: 'rope_cos', shape: [C, half], data: cos },
    { name: 'rope_sin', shape: [C, half], data: sin },
  ];
}

export function llamaTrunk(cfg: LlamaConfig, x: TrunkInputs): Trunk {
  const { g, P, ids, pos, mask, past, dtype } = x;
  const { nHeads: H, nKvHeads: KV, headDim: hd, nLayers: L } = cfg;
  const G = H / KV, half = hd / 2;
  const cached = x.kind === 'prefill' || x.kind === 'decode';
  const eps = cfg.rmsNormEps;
  /** y = x W^T (+ b) with W in [out, in] layout. */
  const linear = (a: Value, name: string, bias: boolean) => {
    const y = op.matmul(a, op.transpose(P[`${name}.weight`]!, [1, 0]));
    return bias ? op.add(y, P[`${name}.bias`]!) : y;
  };
  // Rotation tables at each token's position, broadcast over heads: [B,T,1,hd/2].
  const cos = op.unsqueeze(op.gather(x.consts.rope_cos!, pos), [2]);
  const sin = op.unsqueeze(op.gather(x.consts.rope_sin!, pos), [2]);
  /** rotate_half RoPE of [B,T,n,hd]: (a, b) -> (a cos - b sin, b cos + a sin), halves a, b. */
  const rope = (t: Value) => {
    const [a, b] = op.split(t, [half, half], -1);
    return op.concat([op.sub(op.mul(a!, cos), op.mul(b!, sin)), op.add(op.mul(b!, cos), op.mul(a!, sin))], -1);
  };
  const scale = g.scalar(dtype, 1 / Math.sqrt(hd));
  // Masks broadcast over the G query heads that share a KV head.
  const maskG = op.unsqueeze(mask, [1]); // [B,1,1,T,T]
  const pastMaskG = past ? op.unsqueeze(past.mask, [1]) : null; // [B,1,1,T,S]
  /** [B,KV,n,hd] -> [B,KV,1,hd,n] for q . k^T (fused into FusedMatMul's transB by ORT). */
  const keysT = (k: Value) => op.transposeLast2(op.unsqueeze(k, [2]));

  let h = op.gather(P['model.embed_tokens.weight']!, ids); // [B,T,D]
  const fresh: Value[] = [];
  for (let l = 0; l < L; l++) {
    const pre = `model.layers.${l}.`;
    const a = op.rmsNorm(h, P[pre + 'input_layernorm.weight']!, eps);
    let q = op.reshape(linear(a, pre + 'self_attn.q_proj', cfg.qkvBias), [0, 0, H, hd]);
    let k = op.reshape(linear(a, pre + 'self_attn.k_proj', cfg.qkvBias), [0, 0, KV, hd]);
    const v0 = op.reshape(linear(a, pre + 'self_attn.v_proj', cfg.qkvBias), [0, 0, KV, hd]);
    if (cfg.qkNorm) {
      q = op.rmsNorm(q, P[pre + 'self_attn.q_norm.weight']!, eps);
      k = op.rmsNorm(k, P[pre + 'self_attn.k_norm.weight']!, eps);
    }
    q = rope(q);
    k = rope(k);
    // [B,T,H,hd] -> [B,H,T,hd] = [B,KV,G,T,hd] (head h uses KV head h / G, as repeat_kv).
    const q5 = op.reshape(op.mul(op.transpose(q, [0, 2, 1, 3]), scale), [0, KV, G, -1, hd]);
    const kh = op.transpose(k, [0, 2, 1, 3]); // [B,KV,T,hd], the cache layout
    const vh = op.transpose(v0, [0, 2, 1, 3]);
    if (cached) fresh.push(kh, vh);
    const sNew = op.add(op.matmul(q5, keysT(kh)), maskG); // [B,KV,G,T,T]
    let o: Value; // [B,KV,G,T,hd]
    if (past) {
      // Softmax over [cached | fed] columns without concatenating the cache (see gpt.ts).
      const kc = past.caches[2 * l]!, vc = past.caches[2 * l + 1]!;
      const sPast = op.add(op.matmul(q5, keysT(kc)), pastMaskG!); // [B,KV,G,T,S]
      const m = op.max(op.reduceMax(sPast, [-1], true), op.reduceMax(sNew, [-1], true));
      const ePast = op.exp(op.sub(sPast, m)), eNew = op.exp(op.sub(sNew, m));
      const denom = op.add(op.reduceSum(ePast, [-1], true), op.reduceSum(eNew, [-1], true));
      o = op.div(op.add(op.matmul(ePast, op.unsqueeze(vc, [2])), op.matmul(eNew, op.unsqueeze(vh, [2]))), denom);
    } else {
      o = op.matmul(op.softmax(sNew, -1), op.unsqueeze(vh, [2]));
    }
    const merged = op.reshape(op.transpose(op.reshape(o, [0, H, -1, hd]), [0, 2, 1, 3]), [0, 0, H * hd]); // [B,T,H*hd]
    h = op.add(h, linear(merged, pre + 'self_attn.o_proj', cfg.oBias));
    const m = op.rmsNorm(h, P[pre + 'post_attention_layernorm.weight']!, eps);
    const gate = linear(m, pre + 'mlp.gate_proj', cfg.mlpBias);
    const up = linear(m, pre + 'mlp.up_proj', cfg.mlpBias);
    h = op.add(h, linear(op.mul(op.mul(gate, op.sigmoid(gate)), up), pre + 'mlp.down_proj', cfg.mlpBias)); // SwiGLU: silu(gate) * up
  }
  const head = cfg.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head';
  const logits = (hh: Value, temperature: Value | null) => {
    const n = op.rmsNorm(hh, P['model.norm.weight']!, eps);
    return linear(temperature ? op.div(n, temperature) : n, head, false);
  };
  return { hidden: h, logits, fresh };
}

export const llama: Architecture<LlamaConfig> = {
  validate: (cfg) => validateLlamaConfig(cfg, 'policy config'),
  layout: llamaParamLayout,
  init: llamaInitParams,
  shape: (cfg) => ({ arch: 'llama', vocabSize: cfg.vocabSize, contextLength: cfg.contextLength, nLayers: cfg.nLayers, kvHeads: cfg.nKvHeads, headDim: cfg.headDim }),
  constants: ropeTables,
  trunk: llamaTrunk,
};
