// Hugging Face checkpoint folders in and out: every fixture loads with the right config, dtype,
// EOS ids and generation defaults; load → save → load is bit-identical (BF16, F16, F32, sharded),
// and the stored tensor bytes equal the source's; a generated config.json maps back to the same
// LlamaConfig; bad folders get errors naming the file or tensor (and both shapes); a failed save
// leaves nothing behind; loading uses no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { inspectHfCheckpoint, loadHfCheckpoint, saveHfCheckpoint, chatTemplateFor, type HfCheckpoint } from '../../../harness/engine/hf/checkpoint.ts';
import { hfConfigFromLlama, llamaConfigFromHf } from '../../../harness/engine/hf/config.ts';
import { readCheckpointIndex, writeSafetensors, type TensorInfo } from '../../../harness/engine/hf/safetensors.ts';
import { llamaParamCount } from '../../../harness/engine/models/llama-config.ts';
import { UsageError } from '../../../harness/util/errors.ts';
import { copyFixture, FIXTURES, readJson, tmp } from './helpers.ts';

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

function tensorBytes(t: TensorInfo): Buffer {
  const buf = Buffer.alloc(t.end - t.begin);
  const fd = openSync(t.file, 'r');
  readSync(fd, buf, 0, buf.length, t.begin);
  closeSync(fd);
  return buf;
}

test('every fixture loads: config, dtype, shards, EOS ids, generation defaults, tokenizer and template', () => {
  const expect: Record<string, { modelType: string; dtype: string; files: number; tied: boolean; qkNorm: boolean; kv: number; headDim: number; rope: string | null }> = {
    qwen2: { modelType: 'qwen2', dtype: 'BF16', files: 1, tied: true, qkNorm: false, kv: 2, headDim: 16, rope: null },
    llama: { modelType: 'llama', dtype: 'F32', files: 1, tied: false, qkNorm: false, kv: 4, headDim: 16, rope: null },
    qwen3: { modelType: 'qwen3', dtype: 'BF16', files: 1, tied: false, qkNorm: true, kv: 2, headDim: 16, rope: null },
    llama3: { modelType: 'llama', dtype: 'BF16', files: 1, tied: true, qkNorm: false, kv: 2, headDim: 8, rope: 'llama3' },
    'qwen2-f16-sharded': { modelType: 'qwen2', dtype: 'F16', files: 2, tied: true, qkNorm: false, kv: 2, headDim: 16, rope: null },
  };
  for (const [name, dir] of Object.entries(FIXTURES)) {
    const e = expect[name]!;
    const c = loadHfCheckpoint(dir);
    assert.equal(c.config.modelType, e.modelType, name);
    assert.equal(c.dtype, e.dtype, name);
    assert.equal(c.weightFiles.length, e.files, name);
    assert.equal(c.config.tieWordEmbeddings, e.tied, name);
    assert.equal(c.config.qkNorm, e.qkNorm, name);
    assert.equal(c.config.nKvHeads, e.kv, name);
    assert.equal(c.config.headDim, e.headDim, name);
    assert.equal(c.config.ropeScaling?.type ?? null, e.rope, name);
    assert.equal(c.params.length, llamaParamCount(c.config));
    assert.equal(c.paramCount, c.params.length);
    assert.equal(c.weightBytes, c.paramCount * (e.dtype === 'F32' ? 4 : 2), name);
    assert.deepEqual(c.eosIds, [300, 298], name); // generation_config.json's list wins over config.json's 300
    assert.deepEqual(c.generation, { doSample: true, temperature: 0.7, topP: 0.8 });
    assert.equal(c.tokenizer.eos, 300);
    assert.equal(c.chatTemplate?.name, 'default');
    assert.equal(c.dir, dir);
    assert.ok(c.params.every(Number.isFinite));
  }
  // qwen3: head_dim × heads (64) differs from hidden (48).
  const q3 = inspectHfCheckpoint(FIXTURES.qwen3!);
  assert.equal(q3.config.headDim * q3.config.nHeads, 64);
  assert.equal(q3.config.hiddenSize, 48);
  assert.deepEqual(inspectHfCheckpoint(FIXTURES.llama3!).config.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 });
});

