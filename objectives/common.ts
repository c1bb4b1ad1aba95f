// Shared building blocks of the objectives, in the spirit of verl's core_algos.py: grouping,
// group-normalised advantages, the k3 KL estimator, the clipped-ratio surrogate, token
// aggregation weights and log-sum-exp. Everything computes in double precision and the per-token
// loops allocate nothing: they run on the trainer's hot path (about 10^6 tokens per step).
import { RunError } from '../harness/util/errors.ts';
import type { Rollout, TokenValues } from './types.ts';

/** log-ratios are clamped to ±20 before exp, so rho and k3 stay finite for any input. */
export const LOG_RATIO_CLAMP = 20;
const EXP_HI = Math.exp(LOG_RATIO_CLAMP);
const EXP_LO = Math.exp(-LOG_RATIO_CLAMP);

/** Indices of the batch's rollouts per group, groups in order of first appearance. */
export function groupIndices(batch: readonly Rollout[]): number[][] {
  const byId = new Map<string, number[]>();
  const out: number[][] = [];
  for (let i = 0; i < batch.length; i++) {
    const id = batch[i].group;
    let g = byId.get(id);
    if (!g) {
      g = [];
      byId.set(id, g);
      out.push(g);
    }
    g.push(i);
  }
  return out;
}

/**
 * Checks that the trainer handed over aligned arrays; a mismatch is a bug upstream, and reading
 * past the end of a typed array would silently give NaN.
 */
export function checkBatch(id: string, batch: readonly Rollout[], logp: readonly TokenValues[], needRef: boolean): void {
  if (logp.length !== batch.length) {
    throw new RunError(`${id}: got ${logp.length} logp arrays for ${batch.length} rollouts`);
  }
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i];
    const n = r.length;
    if (logp[i].length !== n) throw new RunError(`${id}: rollouts[${i}]: logp has ${logp[i].length} values, length is ${n}`);
    if (r.logpOld.length !== n) throw new RunError(`${id}: rollouts[${i}]: logpOld has ${r.logpOld.length} values, length is ${n}`);
    if (needRef) {
      if (!r.logpRef) throw new RunError(`${id}: rollouts[${i}]: logpRef is missing but this configuration needs reference log-probs`);
      if (r.logpRef.length !== n) throw new RunError(`${id}: rollouts[${i}]: logpRef has ${r.logpRef.length} values, length is ${n}`);
    }
  }
}

/**
 * Zero gradients, one Float64Array per rollout: views into a single buffer, because one large
 * allocation costs a fraction of thousands of small ones on the hot path.
 */
export function zeroGrads(batch: readonly Rollout[]): Float64Array[] {
  let total = 0;
  for (let i = 0; i < batch.length; i++) total += batch[i].length;
  const buf = new Float64Array(total);
  const g: Float64Array[] = new Array(batch.length);
  let off = 0;
  for (let i = 0; i < batch.length; i++) {
    const n = batch[i].length;
    g[i] = buf.subarray(off, off + n);
    off += n;
  }
  return g;
}

/**
 * GRPO advantages within each group: A_i = (s_i - mean_g s) / (std_g s + advEps) with the
 * unbiased (N-1) std, or A_i = s_i - mean_g s without stdNorm. A group of one gets A = 0 (no
 * baseline can be formed from it). Writes into `out` for the indices of `groups` only.
 */
export function groupAdvantages(
  scores: ArrayLike<number>, groups: readonly (readonly number[])[], stdNorm: boolean, advEps: number, out: Float64Array,
): void {
  for (const g of groups) {
    const n = g.length;
    if (n < 2) {
      for (const i of g) out[i] = 0;
      continue;
    }
    let mean = 0;
    for (const i of g) mean += scores[i];
    mean /= n;
    let ss = 0;
    for (const i of g) {
      const d = scores[i] - mean;
      ss += d * d;
    }
    const denom = stdNorm ? Math.sqrt(ss / (n - 1)) + advEps : 1;
    // With advEps = 0 a uniform group gives 0/0; its centred scores are all 0, so A = 0.
    for (const i of g) {
      const d = scores[i] - mean;
      out[i] = d === 0 || denom === 0 ? 0 : d / denom;
    }
  }
}

/** Running totals of the clipped surrogate, turned into metrics by surrogateMetrics(). */
export interface SurrogateStats {
  tokens: number;
  clipLow: number;
  clipHigh: number;
  ratioSum: number;
  ratioMin: number;
  ratioMax: number;
  pgSum: number;
  k3Sum: number;
  k3Tokens: number;
}

export function newSurrogateStats(): SurrogateStats {
  return { tokens: 0, clipLow: 0, clipHigh: 0, ratioSum: 0, ratioMin: Infinity, ratioMax: -Infinity, pgSum: 0, k3Sum: 0, k3Tokens: 0 };
}

