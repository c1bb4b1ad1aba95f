// The Llama family (Llama, Qwen2, Qwen3) in the engine, against the tiny Hugging Face fixtures
// and their float64 PyTorch references (../shared/fixtures/hf-tiny, and tests/fixtures/hf-tiny
// when present): log-probs (one by one and in a left-padded batch), greedy continuations
// through the KV cache, reference gradients; decode against teacher forcing with padding and
// cache growth; and float64 finite differences of the whole graph for small random configs
// covering every switch (biases, q/k norm, GQA, tied/untied, linear and llama3 RoPE scaling).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readHfConfig } from '../../harness/engine/hf/config.ts';
import { loadHfWeights } from '../../harness/engine/hf/weights.ts';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { policyGradcheck, gradcheckConfigLike, LLAMA_GRADCHECK_CONFIGS } from '../../harness/engine/gradcheck.ts';
import { llamaParamLayout } from '../../harness/engine/models/llama-config.ts';
import { Rng } from '../../harness/util/rng.ts';
import type { LlamaConfig, PolicyEngine } from '../../harness/engine/types.ts';

interface Reference {
  sequences: { ids: number[]; logp: number[] }[];
  grad_sum_logp: { ids: number[]; grads: Record<string, number[]> };
  greedy: { prompt: number[]; new: number[] };
}

/** Every fixture folder with a reference.json: the shared ones, and any committed under tests/. */
const FIXTURE_ROOTS = ['../shared/fixtures/hf-tiny', 'tests/fixtures/hf-tiny'];
const fixtures = FIXTURE_ROOTS.filter((r) => existsSync(r)).flatMap((r) =>
  readdirSync(r).map((d) => join(r, d)).filter((d) => existsSync(join(d, 'reference.json')) && existsSync(join(d, 'config.json'))),
);
const EOS = 300; // the fixtures' <|im_end|>, where the reference greedy continuations stop

const engines: PolicyEngine[] = [];
after(async () => {
  for (const e of engines) await e.release();
});

async function load(dir: string) {
  const cfg = readHfConfig(dir);
  const { params } = loadHfWeights(dir, cfg);
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
  const engine = await createPolicyEngine(cfg, { threads: 1 });
  engines.push(engine);
  return { cfg, params, ref, engine };
}

test('the shared fixtures are there (qwen2, llama)', () => {
  assert.ok(fixtures.some((d) => d.endsWith('qwen2')) && fixtures.some((d) => d.endsWith('llama')), `found ${fixtures.join(', ')}`);
});

