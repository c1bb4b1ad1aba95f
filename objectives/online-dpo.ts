// Online DPO: Direct Preference Optimisation on pairs formed from the policy's own samples.
// Guo et al. 2024, "Direct Language Model Alignment from Online AI Feedback", arXiv:2402.04792;
// loss as in Rafailov et al. 2023 (DPO, arXiv:2305.18290) and Azar et al. 2023 (IPO,
// arXiv:2310.12036). The default pairing is NOT TRL's: TRL's OnlineDPOTrainer samples two
// completions per prompt and pairs them ("first-two" here, with its tie rule); with K rollouts
// per prompt the default pairs the best against the worst of the K, which uses more of the
// group's information. Say which one a comparison used.
//
//   pairs   per group, by `pairing`:
//             best-worst (default): chosen = the positive (r > 0) of highest reward, rejected =
//                                   the negative of lowest reward, first in batch order on ties;
//                                   only groups with both a positive and a negative
//             all-pairs:            every (positive, negative) pair of the group
//             first-two:            the group's first two rollouts, chosen = the higher reward,
//                                   the first one on ties (TRL)
//   z       = (sum_t l_c - sum_t l_r) - (sum_t f_c - sum_t f_r)     f = frozen initial policy
//   sigmoid: -log sigmoid(beta z)          ipo: (z - 1/(2 beta))^2
//   loss    = mean over pairs (0 with no pairs)
import {
  checkBatch, GROUP_METRIC_LABELS, groupIndices, groupRewardMetrics, sumTokens, zeroGrads,
} from './common.ts';
import type { LossResult, Objective, Rollout, TokenValues } from './types.ts';

export const DPO_PAIRINGS = ['best-worst', 'all-pairs', 'first-two'] as const;
export const DPO_LOSS_TYPES = ['sigmoid', 'ipo'] as const;

export interface OnlineDpoConfig {
  beta: number;
  lossType: (typeof DPO_LOSS_TYPES)[number];
  pairing: (typeof DPO_PAIRINGS)[number];
}

export const onlineDpoSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    beta: { type: 'number', exclusiveMinimum: 0, default: 0.1, description: 'inverse temperature of the implicit reward beta * log(pi/pi_ref)' },
    lossType: { enum: [...DPO_LOSS_TYPES], default: 'sigmoid', description: 'sigmoid: -log sigmoid(beta z) (DPO); ipo: (z - 1/(2 beta))^2' },
    pairing: { enum: [...DPO_PAIRINGS], default: 'best-worst', description: 'best-worst: best vs worst of the K rollouts (not TRL); all-pairs: every positive vs every negative; first-two: the first two rollouts (TRL\'s OnlineDPOTrainer)' },
  },
} as const;

/** (chosen, rejected) batch indices per the pairing rule, groups in order of first appearance. */
export function dpoPairs(batch: readonly Rollout[], groups: readonly (readonly number[])[], pairing: OnlineDpoConfig['pairing']): [number, number][] {
  const pairs: [number, number][] = [];
  const rw = (i: number) => batch[i].reward;
  for (const g of groups) {
    if (pairing === 'first-two') {
      if (g.length < 2) continue;
      const a = g[0];
      const b = g[1];
      pairs.push(rw(a) >= rw(b) ? [a, b] : [b, a]);
      continue;
    }
    const pos = g.filter((i) => rw(i) > 0);
    const neg = g.filter((i) => !(rw(i) > 0));
    if (pos.length === 0 || neg.length === 0) continue;
    if (pairing === 'all-pairs') {
      for (const p of pos) for (const n of neg) pairs.push([p, n]);
    } else {
      let c = pos[0];
      for (const p of pos) if (rw(p) > rw(c)) c = p; // strict: first wins ties
      let r = neg[0];
      for (const n of neg) if (rw(n) < rw(r)) r = n;
      pairs.push([c, r]);
    }
  }
  return pairs;
}

