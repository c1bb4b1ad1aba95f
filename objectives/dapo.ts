// DAPO: Decoupled clip and Dynamic sAmpling Policy Optimisation.
// Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
// arXiv:2503.14476.
//
//   s_i      = correctReward if r_i > 0 else incorrectReward, plus the overlong shaping
//              (Lmax = maxTokens, B = overlongBuffer; B = 0 turns the shaping off):
//                0                          if |y_i| <= Lmax - B
//                ((Lmax - B) - |y_i|) / B   if Lmax - B < |y_i| <= Lmax
//                -1                         if |y_i| > Lmax
//   filter   = dynamic sampling: drop groups of >= 2 rollouts whose correctness (r > 0) is the
//              same for all of them; in `loss` such groups contribute nothing either.
//   A_i      = GRPO advantages of the shaped scores within each kept group
//   L_it     = max(-A_i rho_it, -A_i clip(rho_it, 1-epsLow, 1+epsHigh)) + klCoef * k3_it  (as GRPO)
//   loss     = token-mean: sum over the tokens of the kept rollouts / their token count
import { UsageError } from '../harness/util/errors.ts';
import {
  ADVANTAGE_METRIC_LABELS, advantageMetrics, aggregationWeights, checkBatch, clippedSurrogate, GROUP_METRIC_LABELS, groupAdvantages, groupIndices,
  groupRewardMetrics, LOSS_AGG_MODES, newSurrogateStats, SURROGATE_METRIC_LABELS, surrogateMetrics, zeroGrads, type LossAgg,
} from './common.ts';
import type { LossResult, Objective, Rollout, TokenValues } from './types.ts';

export interface DapoConfig {
  /** Lmax; in an experiment, rl.maxTokens (finalizeConfig fills it and refuses a mismatch). */
  maxTokens: number;
  /** Default floor(0.2 * maxTokens); 0 turns overlong shaping off. */
  overlongBuffer: number;
  correctReward: number;
  incorrectReward: number;
  epsLow: number;
  epsHigh: number;
  klCoef: number;
  advEps: number;
  stdNorm: boolean;
  lossAgg: LossAgg;
}

export const dapoSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxTokens: { type: 'integer', minimum: 1, description: 'Lmax: responses longer than this get -1 (default: rl.maxTokens, the rollout limit; a different value is refused)' },
    overlongBuffer: { type: 'integer', minimum: 0, description: 'B: soft penalty over the last B tokens before Lmax (default floor(0.2 maxTokens); 0 = off)' },
    correctReward: { type: 'number', default: 1, description: 'score of a correct response (r > 0)' },
    incorrectReward: { type: 'number', default: -1, description: 'score of an incorrect response' },
    epsLow: { type: 'number', minimum: 0, maximum: 1, default: 0.2, description: 'lower clip: rho is clipped at 1 - epsLow' },
    epsHigh: { type: 'number', minimum: 0, default: 0.28, description: 'upper clip ("clip-higher"): rho is clipped at 1 + epsHigh' },
    klCoef: { type: 'number', minimum: 0, default: 0, description: 'weight of the k3 KL estimator to the reference policy' },
    advEps: { type: 'number', minimum: 0, default: 1e-6, description: 'added to the group std in the advantage denominator' },
    stdNorm: { type: 'boolean', default: true, description: 'divide centred scores by the group std' },
    lossAgg: { enum: [...LOSS_AGG_MODES], default: 'token-mean', description: 'token aggregation over the kept rollouts' },
  },
} as const;

/** The additive overlong shaping term for a response of `len` tokens. */
export function overlongPenalty(len: number, maxTokens: number, buffer: number): number {
  if (buffer <= 0) return 0;
  const start = maxTokens - buffer;
  if (len <= start) return 0;
  if (len <= maxTokens) return (start - len) / buffer;
  return -1;
}

function isUniform(batch: readonly Rollout[], g: readonly number[]): boolean {
  const first = batch[g[0]].reward > 0;
  for (const i of g) if ((batch[i].reward > 0) !== first) return false;
  return true;
}

