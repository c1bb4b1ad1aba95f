// Statistics for reports: mean and Student-t 95% confidence intervals over seeds, and the
// seeded paired bootstrap that compares each objective with ReNCE. Seeds are few (3–5), so the
// t quantile is computed exactly from the t distribution rather than approximated by 1.96.
import { Rng } from '../util/rng.ts';

export interface MeanCI {
  n: number;
  mean: number;
  /** Sample standard deviation (n−1 denominator); NaN when n < 2. */
  sd: number;
  /** Half-width t_{0.975,n−1}·s/√n; NaN when n < 2 (shown as n/a, never as 0). */
  half: number;
}

export function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : NaN;
}

export function sampleSd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

export function meanCI(xs: readonly number[], level = 0.95): MeanCI {
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { n, mean: m, sd: NaN, half: NaN };
  const sd = sampleSd(xs);
  return { n, mean: m, sd, half: tQuantile(1 - (1 - level) / 2, n - 1) * sd / Math.sqrt(n) };
}

// ---- Student's t distribution -------------------------------------------------------------

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the regularised incomplete beta (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - (a + b) * x / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d; h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** I_x(a, b), the regularised incomplete beta function. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  // The continued fraction converges fast only on one side of the mean; use symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return Math.exp(lbt) * betaContinuedFraction(a, b, x) / a;
  return 1 - Math.exp(lbt) * betaContinuedFraction(b, a, 1 - x) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` degrees of freedom (bisection on the CDF). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`tQuantile: df must be positive, got ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-14 * Math.max(1, hi); i++) {
    const mid = 0.5 * (lo + hi);
    if (tCdf(mid, df) < p) lo = mid; else hi = mid;
  }
  return 0.5 * (lo + hi);
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
