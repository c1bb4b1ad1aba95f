// Hand-computed values for GRPO and DAPO: advantages (unbiased std, advEps placement), clipping
// on each side, the k3 term and its clamp, both aggregations, DAPO's overlong shaping in each of
// its three regions, clip-higher and dynamic-sampling filtering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpo, type GrpoConfig } from '../../objectives/grpo.ts';
import { dapo, overlongPenalty, type DapoConfig } from '../../objectives/dapo.ts';
import { resolveObjectiveConfig } from '../../objectives/registry.ts';
import { close, closeArr, mk } from './helpers.ts';

const g = (raw: Record<string, unknown>) => resolveObjectiveConfig<GrpoConfig>(grpo, raw, 'test');
const d = (raw: Record<string, unknown>) => resolveObjectiveConfig<DapoConfig>(dapo, raw, 'test');

test('GRPO: rewards [1, 0], one token, on-policy, klCoef 0 (the issue example)', () => {
  const { batch, logp } = mk([{ group: 'a', reward: 1, logp: [-1] }, { group: 'a', reward: 0, logp: [-2] }]);
  const res = grpo.loss(batch, logp, g({ klCoef: 0 }));
  const A = 0.5 / (Math.sqrt(0.5) + 1e-6);
  close(A, 0.7071058, 1e-6);
  close(res.loss, 0);
  // seq-mean-token-mean over 2 rollouts of 1 token: w = 1/2; dL/dl = -A rho = -A.
  closeArr(res.grad[0]!, [-A / 2]);
  closeArr(res.grad[1]!, [A / 2]);
  close(res.metrics.advStd!, A);
  close(res.metrics.ratioMean!, 1);
  assert.equal(res.metrics.clipFrac, 0);
  assert.equal(res.metrics.klK3, undefined); // no logpRef, so no KL metric
});

test('GRPO: advEps is added to the std, not under the square root', () => {
  const { batch, logp } = mk([{ group: 'a', reward: 1, logp: [-1] }, { group: 'a', reward: 0, logp: [-2] }]);
  const res = grpo.loss(batch, logp, g({ klCoef: 0, advEps: 0.5 }));
  const A = 0.5 / (Math.sqrt(0.5) + 0.5);
  closeArr(res.grad[0]!, [-A / 2]);
});

test('GRPO: unbiased (N-1) std with three rollouts, and stdNorm false', () => {
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [-1] }, { group: 'a', reward: 0, logp: [-1] }, { group: 'a', reward: 0, logp: [-1] },
  ]);
  // mean 1/3; squared deviations 4/9 + 1/9 + 1/9 = 2/3; unbiased variance 1/3.
  const std = Math.sqrt(1 / 3);
  const res = grpo.loss(batch, logp, g({ klCoef: 0 }));
  closeArr(res.grad[0]!, [-(2 / 3) / (std + 1e-6) / 3]);
  closeArr(res.grad[1]!, [(1 / 3) / (std + 1e-6) / 3]);
  const raw = grpo.loss(batch, logp, g({ klCoef: 0, stdNorm: false }));
  closeArr(raw.grad[0]!, [-(2 / 3) / 3]);
  closeArr(raw.grad[2]!, [(1 / 3) / 3]);
});