for (const dir of fixtures) {
  const name = dir.split('/').pop()!;

  test(`${name}: log-probs within 5e-4 of the reference, alone and left-padded in one batch`, async (t) => {
    const { params, ref, engine } = await load(dir);
    const seqs = ref.sequences.filter((s) => s.ids.length >= 2);
    let alone = 0;
    for (const s of seqs) {
      const { logp } = await engine.logprobs(params, { tokens: Int32Array.from(s.ids), batch: 1, time: s.ids.length });
      s.logp.forEach((v, i) => (alone = Math.max(alone, Math.abs(logp[i]! - v))));
    }
    // All sequences in one batch, left-padded to the longest (padding ids need not be 0).
    const T = Math.max(...seqs.map((s) => s.ids.length));
    const tokens = new Int32Array(seqs.length * T).fill(7);
    const offsets = Int32Array.from(seqs, (s) => T - s.ids.length);
    seqs.forEach((s, r) => tokens.set(s.ids, r * T + offsets[r]!));
    const { logp } = await engine.logprobs(params, { tokens, batch: seqs.length, time: T, offsets });
    let padded = 0, padVsAlone = 0;
    for (const [r, s] of seqs.entries()) {
      const { logp: one } = await engine.logprobs(params, { tokens: Int32Array.from(s.ids), batch: 1, time: s.ids.length });
      s.logp.forEach((v, i) => {
        const got = logp[r * (T - 1) + offsets[r]! + i]!;
        padded = Math.max(padded, Math.abs(got - v));
        padVsAlone = Math.max(padVsAlone, Math.abs(got - one[i]!));
      });
    }
    t.diagnostic(`max |logp - reference|: ${alone.toExponential(2)} alone, ${padded.toExponential(2)} padded; padded vs alone ${padVsAlone.toExponential(2)}`);
    assert.ok(alone < 5e-4 && padded < 5e-4, `max |dlogp| ${alone} alone, ${padded} padded`);
    assert.ok(padVsAlone < 2e-5, `a padded row differs from the unpadded row by ${padVsAlone}`);
  });

  test(`${name}: greedy continuation through the KV cache equals the reference`, async () => {
    const { params, ref, engine } = await load(dir);
    const { prompt, new: want } = ref.greedy;
    const greedy = { temperature: 0 };
    // Two rows: the prompt alone and left-padded by 3, so the cache path sees padding too.
    const P = prompt.length + 3;
    const tokens = new Int32Array(2 * P).fill(0);
    tokens.set(prompt, 3);
    tokens.set(prompt, P + 3);
    const offsets = Int32Array.of(3, 3);
    let r = await engine.decode(params, null, { tokens, batch: 2, time: P, offsets }, greedy);
    const got: number[][] = [[], []];
    for (let k = 0; k < want.length + 1 && k + P < engine.shape.contextLength; k++) {
      for (let b = 0; b < 2; b++) got[b]!.push(r.tokens[b]!);
      r = await engine.decode(params, r.cache, { tokens: r.tokens, batch: 2, time: 1 }, greedy);
    }
    for (const row of got) {
      const stop = row.indexOf(EOS);
      assert.deepEqual(stop < 0 ? row.slice(0, want.length) : row.slice(0, stop), want);
    }
  });

  test(`${name}: gradient of sum(logp) matches the reference's first entries`, async () => {
    const { cfg, params, ref, engine } = await load(dir);
    const { ids, grads } = ref.grad_sum_logp;
    const { grad } = await engine.gradWeightedLogprob(params, { tokens: Int32Array.from(ids), batch: 1, time: ids.length }, new Float32Array(ids.length - 1).fill(1));
    const specs = llamaParamLayout(cfg);
    for (const [tensor, want] of Object.entries(grads)) {
      const s = specs.find((x) => x.name === tensor);
      assert.ok(s, `reference tensor ${tensor} is not in the layout`);
      want.forEach((v, i) => assert.ok(Math.abs(grad[s.offset + i]! - v) < 1e-4 * (1 + Math.abs(v)), `${tensor}[${i}]: ${grad[s.offset + i]} vs ${v}`));
    }
  });

  test(`${name}: engine gradcheck of this architecture (small config, same switches) passes in float64`, async () => {
    const r = await policyGradcheck(2, 40, gradcheckConfigLike(readHfConfig(dir)));
    assert.ok(r.ok, `max relative error ${r.maxRelErr} (${r.worst})`);
  });
}

