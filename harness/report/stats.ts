// Statistics for reports: how each objective is compared with the baseline over paired seeds
// (the paired t-test and the exact sign-flip test, with the smallest p each can reach; the
// seeded paired bootstrap only from BOOTSTRAP_MIN_SEEDS seeds, where its resamples are not too
// few to mean anything), and the uncertainty due to the finite benchmark (the standard error
// over problems). Means and t intervals live in ../util/stats.ts.
import { Rng } from '../util/rng.ts';
import { mean, sampleSd, tCdf, tQuantile } from '../util/stats.ts';

// ---- paired t-test and sign-flip test -------------------------------------------------------

/** Below this many paired seeds the bootstrap has too few distinct resamples (10 with 3 seeds) and is not reported. */
export const BOOTSTRAP_MIN_SEEDS = 10;

export interface PairedComparison {
  /** Number of paired seeds. */
  n: number;
  /** Mean of the per-seed differences a_s − b_s. */
  meanDiff: number;
  /** 95% Student-t interval of the mean difference (t_{0.975,n−1}·s/√n). */
  lo: number;
  hi: number;
  /** Paired t statistic and its two-sided p (n − 1 degrees of freedom); it can reach any p > 0. */
  t: number;
  pT: number;
  /** Exact two-sided sign-flip p, and the smallest it can be with n seeds (2/2^n). */
  pSignFlip: number;
  minPSignFlip: number;
  /** The paired bootstrap, only with at least BOOTSTRAP_MIN_SEEDS seeds. */
  bootstrap?: PairedBootstrap;
}

/**
 * Paired comparison over seeds of d_s = a_s − b_s. The t-test assumes roughly normal
 * differences; the sign-flip test assumes only symmetry about 0 under H0, and with n seeds
 * cannot go below 2/2^n (0.25 for 3 seeds, 0.0625 for 5): report both and read the floor.
 */
export function pairedComparison(diffs: readonly number[], rng: Rng, resamples = 10_000): PairedComparison {
  const n = diffs.length;
  if (n < 2) throw new RangeError(`pairedComparison: need at least 2 paired seeds, got ${n}`);
  const m = mean(diffs);
  const sd = sampleSd(diffs);
  const se = sd / Math.sqrt(n);
  const half = tQuantile(0.975, n - 1) * se;
  // All differences equal: no spread, so t is ±∞ (p = 0) unless they are all 0 (p = 1).
  const t = se > 0 ? m / se : m === 0 ? 0 : Math.sign(m) * Infinity;
  const pT = se > 0 ? 2 * (1 - tCdf(Math.abs(t), n - 1)) : m === 0 ? 1 : 0;
  return {
    n, meanDiff: m, lo: m - half, hi: m + half, t, pT,
    pSignFlip: n <= 20 ? signFlipP(diffs) : NaN,
    minPSignFlip: 2 / 2 ** n,
    ...(n >= BOOTSTRAP_MIN_SEEDS ? { bootstrap: pairedBootstrap(diffs, rng, resamples) } : {}),
  };
}

// ---- benchmark noise ------------------------------------------------------------------------

/**
 * Standard error of a benchmark score due to the finite set of problems: the score is the mean
 * over n problems of per-problem values x_i (e.g. correct samples / k, averaged over the seeds
 * of a row), so its standard error under resampling the problems is sd(x)/√n. For 0/1 values
 * this is the binomial standard error √(p(1−p)/n) (with the n−1 correction); with k samples per
 * problem it is larger than √(p(1−p)/(nk)), because the samples of one problem are correlated.
 * NaN without per-problem data.
 */
export function problemStandardError(perSeed: readonly (readonly number[])[]): number {
  if (perSeed.length === 0) return NaN;
  const n = perSeed[0]!.length;
  if (n < 2 || perSeed.some((v) => v.length !== n)) return NaN;
  const x = Array.from({ length: n }, (_, i) => mean(perSeed.map((v) => v[i]!)));
  return sampleSd(x) / Math.sqrt(n);
}

// ---- paired bootstrap ---------------------------------------------------------------------

export interface PairedBootstrap {
  /** Number of paired seeds. */
  n: number;
  /** Mean of the per-seed differences a_s − b_s. */
  meanDiff: number;
  /** 95% percentile interval of the bootstrap distribution of the mean difference. */
  lo: number;
  hi: number;
  /** Two-sided p-value for H0: mean difference = 0 (null-centred bootstrap). */
  p: number;
  resamples: number;
  /** Exact two-sided sign-flip test p-value on the same differences (see signFlipP). */
  pSignFlip: number;
}

/** Linear-interpolated quantile of an ascending-sorted array (type 7, as R and numpy default). */
export function quantileSorted(sorted: Float64Array | readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  const a = sorted[i]!;
  const b = sorted[Math.min(i + 1, sorted.length - 1)]!;
  return a + (h - i) * (b - a);
}

/**
 * Paired bootstrap over seeds of d_s = a_s − b_s: resample seeds with replacement `resamples`
 * times and take the mean of d each time. The interval is the 2.5–97.5% percentile of those
 * means; the p-value is the share of resampled means at least as far from the observed mean as
 * the observed mean is from zero, i.e. the bootstrap distribution shifted to the null
 * (Efron & Tibshirani 1993, §16.4), with the +1 correction so p is never exactly 0.
 */
export function pairedBootstrap(diffs: readonly number[], rng: Rng, resamples = 10_000): PairedBootstrap {
  const n = diffs.length;
  if (n < 2) throw new RangeError(`pairedBootstrap: need at least 2 paired seeds, got ${n}`);
  const observed = mean(diffs);
  const means = new Float64Array(resamples);
  let extreme = 0;
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += diffs[rng.int(n)]!;
    const m = s / n;
    means[b] = m;
    // Tolerance so that resamples equal to the observed mean (common with 3 seeds) count as
    // "as extreme" despite floating-point summation order.
    if (Math.abs(m - observed) >= Math.abs(observed) - 1e-12) extreme++;
  }
  means.sort();
  return {
    n,
    meanDiff: observed,
    lo: quantileSorted(means, 0.025),
    hi: quantileSorted(means, 0.975),
    p: Math.min(1, (extreme + 1) / (resamples + 1)),
    resamples,
    pSignFlip: n <= 20 ? signFlipP(diffs) : NaN,
  };
}

/**
 * Exact paired sign-flip (permutation) test of H0: the per-seed differences are symmetric
 * about 0. Two-sided p = share of the 2^n sign assignments whose |mean| is at least the
 * observed |mean|. It is honest about few seeds: with n seeds the smallest possible p is
 * 2/2^n (0.25 for 3 seeds), where a bootstrap can say <0.001 whenever all differences share a
 * sign.
 */
export function signFlipP(diffs: readonly number[]): number {
  const n = diffs.length;
  if (n < 1) throw new RangeError('signFlipP: need at least 1 difference');
  if (n > 20) throw new RangeError(`signFlipP: exact enumeration is for at most 20 seeds, got ${n}`);
  const observed = Math.abs(diffs.reduce((a, b) => a + b, 0));
  let extreme = 0;
  const total = 2 ** n;
  for (let mask = 0; mask < total; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += mask & (1 << i) ? -diffs[i]! : diffs[i]!;
    if (Math.abs(s) >= observed - 1e-12) extreme++;
  }
  return extreme / total;
}