test('the weights are the stored values: spot checks against the raw safetensors bytes', () => {
  for (const name of ['qwen2', 'llama', 'qwen2-f16-sharded']) {
    const c = loadHfCheckpoint(FIXTURES[name]!);
    const index = readCheckpointIndex(FIXTURES[name]!);
    for (const spec of [c.specs[0]!, c.specs[5]!, c.specs[c.specs.length - 1]!]) {
      const raw = tensorBytes(index.get(spec.name)!);
      const got = c.params.subarray(spec.offset, spec.offset + spec.size);
      for (const i of [0, 1, spec.size - 1]) {
        let want: number;
        if (c.dtype === 'F32') want = raw.readFloatLE(i * 4);
        else if (c.dtype === 'BF16') want = new Float32Array(new Uint32Array([raw.readUInt16LE(i * 2) << 16]).buffer)[0]!;
        else {
          const h = raw.readUInt16LE(i * 2), e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
          want = e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
        }
        assert.equal(got[i], want, `${name} ${spec.name}[${i}]`);
      }
    }
  }
});

function roundTrip(name: string, opts: { dtype?: 'F32' | 'F16' | 'BF16'; maxShardBytes?: number } = {}): { a: HfCheckpoint; b: HfCheckpoint; out: string } {
  const a = loadHfCheckpoint(FIXTURES[name]!);
  const out = join(tmp('save'), 'ckpt');
  saveHfCheckpoint(out, { config: a.config, params: a.params, sourceDir: a.dir, ...opts });
  return { a, b: loadHfCheckpoint(out), out };
}

test('load → save → load is bit-identical for BF16, F16 (sharded) and F32, and the stored bytes equal the source', () => {
  for (const name of ['qwen2', 'qwen2-f16-sharded', 'llama', 'qwen3', 'llama3']) {
    const { a, b, out } = roundTrip(name);
    assert.ok(sameBits(a.params, b.params), name);
    assert.equal(b.dtype, a.dtype);
    assert.deepEqual(b.config, a.config);
    assert.deepEqual(b.eosIds, a.eosIds);
    assert.deepEqual(b.generation, a.generation);
    assert.equal(b.chatTemplate!.source, a.chatTemplate!.source);
    assert.deepEqual([...b.tokenizer.encode('Natalia sold 48 clips')], [...a.tokenizer.encode('Natalia sold 48 clips')]);
    const src = readCheckpointIndex(a.dir), dst = readCheckpointIndex(out);
    for (const [t, info] of src) assert.ok(tensorBytes(info).equals(tensorBytes(dst.get(t)!)), `${name}: bytes of ${t}`);
    // config.json carried over with its dtype field kept in step; the tokenizer files copied.
    assert.deepEqual(readJson(join(out, 'config.json')), readJson(join(a.dir, 'config.json')));
    assert.equal(readFileSync(join(out, 'tokenizer.json'), 'utf8'), readFileSync(join(a.dir, 'tokenizer.json'), 'utf8'));
    rmSync(out, { recursive: true });
  }
});

