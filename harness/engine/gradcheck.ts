// Whole-policy gradient check: the autodiff gradient of sum(w * logp) against central finite
// differences, in float64, for a small random policy of any architecture with left-padded rows
// (optionally at a temperature). Used by `rlbench engine gradcheck` and the engine tests.
import { createSession, ort } from './session.ts';
import { architectureOf, buildPolicyGraph, policyConstants, gradOutputName } from './policy-graph.ts';
import { serializeGraph } from './graph/serialize.ts';
import { positionsAndMask } from './policy.ts';
import { Rng } from '../util/rng.ts';
import { isLlamaConfig, type GptConfig, type LlamaConfig, type PolicyConfig } from './types.ts';

export interface GradcheckResult {
  config: PolicyConfig;
  temperature: number;
  paramCount: number;
  checked: number;
  maxRelErr: number;
  worst: string;
  tolerance: number;
  ok: boolean;
}

export const GRADCHECK_CONFIG: GptConfig = { vocabSize: 7, contextLength: 8, dModel: 8, nLayers: 2, nHeads: 2, mlpRatio: 2 };

/**
 * A small Llama-family config with `cfg`'s family and switches (model type, biases, q/k norm,
 * tied head, RoPE theta and scaling, grouped-query ratio up to 4, head_dim x heads != hidden
 * when the original has it), small enough for finite differences in float64.
 */
export function gradcheckConfigLike(cfg: PolicyConfig): PolicyConfig {
  if (!isLlamaConfig(cfg)) return GRADCHECK_CONFIG;
  const kv = Math.min(cfg.nKvHeads, 2);
  const heads = kv * Math.min(cfg.nHeads / cfg.nKvHeads, 4);
  const headDim = 4;
  const hiddenSize = cfg.hiddenSize === cfg.nHeads * cfg.headDim ? heads * headDim : heads * headDim + 4;
  return { ...cfg, vocabSize: 7, contextLength: 8, nLayers: 2, nKvHeads: kv, nHeads: heads, headDim, hiddenSize, intermediateSize: 12 };
}

/** Small configs covering every Llama-family switch between them (for the tests). */
export const LLAMA_GRADCHECK_CONFIGS: Record<string, LlamaConfig> = (() => {
  const base: LlamaConfig = {
    arch: 'llama', modelType: 'llama', vocabSize: 7, contextLength: 8, hiddenSize: 8, nLayers: 2, nHeads: 2, nKvHeads: 2, headDim: 4,
    intermediateSize: 12, rmsNormEps: 1e-6, ropeTheta: 10000, ropeScaling: null, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, tieWordEmbeddings: false,
  };
  return {
    // Qwen2: q/k/v biases, GQA 2:1, tied head, large theta.
    qwen2: { ...base, modelType: 'qwen2', nHeads: 4, nKvHeads: 2, hiddenSize: 16, qkvBias: true, tieWordEmbeddings: true, ropeTheta: 1e6 },
    // Llama with attention_bias and mlp_bias (q/k/v/o and MLP biases), untied, linear RoPE scaling.
    'llama-biases-linear': { ...base, qkvBias: true, oBias: true, mlpBias: true, ropeScaling: { type: 'linear', factor: 2 } },
    // Qwen3: per-head q/k RMSNorm, head_dim x heads != hidden, GQA 2:1, untied.
    qwen3: { ...base, modelType: 'qwen3', nHeads: 4, nKvHeads: 2, headDim: 6, hiddenSize: 8, qkNorm: true },
    // Llama 3: llama3 RoPE scaling with every frequency band in use (head_dim 8: wavelengths
    // 6, 63, 628, 6283 against bands at 32 and 128), GQA 4:1, tied head.
    llama3: {
      ...base, nHeads: 4, nKvHeads: 1, headDim: 8, hiddenSize: 16, tieWordEmbeddings: true, rmsNormEps: 1e-5,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 128 },
    },
  };
})();
/**
 * float64 central differences (h = 1e-5) agree to ~1e-8 here; 1e-6 leaves margin and still
 * catches any wrong rule. Relative errors use a floor of 1e-3 on |fd| + |autodiff|, so exactly
 * zero gradients (e.g. the key bias, which softmax ignores) compare by absolute error.
 */
