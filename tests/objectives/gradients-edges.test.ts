// Central finite-difference checks of grad for every objective and variant on random batches,
// and the edge cases: all-correct / all-wrong groups, a group of one, an empty batch, length-1
// (and length-0) responses, extreme log-ratios, all groups skipped. No NaN anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getObjective, listObjectives, loadObjectivePlugin, resolveObjectiveConfig } from '../../objectives/registry.ts';
import type { Objective } from '../../objectives/types.ts';
import { assertFinite, gradCheck, mk, randomBatch } from './helpers.ts';

const VARIANTS: [string, Record<string, unknown>][] = [
  ['grpo', {}],
  ['grpo', { klCoef: 0, lossAgg: 'token-mean' }],
  ['grpo', { stdNorm: false, clipEps: 0.28 }],
  ['dapo', { maxTokens: 4, overlongBuffer: 2 }],
  ['dapo', { maxTokens: 3, klCoef: 0.1, lossAgg: 'seq-mean-token-mean' }],
  ['online-dpo', { pairing: 'best-worst', lossType: 'sigmoid' }],
  ['online-dpo', { pairing: 'all-pairs', lossType: 'sigmoid', beta: 0.5 }],
  ['online-dpo', { pairing: 'first-two', lossType: 'sigmoid' }],
  ['online-dpo', { pairing: 'best-worst', lossType: 'ipo' }],
  ['online-dpo', { pairing: 'all-pairs', lossType: 'ipo', beta: 0.3 }],
  ['online-dpo', { pairing: 'first-two', lossType: 'ipo' }],
  ['rence', {}],
  ['rence', { variant: 'pooled' }],
  ['rence', { variant: 'per-positive', margin: 0.3, temperature: 0.7, lengthNorm: true, klCoef: 0.05 }],
  ['rence', { variant: 'pooled', margin: -0.2, temperature: 2, lengthNorm: true, klCoef: 0.1 }],
];

for (const [id, raw] of VARIANTS) {
  test(`finite differences: ${id} ${JSON.stringify(raw)}`, () => {
    const obj = getObjective(id);
    const cfg = resolveObjectiveConfig(obj, raw, 'test');
    for (const seed of [1, 2, 3]) {
      const { batch, logp } = randomBatch(seed);
      const res = obj.loss(batch, logp, cfg);
      assert.ok(res.grad.some((gr) => gr.some((v) => v !== 0)), 'the batch exercises a non-zero gradient');
      gradCheck(obj, cfg, batch, logp);
    }
  });
}

test('finite differences: the example plugin (REINFORCE with group-mean baseline)', async () => {
  const obj = await loadObjectivePlugin('objectives/examples/reinforce-baseline.ts');
  for (const leaveOneOut of [false, true]) gradCheck(obj, resolveObjectiveConfig(obj, { leaveOneOut }, 'test'), ...Object.values(randomBatch(4)) as [never, never]);
});

function configs(): [Objective, unknown, string][] {
  return VARIANTS.map(([id, raw]) => {
    const obj = getObjective(id);
    return [obj, resolveObjectiveConfig(obj, raw, 'test'), `${id} ${JSON.stringify(raw)}`];
  });
}

test('every built-in objective is covered by the finite-difference list', () => {
  for (const o of listObjectives()) assert.ok(VARIANTS.some(([id]) => id === o.id), o.id);
});

