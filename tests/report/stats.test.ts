// Statistics behind the report: Student-t quantiles, mean ± CI, the paired bootstrap and the
// exact sign-flip test, checked against reference values and hand-enumerated distributions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedBootstrap, quantileSorted, signFlipP } from '../../harness/report/stats.ts';
import { meanCI, tCdf, tQuantile } from '../../harness/util/stats.ts';
import { Rng } from '../../harness/util/rng.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('t quantiles match published values (t_{0.975, df})', () => {
  // R: qt(0.975, df) for df = 1, 2, 3, 4, 9, 30.
  const ref: [number, number][] = [[1, 12.706204736174707], [2, 4.302652729749464], [3, 3.182446305284263],
    [4, 2.776445105197793], [9, 2.262157162798205], [30, 2.042272456301238]];
  for (const [df, q] of ref) close(tQuantile(0.975, df), q, 1e-9, `df=${df}`);
  close(tQuantile(0.975, 1e6), 1.959963984540054, 1e-5, 'df→∞ approaches the normal');
  close(tQuantile(0.025, 5), -tQuantile(0.975, 5), 1e-12, 'symmetry');
  close(tCdf(0, 7), 0.5, 1e-15, 'median');
  close(tCdf(1, 1), 0.75, 1e-12, 'Cauchy: atan(1)/π + 1/2');
});

test('meanCI is t_{0.975,n−1}·s/√n, and n/a (NaN) for one value', () => {
  // Values 0.60, 0.70, 0.65: mean 0.65, deviations −.05, .05, 0, s = sqrt(0.005/2) = 0.05.
  const ci = meanCI([0.6, 0.7, 0.65]);
  close(ci.mean, 0.65, 1e-12, 'mean');
  close(ci.sd, 0.05, 1e-12, 'sd');
  close(ci.half, 4.302652729749464 * 0.05 / Math.sqrt(3), 1e-9, 'half-width');
  const one = meanCI([0.42]);
  assert.equal(one.n, 1);
  assert.equal(one.mean, 0.42);
  assert.ok(Number.isNaN(one.half), 'one seed has no CI, not a zero CI');
  assert.equal(meanCI([]).n, 0);
});

test('quantileSorted interpolates like R type 7', () => {
  close(quantileSorted([1, 2, 3, 4], 0.5), 2.5, 1e-15, 'median');
  close(quantileSorted([1, 2, 3, 4], 0.025), 1.075, 1e-12, '2.5%');
});

test('paired bootstrap: p-value and interval match the exact resampling distribution', () => {
  // d = [0, 0, 3]: a resampled mean equals the number of times index 2 is drawn, Binomial(3, 1/3):
  // P(0)=8/27, P(1)=12/27, P(2)=6/27, P(3)=1/27. Observed mean 1; |m − 1| ≥ 1 ⇔ m ∈ {0, 2, 3},
  // so p = 15/27. The 2.5% quantile is 0 and the 97.5% quantile is 3 (P(m ≤ 2) = 26/27 < 0.975).
  const r = pairedBootstrap([0, 0, 3], new Rng('stats-test'), 20_000);
  close(r.meanDiff, 1, 1e-15, 'mean difference');
  close(r.p, 15 / 27, 0.012, 'p');
  assert.equal(r.lo, 0);
  assert.equal(r.hi, 3);
  assert.equal(r.n, 3);
  // Flipping signs of 0, 0, 3 always gives |sum| = 3: the sign-flip test sees no evidence at all.
  assert.equal(r.pSignFlip, 1);
});

test('paired bootstrap: degenerate cases and determinism', () => {
  const same = pairedBootstrap([0.1, 0.1], new Rng(1), 1000);
  close(same.lo, 0.1, 1e-15, 'lo');
  close(same.hi, 0.1, 1e-15, 'hi');
  close(same.p, 1 / 1001, 1e-15, 'never as extreme as 0 → smallest p');
  assert.equal(pairedBootstrap([0, 0, 0], new Rng(1), 1000).p, 1);
  const a = pairedBootstrap([0.02, -0.05, 0.01, 0.04], new Rng('x'), 5000);
  const b = pairedBootstrap([0.02, -0.05, 0.01, 0.04], new Rng('x'), 5000);
  assert.deepEqual(a, b, 'same seed, same numbers');
  assert.throws(() => pairedBootstrap([0.1], new Rng(1)), /at least 2/);
});

test('sign-flip p enumerates all 2^n sign assignments', () => {
  assert.equal(signFlipP([1, 2, 3]), 2 / 8); // only all-plus and all-minus reach |sum| = 6
  assert.equal(signFlipP([1, -1]), 1); // observed sum 0: every assignment is as extreme
  assert.equal(signFlipP([1, 1, 1, 1]), 2 / 16);
  // [1, 2, 4]: sums ±7, ±5, ±3, ±1 (each once per sign); |s| ≥ 7 → 2 of 8.
  assert.equal(signFlipP([1, 2, 4]), 2 / 8);
  // [3, 1, 1]: observed 5; assignments with |s| ≥ 5: (+,+,+), (−,−,−) → 2/8.
  assert.equal(signFlipP([3, 1, 1]), 2 / 8);
});