test('sharded saves: shards and index as transformers writes them, reloaded bit-identically; F32 export of BF16 is exact', () => {
  const { a, b, out } = roundTrip('qwen2', { maxShardBytes: 50_000 });
  const files = readdirSync(out).filter((f) => f.endsWith('.safetensors')).sort();
  assert.ok(files.length >= 3, files.join());
  assert.match(files[0]!, /^model-00001-of-0000\d\.safetensors$/);
  const index = readJson<{ metadata: { total_size: number }; weight_map: Record<string, string> }>(join(out, 'model.safetensors.index.json'));
  assert.equal(index.metadata.total_size, a.paramCount * 2);
  assert.equal(Object.keys(index.weight_map).length, a.specs.length);
  assert.ok(sameBits(a.params, b.params));
  const f32 = join(tmp('save'), 'f32');
  saveHfCheckpoint(f32, { config: a.config, params: a.params, sourceDir: a.dir, dtype: 'F32' });
  const c = loadHfCheckpoint(f32);
  assert.equal(c.dtype, 'F32');
  assert.equal(readJson<{ torch_dtype: string }>(join(f32, 'config.json')).torch_dtype, 'float32');
  assert.ok(sameBits(a.params, c.params));
  // Trained (not BF16-representable) weights survive an F32 save exactly, and round to nearest in BF16.
  const trained = a.params.map((v, i) => v + 1e-4 * Math.sin(i));
  saveHfCheckpoint(f32, { config: a.config, params: trained, sourceDir: a.dir, dtype: 'F32', overwrite: true });
  assert.ok(sameBits(trained, loadHfCheckpoint(f32).params));
  saveHfCheckpoint(f32, { config: a.config, params: trained, sourceDir: a.dir, overwrite: true });
  const rounded = loadHfCheckpoint(f32).params;
  assert.equal(loadHfCheckpoint(f32).dtype, 'BF16');
  for (let i = 0; i < trained.length; i += 97) assert.ok(Math.abs(rounded[i]! - trained[i]!) <= Math.abs(trained[i]!) * 2 ** -8, `BF16 rounding at ${i}`);
  rmSync(out, { recursive: true });
  rmSync(f32, { recursive: true });
});

test('a generated config.json (no source) maps back to the same LlamaConfig for every fixture; unrepresentable configs are refused', () => {
  for (const [name, dir] of Object.entries(FIXTURES)) {
    const c = loadHfCheckpoint(dir);
    const gen = hfConfigFromLlama(c.config, c.dtype);
    assert.deepEqual(llamaConfigFromHf(gen, 'x'), c.config, name);
    const out = join(tmp('gen'), name);
    const files = saveHfCheckpoint(out, { config: c.config, params: c.params });
    assert.ok(files.includes('config.json') && files.includes('model.safetensors'));
    assert.ok(!existsSync(join(out, 'tokenizer.json')));
    assert.equal(readJson<{ torch_dtype: string }>(join(out, 'config.json')).torch_dtype, 'float32'); // default F32 without a source
    const index = readCheckpointIndex(out);
    for (const s of c.specs) assert.equal(index.get(s.name)?.dtype, 'F32');
    rmSync(out, { recursive: true });
  }
  const q2 = loadHfCheckpoint(FIXTURES.qwen2!).config;
  assert.throws(() => hfConfigFromLlama({ ...q2, qkvBias: false }, 'F32'), /cannot be written as a qwen2 config\.json: Qwen2 always has q\/k\/v biases/);
  assert.throws(() => hfConfigFromLlama({ ...q2, modelType: 'llama', oBias: false }, 'F32'), /attention_bias sets the q\/k\/v and o_proj biases together/);
  assert.throws(() => hfConfigFromLlama({ ...q2, modelType: 'llama', qkvBias: false, qkNorm: true }, 'F32'), /only Qwen3 has q\/k norms/);
  const l3 = loadHfCheckpoint(FIXTURES.llama3!);
  assert.throws(() => saveHfCheckpoint(join(tmp('x'), 'y'), { config: { ...l3.config, nLayers: 3 }, params: l3.params, sourceDir: l3.dir }), /the config differs from .*config\.json in nLayers \(3 vs 2\)/);
});

test('extra fields go into config.json, generation_config.json and the safetensors metadata', () => {
  const a = loadHfCheckpoint(FIXTURES.qwen3!);
  const out = join(tmp('extra'), 'c');
  saveHfCheckpoint(out, { config: a.config, params: a.params, sourceDir: a.dir, extra: { config: { rlbench_step: 40 }, generation: { temperature: 1.0 }, metadata: { rlbench: 'grpo step 40' } } });
  assert.equal(readJson<{ rlbench_step: number }>(join(out, 'config.json')).rlbench_step, 40);
  const b = loadHfCheckpoint(out);
  assert.deepEqual(b.generation, { doSample: true, temperature: 1, topP: 0.8 });
  assert.deepEqual(b.eosIds, [300, 298]);
  const header = readFileSync(join(out, 'model.safetensors')).subarray(8, 2000).toString('latin1');
  assert.match(header, /"__metadata__":\{"format":"pt","rlbench":"grpo step 40"\}/);
  rmSync(out, { recursive: true });
});