test('decode matches teacher forcing step by step (left padding, several cache growths, logits and sampled log-probs)', async () => {
  const dir = fixtures.find((d) => d.endsWith('qwen2'))!;
  const { cfg, params, engine } = await load(dir);
  const rng = new Rng(3);
  const B = 3, T = 70, prompt = 4, V = cfg.vocabSize;
  const offsets = Int32Array.of(0, 2, 1);
  const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
  const tf = await engine.logprobs(params, { tokens, batch: B, time: T, offsets });
  const at07 = await engine.logprobs(params, { tokens, batch: B, time: T, offsets }, { temperature: 0.7 });
  const col = (c: number, n: number) => Int32Array.from({ length: B * n }, (_, i) => tokens[Math.floor(i / n) * T + c + (i % n)]!);
  const lse = (l: Float32Array, b: number, k: number) => {
    let m = -Infinity, s = 0;
    for (let i = 0; i < V; i++) m = Math.max(m, l[b * V + i]!);
    for (let i = 0; i < V; i++) s += Math.exp(l[b * V + i]! - m);
    return l[b * V + k]! - m - Math.log(s);
  };
  let r = await engine.decode(params, null, { tokens: col(0, prompt), batch: B, time: prompt, offsets }, { temperature: 0 }, { logits: true });
  let maxDiff = 0, sampledDiff = 0, tempered = false;
  for (let c = prompt - 1; c < T - 1; c++) {
    // Steps alternate between greedy (raw logits) and sampling at T = 0.7 (logits / T).
    const ref = tempered ? at07 : tf;
    for (let b = 0; b < B; b++) {
      if (c < offsets[b]!) continue;
      maxDiff = Math.max(maxDiff, Math.abs(lse(r.logits!, b, tokens[b * T + c + 1]!) - ref.logp[b * (T - 1) + c]!));
    }
    // The sampled token's log-prob is the tempered teacher-forced one.
    tempered = !tempered;
    const sampling = tempered ? { temperature: 0.7, uniforms: Array.from({ length: B }, () => rng.next()) } : { temperature: 0 };
    r = await engine.decode(params, r.cache, { tokens: col(c + 1, 1), batch: B, time: 1 }, sampling, { logits: true });
    if (tempered && c + 2 < T) {
      // The sampled token is checked by feeding it teacher-forced in its own row.
      for (let b = 0; b < B; b++) {
        const row = Int32Array.from([...tokens.subarray(b * T, b * T + c + 2), r.tokens[b]!]);
        const one = await engine.logprobs(params, { tokens: row, batch: 1, time: row.length, offsets: offsets.subarray(b, b + 1) }, { temperature: 0.7 });
        sampledDiff = Math.max(sampledDiff, Math.abs(one.logp[c + 1]! - r.logp[b]!));
      }
    }
  }
  assert.equal(r.cache.length, T);
  assert.ok(maxDiff < 1e-4, `decode vs teacher-forced max |diff| ${maxDiff}`);
  assert.ok(sampledDiff < 1e-4, `sampled log-prob vs teacher-forced at T=0.7: ${sampledDiff}`);
  assert.ok(at07.logp.some((v, i) => Math.abs(v - tf.logp[i]!) > 1e-3), 'the temperature changes the log-probs');
});

test('float64 finite differences of the whole Llama-family graph, every switch', async (t) => {
  for (const [name, cfg] of Object.entries(LLAMA_GRADCHECK_CONFIGS)) {
    // One config also checks the tempered log-probs (T = 0.7).
    const r = await policyGradcheck(5, 64, cfg, name === 'qwen3' ? 0.7 : 1);
    t.diagnostic(`${name}: ${r.paramCount} params, max relative error ${r.maxRelErr.toExponential(2)}`);
    assert.ok(r.ok, `${name}: max relative error ${r.maxRelErr} (${r.worst})`);
    assert.equal(r.checked, 64);
  }
  // Between them the configs cover every switch.
  const cs = Object.values(LLAMA_GRADCHECK_CONFIGS);
  const has = (f: (c: LlamaConfig) => boolean) => assert.ok(cs.some(f) && !cs.every(f));
  has((c) => c.qkvBias);
  has((c) => c.oBias);
  has((c) => c.mlpBias);
  has((c) => c.qkNorm);
  has((c) => c.tieWordEmbeddings);
  has((c) => c.nKvHeads < c.nHeads);
  has((c) => c.headDim * c.nHeads !== c.hiddenSize);
  has((c) => c.ropeScaling?.type === 'linear');
  has((c) => c.ropeScaling?.type === 'llama3');
});

test('a random Llama-family policy: init is seeded (matrices N(0, 0.02), norms 1, biases 0)', async () => {
  const cfg = { ...LLAMA_GRADCHECK_CONFIGS.qwen2!, vocabSize: 50, hiddenSize: 32, intermediateSize: 64, contextLength: 16 };
  const engine = await createPolicyEngine(cfg, { threads: 1 });
  engines.push(engine);
  const a = engine.initParams(1), b = engine.initParams(1), c = engine.initParams(2);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const view = (n: string) => {
    const s = engine.params.find((x) => x.name === n)!;
    return a.subarray(s.offset, s.offset + s.size);
  };
  const e = view('model.embed_tokens.weight');
  assert.ok(Math.abs(Math.sqrt(e.reduce((acc, x) => acc + x * x, 0) / e.length) - 0.02) < 0.002);
  assert.ok(view('model.layers.1.input_layernorm.weight').every((x) => x === 1));
  assert.ok(view('model.layers.0.self_attn.q_proj.bias').every((x) => x === 0));
  assert.deepEqual(engine.shape, { arch: 'llama', vocabSize: 50, contextLength: 16, nLayers: 2, kvHeads: 2, headDim: 4 });
});
