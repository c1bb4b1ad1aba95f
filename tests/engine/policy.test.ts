// The policy engine: whole-policy gradient check, float32 gradients against float64, KV-cache
// decoding against teacher forcing, left-padding invariance, initialisation, input errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine, positionsAndMask } from '../../harness/engine/policy.ts';
import { policyGradcheck } from '../../harness/engine/gradcheck.ts';
import { paramLayout } from '../../harness/engine/models/gpt.ts';
import { buildPolicyGraph, gradOutputName } from '../../harness/engine/policy-graph.ts';
import { createSession, ort } from '../../harness/engine/session.ts';
import { serializeGraph } from '../../harness/engine/graph/serialize.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { Rng } from '../../harness/util/rng.ts';
import type { GptConfig, KvCache, PolicyEngine, TokenBatch } from '../../harness/engine/types.ts';

const cfg: GptConfig = { vocabSize: 13, contextLength: 24, dModel: 16, nLayers: 2, nHeads: 4, mlpRatio: 4 };
const engine = await createPolicyEngine(cfg, { threads: 1 });
after(() => engine.release());

/** Greedy decode that also returns the raw logits (fine at this vocabulary). */
async function dec(e: PolicyEngine, p: Float32Array, cache: KvCache | null, batch: TokenBatch) {
  const r = await e.decode(p, cache, batch, { temperature: 0 }, { logits: true });
  return { ...r, logits: r.logits! };
}

/** Params with noise on top of init, so tests see a non-trivial (non-uniform) policy. */
function noisyParams(seed: number, scale = 0.2): Float32Array {
  const rng = new Rng(seed);
  return engine.initParams(seed).map((x) => x + scale * rng.normal());
}

function entropyAt(logits: Float32Array, row: number, V: number): number {
  let h = 0;
  for (let k = 0; k < V; k++) {
    const lp = logSoftmaxAt(logits, row, V, k);
    h -= Math.exp(lp) * lp;
  }
  return h;
}

function logSoftmaxAt(logits: Float32Array, row: number, V: number, k: number): number {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[row * V + i]!);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(logits[row * V + i]! - m);
  return logits[row * V + k]! - m - Math.log(s);
}

test('whole-policy gradient of sum(w*logp) matches finite differences (float64), also at a temperature', async () => {
  const r = await policyGradcheck(3, 48);
  assert.ok(r.ok, `max relative error ${r.maxRelErr} > ${r.tolerance} (${r.worst})`);
  assert.equal(r.checked, 48);
  const t = await policyGradcheck(4, 32, undefined, 0.5);
  assert.ok(t.ok && t.temperature === 0.5, `at T = 0.5: max relative error ${t.maxRelErr} (${t.worst})`);
});

test('log-probs at a temperature are log-softmax(logits / T), entropy included', async () => {
  const p = noisyParams(6);
  const tokens = Int32Array.from([1, 5, 7, 2, 9, 4]);
  const T = 0.6;
  const { logp, entropy } = await engine.logprobs(p, { tokens, batch: 1, time: 6 }, { temperature: T });
  for (let c = 0; c < 5; c++) {
    const { logits } = await dec(engine, p, null, { tokens: tokens.subarray(0, c + 1), batch: 1, time: c + 1 });
    const scaled = logits.map((x) => x / T);
    assert.ok(Math.abs(logSoftmaxAt(scaled, 0, cfg.vocabSize, tokens[c + 1]!) - logp[c]!) < 1e-4);
    assert.ok(Math.abs(entropyAt(scaled, 0, cfg.vocabSize) - entropy[c]!) < 1e-4);
  }
  const one = await engine.logprobs(p, { tokens, batch: 1, time: 6 });
  assert.deepEqual((await engine.logprobs(p, { tokens, batch: 1, time: 6 }, { temperature: 1 })).logp, one.logp, 'T = 1 is the default, bit for bit');
});

