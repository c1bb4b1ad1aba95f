// Checkpoints: save/load round trip is bit-identical, policy.onnx runs on its own in plain
// ONNX Runtime with the same results, and broken folders get clear errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyEngine, positionsAndMask } from '../../harness/engine/policy.ts';
import { saveCheckpoint, loadCheckpoint } from '../../harness/engine/checkpoint.ts';
import { ort } from '../../harness/engine/session.ts';
import onnxProto from 'onnx-proto';
import { paramLayout } from '../../harness/engine/models/gpt.ts';
import { Rng } from '../../harness/util/rng.ts';
import { LLAMA_GRADCHECK_CONFIGS } from '../../harness/engine/gradcheck.ts';
import type { GptConfig } from '../../harness/engine/types.ts';

const cfg: GptConfig = { vocabSize: 11, contextLength: 16, dModel: 16, nLayers: 2, nHeads: 2, mlpRatio: 2 };
const dir = mkdtempSync(join(tmpdir(), 'rlbench-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('save then load gives bit-identical params and log-probs; policy.onnx runs standalone', async () => {
  const engine = await createPolicyEngine(cfg, { threads: 1 });
  const rng = new Rng(3);
  const params = engine.initParams(3).map((x) => x + 0.1 * rng.normal());
  await saveCheckpoint(dir, cfg, params);
  assert.deepEqual(readdirSync(dir).sort(), ['policy.json', 'policy.onnx'], 'no temporary files left behind');
  const back = await loadCheckpoint(dir);
  assert.deepEqual(back.config, cfg);
  assert.ok(Buffer.from(back.params.buffer).equals(Buffer.from(params.buffer)), 'params must be bit-identical');
  const batch = { tokens: Int32Array.from({ length: 2 * 8 }, () => rng.int(cfg.vocabSize)), batch: 2, time: 8 };
  const a = await engine.logprobs(params, batch);
  const b = await engine.logprobs(back.params, batch);
  assert.deepEqual(a.logp, b.logp);
  assert.deepEqual(a.entropy, b.entropy);

  // Any ONNX tool can run the file: standard ops only, and only tokens, positions, mask and
  // targets are inputs.
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(join(dir, 'policy.onnx')));
  assert.deepEqual(model.opsetImport.map((o) => o.domain), ['']);
  assert.ok((model.graph?.node ?? []).every((n) => !n.domain), 'no contrib-domain nodes');
  const sess = await ort.InferenceSession.create(readFileSync(join(dir, 'policy.onnx')));
  assert.deepEqual([...sess.inputNames].sort(), ['ids', 'mask', 'pos', 'targets']);
  const T = 7;
  const ids = new Int32Array(2 * T), tg = new Int32Array(2 * T);
  for (let r = 0; r < 2; r++) for (let t = 0; t < T; t++) { ids[r * T + t] = batch.tokens[r * 8 + t]!; tg[r * T + t] = batch.tokens[r * 8 + t + 1]!; }
  const { pos, mask } = positionsAndMask(2, 0, T, new Int32Array(2), cfg.contextLength, 'test');
  const out = await sess.run({ ids: new ort.Tensor('int32', ids, [2, T]), targets: new ort.Tensor('int32', tg, [2, T]), pos: new ort.Tensor('int32', pos, [2, T]), mask: new ort.Tensor('float32', mask, [2, 1, T, T]) });
  const standalone = out.logp!.data as Float32Array;
  for (let i = 0; i < standalone.length; i++) assert.ok(Math.abs(standalone[i]! - a.logp[i]!) < 1e-5);
  await sess.release();
  await engine.release();
});

test('loading a broken checkpoint names the file and the problem', async () => {
  const bad = mkdtempSync(join(tmpdir(), 'rlbench-ckpt-bad-'));
  try {
    await assert.rejects(loadCheckpoint(bad), /policy\.json not found/);
    writeFileSync(join(bad, 'policy.json'), '{"format": "rlbench-policy/1", "config": {"vocabSize": 5}}');
    await assert.rejects(loadCheckpoint(bad), /policy\.json: policy config: contextLength must be a positive integer/);
    const n = paramLayout(cfg).reduce((a, s) => a + s.size, 0);
    await saveCheckpoint(bad, cfg, new Float32Array(n));
    const meta = JSON.parse(readFileSync(join(bad, 'policy.json'), 'utf8'));
    meta.config.dModel = 32;
    writeFileSync(join(bad, 'policy.json'), JSON.stringify(meta));
    await assert.rejects(loadCheckpoint(bad), /initialiser 'wte' is type 1 \[11,16\], expected float32 \[11,32\]/);
    await assert.rejects(saveCheckpoint(bad, cfg, new Float32Array(3)), /params has 3 values, the config needs \d+/);
    await assert.rejects(saveCheckpoint(bad, LLAMA_GRADCHECK_CONFIGS.qwen2!, new Float32Array(3)), /rlbench-policy checkpoints hold GPT policies only/);
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});