export const GRADCHECK_TOLERANCE = 1e-6;

export async function policyGradcheck(seed = 0, samples = 64, cfg: PolicyConfig = GRADCHECK_CONFIG, temperature = 1): Promise<GradcheckResult> {
  const rng = new Rng(seed).fork('gradcheck');
  const arch = architectureOf(cfg);
  const specs = arch.layout(cfg);
  // Init plus noise, so norms, attention and the head are far from their symmetric start.
  const params = Float64Array.from(arch.init(cfg, seed), (x) => x + 0.3 * rng.normal());
  const consts = policyConstants(cfg);
  const B = 3, T = 6;
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
  const offsets = Int32Array.from([0, 2, 1]);
  const Tm = T - 1;
  const ids = new Int32Array(B * Tm), targets = new Int32Array(B * Tm);
  for (let r = 0; r < B; r++) {
    for (let t = 0; t < Tm; t++) {
      ids[r * Tm + t] = tokens[r * T + t]!;
      targets[r * Tm + t] = tokens[r * T + t + 1]!;
    }
  }
  const { pos, mask } = positionsAndMask(B, 0, Tm, offsets, cfg.contextLength, 'gradcheck');
  const weights = Float64Array.from({ length: B * Tm }, (_, i) => (i % Tm < offsets[Math.floor(i / Tm)]! ? 0 : rng.normal()));
  const sess = await createSession(serializeGraph(buildPolicyGraph(cfg, 'grad', 'float64').graph), { threads: 1 });
  const run = async (p: Float64Array) => {
    const feeds: Record<string, ort.Tensor> = {
      ids: new ort.Tensor('int32', ids, [B, Tm]),
      targets: new ort.Tensor('int32', targets, [B, Tm]),
      pos: new ort.Tensor('int32', pos, [B, Tm]),
      mask: new ort.Tensor('float64', Float64Array.from(mask), [B, 1, Tm, Tm]),
      weights: new ort.Tensor('float64', weights, [B, Tm]),
      temperature: new ort.Tensor('float64', Float64Array.of(temperature), []),
    };
    for (const c of consts) feeds[c.name] = new ort.Tensor('float64', c.data, c.shape);
    for (const s of specs) feeds[s.name] = new ort.Tensor('float64', p.subarray(s.offset, s.offset + s.size), s.shape);
    const out = await sess.run(feeds);
    const grad = new Float64Array(p.length);
    for (const s of specs) grad.set(out[gradOutputName(s.name)]!.data as Float64Array, s.offset);
    return { value: Number(out.value!.data[0]), grad };
  };
  const { grad } = await run(params);
  const h = 1e-5;
  let maxRelErr = 0, worst = '';
  // Every parameter tensor gets at least one sample, the rest are uniform over the buffer.
  const picks = specs.map((s) => s.offset + rng.int(s.size));
  while (picks.length < samples) picks.push(rng.int(params.length));
  for (const i of picks) {
    const old = params[i]!;
    params[i] = old + h;
    const lp = (await run(params)).value;
    params[i] = old - h;
    const lm = (await run(params)).value;
    params[i] = old;
    const fd = (lp - lm) / (2 * h);
    const rel = Math.abs(fd - grad[i]!) / Math.max(1e-3, Math.abs(fd) + Math.abs(grad[i]!));
    if (rel >= maxRelErr) {
      maxRelErr = rel;
      const s = specs.find((sp) => i >= sp.offset && i < sp.offset + sp.size)!;
      worst = `${s.name}[${i - s.offset}]: autodiff ${grad[i]!.toExponential(6)} vs fd ${fd.toExponential(6)}`;
    }
  }
  await sess.release();
  return { config: cfg, temperature, paramCount: params.length, checked: picks.length, maxRelErr, worst, tolerance: GRADCHECK_TOLERANCE, ok: maxRelErr <= GRADCHECK_TOLERANCE };
}