test('float32 engine gradient agrees with the float64 graph, and value = sum(w*logp)', async () => {
  const p = noisyParams(5);
  const rng = new Rng(9);
  const B = 3, T = 7;
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
  const w = Float32Array.from({ length: B * (T - 1) }, () => rng.normal());
  const { grad, value } = await engine.gradWeightedLogprob(p, { tokens, batch: B, time: T }, w);
  const { logp } = await engine.logprobs(p, { tokens, batch: B, time: T });
  assert.ok(Math.abs(value - logp.reduce((a, x, i) => a + x * w[i]!, 0)) < 1e-4);

  const sess = await createSession(serializeGraph(buildPolicyGraph(cfg, 'grad', 'float64').graph), { threads: 1 });
  const { pos, mask } = positionsAndMask(B, 0, T - 1, new Int32Array(B), cfg.contextLength, 'test');
  const ids = new Int32Array(B * (T - 1)), tg = new Int32Array(B * (T - 1));
  for (let r = 0; r < B; r++) for (let t = 0; t < T - 1; t++) { ids[r * (T - 1) + t] = tokens[r * T + t]!; tg[r * (T - 1) + t] = tokens[r * T + t + 1]!; }
  const feeds: Record<string, ort.Tensor> = {
    ids: new ort.Tensor('int32', ids, [B, T - 1]), targets: new ort.Tensor('int32', tg, [B, T - 1]), pos: new ort.Tensor('int32', pos, [B, T - 1]),
    mask: new ort.Tensor('float64', Float64Array.from(mask), [B, 1, T - 1, T - 1]), weights: new ort.Tensor('float64', Float64Array.from(w), [B, T - 1]),
    temperature: new ort.Tensor('float64', Float64Array.of(1), []),
  };
  for (const s of paramLayout(cfg)) feeds[s.name] = new ort.Tensor('float64', Float64Array.from(p.subarray(s.offset, s.offset + s.size)), s.shape);
  const out = await sess.run(feeds);
  const ref = new Float64Array(grad.length);
  for (const s of paramLayout(cfg)) ref.set(out[gradOutputName(s.name)]!.data as Float64Array, s.offset);
  await sess.release();
  let maxAbs = 0, maxErr = 0;
  for (let i = 0; i < ref.length; i++) { maxAbs = Math.max(maxAbs, Math.abs(ref[i]!)); maxErr = Math.max(maxErr, Math.abs(ref[i]! - grad[i]!)); }
  assert.ok(maxErr / maxAbs < 1e-4, `float32 gradient off by ${maxErr} (max |g| ${maxAbs})`);
});

test('KV-cache decode gives the teacher-forced log-probs and entropies at every step (|diff| < 1e-4), with left padding', async () => {
  const p = noisyParams(7);
  const rng = new Rng(11);
  const B = 3, T = 12, prompt = 5;
  const offsets = Int32Array.from([0, 3, 1]);
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i % T < offsets[Math.floor(i / T)]! ? 0 : 1 + rng.int(cfg.vocabSize - 1)));
  const tf = await engine.logprobs(p, { tokens, batch: B, time: T, offsets });
  const col = (c: number, n: number) => Int32Array.from({ length: B * n }, (_, i) => tokens[Math.floor(i / n) * T + c + (i % n)]!);
  let { logits, cache } = await dec(engine, p, null, { tokens: col(0, prompt), batch: B, time: prompt, offsets });
  let maxDiff = 0;
  for (let c = prompt - 1; c < T - 1; c++) {
    for (let r = 0; r < B; r++) {
      if (c < offsets[r]!) continue;
      const lp = logSoftmaxAt(logits, r, cfg.vocabSize, tokens[r * T + c + 1]!);
      maxDiff = Math.max(maxDiff, Math.abs(lp - tf.logp[r * (T - 1) + c]!));
      // The entropy compares the whole next-token distribution, not one entry of it.
      maxDiff = Math.max(maxDiff, Math.abs(entropyAt(logits, r, cfg.vocabSize) - tf.entropy[r * (T - 1) + c]!));
    }
    if (c + 1 < T - 1) ({ logits, cache } = await dec(engine, p, cache, { tokens: col(c + 1, 1), batch: B, time: 1 }));
  }
  assert.equal(cache.length, T - 1);
  assert.ok(maxDiff < 1e-4, `decode vs teacher-forced max |diff| ${maxDiff}`);
});

