// Hand-computed values for online DPO (each pairing rule with its tie rule, both loss types) and
// ReNCE (per-positive vs pooled, margin, temperature, lengthNorm, the KL term, skipped groups).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dpoPairs, onlineDpo, type OnlineDpoConfig } from '../../objectives/online-dpo.ts';
import { rence, type RenceConfig } from '../../objectives/rence.ts';
import { groupIndices } from '../../objectives/common.ts';
import { resolveObjectiveConfig } from '../../objectives/registry.ts';
import { close, closeArr, mk } from './helpers.ts';

const dc = (raw: Record<string, unknown>) => resolveObjectiveConfig<OnlineDpoConfig>(onlineDpo, raw, 'test');
const rc = (raw: Record<string, unknown>) => resolveObjectiveConfig<RenceConfig>(rence, raw, 'test');

function pairsOf(rewards: number[], pairing: OnlineDpoConfig['pairing']): [number, number][] {
  const { batch } = mk(rewards.map((reward) => ({ group: 'a', reward, logp: [-1], logpRef: [-1] })));
  return dpoPairs(batch, groupIndices(batch), pairing);
}

test('online DPO pairing: best-worst picks the first of tied bests and of tied worsts', () => {
  assert.deepEqual(pairsOf([0, 1, 1, 0], 'best-worst'), [[1, 0]]);
  assert.deepEqual(pairsOf([0.5, 1, 0, 0], 'best-worst'), [[1, 2]]);
  assert.deepEqual(pairsOf([0, -1, 1, -1], 'best-worst'), [[2, 1]]);
  assert.deepEqual(pairsOf([1, 1], 'best-worst'), []); // no negative
  assert.deepEqual(pairsOf([0, 0], 'best-worst'), []); // no positive
  assert.deepEqual(pairsOf([1], 'best-worst'), []);
});

test('online DPO pairing: all-pairs forms every (positive, negative) pair', () => {
  assert.deepEqual(pairsOf([1, 0, 1], 'all-pairs'), [[0, 1], [2, 1]]);
  assert.deepEqual(pairsOf([1, 0, 0.5, 0], 'all-pairs'), [[0, 1], [0, 3], [2, 1], [2, 3]]);
  assert.deepEqual(pairsOf([1, 1, 1], 'all-pairs'), []);
});

test('online DPO pairing: first-two uses the first two rollouts, the first chosen on ties', () => {
  assert.deepEqual(pairsOf([0, 1, 1], 'first-two'), [[1, 0]]);
  assert.deepEqual(pairsOf([1, 0, 0], 'first-two'), [[0, 1]]);
  assert.deepEqual(pairsOf([1, 1, 0], 'first-two'), [[0, 1]]);
  assert.deepEqual(pairsOf([0, 0], 'first-two'), [[0, 1]]);
  assert.deepEqual(pairsOf([1], 'first-two'), []);
});

// chosen: sum l = -3, sum f = -3.5; rejected: sum l = -2, sum f = -1  =>  z = -1 + 2.5 = 1.5
const dpoBatch = () => mk([
  { group: 'a', reward: 0, logp: [-2], logpRef: [-1] },
  { group: 'a', reward: 1, logp: [-1, -2], logpRef: [-1.5, -2] },
  { group: 'b', reward: 1, logp: [-1], logpRef: [-1] }, // no pair: all correct
]);

test('online DPO sigmoid loss: -log sigmoid(beta z) and its gradient', () => {
  const { batch, logp } = dpoBatch();
  const res = onlineDpo.loss(batch, logp, dc({}));
  close(res.loss, Math.log(1 + Math.exp(-0.15)));
  const gz = -0.1 / (1 + Math.exp(0.15)); // -beta * sigmoid(-beta z)
  closeArr(res.grad[1]!, [gz, gz]);
  closeArr(res.grad[0]!, [-gz]);
  closeArr(res.grad[2]!, [0]);
  assert.equal(res.metrics.pairs, 1);
  assert.equal(res.metrics.implicitAcc, 1);
  close(res.metrics.margin!, 0.15);
  close(res.metrics.chosenReward!, 0.1 * 0.5);
  close(res.metrics.rejectedReward!, 0.1 * -1);
  assert.equal(res.metrics.groupsSkipped, 1);
});

test('online DPO ipo loss: (z - 1/(2 beta))^2 and its gradient', () => {
  const { batch, logp } = dpoBatch();
  const res = onlineDpo.loss(batch, logp, dc({ lossType: 'ipo', beta: 0.5 }));
  close(res.loss, (1.5 - 1) ** 2);
  closeArr(res.grad[1]!, [1, 1]);
  closeArr(res.grad[0]!, [-1]);
});

test('online DPO: the loss is the mean over pairs (all-pairs, a rollout in two pairs)', () => {
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [-1], logpRef: [-1] },
    { group: 'a', reward: 0, logp: [-1], logpRef: [-2] }, // z vs rollout 0: 0 - (-1 - -2) = -1
    { group: 'a', reward: 1, logp: [-2], logpRef: [-1] }, // z vs rollout 1: (-1) - (1) = -2
  ]);
  const res = onlineDpo.loss(batch, logp, dc({ pairing: 'all-pairs', beta: 1 }));
  const sp = (x: number) => Math.log(1 + Math.exp(x));
  const sg = (x: number) => 1 / (1 + Math.exp(-x));
  close(res.loss, (sp(1) + sp(2)) / 2);
  closeArr(res.grad[0]!, [-sg(1) / 2]);
  closeArr(res.grad[2]!, [-sg(2) / 2]);
  closeArr(res.grad[1]!, [(sg(1) + sg(2)) / 2]);
  assert.equal(res.metrics.implicitAcc, 0);
  close(res.metrics.margin!, -1.5);
});

