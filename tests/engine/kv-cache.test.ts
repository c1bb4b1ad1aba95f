// The KV cache's life cycle beyond plain decoding: rows selected (and repeated) out of a cache,
// caches released for reuse (whose memory must come back zeroed, never leaking into another
// decode), and a prefill that reserves room instead of growing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { Rng } from '../../harness/util/rng.ts';
import type { GptConfig, KvCache, LlamaConfig, PolicyEngine } from '../../harness/engine/types.ts';

const gpt: GptConfig = { vocabSize: 11, contextLength: 80, dModel: 16, nLayers: 2, nHeads: 4, mlpRatio: 2 };
const llama: LlamaConfig = {
  arch: 'llama', modelType: 'qwen2', vocabSize: 11, contextLength: 80, hiddenSize: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 4,
  intermediateSize: 24, rmsNormEps: 1e-6, ropeTheta: 10000, ropeScaling: null, qkvBias: true, oBias: false, mlpBias: false, qkNorm: false, tieWordEmbeddings: true,
};
const engines: PolicyEngine[] = [];
after(async () => {
  for (const e of engines) await e.release();
});

async function setup(cfg: GptConfig | LlamaConfig) {
  const e = await createPolicyEngine(cfg, { threads: 1 });
  engines.push(e);
  const rng = new Rng(3);
  const p = e.initParams(1).map((x) => x + 0.3 * rng.normal());
  return { e, p, rng };
}