test('saving refuses a non-empty folder unless told to overwrite; a failed save leaves nothing behind', () => {
  const a = loadHfCheckpoint(FIXTURES.llama!);
  const parent = tmp('atomic');
  const out = join(parent, 'ckpt');
  saveHfCheckpoint(out, { config: a.config, params: a.params, sourceDir: a.dir });
  assert.throws(() => saveHfCheckpoint(out, { config: a.config, params: a.params, sourceDir: a.dir }), /ckpt: exists and is not empty; choose a new folder or allow overwriting/);
  const before = readFileSync(join(out, 'model.safetensors'));
  assert.throws(() => saveHfCheckpoint(out, { config: a.config, params: a.params.subarray(1), sourceDir: a.dir, overwrite: true }), /params has \d+ values, the config needs \d+/);
  assert.ok(readFileSync(join(out, 'model.safetensors')).equals(before), 'the old checkpoint is untouched');
  assert.deepEqual(readdirSync(parent), ['ckpt'], 'no staging folder left');
  const scaled = a.params.map((v) => v * 2);
  saveHfCheckpoint(out, { config: a.config, params: scaled, sourceDir: a.dir, overwrite: true });
  assert.ok(sameBits(loadHfCheckpoint(out).params, scaled));
  assert.deepEqual(readdirSync(parent), ['ckpt']);
  rmSync(parent, { recursive: true });
});

test('missing files are named', () => {
  const dir = copyFixture('qwen2');
  assert.throws(() => loadHfCheckpoint(join(dir, 'nope')), /nope: no such directory/);
  assert.throws(() => loadHfCheckpoint(join(dir, 'config.json')), /config\.json: not a directory/);
  for (const [file, msg] of [
    ['tokenizer.json', /tokenizer\.json: file not found/],
    ['model.safetensors', /no model\.safetensors or model\.safetensors\.index\.json/],
    ['config.json', /config\.json: file not found/],
  ] as const) {
    const d = copyFixture('qwen2');
    rmSync(join(d, file));
    assert.throws(() => loadHfCheckpoint(d), (e: Error) => e instanceof UsageError && msg.test(e.message), file);
    rmSync(d, { recursive: true });
  }
  const sh = copyFixture('qwen2-f16-sharded');
  rmSync(join(sh, 'model-00002-of-00002.safetensors'));
  assert.throws(() => loadHfCheckpoint(sh), /model-00002-of-00002\.safetensors: shard listed in .*model\.safetensors\.index\.json not found/);
  rmSync(sh, { recursive: true });
  rmSync(dir, { recursive: true });
});

