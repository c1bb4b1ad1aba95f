// ReNCE: online multi-label noise-contrastive estimation over the K outcomes of a prompt.
// Zhang & Stratos 2026, arXiv:2601.22432.
//
// NOTE: the authors' code is not public. This is the formulation the paper's abstract
// describes: bifurcate the K outcomes into positives P (r > 0) and negatives N, and maximise
// the likelihood of the positives against the negatives, with the behaviour policy (which
// drew the samples) as the noise distribution. The variants below keep the open choices
// configurable.
//
//   s_i  = sum_t (l_it - o_it) / temperature            (lengthNorm: the sum / |y_i| first)
//   per-positive (default):
//        L_g = mean_{p in P} -log( e^(s_p - m) / (e^(s_p - m) + sum_{n in N} e^(s_n)) )
//   pooled:
//        L_g = -log( sum_P e^(s_p - m) / (sum_P e^(s_p - m) + sum_N e^(s_n)) )
//   groups without both a positive and a negative are skipped
//   loss = mean over used groups of L_g + klCoef * (token mean of k3 over their rollouts)
// Everything goes through log-sum-exp, so scores of any size are safe.
import { checkBatch, groupIndices, groupRewardMetrics, k3Accumulate, logAddExp, zeroGrads } from './common.ts';
import type { LossResult, Objective, Rollout, TokenValues } from './types.ts';

export const RENCE_VARIANTS = ['per-positive', 'pooled'] as const;

export interface RenceConfig {
  variant: (typeof RENCE_VARIANTS)[number];
  temperature: number;
  margin: number;
  lengthNorm: boolean;
  klCoef: number;
}

export const renceSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    variant: { enum: [...RENCE_VARIANTS], default: 'per-positive', description: 'per-positive: each positive against all negatives; pooled: the positive set against the negatives' },
    temperature: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'scores are divided by it' },
    margin: { type: 'number', default: 0, description: 'm, subtracted from the positives\' scores' },
    lengthNorm: { type: 'boolean', default: false, description: 'score is the mean rather than the sum of the token log-ratios' },
    klCoef: { type: 'number', minimum: 0, default: 0, description: 'weight of the k3 KL estimator to the reference policy' },
  },
} as const;

export const rence: Objective<RenceConfig> = {
  id: 'rence',
  title: 'ReNCE',
  reference: 'Zhang & Stratos 2026, arXiv:2601.22432 (formulation from the abstract; code not public)',
  schema: renceSchema,
  needsReference: (cfg) => cfg.klCoef > 0,
  loss: renceLoss,
};

/** Stable log(sum_{i in idx} e^{x_i}). */
function lseOver(x: Float64Array, idx: readonly number[]): number {
  let m = -Infinity;
  for (const i of idx) if ((x[i] as number) > m) m = x[i] as number;
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const i of idx) s += Math.exp((x[i] as number) - m);
  return m + Math.log(s);
}