/** Greedy steps from a cache, feeding fixed tokens; returns every step's logits. */
async function run(e: PolicyEngine, p: Float32Array, cache: KvCache, feed: Int32Array[], B: number) {
  const out: Float32Array[] = [];
  for (const tokens of feed) {
    const r = await e.decode(p, cache, { tokens, batch: B, time: 1 }, { temperature: 0 }, { logits: true });
    out.push(r.logits!);
    cache = r.cache;
  }
  return { logits: out, cache };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

for (const cfg of [gpt, llama]) {
  const name = cfg.arch ?? 'gpt';
  test(`${name}: selectCacheRows repeats and reorders rows (left padding kept); decoding from it matches decoding those rows directly`, async () => {
    const { e, p, rng } = await setup(cfg);
    const P = 6, B = 3;
    const offsets = Int32Array.from([0, 2, 1]);
    const prompt = Int32Array.from({ length: B * P }, (_, i) => (i % P < offsets[Math.floor(i / P)]! ? 0 : 1 + rng.int(cfg.vocabSize - 1)));
    const rows = [2, 0, 2, 1, 2]; // row 2 three times (the samples of one prompt), reordered
    const pre = await e.decode(p, null, { tokens: prompt, batch: B, time: P, offsets }, { temperature: 0 });
    const picked = e.selectCacheRows(pre.cache, rows);
    assert.equal(picked.batch, rows.length);
    assert.equal(picked.length, P);
    // The same prompts prefilled directly in the selected order.
    const direct = await e.decode(
      p,
      null,
      { tokens: Int32Array.from(rows.flatMap((r) => [...prompt.subarray(r * P, (r + 1) * P)])), batch: rows.length, time: P, offsets: Int32Array.from(rows.map((r) => offsets[r]!)) },
      { temperature: 0 },
    );
    // 40 steps: past the cache's first capacity chunk, so the selected cache grows too.
    const feed = Array.from({ length: 40 }, () => Int32Array.from(rows, () => rng.int(cfg.vocabSize)));
    const a = await run(e, p, picked, feed, rows.length);
    const b = await run(e, p, direct.cache, feed, rows.length);
    for (let s = 0; s < feed.length; s++) assert.ok(maxDiff(a.logits[s]!, b.logits[s]!) < 1e-5, `step ${s}: ${maxDiff(a.logits[s]!, b.logits[s]!)}`);
    // The source cache stays usable: its rows decode on unchanged.
    const again = await e.decode(p, pre.cache, { tokens: new Int32Array(B).fill(1), batch: B, time: 1 }, { temperature: 0 });
    assert.equal(again.cache.length, P + 1);
    assert.throws(() => e.selectCacheRows(again.cache, [3]), (err: unknown) => err instanceof UsageError && /rows\[0\] = 3 is not a row of this cache \(batch 3\)/.test(err.message));
    assert.throws(() => e.selectCacheRows(again.cache, []), /rows must not be empty/);
    assert.throws(() => e.selectCacheRows(pre.cache, [0]), /already extended by a later decode call/);
  });

  test(`${name}: a released cache's memory serves the next decode, zeroed: results equal a fresh engine's, bit for bit`, async () => {
    const { e, p, rng } = await setup(cfg);
    const fresh = await createPolicyEngine(cfg, { threads: 1 });
    engines.push(fresh);
    const B = 4, P = 5;
    // Fill a cache with a long decode (it grows, handing its old buffers to the pool) under
    // diverged weights, whose keys and values overflow to ±Inf/NaN, and release it: reused
    // memory that kept them would poison even masked columns (Inf - 1e9 is still Inf).
    const diverged = p.map((x) => x * 1e30);
    let r = await e.decode(diverged, null, { tokens: Int32Array.from({ length: B * P }, () => rng.int(cfg.vocabSize)), batch: B, time: P }, { temperature: 0 });
    for (let s = 0; s < 45; s++) r = await e.decode(diverged, r.cache, { tokens: r.tokens, batch: B, time: 1 }, { temperature: 0 });
    e.releaseCache(r.cache);
    assert.throws(() => e.selectCacheRows(r.cache, [0]), /was released \(releaseCache\)/);
    await assert.rejects(e.decode(p, r.cache, { tokens: r.tokens, batch: B, time: 1 }, { temperature: 0 }), /was released/);
    e.releaseCache(r.cache); // twice is harmless
    // A smaller decode now reuses that memory; left padding makes any stale value visible.
    const B2 = 3, P2 = 7;
    const offsets = Int32Array.from([3, 0, 5]);
    const batch = { tokens: Int32Array.from({ length: B2 * P2 }, () => rng.int(cfg.vocabSize)), batch: B2, time: P2, offsets };
    const feed = Array.from({ length: 30 }, () => Int32Array.from({ length: B2 }, () => rng.int(cfg.vocabSize)));
    const x = await e.decode(p, null, batch, { temperature: 0 }, { logits: true });
    const y = await fresh.decode(p, null, batch, { temperature: 0 }, { logits: true });
    assert.deepEqual(x.logits, y.logits);
    const a = await run(e, p, x.cache, feed, B2);
    const b = await run(fresh, p, y.cache, feed, B2);
    for (let s = 0; s < feed.length; s++) assert.deepEqual(a.logits[s], b.logits[s], `step ${s}`);
  });

  test(`${name}: a prefill that reserves room decodes as the growing cache does`, async () => {
    const { e, p, rng } = await setup(cfg);
    const B = 2, P = 4;
    const batch = { tokens: Int32Array.from({ length: B * P }, () => rng.int(cfg.vocabSize)), batch: B, time: P, offsets: Int32Array.from([1, 0]) };
    const feed = Array.from({ length: 50 }, () => Int32Array.from({ length: B }, () => rng.int(cfg.vocabSize)));
    const reserved = await e.decode(p, null, batch, { temperature: 0 }, { reserve: 50 });
    const growing = await e.decode(p, null, batch, { temperature: 0 });
    const a = await run(e, p, reserved.cache, feed, B);
    const b = await run(e, p, growing.cache, feed, B);
    for (let s = 0; s < feed.length; s++) assert.ok(maxDiff(a.logits[s]!, b.logits[s]!) < 1e-5, `step ${s}`);
    await assert.rejects(e.decode(p, null, batch, { temperature: 0 }, { reserve: -1 }), /reserve must be a whole number of columns >= 0, got -1/);
  });
}
