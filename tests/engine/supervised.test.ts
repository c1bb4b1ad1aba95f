// End-to-end proof that forward, backward and decoding fit together: supervised training on
// "reverse a 4-digit string" with gradWeightedLogprob (w = -1/N on answer tokens) and a plain
// Adam written here drives the loss near zero, and greedy KV-cache decoding then reverses
// held-out strings it never saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { Rng } from '../../harness/util/rng.ts';

const BOS = 1, SEP = 2, DIGIT0 = 3, L = 4;
const T = 2 * L + 2; // BOS d1..d4 SEP d4..d1

function example(rng: Rng): number[] {
  const d = Array.from({ length: L }, () => DIGIT0 + rng.int(10));
  return [BOS, ...d, SEP, ...d.slice().reverse()];
}

test('supervised reverse task: loss goes near zero and greedy decode solves held-out cases', async (t) => {
  const engine = await createPolicyEngine({ vocabSize: 13, contextLength: 16, dModel: 32, nLayers: 2, nHeads: 4, mlpRatio: 4 }, { threads: 1 });
  const params = engine.initParams(0);
  const m = new Float32Array(params.length), v = new Float32Array(params.length);
  const rng = new Rng(1);
  const seen = new Set<string>();
  const B = 32, steps = 400, lr = 3e-3, b1 = 0.9, b2 = 0.99;
  let loss = Infinity, used = 0;
  for (let step = 1; step <= steps; step++) {
    const tokens = new Int32Array(B * T);
    for (let r = 0; r < B; r++) {
      const ex = example(rng);
      seen.add(ex.join(','));
      tokens.set(ex, r * T);
    }
    // Supervise only the answer: targets at columns L+2 .. T-1, i.e. logp index L+1 .. T-2.
    const w = new Float32Array(B * (T - 1));
    for (let r = 0; r < B; r++) for (let t = L + 1; t < T - 1; t++) w[r * (T - 1) + t] = -1 / (B * L);
    const { grad, value } = await engine.gradWeightedLogprob(params, { tokens, batch: B, time: T }, w);
    loss = value;
    used = step;
    for (let i = 0; i < params.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * grad[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * grad[i]! * grad[i]!;
      params[i]! -= (lr * (m[i]! / (1 - b1 ** step))) / (Math.sqrt(v[i]! / (1 - b2 ** step)) + 1e-8);
    }
    if (loss < 0.01) break;
  }
  assert.ok(loss < 0.05, `final per-token loss ${loss}`);

  // Greedy decoding on held-out strings, all in one batch.
  const held: number[][] = [];
  const hr = new Rng(99);
  while (held.length < 32) {
    const ex = example(hr);
    if (!seen.has(ex.join(','))) held.push(ex);
  }
  const N = held.length;
  const prompt = Int32Array.from(held.flatMap((ex) => ex.slice(0, L + 2)));
  // Greedy decoding inside the graph (argmax, lowest id on ties).
  const greedy = { temperature: 0 };
  let r = await engine.decode(params, null, { tokens: prompt, batch: N, time: L + 2 }, greedy);
  const out: number[][] = held.map(() => []);
  for (let k = 0; k < L; k++) {
    for (let row = 0; row < N; row++) out[row]!.push(r.tokens[row]!);
    if (k < L - 1) r = await engine.decode(params, r.cache, { tokens: r.tokens, batch: N, time: 1 }, greedy);
  }
  const solved = held.filter((ex, r) => out[r]!.join(',') === ex.slice(L + 2).join(',')).length;
  t.diagnostic(`${used} steps, final loss ${loss.toFixed(4)}, held-out solved ${solved}/${N}`);
  assert.ok(solved >= 0.9 * N, `greedy decode solved ${solved}/${N} held-out strings`);
  await engine.release();
});
