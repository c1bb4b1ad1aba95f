// A short GRPO run on every fixture architecture besides the smoke suite's Qwen2 (Llama, Qwen3,
// Llama 3 with its RoPE scaling): the weights change, the final export reloads in the source's
// dtype, and a run interrupted after a step resumes to exactly the numbers of an uninterrupted
// one. The training problems have one-digit answers and rewards come from the last number of a
// response, so a random policy earns a few (about 4% of responses here) and GRPO has a gradient.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { loadRunCheckpoint, readJsonl } from '../../harness/runs/results.ts';
import { loadHfCheckpoint } from '../../harness/engine/hf/checkpoint.ts';
import { numbers } from '../util/helpers.ts';
import { FIXTURES, tmp } from '../engine/hf/helpers.ts';

const root = tmp('hf-archs');
after(() => rmSync(root, { recursive: true, force: true }));

function experiment(name: string, model: string, steps: number): string {
  const exp = {
    name,
    policy: { from: model },
    tasks: { datasets: [{ path: 'benchmarks/data/hf-smoke-arith.jsonl', problemField: 'question', answerField: 'answer', idField: 'id' }], grader: 'math-last-number' },
    benchmarks: [{ name: 'math500', limit: 6, maxPromptTokens: 200 }],
    objectives: [{ id: 'grpo' }],
    rl: { promptsPerStep: 8, rolloutsPerPrompt: 16, maxTokens: 32, lr: 0.002 },
    budget: { steps },
    eval: { k: 1, maxTokens: 8, greedy: false },
    checkpointEvery: 1,
    execution: { threads: 1 },
  };
  const p = join(root, `${name}.json`);
  writeFileSync(p, JSON.stringify(exp));
  return p;
}

for (const arch of ['llama', 'qwen3', 'llama3']) {
  test(`${arch}: a GRPO step changes the weights; the export reloads in the source's dtype and differs from the start`, async () => {
    const out = join(root, arch);
    const r = await runExperimentFile(experiment(arch, FIXTURES[arch]!, 1), { outputRoot: out, log: () => {} });
    assert.deepEqual(r.runs.map((x) => x.status), ['finished']);
    const run = join(out, arch, 'grpo-s1');
    const [m] = readJsonl<{ reward: number; updates: number; skippedUpdates: number }>(join(run, 'metrics.jsonl'));
    assert.ok(m!.reward > 0 && m!.updates === 1 && m!.skippedUpdates === 0, JSON.stringify(m));
    const source = loadHfCheckpoint(FIXTURES[arch]!);
    const exported = loadHfCheckpoint(join(run, 'model'));
    assert.equal(exported.dtype, source.dtype);
    assert.equal(exported.params.length, source.params.length);
    const ck = await loadRunCheckpoint(run);
    let changed = 0;
    for (let i = 0; i < source.params.length; i++) if (ck!.params[i] !== source.params[i]) changed++;
    assert.ok(changed > source.params.length / 2, `${changed} of ${source.params.length} weights changed`);
    // The reloaded export differs from the start too (in the source's dtype, so rounding could hide a small step).
    let exportedChanged = 0;
    for (let i = 0; i < source.params.length; i++) if (exported.params[i] !== source.params[i]) exportedChanged++;
    assert.ok(exportedChanged > source.params.length / 10, `${arch}: only ${exportedChanged} exported weights differ from the start`);
    assert.equal(JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).policy.modelType, source.config.modelType);
  });
}

test('llama: interrupted after step 1 and resumed, a run gives the numbers of an uninterrupted one', async () => {
  const p = experiment('resume', FIXTURES.llama!, 2);
  const a = join(root, 'resume-a');
  const b = join(root, 'resume-b');
  await runExperimentFile(p, { outputRoot: a, log: () => {} });
  await assert.rejects(runExperimentFile(p, { outputRoot: b, log: () => {}, afterStep: (_run, step) => { if (step === 1) throw new Error('simulated crash'); } }), /simulated crash/);
  await runExperimentFile(p, { outputRoot: b, log: () => {} });
  assert.deepEqual(numbers(join(b, 'resume'), 'grpo-s1'), numbers(join(a, 'resume'), 'grpo-s1'));
  const [ca, cb] = [await loadRunCheckpoint(join(a, 'resume', 'grpo-s1')), await loadRunCheckpoint(join(b, 'resume', 'grpo-s1'))];
  assert.deepEqual(Buffer.from(cb!.params.buffer), Buffer.from(ca!.params.buffer), 'the same weights, bit for bit');
});
