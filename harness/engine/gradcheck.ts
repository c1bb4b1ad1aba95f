// Whole-policy gradient check: the autodiff gradient of sum(w * logp) against central finite
// differences, in float64, for a small random policy with left-padded rows. Used by
// `rlbench engine gradcheck` and the engine tests.
import { createSession, ort } from './session.ts';
import { buildPolicyGraph, initParams, paramLayout } from './models/gpt.ts';
import { serializeGraph } from './graph/serialize.ts';
import { positionsAndMask } from './policy.ts';
import { Rng } from '../util/rng.ts';
import type { PolicyConfig } from './types.ts';

export interface GradcheckResult {
  config: PolicyConfig;
  paramCount: number;
  checked: number;
  maxRelErr: number;
  worst: string;
  tolerance: number;
  ok: boolean;
}

export const GRADCHECK_CONFIG: PolicyConfig = { vocabSize: 7, contextLength: 8, dModel: 8, nLayers: 2, nHeads: 2, mlpRatio: 2 };
/**
 * float64 central differences (h = 1e-5) agree to ~1e-8 here; 1e-6 leaves margin and still
 * catches any wrong rule. Relative errors use a floor of 1e-3 on |fd| + |autodiff|, so exactly
 * zero gradients (e.g. the key bias, which softmax ignores) compare by absolute error.
 */
export const GRADCHECK_TOLERANCE = 1e-6;

export async function policyGradcheck(seed = 0, samples = 64, cfg: PolicyConfig = GRADCHECK_CONFIG): Promise<GradcheckResult> {
  const rng = new Rng(seed).fork('gradcheck');
  const specs = paramLayout(cfg);
  // GPT-2 init plus noise, so norms, attention and the head are far from their symmetric start.
  const params = Float64Array.from(initParams(cfg, seed), (x) => x + 0.3 * rng.normal());
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
    };
    for (const s of specs) feeds[s.name] = new ort.Tensor('float64', p.subarray(s.offset, s.offset + s.size), s.shape);
    const out = await sess.run(feeds);
    return { value: Number(out.value!.data[0]), grad: out.grad!.data as Float64Array };
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
  return { config: cfg, paramCount: params.length, checked: picks.length, maxRelErr, worst, tolerance: GRADCHECK_TOLERANCE, ok: maxRelErr <= GRADCHECK_TOLERANCE };
}
