// The shared rollout engine on a real (tiny, random) policy: seeded determinism, independence
// from batching, ratio == 1 at the behaviour weights, logpRef at the reference weights, the
// decode-time log-probs, a set of EOS ids; plus the batch layout by hand. (The in-graph sampler
// itself is tested by hand in tests/engine/sampler.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import type { PolicyEngine } from '../../harness/engine/types.ts';
import { defaultTokenizer as tok } from '../../harness/tasks/tokenizer.ts';
import { RolloutEngine } from '../../harness/runs/rollout.ts';
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
  const { logits } = await policy.decode(params, null, { tokens: prompts[0]!, batch: 1, time: prompts[0]!.length }, { temperature: 0 }, { logits: true });
  assert.equal(a[0]!.tokens[0], logits!.indexOf(Math.max(...logits!)));
});

test('sampleLogp is the log-prob under the sampling distribution: the teacher-forced one at that temperature', async () => {
  for (const temperature of [1, 0.6]) {
    const e = engine();
    const gens = await e.generate({ params, prompts, samples: 2, sampling: { temperature, topP: 1, maxTokens: 8 }, rng: new Rng(3), behaviourLogprobs: false });
    for (const g of gens) {
      const T = g.prompt.length + g.tokens.length;
      const tokens = Int32Array.from([...g.prompt, ...g.tokens]);
      const { logp } = await policy.logprobs(params, { tokens, batch: 1, time: T }, { temperature });
      assert.equal(g.sampleLogp.length, g.tokens.length);
      for (let t = 0; t < g.tokens.length; t++) assert.ok(Math.abs(g.sampleLogp[t]! - logp[g.prompt.length - 1 + t]!) < 1e-5, `T=${temperature} token ${t}: ${g.sampleLogp[t]} vs ${logp[g.prompt.length - 1 + t]}`);
    }
  }
});

test('with several EOS ids decoding stops at any of them; text leaves it out', async () => {
  const free = await engine().generate({ params, prompts, samples: 3, sampling, rng: new Rng(21), behaviourLogprobs: false });
  // Make the first token any sequence produced an extra EOS id: those rows now stop there.
  const extra = free.find((g) => g.tokens[0] !== tok.eos)!.tokens[0]!;
  const e = new RolloutEngine(policy, { eos: [tok.eos, extra], pad: tok.pad, detokenize: (ids) => tok.decode(ids) });
  const gens = await e.generate({ params, prompts, samples: 3, sampling, rng: new Rng(21), behaviourLogprobs: false });
  gens.forEach((g, i) => {
    const f = free[i]!.tokens;
    const stop = f.findIndex((t) => t === tok.eos || t === extra);
    assert.deepEqual([...g.tokens], stop < 0 ? [...f] : [...f.subarray(0, stop + 1)], 'the same draws, cut at the first stop id');
    assert.equal(g.truncated, stop < 0);
    assert.equal(g.text, tok.decode(stop < 0 ? g.tokens : g.tokens.subarray(0, -1)));
  });
  assert.ok(gens.some((g) => g.tokens.length === 1 && g.tokens[0] === extra));
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

test('a token budget bounds every decode pass: rows × (longest prompt + maxTokens) ≤ budget, the same samples', async () => {
  const long = [...prompts, Int32Array.from([tok.bos, ...tok.encode('123+456=')])];
  const passes: number[] = [];
  let last = 0;
  const budgeted = new RolloutEngine(policy, { eos: tok.eos, pad: tok.pad, detokenize: (ids) => tok.decode(ids), maxBatchTokens: 40 });
  const a = await budgeted.generate({ params, prompts: long, samples: 3, sampling, rng: new Rng(5), behaviourLogprobs: false, onProgress: (done) => { passes.push(done - last); last = done; } });
  // 15 sequences; prompts of 5-9 tokens + 8 new: at most 40 / 17 = 2 rows a pass.
  assert.equal(passes.reduce((x, y) => x + y, 0), 15);
  assert.ok(passes.every((n) => n >= 1 && n <= 2), `rows per pass: ${passes}`);
  const b = await engine().generate({ params, prompts: long, samples: 3, sampling, rng: new Rng(5), behaviourLogprobs: false });
  assert.deepEqual(a.map((g) => [...g.tokens]), b.map((g) => [...g.tokens]), 'a row samples the same tokens in any pass');
  // A budget below one row still decodes one row at a time.
  const tiny = new RolloutEngine(policy, { eos: tok.eos, pad: tok.pad, detokenize: (ids) => tok.decode(ids), maxBatchTokens: 1 });
  assert.equal((await tiny.generate({ params, prompts: prompts.slice(0, 2), samples: 1, sampling, rng: new Rng(5), behaviourLogprobs: false })).length, 2);
});
