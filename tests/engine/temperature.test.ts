// Log-probs of the distribution that sampled: logprobs() and gradWeightedLogprob() at temperature
// T compute log softmax(logits / T) (verl's convention). Checked against the decode logits
// divided by T, against float64 finite differences of the whole policy at T ≠ 1, and for the
// default (T = 1, bit for bit as before).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { policyGradcheck } from '../../harness/engine/gradcheck.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { Rng } from '../../harness/util/rng.ts';
import type { PolicyConfig } from '../../harness/engine/types.ts';

const cfg: PolicyConfig = { vocabSize: 11, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 2, mlpRatio: 2 };
const engine = await createPolicyEngine(cfg, { threads: 1 });
after(() => engine.release());

function noisyParams(seed: number): Float32Array {
  const rng = new Rng(seed);
  return engine.initParams(seed).map((x) => x + 0.3 * rng.normal());
}

/** log softmax(x / T)[k] and the entropy of softmax(x / T), in double precision. */
function tempered(logits: Float32Array, off: number, V: number, T: number, k: number): { lp: number; h: number } {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[off + i]! / T);
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp(logits[off + i]! / T - m);
  const lse = m + Math.log(z);
  let h = 0;
  for (let i = 0; i < V; i++) {
    const l = logits[off + i]! / T - lse;
    h -= Math.exp(l) * l;
  }
  return { lp: logits[off + k]! / T - lse, h };
}

test('whole-policy gradient of sum(w * logp_T) matches float64 finite differences at T = 0.7 and T = 1.6', async () => {
  for (const T of [0.7, 1.6]) {
    const r = await policyGradcheck(5, 32, undefined, T);
    assert.ok(r.ok, `T=${T}: max relative error ${r.maxRelErr} > ${r.tolerance} (${r.worst})`);
  }
});

test('logprobs at T are log softmax(logits / T) of the decode logits, entropies too', async () => {
  const p = noisyParams(2);
  const rng = new Rng(4);
  const B = 3, P = 5;
  const prompts = Int32Array.from({ length: B * P }, () => rng.int(cfg.vocabSize));
  const next = Int32Array.from({ length: B }, () => rng.int(cfg.vocabSize));
  const { logits } = await engine.decode(p, null, { tokens: prompts, batch: B, time: P });
  const full = new Int32Array(B * (P + 1));
  for (let b = 0; b < B; b++) {
    full.set(prompts.subarray(b * P, (b + 1) * P), b * (P + 1));
    full[b * (P + 1) + P] = next[b]!;
  }
  for (const T of [0.5, 1.3]) {
    const { logp, entropy } = await engine.logprobs(p, { tokens: full, batch: B, time: P + 1 }, { temperature: T });
    for (let b = 0; b < B; b++) {
      const want = tempered(logits, b * cfg.vocabSize, cfg.vocabSize, T, next[b]!);
      assert.ok(Math.abs(logp[b * P + P - 1]! - want.lp) < 1e-4, `T=${T} row ${b}: ${logp[b * P + P - 1]} vs ${want.lp}`);
      assert.ok(Math.abs(entropy[b * P + P - 1]! - want.h) < 1e-4, `T=${T} row ${b}: entropy ${entropy[b * P + P - 1]} vs ${want.h}`);
    }
  }
});

test('the weighted gradient at T is the gradient of sum(w * logp_T): value matches, and T changes it', async () => {
  const p = noisyParams(3);
  const rng = new Rng(8);
  const B = 2, Tm = 6;
  const batch = { tokens: Int32Array.from({ length: B * Tm }, () => rng.int(cfg.vocabSize)), batch: B, time: Tm };
  const w = Float32Array.from({ length: B * (Tm - 1) }, () => rng.normal());
  const at = await engine.gradWeightedLogprob(p, batch, w, { temperature: 0.6 });
  const { logp } = await engine.logprobs(p, batch, { temperature: 0.6 });
  assert.ok(Math.abs(at.value - logp.reduce((a, x, i) => a + x * w[i]!, 0)) < 1e-4);
  const one = await engine.gradWeightedLogprob(p, batch, w);
  let diff = 0;
  for (let i = 0; i < one.grad.length; i++) diff = Math.max(diff, Math.abs(one.grad[i]! - at.grad[i]!));
  assert.ok(diff > 1e-3, 'the temperature changes the gradient');
});

test('the default is T = 1, bit for bit; a non-positive or non-finite T is refused', async () => {
  const p = noisyParams(6);
  const batch = { tokens: Int32Array.from([1, 2, 3, 4, 5, 6]), batch: 2, time: 3 };
  const a = await engine.logprobs(p, batch);
  const b = await engine.logprobs(p, batch, { temperature: 1 });
  assert.deepEqual(a.logp, b.logp);
  assert.deepEqual(a.entropy, b.entropy);
  for (const T of [0, -1, Number.NaN, Infinity]) {
    await assert.rejects(engine.logprobs(p, batch, { temperature: T }), (e: Error) => e instanceof UsageError && /logprobs: temperature must be a finite number > 0/.test(e.message));
  }
  await assert.rejects(engine.gradWeightedLogprob(p, batch, new Float32Array(4), { temperature: 0 }), /gradWeightedLogprob: temperature must be a finite number > 0/);
});