test('a left-padded row gets the same log-probs and decode logits as the unpadded row', async () => {
  const p = noisyParams(8);
  const row = Int32Array.from([1, 5, 7, 2, 9, 4, 3]);
  const pad = 4;
  const padded = new Int32Array(row.length + pad);
  padded.set(row, pad);
  const a = await engine.logprobs(p, { tokens: row, batch: 1, time: row.length });
  const b = await engine.logprobs(p, { tokens: padded, batch: 1, time: padded.length, offsets: Int32Array.from([pad]) });
  for (let t = 0; t < pad; t++) assert.equal(b.logp[t], 0, 'predictions from padding columns are reported as 0');
  for (let t = 0; t < row.length - 1; t++) {
    assert.ok(Math.abs(a.logp[t]! - b.logp[pad + t]!) < 1e-5, `logp[${t}] ${a.logp[t]} vs padded ${b.logp[pad + t]}`);
    assert.ok(Math.abs(a.entropy[t]! - b.entropy[pad + t]!) < 1e-5);
  }
  // Both rows in one batch, with different padding: the same decode logits.
  const both = new Int32Array(2 * padded.length);
  both.set(padded, 0);
  both.set(row, padded.length + pad);
  both.fill(6, padded.length, padded.length + pad); // padding ids need not be 0
  const offs = Int32Array.from([pad, pad]);
  const d = await dec(engine, p, null, { tokens: both, batch: 2, time: padded.length, offsets: offs });
  const single = await dec(engine, p, null, { tokens: row, batch: 1, time: row.length });
  const V = cfg.vocabSize;
  for (let k = 0; k < V; k++) {
    assert.ok(Math.abs(d.logits[k]! - single.logits[k]!) < 1e-4);
    assert.ok(Math.abs(d.logits[V + k]! - single.logits[k]!) < 1e-4);
  }
  // Gradient: weights on padding columns are ignored.
  const w = new Float32Array(padded.length - 1).fill(1);
  const g1 = await engine.gradWeightedLogprob(p, { tokens: padded, batch: 1, time: padded.length, offsets: Int32Array.from([pad]) }, w);
  const g0 = await engine.gradWeightedLogprob(p, { tokens: row, batch: 1, time: row.length }, new Float32Array(row.length - 1).fill(1));
  assert.ok(Math.abs(g1.value - g0.value) < 1e-4);
  let err = 0;
  for (let i = 0; i < g0.grad.length; i++) err = Math.max(err, Math.abs(g0.grad[i]! - g1.grad[i]!));
  assert.ok(err < 1e-4, `padded vs unpadded gradient differ by ${err}`);
});

test('GPT-2 initialisation: seeded, std 0.02, residual projections scaled by 1/sqrt(2L), norms 1, biases 0', () => {
  const a = engine.initParams(1), b = engine.initParams(1), c = engine.initParams(2);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const std = (name: string) => {
    const s = engine.params.find((x) => x.name === name)!;
    const v = a.subarray(s.offset, s.offset + s.size);
    return Math.sqrt(v.reduce((acc, x) => acc + x * x, 0) / v.length);
  };
  assert.ok(Math.abs(std('wte') - 0.02) < 0.003);
  assert.ok(Math.abs(std('h0.mlp.wfc') - 0.02) < 0.002);
  assert.ok(Math.abs(std('h1.mlp.wproj') - 0.02 / Math.sqrt(4)) < 0.0015);
  const g = engine.params.find((x) => x.name === 'h1.ln2.g')!;
  assert.ok(a.subarray(g.offset, g.offset + g.size).every((x) => x === 1));
  const bias = engine.params.find((x) => x.name === 'h0.attn.bqkv')!;
  assert.ok(a.subarray(bias.offset, bias.offset + bias.size).every((x) => x === 0));
  assert.deepEqual(engine.params.filter((s) => s.decay).map((s) => s.name), ['wte', 'h0.attn.wqkv', 'h0.attn.wo', 'h0.mlp.wfc', 'h0.mlp.wproj', 'h1.attn.wqkv', 'h1.attn.wo', 'h1.mlp.wfc', 'h1.mlp.wproj']);
  assert.equal(engine.paramCount, a.length);
});

