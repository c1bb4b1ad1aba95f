// The shared rollout engine on a real (tiny, random) policy: seeded determinism, independence
// from batching, ratio == 1 at the behaviour weights, logpRef at the reference weights; plus
// the token sampler and the batch layout by hand.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import type { PolicyEngine } from '../../harness/engine/types.ts';
import { defaultTokenizer as tok } from '../../harness/tasks/tokenizer.ts';
import { RolloutEngine, sampleToken } from '../../harness/runs/rollout.ts';
import { packSequences, gatherResponse, scatterResponse } from '../../harness/runs/batch.ts';
import { Rng } from '../../harness/util/rng.ts';

let policy: PolicyEngine;
let params: Float32Array;
const prompts = ['12+3=', '7*8=', '100-5=', '9='].map((s) => Int32Array.from([tok.bos, ...tok.encode(s)]));
const sampling = { temperature: 1, topP: 1, maxTokens: 8 };

before(async () => {
  policy = await createPolicyEngine({ vocabSize: tok.vocabSize, contextLength: 24, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2 }, { threads: 1 });
  params = policy.initParams(3);
});
after(async () => policy.release());

const engine = (batchSize = 256) => new RolloutEngine(policy, { eos: tok.eos, pad: tok.pad, detokenize: (ids) => tok.decode(ids), batchSize });

test('same seed, same rollouts; another seed, other rollouts', async () => {
  const a = await engine().generate({ params, prompts, samples: 3, sampling, rng: new Rng(7) });
  const b = await engine().generate({ params, prompts, samples: 3, sampling, rng: new Rng(7) });
  const c = await engine().generate({ params, prompts, samples: 3, sampling, rng: new Rng(8) });
  assert.equal(a.length, 12);
  assert.deepEqual(a.map((g) => [g.promptIndex, g.sample]), prompts.flatMap((_, p) => [0, 1, 2].map((j) => [p, j])));
  assert.deepEqual(a.map((g) => [...g.tokens]), b.map((g) => [...g.tokens]));
  assert.deepEqual(a.map((g) => g.logpOld), b.map((g) => g.logpOld));
  assert.notDeepEqual(a.map((g) => [...g.tokens]), c.map((g) => [...g.tokens]));
  for (const g of a) {
    const eos = g.tokens.indexOf(tok.eos);
    assert.ok(eos === -1 || eos === g.tokens.length - 1, 'decoding stops at EOS');
    assert.equal(g.truncated, eos === -1);
    if (g.truncated) assert.equal(g.tokens.length, sampling.maxTokens);
    assert.equal(g.text, tok.decode(g.tokens));
    assert.equal(g.logpOld!.length, g.tokens.length);
    for (const v of g.logpOld!) assert.ok(v <= 0 && Number.isFinite(v));
  }
});

test('a sequence samples the same tokens whatever batch it is decoded in', async () => {
  const big = await engine(256).generate({ params, prompts, samples: 3, sampling, rng: new Rng(11), behaviourLogprobs: false });
  const small = await engine(5).generate({ params, prompts, samples: 3, sampling, rng: new Rng(11), behaviourLogprobs: false });
  assert.deepEqual(big.map((g) => [...g.tokens]), small.map((g) => [...g.tokens]));
  assert.equal(big[0]!.logpOld, undefined);
});

test('ratio == 1 at the behaviour weights; logpRef at the reference weights', async () => {
  const ref = policy.initParams(4);
  const e = engine();
  const gens = await e.generate({ params, prompts, samples: 2, sampling, rng: new Rng(5), refParams: ref });
  const seqs = gens.map((g) => ({ prompt: g.prompt, response: g.tokens }));
  const again = await e.score(params, seqs);
  const atRef = await e.score(ref, seqs);
  gens.forEach((g, i) => {
    for (let t = 0; t < g.tokens.length; t++) {
      assert.equal(Math.exp(again.logp[i]![t]! - g.logpOld![t]!), 1, `ratio at rollout ${i}, token ${t}`);
      assert.equal(g.logpRef![t], atRef.logp[i]![t]);
    }
  });
  assert.ok(gens.some((g, i) => g.logpRef![0] !== g.logpOld![0] && i >= 0), 'the reference weights give other log-probs');
});

test('greedy decoding ignores the seed and is the argmax path', async () => {
  const greedy = { temperature: 0, topP: 1, maxTokens: 6 };
  const a = await engine().generate({ params, prompts, samples: 1, sampling: greedy, rng: new Rng(1) });
  const b = await engine().generate({ params, prompts, samples: 1, sampling: greedy, rng: new Rng(2) });
  assert.deepEqual(a.map((g) => [...g.tokens]), b.map((g) => [...g.tokens]));
  // Each greedy token is at least as likely as any other token the engine offers at that step.
  const { logits } = await policy.decode(params, null, { tokens: prompts[0]!, batch: 1, time: prompts[0]!.length });
  assert.equal(a[0]!.tokens[0], logits.indexOf(Math.max(...logits)));
});

test('sampleToken: inverse-CDF sampling with temperature and top-p, by hand', () => {
  const l = new Float32Array([0, Math.log(2), Math.log(3)]); // p = 1/6, 2/6, 3/6
  assert.equal(sampleToken(l, 0, 3, 1, 1, 0.1), 0);
  assert.equal(sampleToken(l, 0, 3, 1, 1, 0.2), 1);
  assert.equal(sampleToken(l, 0, 3, 1, 1, 0.6), 2);
  assert.equal(sampleToken(l, 0, 3, 0, 1, 0.0), 2, 'greedy');
  for (const u of [0, 0.3, 0.99]) assert.equal(sampleToken(l, 0, 3, 1, 0.5, u), 2, 'top-p 0.5 keeps only the top token');
  assert.equal(sampleToken(l, 0, 3, 1, 0.6, 0.5), 2, 'top-p 0.6 keeps {2, 1}: u*5/6 = 0.417 < 0.5');
  assert.equal(sampleToken(l, 0, 3, 1, 0.6, 0.7), 1, 'u*5/6 = 0.583 > 0.5');
  const l2 = new Float32Array([9, 0, Math.log(4)]); // offset 1: logits [0, ln 4] at T = 2 -> p = 1/3, 2/3
  assert.equal(sampleToken(l2, 1, 2, 2, 1, 0.3), 0);
  assert.equal(sampleToken(l2, 1, 2, 2, 1, 0.34), 1);
});

test('packSequences: left-padded prompts end in one column; gather and scatter invert', () => {
  const pad = 0;
  const p = packSequences(
    [
      { prompt: Int32Array.from([1, 5]), response: Int32Array.from([7, 8, 2]) },
      { prompt: Int32Array.from([1, 5, 6]), response: Int32Array.from([9]) },
    ],
    pad,
  );
  assert.equal(p.batch.time, 6);
  assert.equal(p.promptWidth, 3);
  assert.deepEqual([...p.batch.tokens], [0, 1, 5, 7, 8, 2, 1, 5, 6, 9, 0, 0]);
  assert.deepEqual([...p.batch.offsets!], [1, 0]);
  // logp matrix [2, 5]: response token t of row b is at column promptWidth - 1 + t.
  const m = Float32Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(gatherResponse(p, m).map((x) => [...x]), [[2, 3, 4], [7]]);
  assert.deepEqual([...scatterResponse(p, [[1, 2, 3], [4]])], [0, 0, 1, 2, 3, 0, 0, 4, 0, 0]);
  assert.throws(() => scatterResponse(p, [[1], [4]]), /row 0 has 3 response tokens, got 1 values/);
});