/** log(1 + e^x), stable. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const onlineDpo: Objective<OnlineDpoConfig> = {
  id: 'online-dpo',
  title: 'Online DPO',
  reference: 'Guo et al. 2024, Direct Language Model Alignment from Online AI Feedback, arXiv:2402.04792',
  description: 'pairs the best against the worst of the K rollouts by default, which is not TRL\'s OnlineDPOTrainer (two samples per prompt: pairing "first-two")',
  schema: onlineDpoSchema,
  metricLabels: {
    pairs: 'preference pairs',
    groupsPaired: 'groups with a pair',
    groupsSkipped: 'groups without a pair',
    implicitAcc: 'implicit-reward accuracy',
    margin: 'mean implicit-reward margin (βz)',
    chosenReward: 'implicit reward, chosen',
    rejectedReward: 'implicit reward, rejected',
    chosenLogp: 'sequence log-prob, chosen',
    rejectedLogp: 'sequence log-prob, rejected',
    zAbsMean: 'mean |z|',
    tiedPairsFrac: 'fraction of pairs with equal rewards',
    ...GROUP_METRIC_LABELS,
  },
  needsReference: () => true,
  loss: onlineDpoLoss,
};

export function onlineDpoLoss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: OnlineDpoConfig): LossResult {
  checkBatch('online-dpo', batch, logp, true);
  const groups = groupIndices(batch);
  const pairs = dpoPairs(batch, groups, cfg.pairing);
  const n = batch.length;
  const sumL = new Float64Array(n);
  const sumF = new Float64Array(n);
  const inPair = new Uint8Array(n);
  for (const [c, r] of pairs) { inPair[c] = 1; inPair[r] = 1; }
  for (let i = 0; i < n; i++) {
    if (!inPair[i]) continue;
    const ro = batch[i];
    sumL[i] = sumTokens(logp[i], ro.length);
    sumF[i] = sumTokens(ro.logpRef!, ro.length);
  }
  // dLoss/dl_it is the same for every token of a rollout: the sum over its pairs of ±(dloss/dz)/P.
  const coef = new Float64Array(n);
  const beta = cfg.beta;
  const P = pairs.length;
  let loss = 0;
  let correct = 0;
  let marginSum = 0;
  let chosenReward = 0;
  let rejectedReward = 0;
  let chosenLogp = 0;
  let rejectedLogp = 0;
  let ties = 0;
  let zAbsSum = 0;
  for (const [c, r] of pairs) {
    const rc = sumL[c] - sumF[c];
    const rr = sumL[r] - sumF[r];
    const z = rc - rr;
    let lp: number;
    let dz: number;
    if (cfg.lossType === 'ipo') {
      const d = z - 1 / (2 * beta);
      lp = d * d;
      dz = 2 * d;
    } else {
      lp = softplus(-beta * z);
      dz = -beta * sigmoid(-beta * z);
    }
    loss += lp / P;
    coef[c] = coef[c] + dz / P;
    coef[r] = coef[r] - dz / P;
    if (z > 0) correct++;
    marginSum += beta * z;
    zAbsSum += Math.abs(z);
    chosenReward += beta * rc;
    rejectedReward += beta * rr;
    chosenLogp += sumL[c];
    rejectedLogp += sumL[r];
    if (batch[c].reward === batch[r].reward) ties++;
  }
  const grad = zeroGrads(batch);
  for (let i = 0; i < n; i++) if (coef[i] !== 0) grad[i].fill(coef[i]);
  const metrics: Record<string, number> = {};
  groupRewardMetrics(batch, groups, metrics);
  let groupsPaired = 0;
  for (const g of groups) if (g.some((i) => inPair[i])) groupsPaired++;
  metrics.pairs = P;
  metrics.groupsPaired = groupsPaired;
  metrics.groupsSkipped = groups.length - groupsPaired;
  metrics.implicitAcc = P ? correct / P : 0; // share of pairs whose implicit reward ranks chosen above rejected
  metrics.margin = P ? marginSum / P : 0; // mean beta * z, TRL's rewards/margins
  metrics.chosenReward = P ? chosenReward / P : 0;
  metrics.rejectedReward = P ? rejectedReward / P : 0;
  metrics.chosenLogp = P ? chosenLogp / P : 0;
  metrics.rejectedLogp = P ? rejectedLogp / P : 0;
  metrics.zAbsMean = P ? zAbsSum / P : 0;
  metrics.tiedPairsFrac = P ? ties / P : 0; // first-two pairs equal rewards; the loss still pushes them apart
  return { loss, grad, metrics };
}