export const dapo: Objective<DapoConfig> = {
  id: 'dapo',
  title: 'DAPO',
  reference: 'Yu et al. 2025, DAPO: An Open-Source LLM Reinforcement Learning System at Scale, arXiv:2503.14476',
  schema: dapoSchema,
  metricLabels: {
    groupsKept: 'groups kept (dynamic sampling)',
    groupsFiltered: 'groups filtered (all correct or all wrong)',
    groupsFilteredFrac: 'fraction of groups filtered',
    rolloutsKept: 'rollouts kept',
    scoreMean: 'mean shaped score',
    overlongFrac: 'fraction over maxTokens',
    overlongBufferFrac: 'fraction inside the overlong buffer',
    overlongPenaltyMean: 'mean overlong penalty',
    ...SURROGATE_METRIC_LABELS, ...ADVANTAGE_METRIC_LABELS, ...GROUP_METRIC_LABELS,
  },
  finalizeConfig(cfg, where, ctx) {
    // Lmax is the rollout limit: a shaping threshold that disagreed with it would penalise (or
    // never reach) lengths the sampler does not produce, so it is inherited and never overridden.
    if (cfg.maxTokens === undefined) {
      if (ctx?.maxTokens === undefined) throw new UsageError(`${where}.maxTokens: required here (in an experiment it defaults to rl.maxTokens)`);
      cfg.maxTokens = ctx.maxTokens;
    } else if (ctx?.maxTokens !== undefined && cfg.maxTokens !== ctx.maxTokens) {
      throw new UsageError(`${where}.maxTokens: ${cfg.maxTokens} differs from rl.maxTokens ${ctx.maxTokens}; DAPO's overlong shaping must use the rollout token limit (leave maxTokens out to inherit it)`);
    }
    if (cfg.overlongBuffer === undefined) cfg.overlongBuffer = Math.floor(0.2 * cfg.maxTokens);
    if (cfg.overlongBuffer > cfg.maxTokens) {
      throw new UsageError(`${where}.overlongBuffer: must be <= maxTokens (${cfg.maxTokens}), got ${cfg.overlongBuffer}`);
    }
    return cfg;
  },
  needsReference: (cfg) => cfg.klCoef > 0,
  filter: (groups) => groups.filter((g) => !(g.length >= 2 && g.every((r) => (r.reward > 0) === (g[0].reward > 0)))),
  loss: dapoLoss,
};

export function dapoLoss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: DapoConfig): LossResult {
  const needRef = cfg.klCoef > 0;
  checkBatch('dapo', batch, logp, needRef);
  const groups = groupIndices(batch);
  const kept: number[][] = [];
  const include: boolean[] = new Array(batch.length).fill(false);
  for (const g of groups) {
    if (g.length >= 2 && isUniform(batch, g)) continue;
    kept.push(g);
    for (const i of g) include[i] = true;
  }
  const scores = new Float64Array(batch.length);
  let overlong = 0;
  let inBuffer = 0;
  let penaltySum = 0;
  let scoreSum = 0;
  let keptRollouts = 0;
  for (const g of kept) {
    for (const i of g) {
      const r = batch[i];
      const p = overlongPenalty(r.length, cfg.maxTokens, cfg.overlongBuffer);
      if (cfg.overlongBuffer > 0) {
        if (r.length > cfg.maxTokens) overlong++;
        else if (r.length > cfg.maxTokens - cfg.overlongBuffer) inBuffer++;
      }
      scores[i] = (r.reward > 0 ? cfg.correctReward : cfg.incorrectReward) + p;
      penaltySum += p;
      scoreSum += scores[i];
      keptRollouts++;
    }
  }
  const A = new Float64Array(batch.length);
  groupAdvantages(scores, kept, cfg.stdNorm, cfg.advEps, A);
  const w = aggregationWeights(batch, include, cfg.lossAgg);
  const grad = zeroGrads(batch);
  const st = newSurrogateStats();
  let loss = 0;
  for (let i = 0; i < batch.length; i++) {
    if (!include[i]) continue;
    const r = batch[i];
    const wi = w[i];
    loss += wi * clippedSurrogate(logp[i], r.logpOld, r.logpRef, r.length, A[i], wi,
      cfg.epsLow, cfg.epsHigh, needRef ? cfg.klCoef : 0, grad[i], st);
  }
  const metrics: Record<string, number> = {};
  groupRewardMetrics(batch, groups, metrics);
  metrics.groupsKept = kept.length;
  metrics.groupsFiltered = groups.length - kept.length;
  metrics.groupsFilteredFrac = groups.length ? (groups.length - kept.length) / groups.length : 0;
  metrics.rolloutsKept = keptRollouts;
  metrics.scoreMean = keptRollouts ? scoreSum / keptRollouts : 0;
  metrics.overlongFrac = keptRollouts ? overlong / keptRollouts : 0;
  metrics.overlongBufferFrac = keptRollouts ? inBuffer / keptRollouts : 0;
  metrics.overlongPenaltyMean = keptRollouts ? penaltySum / keptRollouts : 0;
  advantageMetrics(A, include, metrics);
  surrogateMetrics(st, metrics);
  return { loss, grad, metrics };
}
