// ReNCE: online multi-label noise-contrastive estimation over the K outcomes of a prompt.
// Zhang & Stratos 2026, "ReNCE: Learning to Reason by Noise Contrastive Estimation",
// arXiv:2601.22432.
//
// Sources, and how sure each piece is. The authors' code is not public (their repository holds
// a README only), and the paper's method section could not be read here: the only copies of
// the full text reachable from this project's tools end after the introduction.
//   - Certain (the abstract): bifurcate the K outcomes into positives P (r > 0) and negatives
//     N and maximise the likelihood of the positives: an online instance of multi-label NCE,
//     the behaviour policy (which drew the samples) being the noise distribution.
//   - The two multi-label forms are those of the authors' earlier NCE code (EntQA, loss.py:
//     sum_log_nce_loss = per-positive, log_sum_loss = pooled).
//   - The three extra knobs below are named by a machine-made summary of the full text (low to
//     medium confidence). Their exact forms here are OUR GUESSES, modelled on the standard
//     technique each name points to; every one is off by default:
//       marginScale (α): reward-scaled adaptive margin m_p = margin + α (r_p − mean_g r): the
//                        positive's reward above its group's mean, so a rare correct answer
//                        (hard prompt) must beat the negatives by more.
//       klWindow (β):    an adaptive KL coefficient kept inside a target window, with PPO's
//                        adaptive-penalty rule (Schulman et al. 2017, arXiv:1707.06347, §4):
//                        after each step, β ← β·f if the step's KL > high, β ← β/f if < low.
//       easyThreshold (t_easy): dynamic filtering by the positive ratio: a group whose fraction
//                        of positives exceeds t_easy is dropped (and refilled, as DAPO's
//                        dynamic sampling refills).
//
//   s_i  = sum_t (l_it - o_it) / temperature            (lengthNorm: the sum / |y_i| first)
//   a_p  = s_p - m_p,  m_p = margin + marginScale (r_p - mean_g r);  a_n = s_n
//   per-positive (default):
//        L_g = mean_{p in P} -log( e^(a_p) / (e^(a_p) + sum_{n in N} e^(a_n)) )
//   pooled:
//        L_g = -log( sum_P e^(a_p) / (sum_P e^(a_p) + sum_N e^(a_n)) )
//   groups without both a positive and a negative, and easy groups, are skipped
//   loss = mean over used groups of L_g + β * (token mean of k3 over their rollouts)
//
// With μ = 1 epoch the first minibatch is scored at the behaviour weights, l = o: every score
// is 0 and the gradient weights depend only on |P|, |N| and the margins: fixed REINFORCE-style
// weights, which the temperature merely rescales. The scores act from the second update on
// (later minibatches, later epochs). Everything goes through log-sum-exp, so scores of any
// size are safe.
import { UsageError } from '../harness/util/errors.ts';
import { checkBatch, GROUP_METRIC_LABELS, groupIndices, groupRewardMetrics, k3Accumulate, logAddExp, zeroGrads } from './common.ts';
import type { LossResult, Objective, ObjectiveState, Rollout, TokenValues } from './types.ts';

export const RENCE_VARIANTS = ['per-positive', 'pooled'] as const;

export interface RenceConfig {
  variant: (typeof RENCE_VARIANTS)[number];
  temperature: number;
  margin: number;
  /** α of the reward-scaled margin (0: the fixed margin alone). */
  marginScale: number;
  lengthNorm: boolean;
  /** β, or the initial β when klWindow is set. */
  klCoef: number;
  /** [low, high]: adapt β after every step to keep the KL inside; null: β fixed. */
  klWindow: [number, number] | null;
  klAdaptFactor: number;
  klCoefMin: number;
  klCoefMax: number;
  /** t_easy: groups with a larger fraction of positives are dropped (1: none). */
  easyThreshold: number;
}

export const renceSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    variant: { enum: [...RENCE_VARIANTS], default: 'per-positive', description: 'per-positive: each positive against all negatives; pooled: the positive set against the negatives' },
    temperature: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'scores are divided by it' },
    margin: { type: 'number', default: 0, description: 'm, subtracted from the positives\' scores' },
    marginScale: { type: 'number', minimum: 0, default: 0, description: 'α: adds α (r_p − group mean reward) to each positive\'s margin (our reading of the paper\'s reward-scaled adaptive margin)' },
    lengthNorm: { type: 'boolean', default: false, description: 'score is the mean rather than the sum of the token log-ratios' },
    klCoef: { type: 'number', minimum: 0, default: 0, description: 'β: weight of the k3 KL estimator to the reference policy (the initial β with klWindow)' },
    klWindow: {
      anyOf: [{ type: 'array', items: { type: 'number', minimum: 0 }, minItems: 2, maxItems: 2 }, { type: 'null' }],
      default: null,
      description: '[low, high]: after each step β is multiplied by klAdaptFactor when the step\'s KL is above high, divided when below low (PPO\'s adaptive rule); null keeps β fixed',
    },
    klAdaptFactor: { type: 'number', exclusiveMinimum: 1, default: 2, description: 'the factor of each β adjustment' },
    klCoefMin: { type: 'number', exclusiveMinimum: 0, default: 1e-4, description: 'β never goes below this' },
    klCoefMax: { type: 'number', exclusiveMinimum: 0, default: 10, description: 'β never goes above this' },
    easyThreshold: { type: 'number', minimum: 0, maximum: 1, default: 1, description: 't_easy: drop (and refill) groups whose fraction of positives exceeds it; 1 drops none' },
  },
} as const;