/**
 * One rollout of the PPO-style clipped surrogate plus klCoef * k3:
 *   rho_t = exp(clamp(l_t - o_t, -20, 20))
 *   L_t   = max(-A rho_t, -A clip(rho_t, 1-epsLow, 1+epsHigh)) + klCoef * k3_t
 *   k3_t  = e^x - x - 1,  x = clamp(f_t - l_t, -20, 20)
 * Writes grad[t] = w * dL_t/dl_t (w is the aggregation weight of this rollout's tokens) and
 * returns sum_t L_t (unweighted). On a tie of the two max branches the unclipped one is taken;
 * ties only happen where both have the same gradient (rho inside the range) or at A = 0.
 * A clamped log-ratio has zero derivative, as torch.clamp gives.
 */
export function clippedSurrogate(
  l: TokenValues, o: TokenValues, f: TokenValues | undefined, n: number, A: number, w: number,
  epsLow: number, epsHigh: number, klCoef: number, grad: Float64Array, st: SurrogateStats,
): number {
  const lo = 1 - epsLow;
  const hi = 1 + epsHigh;
  const C = LOG_RATIO_CLAMP;
  let sum = 0;
  let pg = 0;
  let k3s = 0;
  let ratioSum = 0;
  let rmin = st.ratioMin;
  let rmax = st.ratioMax;
  let clipLow = 0;
  let clipHigh = 0;
  for (let t = 0; t < n; t++) {
    const lt = l[t];
    const x = lt - o[t];
    let rho: number;
    let drho: number;
    if (x > C) { rho = EXP_HI; drho = 0; }
    else if (x < -C) { rho = EXP_LO; drho = 0; }
    else { rho = Math.exp(x); drho = rho; }
    const clipped = rho < lo ? lo : rho > hi ? hi : rho;
    const u = -A * rho;
    const c = -A * clipped;
    let Lt: number;
    let g: number;
    if (u >= c) { Lt = u; g = -A * drho; }
    else {
      // The clipped branch is strictly larger: A > 0 with rho above 1+epsHigh, or A < 0 below 1-epsLow.
      Lt = c; g = 0;
      if (A > 0) clipHigh++; else clipLow++;
    }
    pg += Lt;
    if (f !== undefined) {
      let y = f[t] - lt;
      let dk = 0;
      if (y > C) y = C;
      else if (y < -C) y = -C;
      const ey = Math.exp(y);
      if (y !== C && y !== -C) dk = 1 - ey; // d/dl of (e^y - y - 1) with y = f - l
      const k3 = ey - y - 1;
      k3s += k3;
      Lt += klCoef * k3;
      g += klCoef * dk;
    }
    sum += Lt;
    grad[t] = w * g;
    ratioSum += rho;
    if (rho < rmin) rmin = rho;
    if (rho > rmax) rmax = rho;
  }
  st.tokens += n;
  st.clipLow += clipLow;
  st.clipHigh += clipHigh;
  st.ratioSum += ratioSum;
  st.ratioMin = rmin;
  st.ratioMax = rmax;
  st.pgSum += pg;
  if (f !== undefined) {
    st.k3Sum += k3s;
    st.k3Tokens += n;
  }
  return sum;
}

/** Token-level surrogate metrics (camelCase; the trainer logs them as obj/<name>). */
export function surrogateMetrics(st: SurrogateStats, m: Record<string, number>): void {
  const n = st.tokens;
  m.tokens = n;
  m.clipFracLow = n ? st.clipLow / n : 0;
  m.clipFracHigh = n ? st.clipHigh / n : 0;
  m.clipFrac = n ? (st.clipLow + st.clipHigh) / n : 0;
  m.ratioMean = n ? st.ratioSum / n : 1;
  m.ratioMin = n ? st.ratioMin : 1;
  m.ratioMax = n ? st.ratioMax : 1;
  m.pgLoss = n ? st.pgSum / n : 0; // token mean of the surrogate alone, comparable across lossAgg modes
  if (st.k3Tokens) m.klK3 = st.k3Sum / st.k3Tokens;
}

/**
 * Sum over tokens of k3 (as above) for one rollout; adds w * dk3/dl to grad[t]. Used by
 * objectives whose main term is not per-token (ReNCE).
 */
export function k3Accumulate(l: TokenValues, f: TokenValues, n: number, w: number, grad: Float64Array): number {
  const C = LOG_RATIO_CLAMP;
  let s = 0;
  for (let t = 0; t < n; t++) {
    let y = f[t] - l[t];
    let dk = 0;
    if (y > C) y = C;
    else if (y < -C) y = -C;
    const ey = Math.exp(y);
    if (y !== C && y !== -C) dk = 1 - ey;
    s += ey - y - 1;
    grad[t] = grad[t] + w * dk;
  }
  return s;
}

