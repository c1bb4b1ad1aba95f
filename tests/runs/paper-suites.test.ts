// The two real-model suites a user runs with their own weights (benchmarks/paper-qwen3-4b.json and
// benchmarks/qwen2.5-0.5b-gsm8k-math.json): they pass the experiment schema and every objective's
// own settings, say what the README says they do, their training data and benchmarks load from the
// shared datasets, and on this machine (no weights) the one error is the missing weights folder,
// named, with nothing written.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isHfPolicy, loadExperiment } from '../../harness/runs/experiment.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { loadSource } from '../../harness/tasks/training-data.ts';
import { getBenchmark } from '../../harness/tasks/registry.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { tmp } from '../engine/hf/helpers.ts';

const root = tmp('paper-suites');
after(() => rmSync(root, { recursive: true, force: true }));
const DATA = '../shared/datasets';
const PAPER = ['math500', 'aime24', 'aime25', 'amc23', 'minerva_math', 'olympiadbench'];
const OBJECTIVES = ['rence', 'rence-full', 'grpo', 'dapo', 'online-dpo'];

const SUITES = [
  { file: 'benchmarks/paper-qwen3-4b.json', model: 'models/qwen3-4b', benchmarks: PAPER, k: [4, 32, 32, 32, 4, 4], maxTokens: 8192 },
  { file: 'benchmarks/qwen2.5-0.5b-gsm8k-math.json', model: 'models/qwen2.5-0.5b-instruct', benchmarks: ['gsm8k', 'math500'], k: [4, 4], maxTokens: 1024 },
];

for (const s of SUITES) {
  test(`${s.file}: valid, the protocol the README describes, its data loads`, async () => {
    const { experiment: e, objectives } = await loadExperiment(s.file);
    assert.ok(isHfPolicy(e.policy));
    assert.equal(e.policy.from, s.model);
    assert.equal(e.sft, null, 'no SFT: the checkpoint is the initial policy and the reference');
    assert.deepEqual(objectives.map((o) => o.name), OBJECTIVES);
    assert.deepEqual(e.benchmarks.map((b) => [b.name, b.k]), s.benchmarks.map((b, i) => [b, s.k[i]]));
    assert.deepEqual([e.eval.temperature, e.eval.topP, e.eval.greedy, e.eval.truncatedWrong, e.eval.maxTokens], [0.6, 0.95, true, true, s.maxTokens]);
    assert.equal(e.rl.maxTokens, s.maxTokens);
    // The context holds the longest prompt the pool keeps plus a full response.
    assert.ok('datasets' in e.tasks && e.tasks.datasets !== undefined);
    assert.equal(e.policy.contextLength, e.tasks.maxPromptTokens! + e.rl.maxTokens);
    assert.equal(e.tasks.grader ?? 'math', 'math', 'training rewards from the strict math grader');
    for (const src of e.tasks.datasets) assert.ok(loadSource(src, DATA, s.file).problems.length > 1000, JSON.stringify(src));
    for (const b of e.benchmarks) assert.ok(getBenchmark(b.name, { dataDir: DATA }).problems().length >= 30, b.name);
  });

  test(`${s.file}: without the weights, the one error names the missing folder, and nothing is written`, async () => {
    const out = join(root, s.file.replace(/\W/g, '_'));
    await assert.rejects(
      runExperimentFile(s.file, { outputRoot: out, log: () => {} }),
      (err: unknown) => err instanceof UsageError && err.message === `${s.file}: policy.from: ${s.model}: no such directory (a Hugging Face checkpoint folder; see README "Hugging Face checkpoints" for how to download one)`,
    );
    assert.equal(existsSync(out), false);
  });
}