/** β for this step: the adaptive state when there is one, else the setting. */
function currentKlCoef(cfg: RenceConfig, state: Readonly<ObjectiveState> | undefined): number {
  return cfg.klWindow && state?.klCoef !== undefined ? state.klCoef : cfg.klCoef;
}

/** A group is easy when its fraction of positives exceeds t_easy. */
function isEasy(rewards: readonly number[], easyThreshold: number): boolean {
  if (easyThreshold >= 1 || rewards.length === 0) return false;
  let pos = 0;
  for (const r of rewards) if (r > 0) pos++;
  return pos / rewards.length > easyThreshold;
}

export const rence: Objective<RenceConfig> = {
  id: 'rence',
  title: 'ReNCE',
  reference: 'Zhang & Stratos 2026, arXiv:2601.22432',
  description: 'multi-label NCE of the positives against the negatives of each group (certain: the abstract); the α margin, adaptive-β window and t_easy filter are our readings of a secondary summary',
  schema: renceSchema,
  metricLabels: {
    nceLoss: 'NCE loss',
    posteriorPos: 'mean NCE posterior of the positives',
    scorePosMean: 'mean score, positives',
    scoreNegMean: 'mean score, negatives',
    scoreAbsMean: 'mean |score| (0 when l = o: fixed weights)',
    marginMean: 'mean margin of the positives',
    groupsUsed: 'groups used',
    groupsSkipped: 'groups skipped (no positive, no negative, or easy)',
    groupsSkippedFrac: 'fraction of groups skipped',
    groupsEasy: 'easy groups (positive fraction > t_easy)',
    posMean: 'mean |P| (positives per used group)',
    negMean: 'mean |N| (negatives per used group)',
    klK3: 'KL to reference (k3 estimator, token mean)',
    klCoef: 'KL coefficient β',
    ...GROUP_METRIC_LABELS,
  },
  finalizeConfig(cfg, where) {
    if (cfg.klWindow) {
      const [lo, hi] = cfg.klWindow;
      if (!(lo < hi)) throw new UsageError(`${where}.klWindow: low (${lo}) must be below high (${hi})`);
      if (!(cfg.klCoef > 0)) throw new UsageError(`${where}.klCoef: must be > 0 with klWindow (it is the initial β that the window adapts)`);
    }
    if (cfg.klCoefMin > cfg.klCoefMax) throw new UsageError(`${where}.klCoefMin: ${cfg.klCoefMin} is above klCoefMax ${cfg.klCoefMax}`);
    return cfg;
  },
  needsReference: (cfg) => cfg.klCoef > 0,
  filter: (groups, cfg) => (cfg.easyThreshold >= 1 ? groups : groups.filter((g) => !isEasy(g.map((r) => r.reward), cfg.easyThreshold))),
  initialState: (cfg): ObjectiveState => (cfg.klWindow ? { klCoef: cfg.klCoef } : {}),
  nextState(state, metrics, cfg) {
    if (!cfg.klWindow || state.klCoef === undefined) return state;
    const kl = metrics.klK3;
    // No KL measured this step (no group had both a positive and a negative): β stays.
    if (kl === undefined || !Number.isFinite(kl)) return state;
    const [lo, hi] = cfg.klWindow;
    let beta = state.klCoef;
    if (kl > hi) beta *= cfg.klAdaptFactor;
    else if (kl < lo) beta /= cfg.klAdaptFactor;
    return { ...state, klCoef: Math.min(cfg.klCoefMax, Math.max(cfg.klCoefMin, beta)) };
  },
  loss: renceLoss,
};