export const LOSS_AGG_MODES = ['seq-mean-token-mean', 'token-mean'] as const;
export type LossAgg = (typeof LOSS_AGG_MODES)[number];

/**
 * Per-rollout token weights of an aggregation over the rollouts with include[i] set:
 * "seq-mean-token-mean" weighs rollout i's tokens 1/(R |y_i|), R the included rollouts with at
 * least one token; "token-mean" weighs every token 1/T, T all their tokens. Others get 0.
 */
export function aggregationWeights(batch: readonly Rollout[], include: ArrayLike<boolean> | null, mode: LossAgg): Float64Array {
  const w = new Float64Array(batch.length);
  let R = 0;
  let T = 0;
  for (let i = 0; i < batch.length; i++) {
    const n = batch[i].length;
    if ((include === null || include[i]) && n > 0) { R++; T += n; }
  }
  for (let i = 0; i < batch.length; i++) {
    const n = batch[i].length;
    if (!((include === null || include[i]) && n > 0)) continue;
    w[i] = mode === 'token-mean' ? 1 / T : 1 / (R * n);
  }
  return w;
}

/** log(sum_i e^{x_i}) over the first n values, stable for any magnitudes; -Infinity when n = 0. */
export function logSumExp(x: ArrayLike<number>, n: number = x.length): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (x[i] > m) m = x[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

/** log(e^a + e^b), stable. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** sum_t x[t] in double precision. */
export function sumTokens(x: TokenValues, n: number): number {
  let s = 0;
  for (let t = 0; t < n; t++) s += x[t];
  return s;
}

/** Titles of the metrics groupRewardMetrics() reports (each objective's metricLabels start with these). */
export const GROUP_METRIC_LABELS: Readonly<Record<string, string>> = {
  rewardMean: 'mean reward of the batch',
  groupsAllCorrectFrac: 'fraction of groups all correct',
  groupsAllWrongFrac: 'fraction of groups all wrong',
  rollouts: 'rollouts per minibatch',
  groups: 'groups per minibatch',
};

/** Titles of the metrics advantageMetrics() reports. */
export const ADVANTAGE_METRIC_LABELS: Readonly<Record<string, string>> = {
  advMean: 'mean advantage',
  advStd: 'advantage std',
  advZeroFrac: 'fraction of zero advantages',
};

/** Titles of the metrics surrogateMetrics() reports. */
export const SURROGATE_METRIC_LABELS: Readonly<Record<string, string>> = {
  clipFrac: 'clip fraction',
  clipFracLow: 'clip fraction, low side (ratio < 1−ε_low)',
  clipFracHigh: 'clip fraction, high side (ratio > 1+ε_high)',
  ratioMean: 'mean importance ratio π/π_old',
  ratioMin: 'smallest importance ratio',
  ratioMax: 'largest importance ratio',
  pgLoss: 'surrogate loss (token mean)',
  klK3: 'KL to reference (k3 estimator, token mean)',
  tokens: 'response tokens per minibatch',
};

/** Group-level reward statistics every objective reports. */
export function groupRewardMetrics(batch: readonly Rollout[], groups: readonly (readonly number[])[], m: Record<string, number>): void {
  let rsum = 0;
  let allCorrect = 0;
  let allWrong = 0;
  for (const r of batch) rsum += r.reward;
  for (const g of groups) {
    let pos = 0;
    for (const i of g) if (batch[i].reward > 0) pos++;
    if (pos === g.length) allCorrect++;
    else if (pos === 0) allWrong++;
  }
  m.rollouts = batch.length;
  m.groups = groups.length;
  m.rewardMean = batch.length ? rsum / batch.length : 0;
  m.groupsAllCorrectFrac = groups.length ? allCorrect / groups.length : 0;
  m.groupsAllWrongFrac = groups.length ? allWrong / groups.length : 0;
}

/** Mean and (population) std of advantages over the included rollouts, and the share that are exactly 0. */
export function advantageMetrics(A: Float64Array, include: ArrayLike<boolean> | null, m: Record<string, number>): void {
  let n = 0;
  let s = 0;
  let zeros = 0;
  for (let i = 0; i < A.length; i++) {
    if (include !== null && !include[i]) continue;
    n++;
    s += A[i];
    if (A[i] === 0) zeros++;
  }
  const mean = n ? s / n : 0;
  let ss = 0;
  for (let i = 0; i < A.length; i++) {
    if (include !== null && !include[i]) continue;
    const d = A[i] - mean;
    ss += d * d;
  }
  m.advMean = mean;
  m.advStd = n ? Math.sqrt(ss / n) : 0;
  m.advZeroFrac = n ? zeros / n : 0;
}
