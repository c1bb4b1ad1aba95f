// Statistics for reports: the seeded paired bootstrap and the exact sign-flip test that compare
// each objective with the baseline. Means and t intervals live in ../util/stats.ts.
import { Rng } from '../util/rng.ts';
import { mean, sampleSd } from '../util/stats.ts';

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
 * observed |mean|. Reported beside the bootstrap because it is honest about few seeds: with
 * n seeds the smallest possible p is 2/2^n (0.25 for 3 seeds), where the bootstrap can say
 * <0.001 whenever all differences share a sign.
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