/** Stable log(sum_{i in idx} e^{x_i}). */
function lseOver(x: Float64Array, idx: readonly number[]): number {
  let m = -Infinity;
  for (const i of idx) if (x[i] > m) m = x[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const i of idx) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

export function renceLoss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: RenceConfig, state?: Readonly<ObjectiveState>): LossResult {
  const beta = currentKlCoef(cfg, state);
  const needRef = beta > 0;
  checkBatch('rence', batch, logp, cfg.klCoef > 0);
  const groups = groupIndices(batch);
  const n = batch.length;
  const used: { pos: number[]; neg: number[] }[] = [];
  // Per positive: its margin m_p (a_p = s_p - m_p).
  const margin = new Float64Array(n);
  let easy = 0;
  for (const g of groups) {
    const rewards = g.map((i) => batch[i].reward);
    if (isEasy(rewards, cfg.easyThreshold)) {
      easy++;
      continue;
    }
    const pos = g.filter((i) => batch[i].reward > 0);
    const neg = g.filter((i) => !(batch[i].reward > 0));
    if (!pos.length || !neg.length) continue;
    let meanR = 0;
    for (const r of rewards) meanR += r;
    meanR /= rewards.length;
    for (const p of pos) margin[p] = cfg.margin + cfg.marginScale * (batch[p].reward - meanR);
    used.push({ pos, neg });
  }
  // ds_i/dl_it, the same for every token of rollout i.
  const dsdl = new Float64Array(n);
  // Scores: positives carry the margin already (a_p = s_p - m_p), negatives are s_n.
  const a = new Float64Array(n);
  const s = new Float64Array(n);
  for (const { pos, neg } of used) {
    for (const i of pos.concat(neg)) {
      const r = batch[i];
      const l = logp[i];
      const o = r.logpOld;
      let sum = 0;
      for (let t = 0; t < r.length; t++) sum += l[t] - o[t];
      const scale = cfg.lengthNorm && r.length > 0 ? 1 / (r.length * cfg.temperature) : 1 / cfg.temperature;
      s[i] = sum * scale;
      a[i] = s[i];
      dsdl[i] = scale;
    }
    for (const p of pos) a[p] = s[p] - margin[p];
  }
  const G = used.length;
  const dLds = new Float64Array(n);
  let nce = 0;
  let posterior = 0;
  let posCount = 0;
  let negCount = 0;
  let scorePos = 0;
  let scoreNeg = 0;
  let scoreAbs = 0;
  let marginSum = 0;
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
      for (const p of pos) dLds[p] = -Math.exp(a[p] - lseP) * q / G;
      for (const j of neg) dLds[j] = Math.exp(a[j] - lseN) * q / G;
    } else {
      // term_p = log(e^{a_p} + e^{lseN}) - a_p; dterm_p/da_p = q_p - 1, dterm_p/ds_n = (1 - q_p) softmax_N(n).
      const k = pos.length;
      let oneMinusQ = 0;
      for (const p of pos) {
        const ap = a[p];
        const lse = logAddExp(ap, lseN);
        Lg += (lse - ap) / k;
        const omq = Math.exp(lseN - lse);
        post += Math.exp(ap - lse) / k;
        oneMinusQ += omq / k;
        dLds[p] = -omq / (k * G);
      }
      for (const j of neg) dLds[j] = Math.exp(a[j] - lseN) * oneMinusQ / G;
    }
    nce += Lg / G;
    posterior += post / G;
    posCount += pos.length;
    negCount += neg.length;
    for (const p of pos) {
      scorePos += s[p];
      scoreAbs += Math.abs(s[p]);
      marginSum += margin[p];
    }
    for (const j of neg) {
      scoreNeg += s[j];
      scoreAbs += Math.abs(s[j]);
    }
  }
  const grad = zeroGrads(batch);
  for (const { pos, neg } of used) {
    for (const i of pos.concat(neg)) {
      const v = dLds[i] * dsdl[i];
      if (v !== 0) grad[i].fill(v);
    }
  }
  // KL over the tokens of the used groups' rollouts; computed for the metric whenever logpRef is there.
  let klTokens = 0;
  for (const { pos, neg } of used) for (const i of pos.concat(neg)) klTokens += batch[i].length;
  let k3Sum = 0;
  let haveRef = klTokens > 0;
  for (const { pos, neg } of used) for (const i of pos.concat(neg)) if (!batch[i].logpRef) haveRef = false;
  if (haveRef) {
    const w = needRef ? beta / klTokens : 0;
    for (const { pos, neg } of used) {
      for (const i of pos.concat(neg)) {
        const r = batch[i];
        k3Sum += k3Accumulate(logp[i], r.logpRef!, r.length, w, grad[i]);
      }
    }
  }
  const klK3 = haveRef ? k3Sum / klTokens : 0;
  const loss = nce + (needRef ? beta * klK3 : 0);
  const metrics: Record<string, number> = {};
  groupRewardMetrics(batch, groups, metrics);
  metrics.groupsUsed = G;
  metrics.groupsSkipped = groups.length - G;
  metrics.groupsSkippedFrac = groups.length ? (groups.length - G) / groups.length : 0;
  metrics.groupsEasy = easy;
  metrics.posMean = G ? posCount / G : 0; // mean |P| over used groups
  metrics.negMean = G ? negCount / G : 0; // mean |N|
  metrics.posteriorPos = posterior; // mean NCE posterior of the positives (per-positive: mean_p q_p; pooled: the pooled posterior)
  metrics.nceLoss = nce;
  metrics.scorePosMean = posCount ? scorePos / posCount : 0;
  metrics.scoreNegMean = negCount ? scoreNeg / negCount : 0;
  // 0 exactly at l = o; how far from 0 says how much the NCE scores act on the weights.
  metrics.scoreAbsMean = posCount + negCount ? scoreAbs / (posCount + negCount) : 0;
  metrics.marginMean = posCount ? marginSum / posCount : 0;
  if (haveRef) metrics.klK3 = klK3;
  if (cfg.klCoef > 0) metrics.klCoef = beta;
  return { loss, grad, metrics };
}
