// End-to-end: a tiny experiment (2 objectives × 1 seed × 4 steps) through the real runner,
// engine, curriculum and objectives. The tiny random policy never earns a reward, so besides
// GRPO it trains a fixture objective that always updates (tests/runs/fixtures). It writes valid results; the same seed gives the same
// numbers; an interrupted run resumes to exactly the numbers of an uninterrupted one; finished
// runs are skipped; a NaN stops only its own run; a changed config is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyExperiment } from '../util/tiny-experiment.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { readJsonl } from '../../harness/runs/results.ts';

const root = mkdtempSync(join(tmpdir(), 'rlbench-e2e-'));
const quiet = () => {};
const plugin = join(process.cwd(), 'tests/runs/fixtures/push-objective.ts');

function experiment(over: Record<string, unknown> = {}): string {
  const path = writeTinyExperiment(join(root, `exp-${Math.random().toString(36).slice(2)}.json`), over);
  return path;
}

/** Every number a run produced, minus the clocks. */
function numbers(dir: string, run: string): unknown {
  const clock = (k: string) => k === 'wallTime' || k === 'evalTime' || k.startsWith('time/');
  const strip = (rows: Record<string, unknown>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !clock(k))));
  return { metrics: strip(readJsonl(join(dir, run, 'metrics.jsonl'))), eval: strip(readJsonl(join(dir, run, 'eval.jsonl'))) };
}

const dirA = join(root, 'a');
const dirB = join(root, 'b');
const dirC = join(root, 'c');
const path = experiment();

test('an experiment writes valid results', async () => {
  const r = await runExperimentFile(path, { outputRoot: dirA, log: quiet });
  const exp = join(dirA, 'tiny');
  assert.deepEqual(r.runs.map((x) => [x.run, x.status]), [['grpo-s1', 'finished'], ['push-s1', 'finished']]);
  for (const f of ['experiment.json', 'summary.csv', 'curves.csv', 'sft-s1/run.json', 'sft-s1/eval.jsonl', 'grpo-s1/checkpoint/policy.onnx', 'grpo-s1/checkpoint/optimizer.bin', 'grpo-s1/checkpoint/state.json']) {
    assert.ok(existsSync(join(exp, f)), `${f} exists`);
  }
  const rj = JSON.parse(readFileSync(join(exp, 'grpo-s1', 'run.json'), 'utf8'));
  assert.equal(rj.status, 'finished');
  assert.equal(rj.step, 4);
  assert.equal(rj.totalSteps, 4);
  assert.equal(rj.rollouts, 4 * 2 * 3);
  assert.equal(rj.objective.id, 'grpo');
  assert.equal(rj.objective.config.epsHigh, 0.2);
  assert.equal(rj.versions.onnxruntime, '1.30.0');
  for (const k of ['gitCommit', 'cpu', 'startedAt', 'finishedAt', 'provider']) assert.ok(k in rj, `run.json has ${k}`);
  const metrics = readJsonl<Record<string, number>>(join(exp, 'grpo-s1', 'metrics.jsonl'));
  assert.deepEqual(metrics.map((m) => m.step), [1, 2, 3, 4]);
  assert.deepEqual(metrics.map((m) => m.rollouts), [6, 12, 18, 24]);
  for (const m of metrics) {
    for (const k of ['tokens', 'wallTime', 'reward', 'accuracy', 'responseLength', 'entropy', 'lr', 'loss', 'obj/clipFracLow', 'obj/klK3', 'obj/ratioMean']) assert.equal(typeof m[k], 'number', `metrics has ${k}`);
  }
  const push = readJsonl<Record<string, number>>(join(exp, 'push-s1', 'metrics.jsonl'));
  // 2 epochs × 2 minibatches of whole groups (2 prompts): 4 real updates per step.
  for (const m of push) assert.deepEqual([m.updates, typeof m.gradNorm, m['obj/tokens']! > 0], [4, 'number', true]);
  const evals = readJsonl<Record<string, unknown>>(join(exp, 'grpo-s1', 'eval.jsonl'));
  assert.deepEqual(evals.map((e) => e.step), [0, 2, 4]);
  const sftEval = readJsonl<Record<string, unknown>>(join(exp, 'sft-s1', 'eval.jsonl'));
  assert.deepEqual(evals[0], sftEval[0], 'the run starts from the SFT evaluation of its seed');
  for (const e of evals) {
    assert.equal(e.benchmark, 'arith-id');
    assert.equal(e.n, 4);
    assert.equal((e.passAtK as number[]).length, 2);
    assert.ok((e.passAtK as number[])[0] === e.avgAtK);
  }
  const summary = readFileSync(join(exp, 'summary.csv'), 'utf8').trim().split('\n');
  assert.equal(summary[0], 'run,objective,seed,status,step,rollouts,tokens,wallTime,benchmark,n,k,avgAtK,passAt1,passAtK,majAtK,greedy,meanLength');
  assert.deepEqual(summary.slice(1).map((l) => l.split(',').slice(0, 5).join(',')), ['grpo-s1,grpo,1,finished,4', 'push-s1,push,1,finished,4', 'sft-s1,sft,1,finished,0']);
  assert.equal(readFileSync(join(exp, 'curves.csv'), 'utf8').trim().split('\n').length, 1 + 3 + 3 + 1);
});