test('GRPO: clipping on the high side (A > 0) and the low side (A < 0)', () => {
  const A = 0.5 / (Math.sqrt(0.5) + 1e-6);
  // rollout 0: A > 0, rho = 1.5 > 1.2 -> clipped branch -A*1.2, zero gradient.
  // rollout 1: A < 0, rho = 0.5 < 0.8 -> clipped branch +|A|*0.8 beats +|A|*0.5, zero gradient.
  let { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [Math.log(1.5) - 1], logpOld: [-1] },
    { group: 'a', reward: 0, logp: [Math.log(0.5) - 1], logpOld: [-1] },
  ]);
  let res = grpo.loss(batch, logp, g({ klCoef: 0 }));
  close(res.loss, 0.5 * (-A * 1.2) + 0.5 * (A * 0.8));
  closeArr(res.grad[0]!, [0]);
  closeArr(res.grad[1]!, [0]);
  close(res.metrics.clipFracHigh!, 0.5);
  close(res.metrics.clipFracLow!, 0.5);
  close(res.metrics.ratioMean!, 1);
  // The pessimistic max keeps the unclipped term when it is larger: A < 0 with rho = 1.5.
  ({ batch, logp } = mk([
    { group: 'a', reward: 1, logp: [-1], logpOld: [-1] },
    { group: 'a', reward: 0, logp: [Math.log(1.5) - 1], logpOld: [-1] },
  ]));
  res = grpo.loss(batch, logp, g({ klCoef: 0 }));
  close(res.loss, 0.5 * (-A) + 0.5 * (A * 1.5));
  closeArr(res.grad[1]!, [0.5 * A * 1.5]);
  assert.equal(res.metrics.clipFrac, 0);
  // epsLow/epsHigh given explicitly override clipEps: rho = 1.5 < 1 + 0.6 is not clipped.
  res = grpo.loss(batch, logp, g({ klCoef: 0, clipEps: 0.1, epsHigh: 0.6 }));
  closeArr(res.grad[1]!, [0.5 * A * 1.5]);
});

test('GRPO: k3 term, its gradient, and the ±20 clamp', () => {
  // A group of one: A = 0, so only the KL term remains.
  let { batch, logp } = mk([{ group: 'a', reward: 1, logp: [-1], logpRef: [-0.5] }]);
  let res = grpo.loss(batch, logp, g({ klCoef: 0.1 }));
  close(res.loss, 0.1 * (Math.exp(0.5) - 0.5 - 1));
  closeArr(res.grad[0]!, [0.1 * (1 - Math.exp(0.5))]);
  close(res.metrics.klK3!, Math.exp(0.5) - 1.5);
  ({ batch, logp } = mk([{ group: 'a', reward: 1, logp: [-31], logpRef: [-1] }]));
  res = grpo.loss(batch, logp, g({ klCoef: 0.1 }));
  close(res.loss, 0.1 * (Math.exp(20) - 21));
  closeArr(res.grad[0]!, [0]);
  assert.equal(grpo.needsReference(g({ klCoef: 0 })), false);
  assert.equal(grpo.needsReference(g({})), true);
});

test('GRPO: seq-mean-token-mean vs token-mean on lengths 1 and 3', () => {
  const { batch, logp } = mk([{ group: 'a', reward: 1, logp: [-1] }, { group: 'a', reward: 0, logp: [-1, -2, -3] }]);
  const A = 0.5 / (Math.sqrt(0.5) + 1e-6);
  const seq = grpo.loss(batch, logp, g({ klCoef: 0 }));
  close(seq.loss, 0); // mean(-A, +A)
  closeArr(seq.grad[0]!, [-A / 2]);
  closeArr(seq.grad[1]!, [A / 6, A / 6, A / 6]);
  const tok = grpo.loss(batch, logp, g({ klCoef: 0, lossAgg: 'token-mean' }));
  close(tok.loss, (-A + 3 * A) / 4);
  closeArr(tok.grad[0]!, [-A / 4]);
  closeArr(tok.grad[1]!, [A / 4, A / 4, A / 4]);
});

test('DAPO: overlong shaping in each region and its default buffer', () => {
  // Lmax 10, B = floor(0.2 * 10) = 2: 0 up to 8 tokens, linear over 9..10, -1 beyond.
  assert.equal(d({ maxTokens: 10 }).overlongBuffer, 2);
  assert.equal(d({ maxTokens: 12 }).overlongBuffer, 2);
  assert.equal(d({ maxTokens: 4 }).overlongBuffer, 0);
  assert.equal(overlongPenalty(8, 10, 2), 0);
  assert.equal(overlongPenalty(9, 10, 2), -0.5);
  assert.equal(overlongPenalty(10, 10, 2), -1);
  assert.equal(overlongPenalty(11, 10, 2), -1);
  assert.equal(overlongPenalty(11, 10, 0), 0); // B = 0 turns shaping off
});