export function renceLoss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: RenceConfig): LossResult {
  const needRef = cfg.klCoef > 0;
  checkBatch('rence', batch, logp, needRef);
  const groups = groupIndices(batch);
  const n = batch.length;
  const used: { pos: number[]; neg: number[] }[] = [];
  for (const g of groups) {
    const pos = g.filter((i) => (batch[i] as Rollout).reward > 0);
    const neg = g.filter((i) => !((batch[i] as Rollout).reward > 0));
    if (pos.length && neg.length) used.push({ pos, neg });
  }
  // ds_i/dl_it, the same for every token of rollout i.
  const dsdl = new Float64Array(n);
  // Scores: positives carry the margin already (a_p = s_p - m), negatives are s_n.
  const a = new Float64Array(n);
  const s = new Float64Array(n);
  for (const { pos, neg } of used) {
    for (const i of pos.concat(neg)) {
      const r = batch[i] as Rollout;
      const l = logp[i] as TokenValues;
      const o = r.logpOld;
      let sum = 0;
      for (let t = 0; t < r.length; t++) sum += (l[t] as number) - (o[t] as number);
      const scale = cfg.lengthNorm && r.length > 0 ? 1 / (r.length * cfg.temperature) : 1 / cfg.temperature;
      s[i] = sum * scale;
      a[i] = s[i] as number;
      dsdl[i] = scale;
    }
    for (const p of pos) a[p] = (s[p] as number) - cfg.margin;
  }
  const G = used.length;
  const dLds = new Float64Array(n);
  let nce = 0;
  let posterior = 0;
  let posCount = 0;
  let negCount = 0;
  let scorePos = 0;
  let scoreNeg = 0;
  for (const { pos, neg } of used) {
    const lseN = lseOver(a, neg);
    let Lg = 0;
    let post = 0;
    if (cfg.variant === 'pooled') {
      const lseP = lseOver(a, pos);
      const lseAll = logAddExp(lseP, lseN);
      Lg = lseAll - lseP;
      post = Math.exp(lseP - lseAll);
      const q = Math.exp(lseN - lseAll); // 1 - posterior, without the cancellation
      // dL/da_p = softmax_all(p) - softmax_P(p) = -softmax_P(p) q;  dL/ds_n = softmax_all(n) = softmax_N(n) q
      for (const p of pos) dLds[p] = -Math.exp((a[p] as number) - lseP) * q / G;
      for (const j of neg) dLds[j] = Math.exp((a[j] as number) - lseN) * q / G;
    } else {
      // term_p = log(e^{a_p} + e^{lseN}) - a_p; dterm_p/da_p = q_p - 1, dterm_p/ds_n = (1 - q_p) softmax_N(n).
      const k = pos.length;
      let oneMinusQ = 0;
      for (const p of pos) {
        const ap = a[p] as number;
        const lse = logAddExp(ap, lseN);
        Lg += (lse - ap) / k;
        const omq = Math.exp(lseN - lse);
        post += Math.exp(ap - lse) / k;
        oneMinusQ += omq / k;
        dLds[p] = -omq / (k * G);
      }
      for (const j of neg) dLds[j] = Math.exp((a[j] as number) - lseN) * oneMinusQ / G;
    }
    nce += Lg / G;
    posterior += post / G;
    posCount += pos.length;
    negCount += neg.length;
    for (const p of pos) scorePos += s[p] as number;
    for (const j of neg) scoreNeg += s[j] as number;
  }
  const grad = zeroGrads(batch);
  for (const { pos, neg } of used) {
    for (const i of pos.concat(neg)) {
      const v = (dLds[i] as number) * (dsdl[i] as number);
      if (v !== 0) (grad[i] as Float64Array).fill(v);
    }
  }
  // KL over the tokens of the used groups' rollouts; computed for the metric whenever logpRef is there.
  let klTokens = 0;
  for (const { pos, neg } of used) for (const i of pos.concat(neg)) klTokens += (batch[i] as Rollout).length;
  let k3Sum = 0;
  let haveRef = klTokens > 0;
  for (const { pos, neg } of used) for (const i of pos.concat(neg)) if (!(batch[i] as Rollout).logpRef) haveRef = false;
  if (haveRef) {
    const w = needRef ? cfg.klCoef / klTokens : 0;
    for (const { pos, neg } of used) {
      for (const i of pos.concat(neg)) {
        const r = batch[i] as Rollout;
        k3Sum += k3Accumulate(logp[i] as TokenValues, r.logpRef as TokenValues, r.length, w, grad[i] as Float64Array);
      }
    }
  }
  const klK3 = haveRef ? k3Sum / klTokens : 0;
  const loss = nce + (needRef ? cfg.klCoef * klK3 : 0);
  const metrics: Record<string, number> = {};
  groupRewardMetrics(batch, groups, metrics);
  metrics.groupsUsed = G;
  metrics.groupsSkipped = groups.length - G;
  metrics.groupsSkippedFrac = groups.length ? (groups.length - G) / groups.length : 0;
  metrics.posMean = G ? posCount / G : 0; // mean |P| over used groups
  metrics.negMean = G ? negCount / G : 0; // mean |N|
  metrics.posteriorPos = posterior; // mean NCE posterior of the positives (per-positive: mean_p q_p; pooled: the pooled posterior)
  metrics.nceLoss = nce;
  metrics.scorePosMean = posCount ? scorePos / posCount : 0;
  metrics.scoreNegMean = negCount ? scoreNeg / negCount : 0;
  if (haveRef) metrics.klK3 = klK3;
  return { loss, grad, metrics };
}