test('the same seed gives the same numbers (SFT trained again from scratch)', async () => {
  await runExperimentFile(path, { outputRoot: dirB, log: quiet });
  for (const run of ['sft-s1', 'grpo-s1', 'push-s1']) assert.deepEqual(numbers(join(dirB, 'tiny'), run), numbers(join(dirA, 'tiny'), run), run);
});

test('interrupt and resume gives the numbers of an uninterrupted run', async () => {
  // Crash right after step 3: its metrics line is on disk, the last checkpoint is step 2.
  await assert.rejects(
    runExperimentFile(path, {
      outputRoot: dirC,
      log: quiet,
      afterStep: (run, step) => {
        if (run === 'grpo-s1' && step === 3) throw new Error('simulated crash');
      },
    }),
    /simulated crash/,
  );
  const mid = JSON.parse(readFileSync(join(dirC, 'tiny', 'grpo-s1', 'run.json'), 'utf8'));
  assert.equal(mid.status, 'running');
  assert.equal(mid.step, 2);
  assert.equal(readJsonl(join(dirC, 'tiny', 'grpo-s1', 'metrics.jsonl')).length, 3);
  const logs: string[] = [];
  const r = await runExperimentFile(path, { outputRoot: dirC, log: (m) => logs.push(m) });
  assert.ok(logs.some((l) => /grpo-s1: resuming from step 2/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => /sft: reusing cached checkpoint/.test(l)));
  assert.deepEqual(r.runs.map((x) => x.status), ['finished', 'finished']);
  for (const run of ['grpo-s1', 'push-s1']) assert.deepEqual(numbers(join(dirC, 'tiny'), run), numbers(join(dirA, 'tiny'), run), run);
});

test('finished runs are skipped; --only and --fresh redo just what they name; a changed config is refused', async () => {
  const before = readFileSync(join(dirA, 'tiny', 'grpo-s1', 'metrics.jsonl'), 'utf8');
  const again = await runExperimentFile(path, { outputRoot: dirA, log: quiet });
  assert.deepEqual(again.runs.map((x) => x.status), ['skipped', 'skipped']);
  assert.equal(readFileSync(join(dirA, 'tiny', 'grpo-s1', 'metrics.jsonl'), 'utf8'), before);
  const only = await runExperimentFile(path, { outputRoot: dirA, log: quiet, fresh: true, only: 'push-s1' });
  assert.deepEqual(only.runs.map((x) => [x.run, x.status]), [['push-s1', 'finished']]);
  assert.deepEqual(numbers(join(dirA, 'tiny'), 'push-s1'), numbers(join(dirB, 'tiny'), 'push-s1'));
  await assert.rejects(runExperimentFile(path, { outputRoot: dirA, log: quiet, only: 'nope-s1' }), /--only nope-s1: no such run .*grpo-s1, push-s1/);
  const changed = experiment({ rl: { promptsPerStep: 2, rolloutsPerPrompt: 3, maxTokens: 12, epochs: 2, minibatches: 2, lr: 0.02 } });
  await assert.rejects(runExperimentFile(changed, { outputRoot: dirA, log: quiet }), /different configuration \(rl\.lr: was 0\.01, now 0\.02\); run with --fresh/);
});

test('a non-finite loss fails only its own run, with a diagnostic, keeping its last good checkpoint', async () => {
  const p = experiment({ name: 'nan', objectives: [{ module: plugin, config: { nanAtStep: 2 } }, { id: 'grpo' }], checkpointEvery: 1, budget: { steps: 2 } });
  const r = await runExperimentFile(p, { outputRoot: dirA, log: quiet });
  assert.deepEqual(r.runs.map((x) => [x.run, x.status]), [['push-sampled-s1', 'failed'], ['grpo-s1', 'finished']]);
  const rj = JSON.parse(readFileSync(join(dirA, 'nan', 'push-sampled-s1', 'run.json'), 'utf8'));
  assert.equal(rj.status, 'failed');
  assert.equal(rj.step, 1);
  assert.deepEqual([rj.failure.step, rj.failure.tensor], [2, 'loss']);
  assert.match(rj.failure.message, /step 2, objective push-sampled: non-finite loss NaN/);
  const state = JSON.parse(readFileSync(join(dirA, 'nan', 'push-sampled-s1', 'checkpoint', 'state.json'), 'utf8'));
  assert.equal(state.step, 1);
  // A failed run is reported, not retried, until --fresh.
  const again = await runExperimentFile(p, { outputRoot: dirA, log: quiet });
  assert.deepEqual(again.runs.map((x) => x.status), ['skipped', 'skipped']);
});

test('an objective that throws fails only its own run, naming the step and the hook', async () => {
  const p = experiment({ name: 'throws', objectives: [{ module: plugin, config: { throwAtStep: 2 } }, { id: 'grpo' }], checkpointEvery: 1, budget: { steps: 2 } });
  const r = await runExperimentFile(p, { outputRoot: dirA, log: quiet });
  assert.deepEqual(r.runs.map((x) => [x.run, x.status]), [['push-sampled-s1', 'failed'], ['grpo-s1', 'finished']]);
  const rj = JSON.parse(readFileSync(join(dirA, 'throws', 'push-sampled-s1', 'run.json'), 'utf8'));
  assert.equal(rj.failure.step, 2);
  assert.match(rj.failure.message, /step 2, objective push-sampled: loss threw: cannot read properties of undefined/);
  const state = JSON.parse(readFileSync(join(dirA, 'throws', 'push-sampled-s1', 'checkpoint', 'state.json'), 'utf8'));
  assert.equal(state.step, 1);
});