// One-token rollouts: the score is l - o.
const renceBatch = () => mk([
  { group: 'a', reward: 1, logp: [0], logpOld: [-1] }, // s = 1
  { group: 'a', reward: 1, logp: [-1], logpOld: [-1] }, // s = 0
  { group: 'a', reward: 0, logp: [-2], logpOld: [-2] }, // s = 0
  { group: 'b', reward: 1, logp: [-2], logpOld: [-1] }, // skipped: all correct
]);

test('ReNCE per-positive: mean over positives of -log(e^sp / (e^sp + sum_N e^sn))', () => {
  const { batch, logp } = renceBatch();
  const e = Math.E;
  const res = rence.loss(batch, logp, rc({}));
  close(res.loss, ((Math.log(e + 1) - 1) + Math.log(2)) / 2);
  const q1 = e / (e + 1);
  closeArr(res.grad[0]!, [(q1 - 1) / 2]);
  closeArr(res.grad[1]!, [(0.5 - 1) / 2]);
  closeArr(res.grad[2]!, [((1 - q1) + 0.5) / 2]);
  closeArr(res.grad[3]!, [0]);
  close(res.metrics.posteriorPos!, (q1 + 0.5) / 2);
  assert.equal(res.metrics.groupsUsed, 1);
  assert.equal(res.metrics.groupsSkipped, 1);
  close(res.metrics.groupsSkippedFrac!, 0.5);
  assert.equal(res.metrics.posMean, 2);
  assert.equal(res.metrics.negMean, 1);
});

test('ReNCE pooled: -log(sum_P e^sp / (sum_P e^sp + sum_N e^sn))', () => {
  const { batch, logp } = renceBatch();
  const e = Math.E;
  const res = rence.loss(batch, logp, rc({ variant: 'pooled' }));
  close(res.loss, Math.log((e + 2) / (e + 1)));
  const q = 1 / (e + 2);
  closeArr(res.grad[0]!, [-(e / (e + 1)) * q]);
  closeArr(res.grad[1]!, [-(1 / (e + 1)) * q]);
  closeArr(res.grad[2]!, [q]);
  close(res.metrics.posteriorPos!, (e + 1) / (e + 2));
});

test('ReNCE margin, temperature and lengthNorm', () => {
  // positive: log-ratios [0.6, 1.4] (sum 2); negative: [0.5, -0.5] (sum 0)
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [-1.4, -0.6], logpOld: [-2, -2] },
    { group: 'a', reward: 0, logp: [-1.5, -2.5], logpOld: [-2, -2] },
  ]);
  // lengthNorm, temperature 2: s_p = (2/2)/2 = 0.5, s_n = 0; margin 0.5 -> a_p = 0: L = log 2.
  let res = rence.loss(batch, logp, rc({ margin: 0.5, temperature: 2, lengthNorm: true }));
  close(res.loss, Math.log(2));
  closeArr(res.grad[0]!, [-0.5 / 4, -0.5 / 4]);
  closeArr(res.grad[1]!, [0.5 / 4, 0.5 / 4]);
  // no lengthNorm: s_p = 2/2 = 1, a_p = 0.5: L = log(1 + e^-0.5); ds/dl = 1/2.
  res = rence.loss(batch, logp, rc({ margin: 0.5, temperature: 2 }));
  close(res.loss, Math.log(1 + Math.exp(-0.5)));
  const q = 1 / (1 + Math.exp(-0.5));
  closeArr(res.grad[0]!, [(q - 1) / 2, (q - 1) / 2]);
  closeArr(res.grad[1]!, [(1 - q) / 2, (1 - q) / 2]);
  // pooled with one positive equals per-positive
  const pooled = rence.loss(batch, logp, rc({ margin: 0.5, temperature: 2, variant: 'pooled' }));
  close(pooled.loss, res.loss);
});

test('ReNCE KL term: token mean of k3 over the used groups only', () => {
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [-1, -1], logpOld: [-1, -1], logpRef: [-0.5, -1] }, // k3: e^.5-1.5, 0
    { group: 'a', reward: 0, logp: [-1], logpOld: [-1], logpRef: [-2] }, // k3: e^-1
    { group: 'b', reward: 0, logp: [-1], logpOld: [-1], logpRef: [-9] }, // skipped group: no KL
  ]);
  const res = rence.loss(batch, logp, rc({ klCoef: 0.2 }));
  const k3 = (Math.exp(0.5) - 1.5 + 0 + Math.exp(-1)) / 3;
  close(res.loss, Math.log(2) + 0.2 * k3);
  close(res.metrics.klK3!, k3);
  // s_p = s_n = 0: dL/ds_p = -1/2, dL/ds_n = 1/2; the k3 gradient 0.2/3 * (1 - e^x) is added.
  closeArr(res.grad[0]!, [-0.5 + (0.2 / 3) * (1 - Math.exp(0.5)), -0.5]);
  closeArr(res.grad[1]!, [0.5 + (0.2 / 3) * (1 - Math.exp(-1))]);
  closeArr(res.grad[2]!, [0]);
  assert.equal(rence.needsReference(rc({ klCoef: 0.2 })), true);
  assert.equal(rence.needsReference(rc({})), false);
});
