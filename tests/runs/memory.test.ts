// The memory estimate: hand-computed for a small shape, the parts that scale with each setting,
// the machine's memory (cgroup limit parsing), and the verdicts; the schema's resource limits
// name the field and the maximum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { compareWithMachine, estimateRunMemory, machineMemory, modelShapeOf, parseCgroupLimit, stepBytesPerParam, RUNTIME_BYTES, type ModelShape, type WorkShape } from '../../harness/runs/memory.ts';
import { readHfConfig } from '../../harness/engine/hf/config.ts';
import { policyParamLayout } from '../../harness/engine/policy-graph.ts';
import { validateExperiment } from '../../harness/runs/experiment.ts';

const model: ModelShape = { paramCount: 1000, vocabSize: 10, dModel: 4, nLayers: 2, nHeads: 2, kvDim: 4, mlpHidden: 16, mlpMatrices: 2 };
const work: WorkShape = { seqLen: 8, chunkTokens: 20, decodeBatch: 3, rolloutsPerStep: 5, evalSequences: 7, poolProblems: 11, sftBatch: 2 };

test('the estimate, by hand, for a small shape', () => {
  const e = estimateRunMemory(model, work);
  // per parameter: weights 4, reference 4, gradient 16, AdamW 2 × 4 + a 1-byte mask, ONNX checkpoint 4
  const params = 37 * 1000;
  // a chunk is floor(20 / 8) = 2 rows of 8 = 16 tokens; per token and layer 8·4 + 2·4 + 2·16 + 2·2·8 = 104
  // floats, plus 3 × 10 for the logits; three times (two sessions), × 1.25 for the arenas
  const activations = 1.25 * 3 * 4 * 16 * (2 * 104 + 3 * 10);
  // 3 sequences × 8 tokens × 2 layers × (K, V) × 4 wide, twice, plus 3 × 10 logits, × 1.25
  const kv = 1.25 * 4 * (2 * 3 * 8 * 2 * 2 * 4 + 3 * 10);
  const rollouts = (5 + 2) * (8 * 28 + 600);
  const evals = 7 * (8 * 6 + 600);
  const pool = 11 * 500;
  assert.deepEqual(e.parts.map((p) => p.bytes), [params, activations, kv, rollouts, evals, pool, RUNTIME_BYTES]);
  assert.equal(e.bytes, params + activations + kv + rollouts + evals + pool + RUNTIME_BYTES);
  assert.equal(e.bytes, 300_113_914);
  assert.match(e.parts[1]!.what, /16-token teacher-forced chunk/);
});

test('bytes per parameter of a step: the reference only when an objective needs it, no checkpoint copy when streamed', () => {
  const sum = (h: Parameters<typeof stepBytesPerParam>[0]) => stepBytesPerParam(h).reduce((a, p) => a + p.bytes, 0);
  assert.equal(sum({ reference: true, checkpoint: 'onnx' }), 37);
  assert.equal(sum({ reference: false, checkpoint: 'streamed' }), 29);
  assert.equal(sum({ reference: true, checkpoint: 'streamed' }), 33);
  assert.deepEqual(stepBytesPerParam({ reference: false, checkpoint: 'streamed' }).map((p) => p.what), ['weights', 'gradient (JavaScript + ONNX Runtime arena)', 'AdamW moments and decay mask']);
  const hf = estimateRunMemory(model, work, { reference: false, checkpoint: 'streamed' });
  assert.equal(hf.parts[0]!.bytes, 29 * 1000);
  assert.match(hf.parts[0]!.what, /^weights, gradient \(JavaScript \+ ONNX Runtime arena\), AdamW moments and decay mask \(29 bytes × 1,000 parameters\)$/);
});

test('each part follows its setting; grouped-query attention shrinks the KV cache', () => {
  const base = estimateRunMemory(model, work).parts;
  const part = (m: Partial<ModelShape>, w: Partial<WorkShape>, i: number) => estimateRunMemory({ ...model, ...m }, { ...work, ...w }).parts[i]!.bytes;
  assert.equal(part({ paramCount: 2000 }, {}, 0), 2 * base[0]!.bytes);
  assert.equal(part({}, { decodeBatch: 6 }, 2), 2 * base[2]!.bytes);
  assert.ok(part({ kvDim: 1 }, {}, 2) < base[2]!.bytes / 3);
  assert.ok(part({}, { seqLen: 16, chunkTokens: 20 }, 1) > base[1]!.bytes, 'longer sequences: one row of 16 tokens with longer attention rows');
  assert.equal(part({}, { poolProblems: 22 }, 5), 2 * base[5]!.bytes);
});

