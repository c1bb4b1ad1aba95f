// GRPO: Group Relative Policy Optimisation.
// Shao et al. 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language
// Models", arXiv:2402.03300.
//
//   A_i    = (r_i - mean_g r) / (std_g r + advEps)      unbiased std (N-1); a group of one gets 0
//            (stdNorm: false  ->  A_i = r_i - mean_g r)
//   rho_it = exp(clamp(l_it - o_it, -20, 20))
//   L_it   = max(-A_i rho_it, -A_i clip(rho_it, 1-epsLow, 1+epsHigh)) + klCoef * k3_it
//   k3_it  = e^x - x - 1,   x = clamp(f_it - l_it, -20, 20)
//   loss   = seq-mean-token-mean: mean_i (1/|y_i|) sum_t L_it     (default)
//            token-mean:          sum_{i,t} L_it / sum_i |y_i|
import { UsageError } from '../harness/util/errors.ts';
import {
  ADVANTAGE_METRIC_LABELS, advantageMetrics, aggregationWeights, checkBatch, clippedSurrogate, GROUP_METRIC_LABELS, groupAdvantages, groupIndices,
  groupRewardMetrics, LOSS_AGG_MODES, newSurrogateStats, SURROGATE_METRIC_LABELS, surrogateMetrics, zeroGrads, type LossAgg,
} from './common.ts';
import type { LossResult, Objective, Rollout, TokenValues } from './types.ts';

export interface GrpoConfig {
  /** Symmetric clip range; fills epsLow and epsHigh unless they are given. */
  clipEps: number;
  epsLow: number;
  epsHigh: number;
  klCoef: number;
  advEps: number;
  stdNorm: boolean;
  lossAgg: LossAgg;
}

export const grpoSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    clipEps: { type: 'number', minimum: 0, default: 0.2, description: 'symmetric clip range; sets epsLow and epsHigh unless they are given' },
    epsLow: { type: 'number', minimum: 0, maximum: 1, description: 'lower clip: rho is clipped at 1 - epsLow (default: clipEps)' },
    epsHigh: { type: 'number', minimum: 0, description: 'upper clip: rho is clipped at 1 + epsHigh (default: clipEps)' },
    klCoef: { type: 'number', minimum: 0, default: 0.04, description: 'weight of the k3 KL estimator to the reference policy' },
    advEps: { type: 'number', minimum: 0, default: 1e-6, description: 'added to the group std in the advantage denominator' },
    stdNorm: { type: 'boolean', default: true, description: 'divide centred rewards by the group std (false: Dr. GRPO style)' },
    lossAgg: { enum: [...LOSS_AGG_MODES], default: 'seq-mean-token-mean', description: 'token aggregation of the per-token loss' },
  },
} as const;

export const grpo: Objective<GrpoConfig> = {
  id: 'grpo',
  title: 'GRPO',
  reference: 'Shao et al. 2024, DeepSeekMath, arXiv:2402.03300',
  schema: grpoSchema,
  metricLabels: { ...SURROGATE_METRIC_LABELS, ...ADVANTAGE_METRIC_LABELS, ...GROUP_METRIC_LABELS },
  finalizeConfig(cfg, where) {
    if (cfg.epsLow === undefined) cfg.epsLow = cfg.clipEps;
    if (cfg.epsHigh === undefined) cfg.epsHigh = cfg.clipEps;
    if (cfg.epsLow > 1) throw new UsageError(`${where}.epsLow: must be <= 1 (got ${cfg.epsLow} from clipEps)`);
    return cfg;
  },
  needsReference: (cfg) => cfg.klCoef > 0,
  loss: grpoLoss,
};

export function grpoLoss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: GrpoConfig): LossResult {
  const needRef = cfg.klCoef > 0;
  checkBatch('grpo', batch, logp, needRef);
  const groups = groupIndices(batch);
  const rewards = new Float64Array(batch.length);
  for (let i = 0; i < batch.length; i++) rewards[i] = batch[i].reward;
  const A = new Float64Array(batch.length);
  groupAdvantages(rewards, groups, cfg.stdNorm, cfg.advEps, A);
  const w = aggregationWeights(batch, null, cfg.lossAgg);
  const grad = zeroGrads(batch);
  const st = newSurrogateStats();
  let loss = 0;
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i];
    const wi = w[i];
    loss += wi * clippedSurrogate(logp[i], r.logpOld, r.logpRef, r.length, A[i], wi,
      cfg.epsLow, cfg.epsHigh, needRef ? cfg.klCoef : 0, grad[i], st);
  }
  const metrics: Record<string, number> = {};
  groupRewardMetrics(batch, groups, metrics);
  advantageMetrics(A, null, metrics);
  surrogateMetrics(st, metrics);
  return { loss, grad, metrics };
}