test('DAPO: shaped-score advantages and token-mean loss over a kept group', () => {
  const tok = (n: number) => Array.from({ length: n }, (_, t) => -0.1 * (t + 1));
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: tok(8) }, // score 1 + 0
    { group: 'a', reward: 1, logp: tok(9) }, // score 1 - 0.5
    { group: 'a', reward: 0, logp: tok(11) }, // score -1 - 1
  ]);
  const res = dapo.loss(batch, logp, d({ maxTokens: 10 }));
  // scores [1, 0.5, -2], mean -1/6, deviations [7/6, 4/6, -11/6], unbiased var (186/36)/2.
  const std = Math.sqrt(186 / 36 / 2);
  const A = [7 / 6, 4 / 6, -11 / 6].map((x) => x / (std + 1e-6));
  close(res.loss, -(8 * A[0]! + 9 * A[1]! + 11 * A[2]!) / 28);
  closeArr(res.grad[0]!, new Array(8).fill(-A[0]! / 28));
  closeArr(res.grad[2]!, new Array(11).fill(-A[2]! / 28));
  close(res.metrics.scoreMean!, -1 / 6);
  close(res.metrics.overlongFrac!, 1 / 3);
  close(res.metrics.overlongBufferFrac!, 1 / 3);
  close(res.metrics.overlongPenaltyMean!, -0.5);
});

test('DAPO: clip-higher keeps rho = 1.25 unclipped for A > 0; filtered groups give nothing', () => {
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [Math.log(1.25) - 1], logpOld: [-1] },
    { group: 'a', reward: 0, logp: [-1] },
    { group: 'b', reward: 1, logp: [-1, -1] }, // all correct: filtered
    { group: 'b', reward: 1, logp: [-3] },
    { group: 'c', reward: 0, logp: [-2] }, // all wrong: filtered
    { group: 'c', reward: 0, logp: [-2] },
  ]);
  const res = dapo.loss(batch, logp, d({ maxTokens: 100 }));
  const A = 1 / (Math.sqrt(2) + 1e-6); // scores [1, -1]: deviations ±1, unbiased std sqrt(2)
  close(res.loss, (-A * 1.25 + A) / 2);
  closeArr(res.grad[0]!, [-A * 1.25 / 2]);
  closeArr(res.grad[1]!, [A / 2]);
  for (const i of [2, 3, 4, 5]) assert.ok(res.grad[i]!.every((v) => v === 0));
  assert.equal(res.metrics.groupsKept, 1);
  assert.equal(res.metrics.groupsFiltered, 2);
  assert.equal(res.metrics.clipFracHigh, 0);
  // With symmetric 0.2 clipping (GRPO) the same token is clipped.
  const gr = grpo.loss(batch.slice(0, 2), logp.slice(0, 2), g({ klCoef: 0 }));
  closeArr(gr.grad[0]!, [0]);
});

test('DAPO: filter drops uniform-correctness groups of two or more, keeps singletons', () => {
  const { batch } = mk([
    { group: 'a', reward: 1, logp: [-1] }, { group: 'a', reward: 0.5, logp: [-1] }, // uniform (both r > 0)
    { group: 'b', reward: 0, logp: [-1] }, { group: 'b', reward: 0, logp: [-1] },
    { group: 'c', reward: 1, logp: [-1] }, { group: 'c', reward: 0, logp: [-1] },
    { group: 'd', reward: 0, logp: [-1] },
  ]);
  const groups = [batch.slice(0, 2), batch.slice(2, 4), batch.slice(4, 6), batch.slice(6)];
  const kept = dapo.filter!(groups, d({ maxTokens: 10 }));
  assert.deepEqual(kept.map((gr) => gr[0]!.group), ['c', 'd']);
});
