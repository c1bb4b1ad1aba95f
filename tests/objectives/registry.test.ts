// The registry: lookup, config resolution (defaults, derived defaults, unknown keys, enum and
// range errors naming the field) and the plugin loader (example plugin by path, named export,
// malformed plugins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../harness/util/errors.ts';
import {
  getObjective, listObjectives, loadObjectivePlugin, resolveObjective, resolveObjectiveConfig,
} from '../../objectives/registry.ts';
import { close, closeArr, mk } from './helpers.ts';

function usage(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UsageError && re.test(e.message), `expected UsageError matching ${re}`);
}

test('list and get', () => {
  assert.deepEqual(listObjectives().map((o) => o.id), ['rence', 'grpo', 'dapo', 'online-dpo']);
  assert.equal(getObjective('dapo').title, 'DAPO');
  usage(() => getObjective('ppo'), /unknown objective "ppo" \(known: rence, grpo, dapo, online-dpo/);
});

test('defaults are filled, and the input object is not mutated', () => {
  const raw = {};
  const cfg = resolveObjectiveConfig(getObjective('grpo'), raw, 'objectives[0].config');
  assert.deepEqual(cfg, { clipEps: 0.2, epsLow: 0.2, epsHigh: 0.2, klCoef: 0.04, advEps: 1e-6, stdNorm: true, lossAgg: 'seq-mean-token-mean' });
  assert.deepEqual(raw, {});
  assert.deepEqual(resolveObjectiveConfig(getObjective('rence'), undefined, 'x'), {
    variant: 'per-positive', temperature: 1, margin: 0, marginScale: 0, lengthNorm: false, klCoef: 0,
    klWindow: null, klAdaptFactor: 2, klCoefMin: 1e-4, klCoefMax: 10, easyThreshold: 1,
  });
  assert.deepEqual(resolveObjectiveConfig(getObjective('online-dpo'), {}, 'x'), { beta: 0.1, lossType: 'sigmoid', pairing: 'best-worst' });
  assert.deepEqual(resolveObjectiveConfig(getObjective('dapo'), { maxTokens: 512 }, 'x'), {
    maxTokens: 512, overlongBuffer: 102, correctReward: 1, incorrectReward: -1, epsLow: 0.2, epsHigh: 0.28,
    klCoef: 0, advEps: 1e-6, stdNorm: true, lossAgg: 'token-mean',
  });
});

test('DAPO\'s maxTokens defaults from the experiment\'s rl.maxTokens, and a mismatch is refused', () => {
  const d = getObjective('dapo');
  const cfg = resolveObjectiveConfig(d, {}, 'objectives[2].config', { maxTokens: 44 });
  assert.deepEqual([cfg.maxTokens, cfg.overlongBuffer], [44, 8]);
  assert.equal(resolveObjectiveConfig(d, { maxTokens: 44 }, 'x', { maxTokens: 44 }).maxTokens, 44);
  usage(() => resolveObjectiveConfig(d, { maxTokens: 40 }, 'objectives[2].config', { maxTokens: 44 }),
    /^objectives\[2\]\.config\.maxTokens: 40 differs from rl\.maxTokens 44; DAPO's overlong shaping must use the rollout token limit/);
});

test('ReNCE: klWindow needs low < high and an initial klCoef > 0', () => {
  const r = getObjective('rence');
  usage(() => resolveObjectiveConfig(r, { klWindow: [0.02, 0.01], klCoef: 0.1 }, 'o.config'), /^o\.config\.klWindow: low \(0\.02\) must be below high \(0\.01\)$/);
  usage(() => resolveObjectiveConfig(r, { klWindow: [0.01, 0.02] }, 'o.config'), /^o\.config\.klCoef: must be > 0 with klWindow/);
  usage(() => resolveObjectiveConfig(r, { klWindow: [0.01] }, 'o.config'), /klWindow/);
  usage(() => resolveObjectiveConfig(r, { easyThreshold: 1.5 }, 'o.config'), /o\.config\.easyThreshold: must be <= 1/);
});

test('derived defaults: clipEps fills only the eps not given; DAPO buffer given explicitly', () => {
  const g = getObjective('grpo');
  assert.deepEqual([resolveObjectiveConfig(g, { clipEps: 0.1 }, 'x')].map((c) => [c.epsLow, c.epsHigh]), [[0.1, 0.1]]);
  assert.deepEqual([resolveObjectiveConfig(g, { clipEps: 0.1, epsHigh: 0.3 }, 'x')].map((c) => [c.epsLow, c.epsHigh]), [[0.1, 0.3]]);
  assert.equal(resolveObjectiveConfig(getObjective('dapo'), { maxTokens: 100, overlongBuffer: 0 }, 'x').overlongBuffer, 0);
});

test('config errors name where, the field and the allowed values', () => {
  const where = 'objectives[2].config';
  usage(() => resolveObjectiveConfig(getObjective('grpo'), { clipeps: 0.2 }, where), /^objectives\[2\]\.config\.clipeps: unknown setting \(allowed: clipEps, epsLow, epsHigh, klCoef, advEps, stdNorm, lossAgg\)$/);
  usage(() => resolveObjectiveConfig(getObjective('grpo'), { lossAgg: 'sum' }, where), /^objectives\[2\]\.config\.lossAgg: must be one of "seq-mean-token-mean", "token-mean"$/);
  usage(() => resolveObjectiveConfig(getObjective('rence'), { variant: 'x' }, where), /config\.variant: must be one of "per-positive", "pooled"/);
  usage(() => resolveObjectiveConfig(getObjective('grpo'), { klCoef: -1 }, where), /config\.klCoef: must be >= 0/);
  usage(() => resolveObjectiveConfig(getObjective('grpo'), { klCoef: '0.1' }, where), /config\.klCoef: must be number/);
  usage(() => resolveObjectiveConfig(getObjective('online-dpo'), { beta: 0 }, where), /config\.beta: must be > 0/);
  usage(() => resolveObjectiveConfig(getObjective('dapo'), {}, where), /^objectives\[2\]\.config\.maxTokens: required here \(in an experiment it defaults to rl\.maxTokens\)$/);
  usage(() => resolveObjectiveConfig(getObjective('dapo'), { maxTokens: 10.5 }, where), /config\.maxTokens: must be integer/);
  usage(() => resolveObjectiveConfig(getObjective('dapo'), { maxTokens: 10, overlongBuffer: 11 }, where), /config\.overlongBuffer: must be <= maxTokens \(10\), got 11/);
  usage(() => resolveObjectiveConfig(getObjective('grpo'), { clipEps: 1.5 }, where), /config\.epsLow: must be <= 1/);
  usage(() => resolveObjectiveConfig(getObjective('grpo'), [1], where), /objectives\[2\]\.config: settings of objective "grpo" must be an object/);
  // Several problems are all reported.
  usage(() => resolveObjectiveConfig(getObjective('rence'), { temperature: 0, foo: 1 }, where), /temperature: must be > 0[\s\S]*foo: unknown setting|foo: unknown setting[\s\S]*temperature: must be > 0/);
});

test('the example plugin loads by path, validates its config and computes REINFORCE with a group-mean baseline', async () => {
  const obj = await loadObjectivePlugin('objectives/examples/reinforce-baseline.ts');
  assert.equal(obj.id, 'reinforce-baseline');
  const cfg = resolveObjectiveConfig(obj, {}, 'objectives[0].config');
  assert.deepEqual(cfg, { leaveOneOut: false });
  usage(() => resolveObjectiveConfig(obj, { leaveOneout: true }, 'objectives[0].config'), /objectives\[0\]\.config\.leaveOneout: unknown setting \(allowed: leaveOneOut\)/);
  // rewards [1, 0, 0]: baseline 1/3, A = [2/3, -1/3, -1/3]; loss = -(1/3) sum_i A_i sum_t l_it.
  const { batch, logp } = mk([
    { group: 'a', reward: 1, logp: [-1, -2] }, { group: 'a', reward: 0, logp: [-1] }, { group: 'a', reward: 0, logp: [-3] },
  ]);
  const res = obj.loss(batch, logp, cfg);
  close(res.loss, -((2 / 3) * -3 + (-1 / 3) * -1 + (-1 / 3) * -3) / 3);
  closeArr(res.grad[0]!, [-(2 / 3) / 3, -(2 / 3) / 3]);
  closeArr(res.grad[1]!, [(1 / 3) / 3]);
  // leave-one-out: A = [1 - 0, 0 - 1/2, 0 - 1/2]
  const loo = obj.loss(batch, logp, resolveObjectiveConfig(obj, { leaveOneOut: true }, 'x'));
  closeArr(loo.grad[2]!, [0.5 / 3]);
  // resolveObjective treats a path as a plugin and an id as a built-in.
  assert.equal((await resolveObjective('./objectives/examples/reinforce-baseline.ts')).id, 'reinforce-baseline');
  assert.equal((await resolveObjective('grpo')).id, 'grpo');
});

test('plugin loader: named `objective` export, missing file, malformed plugin', async () => {
  const named = await loadObjectivePlugin('tests/objectives/fixtures/named-export-plugin.ts');
  assert.equal(named.id, 'named-export-test');
  assert.deepEqual(resolveObjectiveConfig(named, {}, 'x'), { scale: 2 });
  await assert.rejects(loadObjectivePlugin('tests/objectives/fixtures/nope.ts'), /objective plugin tests\/objectives\/fixtures\/nope\.ts: file not found/);
  await assert.rejects(loadObjectivePlugin('tests/objectives/fixtures/bad-plugin.ts'), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    for (const re of [/not a valid objective/, /id must be a lower-case string/, /title must be a non-empty string/, /reference must be/,
      /needsReference must be a function/, /loss must be a function/, /schema.additionalProperties must be false/]) assert.match(e.message, re);
    return true;
  });
  await assert.rejects(loadObjectivePlugin('tests/objectives/helpers.ts'), /must have a default export or an `objective` export/);
});