test('edge cases: no NaN, zero gradient where nothing contributes', () => {
  const ref = (n: number, v = -1) => new Array(n).fill(v);
  const cases: Record<string, ReturnType<typeof mk>> = {
    'empty batch': mk([]),
    'all correct': mk([1, 1, 1].map((reward) => ({ group: 'a', reward, logp: [-1, -2], logpRef: ref(2) }))),
    'all wrong': mk([0, 0].map((reward) => ({ group: 'a', reward, logp: [-1], logpRef: ref(1) }))),
    'group of one': mk([{ group: 'a', reward: 1, logp: [-1, -1], logpRef: ref(2) }]),
    'length-1 responses': mk([1, 0, 0, 1].map((reward) => ({ group: 'a', reward, logp: [-0.5], logpRef: ref(1) }))),
    'a length-0 response': mk([{ group: 'a', reward: 1, logp: [], logpRef: [] }, { group: 'a', reward: 0, logp: [-1], logpRef: ref(1) }]),
    'extreme log-ratios': mk([
      { group: 'a', reward: 1, logp: [-1, -1], logpOld: [-1001, 999], logpRef: [-1001, 999] },
      { group: 'a', reward: 0, logp: [-1, -1], logpOld: [999, -1001], logpRef: [999, -1001] },
      { group: 'a', reward: 1, logp: [-1e3], logpOld: [0], logpRef: [0] },
      { group: 'b', reward: 0, logp: [-1e3], logpOld: [-1], logpRef: [1e3] },
      { group: 'b', reward: 1, logp: [0], logpOld: [-1e3], logpRef: [-1e3] },
    ]),
  };
  for (const [obj, cfg, name] of configs()) {
    for (const [what, { batch, logp }] of Object.entries(cases)) {
      const res = obj.loss(batch, logp, cfg);
      assertFinite(res, `${name} / ${what}`);
      assert.equal(res.grad.length, batch.length);
      res.grad.forEach((gr, i) => assert.equal(gr.length, batch[i]!.length));
      if (contributesNothing(obj.id, cfg as Record<string, unknown>, what)) {
        assert.ok(res.loss === 0, `${name} / ${what}: loss ${res.loss}`); // === also accepts -0
        for (const gr of res.grad) for (const v of gr) assert.ok(v === 0, `${name} / ${what}: grad ${v}`);
      }
    }
  }
});

/** Where the specification says a batch contributes nothing (loss 0, zero gradient). */
function contributesNothing(id: string, cfg: Record<string, unknown>, what: string): boolean {
  if (what === 'empty batch') return true;
  if (!['all correct', 'all wrong', 'group of one'].includes(what)) return false;
  switch (id) {
    case 'rence': return true; // groups without both positives and negatives are skipped
    case 'online-dpo': return cfg.pairing !== 'first-two' || what === 'group of one'; // first-two pairs tied rewards too
    case 'dapo': return what !== 'group of one' || cfg.klCoef === 0; // filtered; a singleton is kept with A = 0
    case 'grpo': return cfg.klCoef === 0; // A = 0, only the KL term can remain
    default: return false;
  }
}

test('GRPO on uniform groups: A = 0, so only the KL term is left', () => {
  const { batch, logp } = mk([1, 1].map((reward) => ({ group: 'a', reward, logp: [-1], logpOld: [-1.5], logpRef: [-1] })));
  const grpo = getObjective('grpo');
  const res = grpo.loss(batch, logp, resolveObjectiveConfig(grpo, {}, 'test'));
  assert.ok(res.loss === 0); // k3(0) = 0 and A = 0
  for (const gr of res.grad) assert.ok(gr[0] === 0);
  assert.equal(res.metrics.advZeroFrac, 1);
});

test('determinism: the same inputs give bit-identical results', () => {
  for (const [obj, cfg] of configs()) {
    const a = randomBatch(7);
    const b = randomBatch(7);
    const ra = obj.loss(a.batch, a.logp, cfg);
    const rb = obj.loss(b.batch, b.logp, cfg);
    assert.equal(ra.loss, rb.loss);
    assert.deepEqual(ra.grad, rb.grad);
    assert.deepEqual(ra.metrics, rb.metrics);
  }
});

test('Float32Array inputs give the same numbers as the same values in plain arrays', () => {
  for (const [obj, cfg] of configs()) {
    const { batch, logp } = randomBatch(9);
    const f32 = logp.map((l) => Float32Array.from(l));
    const batch32 = batch.map((r) => ({ ...r, logpOld: Float32Array.from(r.logpOld), logpRef: Float32Array.from(r.logpRef!) }));
    const asDouble = logp.map((l) => Array.from(Float32Array.from(l)));
    const batchD = batch.map((r) => ({ ...r, logpOld: Array.from(Float32Array.from(r.logpOld)), logpRef: Array.from(Float32Array.from(r.logpRef!)) }));
    assert.deepEqual(obj.loss(batch32, f32, cfg).grad, obj.loss(batchD, asDouble, cfg).grad);
  }
});
