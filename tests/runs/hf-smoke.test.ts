// benchmarks/hf-smoke.json end to end (about 25 s on 2 contended cores): the tiny random Qwen2
// fixture trained on a dataset stream through its chat template by every objective, evaluated on
// the paper's six benchmarks (each with its truncated fraction), and reported in the paper's
// layout. Then: every objective applied gradients and changed the weights, the final export
// reloads with loadHfCheckpoint (BF16, as the source) and equals the float32 run checkpoint
// (step 3) rounded, and every run records its policy and prompt format. The other fixture
// architectures (llama, qwen3, llama3) get their GRPO step, reload and resume in hf-archs.test.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { loadRunCheckpoint, readJsonl } from '../../harness/runs/results.ts';
import { generateReport } from '../../harness/report/generate.ts';
import { loadHfCheckpoint } from '../../harness/engine/hf/checkpoint.ts';
import { f32ToBf16 } from '../../harness/engine/hf/safetensors.ts';
import { tmp } from '../engine/hf/helpers.ts';

const root = tmp('hf-smoke');
after(() => rmSync(root, { recursive: true, force: true }));
const PAPER = ['math500', 'aime24', 'aime25', 'amc23', 'minerva_math', 'olympiadbench'];
const RUNS = ['rence-s1', 'rence-full-s1', 'grpo-s1', 'dapo-s1', 'online-dpo-s1'];

test('hf-smoke: a dataset stream through the chat template, every objective, the six benchmarks, the paper table', async () => {
  const logs: string[] = [];
  const r = await runExperimentFile('benchmarks/hf-smoke.json', { outputRoot: root, log: (m) => logs.push(m) });
  assert.deepEqual(r.runs.map((x) => [x.run, x.status]), RUNS.map((x) => [x, 'finished']));
  const dir = join(root, 'hf-smoke');
  assert.ok(logs.some((l) => /^tasks: training pool of \d+ problems \(chat template default, prompt template boxed\)/.test(l)), logs.join('\n'));
  const start = loadHfCheckpoint('../shared/fixtures/hf-tiny/qwen2').params;

  for (const run of ['sft-s1', ...RUNS]) {
    const rj = JSON.parse(readFileSync(join(dir, run, 'run.json'), 'utf8'));
    assert.equal(rj.policy.kind, 'hf');
    assert.equal(rj.policy.prompts.kind, 'chat');
    assert.equal(rj.policy.prompts.template.name, 'boxed');
    const evals = readJsonl<{ step: number; benchmark: string; n: number; leftOut?: number; truncated: number; perProblem: unknown }>(join(dir, run, 'eval.jsonl'));
    const steps = run === 'sft-s1' ? [0] : [0, 3];
    assert.deepEqual(evals.map((e) => [e.step, e.benchmark]), steps.flatMap((s) => PAPER.map((b) => [s, b])), run);
    for (const e of evals) assert.ok(e.n >= 1 && e.truncated >= 0 && e.truncated <= 1 && e.perProblem, `${run} ${e.benchmark}`);
    assert.ok((evals.find((e) => e.benchmark === 'aime24')!.leftOut ?? 0) > 20, 'long AIME prompts left out, and counted');
    if (run === 'sft-s1') {
      assert.equal(rj.objective.title, 'Initial policy');
      continue;
    }
    // Every objective applied gradients: a random policy earns a reward only by chance (a last
    // number equal to a small gold answer), and the first step's draws are the same for all.
    const metrics = readJsonl<{ updates: number; skippedUpdates: number; rollouts: number }>(join(dir, run, 'metrics.jsonl'));
    assert.equal(metrics.length, 3);
    assert.ok(metrics.some((m) => m.updates > m.skippedUpdates), `${run} applied no update`);
    // The final export: BF16 like the source, the float32 checkpoint rounded, and not the start.
    const exported = loadHfCheckpoint(join(dir, run, 'model'));
    assert.equal(exported.dtype, 'BF16');
    const ck = await loadRunCheckpoint(join(dir, run));
    assert.equal(ck!.state.step, 3);
    const widen = (x: number) => new Float32Array(new Uint32Array([f32ToBf16(x) << 16]).buffer)[0]!;
    let changed = 0;
    for (let i = 0; i < start.length; i++) {
      assert.equal(exported.params[i], widen(ck!.params[i]!), `${run}: exported entry ${i}`);
      if (exported.params[i] !== start[i]) changed++;
    }
    assert.ok(changed > start.length / 10, `${run}: only ${changed} of ${start.length} weights differ from the start`);
  }

  const rep = await generateReport(dir, { outDir: join(root, 'report') });
  const table = readFileSync(join(rep.outDir, 'table.md'), 'utf8');
  assert.match(table, /\| Method \| Seeds \| MATH-500 \| AIME24 \| AIME25 \| AMC23 \| Minerva \| OlympiadBench \| Average \|/);
  assert.match(table, /\| Initial policy \| 1 \|/);
  for (const t of ['ReNCE', 'GRPO', 'DAPO', 'Online DPO']) assert.match(table, new RegExp(`\\| ${t} `));
  assert.match(readFileSync(join(rep.outDir, 'table.tex'), 'utf8'), /Method & MATH-500 & AIME24 & AIME25 & AMC23 & Minerva & OlympiadBench & Average/);
  assert.ok(existsSync(join(rep.outDir, 'index.html')));
});