test('same params and tokens give bit-identical outputs on repeat calls', async () => {
  const p = noisyParams(4);
  const batch: TokenBatch = { tokens: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), batch: 2, time: 4 };
  const x = await engine.logprobs(p, batch);
  const y = await engine.logprobs(p, batch);
  assert.deepEqual(x.logp, y.logp);
  const g1 = await engine.gradWeightedLogprob(p, batch, new Float32Array(6).fill(-1 / 6));
  const g2 = await engine.gradWeightedLogprob(p, batch, new Float32Array(6).fill(-1 / 6));
  assert.deepEqual(g1.grad, g2.grad);
});

test('bad input is rejected with a message naming what and where', async () => {
  const p = engine.initParams(0);
  await assert.rejects(engine.logprobs(p, { tokens: Int32Array.from([1, 2, 99, 3]), batch: 2, time: 2 }), (e: Error) => e instanceof UsageError && /token 99 at row 1, column 0 is outside the vocabulary \[0, 13\)/.test(e.message));
  await assert.rejects(engine.logprobs(p, { tokens: Int32Array.from([1, 2, 3]), batch: 2, time: 2 }), /tokens has 3 ids, expected batch\*time = 2\*2/);
  await assert.rejects(engine.logprobs(p.subarray(1), { tokens: Int32Array.from([1, 2]), batch: 1, time: 2 }), /params has \d+ values, this policy has \d+/);
  await assert.rejects(engine.logprobs(p, { tokens: Int32Array.from([1, 2]), batch: 1, time: 2, offsets: Int32Array.from([2]) }), /offsets\[0\] = 2 must be in \[0, 2\)/);
  await assert.rejects(engine.gradWeightedLogprob(p, { tokens: Int32Array.from([1, 2, 3]), batch: 1, time: 3 }, new Float32Array(3)), /weights has 3 values, expected batch\*\(time-1\) = 1\*2/);
  await assert.rejects(dec(engine, p, null, { tokens: new Int32Array(25), batch: 1, time: 25 }), /row 0 reaches position 24, beyond the context length 24/);
  await assert.rejects(createPolicyEngine({ ...cfg, nHeads: 3 }), /dModel \(16\) must be divisible by nHeads \(3\)/);
  await assert.rejects(createPolicyEngine({ ...cfg, nLayers: 0 }), /policy config: nLayers must be a positive integer, got 0/);
  const one = { tokens: Int32Array.from([1, 2]), batch: 1, time: 2 };
  await assert.rejects(engine.logprobs(p, one, { temperature: 0 }), /logprobs: temperature must be a positive number, got 0/);
  await assert.rejects(engine.decode(p, null, one, { temperature: 1 }), /decode: sampling at temperature 1 needs one uniform per row \(1\), got none/);
  await assert.rejects(engine.decode(p, null, one, { temperature: 1, uniforms: [1] }), /uniforms\[0\] = 1 must be in \[0, 1\)/);
  await assert.rejects(engine.decode(p, null, one, { temperature: 1, topP: 0, uniforms: [0.5] }), /topP must be in \(0, 1\], got 0/);
  await assert.rejects(engine.decode(p, null, one, { temperature: -1 }), /temperature must be a number >= 0, got -1/);
  const wide = await createPolicyEngine({ ...cfg, vocabSize: 5000 }, { threads: 1 });
  await assert.rejects(wide.decode(wide.initParams(0), null, one, { temperature: 0 }, { logits: true }), /raw logits are only returned for vocabularies up to 4096 \(this one has 5000\)/);
  await wide.release();
});