test('a missing, extra or wrongly shaped tensor is named, with both shapes', () => {
  const base = loadHfCheckpoint(FIXTURES.llama!);
  const tensors = base.specs.map((s) => ({ name: s.name, shape: s.shape, data: base.params.subarray(s.offset, s.offset + s.size) }));
  const variant = (edit: (t: typeof tensors) => typeof tensors) => {
    const d = copyFixture('llama');
    writeSafetensors(join(d, 'model.safetensors'), edit(tensors.slice()), 'F32');
    return d;
  };
  const missing = variant((t) => t.filter((x) => x.name !== 'model.layers.1.mlp.up_proj.weight'));
  assert.throws(() => loadHfCheckpoint(missing), /missing tensor 'model\.layers\.1\.mlp\.up_proj\.weight' \(expected shape \[160,64\]\)/);
  const extra = variant((t) => [...t, { name: 'model.layers.0.self_attn.q_norm.weight', shape: [16], data: new Float32Array(16) }]);
  assert.throws(() => loadHfCheckpoint(extra), /unexpected tensor 'model\.layers\.0\.self_attn\.q_norm\.weight' \[16\]; the llama config in .*config\.json has no such parameter/);
  const wrong = variant((t) => t.map((x) => (x.name === 'model.layers.0.self_attn.k_proj.weight' ? { ...x, shape: [32, 128] } : x)));
  assert.throws(() => loadHfCheckpoint(wrong), /tensor 'model\.layers\.0\.self_attn\.k_proj\.weight' has shape \[32,128\], config\.json implies \[64,64\]/);
  // inspect (used by `model info`) checks the same without reading tensor data.
  assert.throws(() => inspectHfCheckpoint(wrong), /has shape \[32,128\], config\.json implies \[64,64\]/);
  for (const d of [missing, extra, wrong]) rmSync(d, { recursive: true });
  // Stored-but-derived rotary inv_freq buffers are accepted and ignored.
  const derived = variant((t) => [...t, { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', shape: [8], data: new Float32Array(8) }]);
  assert.ok(sameBits(loadHfCheckpoint(derived).params, base.params));
  rmSync(derived, { recursive: true });
});

test('unsupported model types list the supported ones; inconsistent tokenizer/vocabulary and EOS ids are refused', () => {
  const dir = copyFixture('qwen2');
  const cfgPath = join(dir, 'config.json');
  const cfg = readJson<Record<string, unknown>>(cfgPath);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, model_type: 'gpt2' }));
  assert.throws(() => loadHfCheckpoint(dir), /config\.json: model_type "gpt2" is not supported; supported: llama, qwen2, qwen3/);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, vocab_size: 300 }));
  assert.throws(() => inspectHfCheckpoint(dir), /has shape \[301,64\], config\.json implies \[300,64\]/);
  writeFileSync(cfgPath, JSON.stringify(cfg));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [300, 400] }));
  assert.throws(() => inspectHfCheckpoint(dir), /eos_token_id 400 is outside the vocabulary \(vocab_size 301\)/);
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 300, top_p: 2 }));
  assert.throws(() => inspectHfCheckpoint(dir), /generation_config\.json: "top_p" must be a number in \(0, 1\], got 2/);
  rmSync(join(dir, 'generation_config.json'));
  assert.deepEqual(inspectHfCheckpoint(dir).eosIds, [300]); // config.json's eos_token_id
  assert.deepEqual(inspectHfCheckpoint(dir).generation, {});
  rmSync(dir, { recursive: true });
});

test('a chat template chosen at load time, and chatTemplateFor for a checkpoint without one', () => {
  const dir = copyFixture('llama');
  const cfgPath = join(dir, 'tokenizer_config.json');
  const cfg = readJson<Record<string, unknown>>(cfgPath);
  delete cfg.chat_template;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const c = inspectHfCheckpoint(dir);
  assert.equal(c.chatTemplate, null);
  assert.throws(() => chatTemplateFor(c), /has no chat template .* pass one with --chat-template FILE\|NAME/);
  assert.equal(chatTemplateFor(c, 'chatml').name, 'chatml');
  assert.equal(inspectHfCheckpoint(dir, { chatTemplate: 'plain' }).chatTemplate!.name, 'plain');
  assert.throws(() => inspectHfCheckpoint(dir, { chatTemplate: 'nope' }), /--chat-template "nope": not a file/);
  rmSync(dir, { recursive: true });
});

test('loading never touches the network', async () => {
  const saved = globalThis.fetch;
  let calls = 0;
  globalThis.fetch = (() => {
    calls++;
    throw new Error('network used');
  }) as typeof fetch;
  try {
    for (const dir of Object.values(FIXTURES)) loadHfCheckpoint(dir);
  } finally {
    globalThis.fetch = saved;
  }
  assert.equal(calls, 0);
  // And no module of the Hugging Face layer imports a network client.
  const hfDir = join(import.meta.dirname, '../../../harness/engine/hf');
  for (const f of readdirSync(hfDir)) {
    const src = readFileSync(join(hfDir, f), 'utf8');
    assert.doesNotMatch(src, /from 'node:(https?|net|http2|dgram)'|\bfetch\(/, f);
  }
});