test('the shape of each architecture: the GPT, and a Llama-family model with grouped-query attention', () => {
  const gpt = modelShapeOf({ vocabSize: 99, contextLength: 64, dModel: 64, nLayers: 2, nHeads: 4, mlpRatio: 4 });
  assert.deepEqual(gpt, { paramCount: 110_528, vocabSize: 99, nLayers: 2, kvDim: 64, dModel: 64, nHeads: 4, mlpHidden: 256, mlpMatrices: 2 });
  const cfg = readHfConfig(join(process.cwd(), 'tests/fixtures/hf-tiny/qwen3'));
  const q = modelShapeOf(cfg);
  const layout = policyParamLayout(cfg);
  assert.equal(q.paramCount, layout[layout.length - 1]!.offset + layout[layout.length - 1]!.size);
  assert.deepEqual([q.dModel, q.nHeads, q.kvDim, q.mlpHidden, q.mlpMatrices], [cfg.hiddenSize, cfg.nHeads, cfg.nKvHeads * cfg.headDim, cfg.intermediateSize, 3]);
});

test('cgroup limits and the machine', () => {
  assert.equal(parseCgroupLimit('max\n'), null);
  assert.equal(parseCgroupLimit('9223372036854771712\n'), null, 'cgroup v1 "no limit"');
  assert.equal(parseCgroupLimit('1073741824\n'), 1073741824);
  const m = machineMemory();
  assert.equal(m.total, totalmem());
  assert.ok(m.limit <= m.total && m.available > 0 && m.available <= m.total);
});

test('verdicts: fits, warn when only what is free now is short, refuse beyond the limit (cgroup included)', () => {
  const est = (bytes: number) => ({ bytes, parts: [{ what: 'everything', bytes }] });
  const machine = { total: 1e9, available: 5e8, cgroupLimit: null, limit: 1e9 };
  assert.equal(compareWithMachine(est(4e8), machine).verdict, 'fits');
  assert.equal(compareWithMachine(est(6e8), machine).verdict, 'warn');
  const r = compareWithMachine(est(2e9), machine);
  assert.equal(r.verdict, 'refuse');
  assert.equal(r.message, 'needs about 2.0 GB of memory (everything: 2.0 GB), but this machine has 1.0 GB, 500 MB available now');
  const limited = compareWithMachine(est(4e8), { ...machine, cgroupLimit: 3e8, limit: 3e8 });
  assert.equal(limited.verdict, 'refuse');
  assert.match(limited.message, /this machine has 1\.0 GB, limited to 300 MB by its cgroup/);
});

test('schema resource limits name the field and the maximum', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ rl: { promptsPerStep: 1e9 } }, /rl\.promptsPerStep: at most 8192 allowed \(a resource limit\), got 1000000000/],
    [{ sft: { batchSize: 1e9 } }, /sft\.batchSize: at most 8192 allowed/],
    [{ policy: { dModel: 1e6 } }, /policy\.dModel: at most 16384 allowed/],
    [{ policy: { nLayers: 1e5 } }, /policy\.nLayers: at most 256 allowed/],
    [{ tasks: { trainProblems: 1e9 } }, /tasks\.trainProblems: at most 1000000 allowed/],
    [{ eval: { k: 1e9 } }, /eval\.k: at most 1024 allowed/],
    [{ budget: { steps: 1e300 } }, /budget\.steps: at most 10000000 allowed \(a resource limit\), got 1e\+300/],
    [{ budget: { tokens: 1e20 } }, /budget\.tokens: at most 10000000000000 allowed/],
    [{ seeds: Array.from({ length: 1001 }, (_, i) => i) }, /seeds: at most 1000 entries allowed, got 1001/],
  ];
  for (const [over, msg] of cases) assert.throws(() => validateExperiment({ name: 'x', objectives: [{ id: 'grpo' }], ...over }, 'e.json'), msg);
});