test('decode past one cache chunk (capacity growth) still matches teacher forcing; a consumed cache is refused', async () => {
  const p = noisyParams(12);
  const rng = new Rng(13);
  const B = 2, T = 24, prompt = 20;
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
  const tf = await engine.logprobs(p, { tokens, batch: B, time: T });
  const col = (c: number, n: number) => Int32Array.from({ length: B * n }, (_, i) => tokens[Math.floor(i / n) * T + c + (i % n)]!);
  // Prefill 20 columns (capacity 32), then feed columns 20..22 two at a time and one at a time.
  let r = await dec(engine, p, null, { tokens: col(0, prompt), batch: B, time: prompt });
  const first = r.cache;
  r = await dec(engine, p, r.cache, { tokens: col(prompt, 2), batch: B, time: 2 });
  await assert.rejects(dec(engine, p, first, { tokens: col(prompt, 1), batch: B, time: 1 }), /already extended by a later decode call/);
  r = await dec(engine, p, r.cache, { tokens: col(prompt + 2, 1), batch: B, time: 1 });
  for (let b = 0; b < B; b++) {
    const lp = logSoftmaxAt(r.logits, b, cfg.vocabSize, tokens[b * T + prompt + 3]!);
    assert.ok(Math.abs(lp - tf.logp[b * (T - 1) + prompt + 2]!) < 1e-4);
  }
  assert.equal(r.cache.length, prompt + 3);
});

test('a long decode grows the cache across several chunks and stays exact', async () => {
  const big = await createPolicyEngine({ ...cfg, contextLength: 80 }, { threads: 1 });
  const rng = new Rng(14);
  const p = big.initParams(14).map((x) => x + 0.2 * rng.normal());
  const B = 2, T = 75, prompt = 3;
  const offsets = Int32Array.from([0, 2]);
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
  const tf = await big.logprobs(p, { tokens, batch: B, time: T, offsets });
  const col = (c: number) => Int32Array.from({ length: B }, (_, i) => tokens[i * T + c]!);
  let r = await dec(big, p, null, { tokens: Int32Array.from({ length: B * prompt }, (_, i) => tokens[Math.floor(i / prompt) * T + (i % prompt)]!), batch: B, time: prompt, offsets });
  let maxDiff = 0;
  for (let c = prompt; c < T; c++) {
    for (let b = 0; b < B; b++) {
      const lp = logSoftmaxAt(r.logits, b, cfg.vocabSize, tokens[b * T + c]!);
      if (c - 1 >= offsets[b]!) maxDiff = Math.max(maxDiff, Math.abs(lp - tf.logp[b * (T - 1) + c - 1]!));
    }
    if (c < T - 1) r = await dec(big, p, r.cache, { tokens: col(c), batch: B, time: 1 });
  }
  await big.release();
  assert.ok(maxDiff < 1e-4, `max |diff| ${maxDiff} over 72 steps and two cache growths`);
});

