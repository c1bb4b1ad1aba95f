// The report's fair comparison, on small synthetic results written here: runs compared at equal
// compute by default (and at equal steps or their last evaluation on request), the SFT row as
// one measurement (n = 1), the benchmark-noise interval by hand from per-problem outcomes, the
// significance baseline as a setting, objectives' own metric labels, and the probe section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadExperiment } from '../../harness/report/load.ts';
import { summarize, type ComparisonTable } from '../../harness/report/summary.ts';
import { formatCell, markdownTable } from '../../harness/report/tables.ts';
import { generateReport } from '../../harness/report/generate.ts';
import { pairedComparison, problemStandardError } from '../../harness/report/stats.ts';
import { PROBE_FORMAT, type ProbeResult } from '../../harness/report/probe.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { Rng } from '../../harness/util/rng.ts';
import { scratch } from './helpers.ts';

const close = (a: number, b: number, what: string, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

interface Ev { step: number; rollouts: number; acc: number; correct?: number[] }

/** Writes results/<name>: per run its run.json and eval.jsonl (one benchmark 'b', k = 2). */
function writeResults(name: string, runs: Record<string, { objective: string; title: string; seed: number; evals: Ev[]; labels?: Record<string, string>; metrics?: Record<string, number>[] }>, config: Record<string, unknown> = {}): string {
  const dir = join(scratch(name), name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify({ name, objectives: [...new Set(Object.values(runs).map((r) => r.objective))].filter((o) => o !== 'sft').map((id) => ({ id })), ...config }));
  for (const [run, r] of Object.entries(runs)) {
    mkdirSync(join(dir, run));
    const last = r.evals[r.evals.length - 1]!;
    writeFileSync(join(dir, run, 'run.json'), JSON.stringify({ run, seed: r.seed, status: 'finished', step: last.step, rollouts: last.rollouts, objective: { id: r.objective, title: r.title, ...(r.labels ? { metricLabels: r.labels } : {}) }, versions: {}, cpu: 'Test CPU × 2', isa: 'x86_64: avx2 fma' }));
    writeFileSync(join(dir, run, 'eval.jsonl'), r.evals.map((e) => JSON.stringify({
      step: e.step, rollouts: e.rollouts, benchmark: 'b', n: e.correct?.length ?? 4, k: 2, avgAtK: e.acc, passAtK: [e.acc, e.acc], majAtK: e.acc, greedy: e.acc,
      ...(e.correct ? { perProblem: { correct: e.correct, maj: e.correct.map((c) => (c === 2 ? 1 : 0)), greedy: e.correct.map((c) => (c > 0 ? 1 : 0)) } } : {}),
    }) + '\n').join(''));
    if (r.metrics) writeFileSync(join(dir, run, 'metrics.jsonl'), r.metrics.map((m) => JSON.stringify(m) + '\n').join(''));
  }
  return dir;
}

const sft = (seed: number, correct?: number[]) => ({ objective: 'sft', title: 'SFT initialisation', seed, evals: [{ step: 0, rollouts: 0, acc: 0.5, ...(correct ? { correct } : {}) }] });

test('equal compute by default: each run at its evaluation nearest to the common rollout count; steps and final on request', () => {
  // GRPO: 100 rollouts a step, evaluated every 2 steps. DAPO refills: 180 a step, evaluated at the same steps.
  const grpo = (seed: number, off: number) => ({ objective: 'grpo', title: 'GRPO', seed, evals: [{ step: 2, rollouts: 200, acc: 0.6 + off }, { step: 4, rollouts: 400, acc: 0.7 + off }] });
  const dapo = (seed: number, off: number) => ({ objective: 'dapo', title: 'DAPO', seed, evals: [{ step: 2, rollouts: 360, acc: 0.65 + off }, { step: 4, rollouts: 720, acc: 0.8 + off }] });
  const dir = writeResults('compute', { 'sft-s1': sft(1), 'grpo-s1': grpo(1, 0), 'grpo-s2': grpo(2, 0.02), 'dapo-s1': dapo(1, 0), 'dapo-s2': dapo(2, 0.02) });
  const exp = loadExperiment(dir);
  const mean = (t: ComparisonTable, key: string) => t.rows.find((r) => r.row.key === key)!.cells[0]!.stat.mean;
  const s = summarize(exp);
  assert.deepEqual([s.comparison.at, s.comparison.target], ['rollouts', 400]);
  // DAPO's evaluation nearest to 400 rollouts is its step-2 one (360), not its last (720).
  close(mean(s.tables[0]!, 'dapo'), 0.66, 'dapo at equal compute');
  close(mean(s.tables[0]!, 'grpo'), 0.71, 'grpo');
  assert.equal(s.compute.find((c) => c.row.key === 'dapo')!.comparedRollouts.mean, 360);
  assert.match(s.tables.length ? formatCell(s.tables[0]!.rows[0]!.cells[0]!, s.tables[0]!.rows[0]!.row) : '', /^50\.0$/);
  // At equal steps (or each run's last) DAPO is taken at step 4, where it has spent 80% more.
  const steps = summarize(exp, { compareAt: 'steps' });
  assert.deepEqual([steps.comparison.target, mean(steps.tables[0]!, 'dapo')], [4, 0.81]);
  assert.ok(steps.notes.some((n) => /DAPO: evaluated at 4 steps/.test(n)) === false, 'at equal steps DAPO is matched');
  close(mean(summarize(exp, { compareAt: 'final' }).tables[0]!, 'dapo'), 0.81, 'final');
  // The setting in experiment.json is the default the options override.
  const cfgDir = writeResults('compute-cfg', { 'grpo-s1': grpo(1, 0), 'dapo-s1': dapo(1, 0) }, { report: { compareAt: 'final' } });
  assert.equal(summarize(loadExperiment(cfgDir)).comparison.at, 'final');
  // A run compared far from the point is flagged.
  const far = writeResults('compute-far', { 'grpo-s1': grpo(1, 0), 'dapo-s1': { ...dapo(1, 0), evals: [{ step: 4, rollouts: 720, acc: 0.8 }] } });
  assert.ok(summarize(loadExperiment(far)).notes.some((n) => /^DAPO: evaluated at 720 rollouts on average, 80% from the comparison point 400: not matched/.test(n)));
});

test('the SFT row is one checkpoint evaluated once: n = 1, shown without a seed interval', () => {
  const correct = [2, 0, 1, 1];
  const obj = (seed: number, acc: number) => ({ objective: 'grpo', title: 'GRPO', seed, evals: [{ step: 0, rollouts: 0, acc: 0.5 }, { step: 4, rollouts: 400, acc }] });
  const dir = writeResults('sft-once', { 'sft-s1': sft(1, correct), 'sft-s2': sft(2, correct), 'sft-s3': sft(3, correct), 'grpo-s1': obj(1, 0.6), 'grpo-s2': obj(2, 0.7), 'grpo-s3': obj(3, 0.65) });
  const s = summarize(loadExperiment(dir));
  const t = s.tables[0]!;
  const sftRow = t.rows.find((r) => r.row.isSft)!;
  assert.equal(sftRow.row.runs.length, 3);
  assert.equal(sftRow.row.measured.length, 1);
  assert.equal(sftRow.cells[0]!.stat.n, 1);
  const md = markdownTable(t);
  // SFT: 50.0 with its benchmark interval (per-problem 1, 0, .5, .5: sd 0.4082, SE 0.2041).
  assert.match(md, /\| SFT init \| 1 \| 50\.0 \(±40\.0\) \| 50\.0 \(±40\.0\) \|/);
  assert.match(md, /\| GRPO \| 3 \| \*\*65\.0 ± 12\.4\*\* \|/, 'the objective keeps its CI over 3 seeds (no per-problem data: no benchmark interval)');
  assert.ok(s.tables[0]!.label === 'avg@2');
  assert.deepEqual(s.notes, [], 'one measurement is not "the Average uses 1 of 3 seeds"');
});

test('benchmark noise: 1.96 × the standard error over problems of the seed-averaged per-problem values, by hand', () => {
  // Two seeds, 4 problems, k = 2: per-problem accuracies s1 (1, .5, 0, 0), s2 (1, 0, .5, 0);
  // seed means (1, .25, .25, 0), mean .375, sd = sqrt(((.625)² + 2(.125)² + (.375)²)/3).
  const sd = Math.sqrt((0.625 ** 2 + 2 * 0.125 ** 2 + 0.375 ** 2) / 3);
  close(problemStandardError([[1, 0.5, 0, 0], [1, 0, 0.5, 0]]), sd / 2, 'SE');
  assert.ok(Number.isNaN(problemStandardError([[1, 0], [1]])), 'problems must line up');
  const run = (seed: number, correct: number[]) => ({ objective: 'grpo', title: 'GRPO', seed, evals: [{ step: 4, rollouts: 400, acc: correct.reduce((a, c) => a + c, 0) / 8, correct }] });
  const dir = writeResults('bench', { 'grpo-s1': run(1, [2, 1, 0, 0]), 'grpo-s2': run(2, [2, 0, 1, 0]) });
  const s = summarize(loadExperiment(dir));
  const cell = s.tables[0]!.rows[0]!.cells[0]!;
  close(cell.bench, 1.959963984540054 * sd / 2, 'avg@k half-width');
  // The Average over one benchmark carries the same interval.
  close(s.tables[0]!.rows[0]!.cells[1]!.bench, cell.bench, 'Average');
  // maj@2 per problem is 1 only where both samples are correct: (1, 0, 0, 0) in both seeds.
  close(s.tables.find((t) => t.metric.id === 'majAtK')!.rows[0]!.cells[0]!.bench, 1.959963984540054 * 0.5 / 2, 'maj@k half-width');
  assert.equal(formatCell(cell), `37.5 ± 0.0 (±${(100 * cell.bench).toFixed(1)})`);
});

test('paired t-test by hand; the bootstrap only from 10 seeds', () => {
  // d = 1, 2, 3: mean 2, s = 1, t = 2√3 with 2 df: p = 1 − t/√(2 + t²).
  const r = pairedComparison([1, 2, 3], new Rng(1));
  const t = 2 * Math.sqrt(3);
  close(r.t, t, 't');
  close(r.pT, 1 - t / Math.sqrt(2 + t * t), 'p', 1e-10);
  close(r.hi - r.meanDiff, 4.302652729749464 / Math.sqrt(3), 'half-width');
  assert.equal(r.minPSignFlip, 0.25);
  assert.equal(r.bootstrap, undefined);
  assert.deepEqual([pairedComparison([0.1, 0.1], new Rng(1)).pT, pairedComparison([0, 0], new Rng(1)).pT], [0, 1], 'no spread: p 0, or 1 when all zero');
  const ten = pairedComparison([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((x) => x - 4), new Rng(1), 500);
  assert.equal(ten.bootstrap?.resamples, 500);
  assert.equal(ten.minPSignFlip, 2 / 1024);
});

test('the significance baseline is a setting: experiment.json report.baseline, overridden by the option; an unknown one is refused', () => {
  const run = (objective: string, title: string, seed: number, acc: number) => ({ objective, title, seed, evals: [{ step: 4, rollouts: 400, acc }] });
  const runs = { 'rence-s1': run('rence', 'ReNCE', 1, 0.6), 'rence-s2': run('rence', 'ReNCE', 2, 0.62), 'grpo-s1': run('grpo', 'GRPO', 1, 0.5), 'grpo-s2': run('grpo', 'GRPO', 2, 0.55) };
  const first = summarize(loadExperiment(writeResults('base-default', runs)));
  assert.equal(first.significance[0]!.baseline!.key, 'rence', 'default: the first objective');
  const dir = writeResults('base-set', runs, { report: { baseline: 'grpo' } });
  const s = summarize(loadExperiment(dir));
  assert.equal(s.significance[0]!.baseline!.key, 'grpo');
  close(s.significance[0]!.rows[0]!.result!.meanDiff, 0.085, 'ReNCE − GRPO');
  assert.equal(summarize(loadExperiment(dir), { baseline: 'rence' }).significance[0]!.baseline!.key, 'rence');
  assert.throws(() => summarize(loadExperiment(dir), { baseline: 'ppo' }), (e: unknown) => e instanceof UsageError && /--baseline ppo: not an objective of base-set \(objectives: (rence, grpo|grpo, rence)\)/.test(e.message));
});

test('diagnostics take their titles from the objective\'s labels (a plugin\'s too), then the probe section and the CPU\'s ISA appear in the page', async () => {
  const metrics = [1, 2].map((step) => ({ step, rollouts: 100 * step, 'obj/myScore': step / 10, 'obj/otherThing': 1 }));
  const dir = writeResults('labels', {
    'mine-s1': { objective: 'my-plugin', title: 'My plugin', seed: 1, evals: [{ step: 2, rollouts: 200, acc: 0.5 }], labels: { myScore: 'my carefully named score' }, metrics },
  });
  const probe: ProbeResult = {
    format: PROBE_FORMAT, experiment: 'labels', checkpoint: 'ckpt', prompts: 2, rolloutsPerPrompt: 2, temperature: 1, seed: 0,
    rollouts: [{ prompt: 0, correct: true, length: 3 }, { prompt: 0, correct: false, length: 2 }, { prompt: 1, correct: true, length: 4 }, { prompt: 1, correct: false, length: 1 }],
    accuracy: 0.5,
    objectives: [
      { name: 'grpo', id: 'grpo', title: 'GRPO', loss: 0, gradNorm: 0.5, weights: [0.7, -0.7, 0.7, -0.7], correct: { n: 2, mean: 0.7, min: 0.7, max: 0.7 }, incorrect: { n: 2, mean: -0.7, min: -0.7, max: -0.7 }, contrast: 1 },
      { name: 'rence', id: 'rence', title: 'ReNCE', loss: 0.69, gradNorm: 0.25, weights: [0.5, -0.5, 0.5, -0.5], correct: { n: 2, mean: 0.5, min: 0.5, max: 0.5 }, incorrect: { n: 2, mean: -0.5, min: -0.5, max: -0.5 }, contrast: 1 },
    ],
    cosine: [[1, 0.93], [0.93, 1]],
    createdAt: '2026-11-27T00:00:00.000Z',
  };
  writeFileSync(join(dir, 'probe.json'), JSON.stringify(probe));
  const s = summarize(loadExperiment(dir));
  const titles = s.diagnostics[0]!.charts.map((c) => c.title);
  assert.deepEqual(titles, ['my carefully named score', 'other thing'], 'labelled first, then the split camelCase name');
  const r = await generateReport(dir, { outDir: join(dir, '..', 'report') });
  const html = readFileSync(join(r.outDir, 'index.html'), 'utf8');
  assert.match(html, /<h2 id="probe">Same-rollout gradient probe<\/h2>/);
  assert.match(html, /<td style="background:rgb\(\d+, \d+, \d+\)" title="0\.9300">0\.930<\/td>/);
  assert.match(html, /<th class="l">CPU instruction sets<\/th><td class="l mono">x86_64: avx2 fma<\/td>/);
});
