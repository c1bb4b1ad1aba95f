// ReNCE's options beyond the abstract: the reward-scaled margin (α), the adaptive KL window (β,
// state carried across steps) and the easy-prompt filter (t_easy); and the review's finding
// that at l = o (the first minibatch of μ = 1) every score is 0 and the weights are fixed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rence, renceLoss, type RenceConfig } from '../../objectives/rence.ts';
import { resolveObjectiveConfig } from '../../objectives/registry.ts';
import { close, gradCheck, mk, randomBatch } from './helpers.ts';

const cfgOf = (over: Partial<RenceConfig> = {}): RenceConfig => resolveObjectiveConfig(rence, over, 'test');

test('reward-scaled margin: m_p = margin + α (r_p − group mean reward), by hand', () => {
  // One group [1, 0, 0, 0] at l = o: s = 0, mean reward 1/4, m = 0.1 + 2 (1 − 0.25) = 1.6.
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [-1, -2] },
    { group: 'a', reward: 0, logp: [-1] },
    { group: 'a', reward: 0, logp: [-3] },
    { group: 'a', reward: 0, logp: [-2, -2] },
  ]);
  const res = renceLoss(batch, logp, cfgOf({ margin: 0.1, marginScale: 2 }));
  const m = 1.6;
  close(res.loss, Math.log(1 + 3 * Math.exp(m)), 1e-12, 'loss');
  close(res.metrics.marginMean!, m, 1e-12, 'marginMean');
  // Positives with different rewards get different margins: [1, 0.5, 0], mean 0.5.
  const two = mk([
    { group: 'b', reward: 1, logp: [-1] },
    { group: 'b', reward: 0.5, logp: [-1] },
    { group: 'b', reward: 0, logp: [-1] },
  ]);
  const r2 = renceLoss(two.batch, two.logp, cfgOf({ marginScale: 1 }));
  // per-positive: mean over p of log(1 + e^{m_p}) with m = 0.5 and 0.
  close(r2.loss, (Math.log(1 + Math.exp(0.5)) + Math.log(2)) / 2, 1e-12, 'loss, two positives');
  close(r2.metrics.marginMean!, 0.25, 1e-12, 'marginMean, two positives');
});

test('gradients with the margin, the KL term and the easy filter match finite differences', () => {
  for (const variant of ['per-positive', 'pooled'] as const) {
    for (const seed of [1, 2, 3]) {
      const { batch, logp } = randomBatch(seed, 4, 4, 3);
      gradCheck(rence, cfgOf({ variant, marginScale: 0.7, margin: 0.2, klCoef: 0.3, easyThreshold: 0.6, temperature: 0.8 }), batch, logp);
    }
  }
});

test('easy filter: a group whose fraction of positives exceeds t_easy is dropped by filter and skipped by loss', () => {
  const g = (id: string, rewards: number[]) => rewards.map((reward) => ({ group: id, reward, logp: [-1, -0.5] }));
  const { batch, logp } = mk([...g('three', [1, 1, 1, 0]), ...g('two', [1, 1, 0, 0]), ...g('all', [1, 1, 1, 1])]);
  const groups = [batch.slice(0, 4), batch.slice(4, 8), batch.slice(8)];
  // 3/4 = 0.75 is not above 0.75: kept; 4/4 is: dropped.
  assert.deepEqual(rence.filter!(groups, cfgOf({ easyThreshold: 0.75 })).map((x) => x[0]!.group), ['three', 'two']);
  assert.deepEqual(rence.filter!(groups, cfgOf({ easyThreshold: 0.5 })).map((x) => x[0]!.group), ['two']);
  // The default (1) drops nothing, so plain ReNCE never refills.
  assert.equal(rence.filter!(groups, cfgOf()).length, 3);
  const res = renceLoss(batch, logp, cfgOf({ easyThreshold: 0.5 }));
  assert.deepEqual([res.metrics.groupsUsed, res.metrics.groupsEasy], [1, 2]);
  for (let i = 0; i < 4; i++) assert.ok(res.grad[i]!.every((v) => v === 0), `rollout ${i} of an easy group gets no gradient`);
  assert.ok(res.grad[4]!.some((v) => v !== 0));
});

test('adaptive KL window: β doubles above the window, halves below, stays inside; clamped; the loss uses the state', () => {
  const cfg = cfgOf({ klCoef: 0.1, klWindow: [0.01, 0.05], klCoefMin: 0.02, klCoefMax: 0.3 });
  const s0 = rence.initialState!(cfg);
  assert.deepEqual(s0, { klCoef: 0.1 });
  assert.deepEqual(rence.nextState!(s0, { klK3: 0.2 }, cfg), { klCoef: 0.2 });
  assert.deepEqual(rence.nextState!(s0, { klK3: 0.001 }, cfg), { klCoef: 0.05 });
  assert.deepEqual(rence.nextState!(s0, { klK3: 0.03 }, cfg), { klCoef: 0.1 });
  assert.deepEqual(rence.nextState!({ klCoef: 0.2 }, { klK3: 1 }, cfg), { klCoef: 0.3 }, 'clamped at klCoefMax');
  assert.deepEqual(rence.nextState!({ klCoef: 0.03 }, { klK3: 0 }, cfg), { klCoef: 0.02 }, 'clamped at klCoefMin');
  assert.deepEqual(rence.nextState!(s0, {}, cfg), s0, 'no KL measured: unchanged');
  // A fixed β has no state to carry.
  assert.deepEqual(rence.initialState!(cfgOf({ klCoef: 0.1 })), {});
  // The loss with state β = 0.4 is the loss of a fixed β = 0.4.
  const { batch, logp } = randomBatch(5, 3, 4, 3);
  const a = renceLoss(batch, logp, cfg, { klCoef: 0.4 });
  const b = renceLoss(batch, logp, cfgOf({ klCoef: 0.4 }));
  close(a.loss, b.loss, 1e-12, 'loss');
  a.grad.forEach((g, i) => g.forEach((v, t) => close(v, b.grad[i]![t]!, 1e-12, `grad[${i}][${t}]`)));
  assert.equal(a.metrics.klCoef, 0.4);
});

test('at l = o every score is 0 and the weights depend only on |P| and |N|: fixed REINFORCE-style weights', () => {
  // Two batches of the same shape (group sizes and rewards) but different log-probs, each on-policy.
  const spec = (lp: number) => [1, 0, 0, 1, 0].map((reward, j) => ({ group: 'g', reward, logp: [lp - j, lp + 0.5 * j] }));
  const x = mk(spec(-0.3));
  const y = mk(spec(-2.1));
  for (const temperature of [1, 0.25]) {
    const cfg = cfgOf({ temperature });
    const rx = renceLoss(x.batch, x.logp, cfg);
    const ry = renceLoss(y.batch, y.logp, cfg);
    assert.deepEqual(rx.grad, ry.grad);
    assert.equal(rx.metrics.scorePosMean, 0);
    // per-positive with |P| = 2, |N| = 3, one group: dL/dl = -(|N|/(1+|N|))/|P| / T on positives,
    // 1/(1+|N|) / T on negatives; the temperature only rescales them.
    close(rx.grad[0]![0]!, -(3 / 4) / 2 / temperature, 1e-12, 'positive');
    close(rx.grad[1]![0]!, 1 / 4 / temperature, 1e-12, 'negative');
  }
});