test('batches split by maxBatchTokens give the same log-probs, summed gradients and prefill', async () => {
  const small = await createPolicyEngine(cfg, { threads: 1, maxBatchTokens: 12 }); // 2 rows of 6 per run
  const p = noisyParams(15);
  const rng = new Rng(15);
  const B = 5, T = 7;
  const batch = { tokens: Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize)), batch: B, time: T, offsets: Int32Array.from([0, 1, 0, 3, 2]) };
  const w = Float32Array.from({ length: B * (T - 1) }, () => rng.normal());
  const a = await engine.logprobs(p, batch), b = await small.logprobs(p, batch);
  assert.deepEqual(b.logp, a.logp);
  const ga = await engine.gradWeightedLogprob(p, batch, w), gb = await small.gradWeightedLogprob(p, batch, w);
  assert.ok(Math.abs(ga.value - gb.value) < 1e-4);
  let err = 0, scale = 0;
  for (let i = 0; i < ga.grad.length; i++) { err = Math.max(err, Math.abs(ga.grad[i]! - gb.grad[i]!)); scale = Math.max(scale, Math.abs(ga.grad[i]!)); }
  assert.ok(err < 1e-5 * Math.max(1, scale), `chunked gradient differs by ${err}`);
  // The prefill is chunked by rows too (here 2 rows per run): the same logits up to float
  // rounding (GEMM kernels vary with row count), and the cache it fills gives the same next step.
  const close = (x: Float32Array, y: Float32Array) => x.every((v, i) => Math.abs(v - y[i]!) < 1e-5);
  const prompt = { tokens: batch.tokens.subarray(0, B * 6), batch: B, time: 6, offsets: batch.offsets };
  const da = await dec(engine, p, null, prompt), db = await dec(small, p, null, prompt);
  assert.ok(close(db.logits, da.logits));
  const next = Int32Array.from({ length: B }, (_, i) => (i * 5) % cfg.vocabSize);
  const sa = await dec(engine, p, da.cache, { tokens: next, batch: B, time: 1 });
  const sb = await dec(small, p, db.cache, { tokens: next, batch: B, time: 1 });
  assert.ok(close(sb.logits, sa.logits));
  await small.release();
  await assert.rejects(createPolicyEngine(cfg, { maxBatchTokens: 0 }), /maxBatchTokens must be a positive integer, got 0/);
});

test('RLBENCH_PROVIDER sets the default provider (how the suite is run on a GPU); a bad value is refused', async () => {
  const { defaultProvider, sessionOptions } = await import('../../harness/engine/session.ts');
  const saved = process.env.RLBENCH_PROVIDER;
  try {
    delete process.env.RLBENCH_PROVIDER;
    assert.equal(defaultProvider(), 'cpu');
    process.env.RLBENCH_PROVIDER = 'webgpu';
    assert.deepEqual(sessionOptions({}).executionProviders, ['webgpu', 'cpu']);
    assert.deepEqual(sessionOptions({ provider: 'cpu' }).executionProviders, ['cpu']);
    process.env.RLBENCH_PROVIDER = 'tpu';
    assert.throws(() => defaultProvider(), (e: unknown) => e instanceof UsageError && /RLBENCH_PROVIDER='tpu' is not an execution provider/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.RLBENCH_PROVIDER;
    else process.env.RLBENCH_PROVIDER = saved;
  }
});

test('gradWeightedLogprob { into } overwrites and returns the caller\'s buffer with the same gradient; a wrong buffer is refused', async () => {
  const small = await createPolicyEngine(cfg, { threads: 1, maxBatchTokens: 12 }); // several row chunks
  const p = noisyParams(21);
  const rng = new Rng(21);
  const B = 4, T = 7;
  const batch = { tokens: Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize)), batch: B, time: T };
  const w = Float32Array.from({ length: B * (T - 1) }, () => rng.normal());
  const fresh = await small.gradWeightedLogprob(p, batch, w);
  const into = new Float32Array(p.length).fill(123); // stale contents must not leak in
  const r = await small.gradWeightedLogprob(p, batch, w, { into });
  assert.equal(r.grad, into);
  assert.deepEqual(r.grad, fresh.grad);
  assert.equal(r.value, fresh.value);
  await assert.rejects(small.gradWeightedLogprob(p, batch, w, { into: new Float32Array(3) }), /into must be a Float32Array of \d+ values other than params/);
  await assert.rejects(small.gradWeightedLogprob(p, batch, w, { into: p }), /other than params/);
  await small.release();
});
