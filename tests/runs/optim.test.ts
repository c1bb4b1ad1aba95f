// AdamW, gradient clipping and the learning-rate schedule against hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, clipGradNorm, decayMask, learningRate } from '../../harness/engine/optim.ts';

test('AdamW: two steps match a hand computation, decay only where the mask says', () => {
  // p0 = 1, grads 0.5 then -1, lr 0.1, betas (0.9, 0.999), wd 0.1.
  // step 1: p = 1 * (1 - 0.01) - 0.1 * sign(0.5) = 0.89 (bias-corrected m/sqrt(v) = 1)
  // step 2: m = -0.055, v = 0.00124975, m^ = -0.055/0.19, v^ = 0.00124975/0.001999
  //         p = 0.89 * 0.99 - 0.1 * m^/sqrt(v^) = 0.917710354...
  const specs = [
    { name: 'w', shape: [1], offset: 0, size: 1, decay: true },
    { name: 'b', shape: [1], offset: 1, size: 1, decay: false },
  ];
  const opt = new AdamW(2, decayMask(specs, 2), { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 });
  const p = new Float32Array([1, 1]);
  opt.step(p, new Float32Array([0.5, 0.5]), 0.1);
  assert.ok(Math.abs(p[0]! - 0.89) < 1e-6, `decayed param after step 1: ${p[0]}`);
  assert.ok(Math.abs(p[1]! - 0.9) < 1e-6, `undecayed param after step 1: ${p[1]}`);
  opt.step(p, new Float32Array([-1, -1]), 0.1);
  assert.ok(Math.abs(p[0]! - 0.9177103542) < 1e-6, `decayed param after step 2: ${p[0]}`);
  assert.ok(Math.abs(p[1]! - 0.9366103542) < 1e-6, `undecayed param after step 2: ${p[1]}`);
  assert.equal(opt.steps, 2);
});

test('AdamW: exported state resumes bit-identically', () => {
  const n = 50;
  const grads = Array.from({ length: 6 }, (_, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + s)));
  const a = new AdamW(n, null, { weightDecay: 0.05 });
  const pa = Float32Array.from({ length: n }, (_, i) => i / n);
  for (const g of grads) a.step(pa, g, 0.01);

  const b1 = new AdamW(n, null, { weightDecay: 0.05 });
  const pb = Float32Array.from({ length: n }, (_, i) => i / n);
  for (const g of grads.slice(0, 3)) b1.step(pb, g, 0.01);
  const b2 = new AdamW(n, null, { weightDecay: 0.05 });
  b2.importState(b1.exportState());
  for (const g of grads.slice(3)) b2.step(pb, g, 0.01);
  assert.deepEqual(pb, pa);
  assert.throws(() => b2.importState({ t: 1, m: new Float32Array(3), v: new Float32Array(3) }), /3\/3 moments/);
});

test('clipGradNorm: returns the pre-clip norm, scales to the limit, flags non-finite', () => {
  const g = new Float32Array([3, 4]);
  const r = clipGradNorm(g, 1);
  assert.equal(r.norm, 5);
  assert.ok(r.finite);
  assert.ok(Math.abs(Math.hypot(g[0]!, g[1]!) - 1) < 1e-5);
  const small = new Float32Array([0.3, 0.4]);
  assert.equal(clipGradNorm(small, 1).scale, 1);
  assert.deepEqual(small, new Float32Array([0.3, 0.4]));
  const bad = new Float32Array([1, NaN]);
  const rb = clipGradNorm(bad, 1);
  assert.equal(rb.finite, false);
  assert.ok(Number.isNaN(bad[1]!));
  assert.equal(clipGradNorm(new Float32Array([Infinity, 0]), 1).finite, false);
});

test('learningRate: linear warm-up, then constant or cosine to the floor', () => {
  const s = { lr: 1e-3, warmupSteps: 4, decay: 'cosine' as const, minLrRatio: 0.1 };
  assert.ok(Math.abs(learningRate(s, 0, 0) - 2.5e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 3, 0.1) - 1e-3) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 10, 0) - 1e-3) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 10, 0.5) - 5.5e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 10, 1) - 1e-4) < 1e-12);
  assert.equal(learningRate({ ...s, decay: 'constant' }, 10, 0.9), 1e-3);
});
