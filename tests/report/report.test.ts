// The report built from the hand-made fixture (tests/fixtures/results/fixture, values listed in
// its README): table values and CIs against hand computations, bold column bests, partial runs
// flagged, escaping, PNG sizes, deterministic output, atomic replacement, tolerant loading.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateReport, type ReportResult } from '../../harness/report/generate.ts';
import { loadExperiment } from '../../harness/report/load.ts';
import { summarize, type ComparisonTable } from '../../harness/report/summary.ts';
import { texEscape } from '../../harness/report/tables.ts';
import { esc } from '../../harness/report/html/template.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { FIXTURE, pngSize, scratch } from './helpers.ts';

const T2 = 4.302652729749464; // t_{0.975, 2}: three seeds
const close = (a: number, b: number, what: string, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

let out: string;
let report: ReportResult;
const summary = summarize(loadExperiment(FIXTURE), { resamples: 10_000 });
const table = (id: string): ComparisonTable => summary.tables.find((t) => t.metric.id === id)!;
const cell = (t: ComparisonTable, rowKey: string, col: string) => {
  const r = t.rows.find((x) => x.row.key === rowKey)!;
  return r.cells[t.columns.indexOf(col)]!;
};

before(async () => {
  out = join(scratch('fixture'), 'report');
  report = await generateReport(FIXTURE, { outDir: out });
});

test('rows: SFT initialisation first, then objectives in the config order; columns: benchmarks then Average', () => {
  const t = table('avgAtK');
  assert.deepEqual(t.rows.map((r) => r.row.title), ['SFT init', 'ReNCE', 'GRPO', 'Online DPO', 'DAPO']);
  assert.deepEqual(t.columns, ['arith-id', 'arith-ood', 'Average']);
  assert.equal(t.label, 'avg@4');
  // pass@1 equals avg@k, so it is not a table of its own.
  assert.deepEqual(summary.tables.map((x) => x.label), ['avg@4', 'pass@4', 'maj@4', 'greedy']);
});

test('cells are mean ± t_{0.975,n−1}·s/√n over seeds, computed by hand', () => {
  const t = table('avgAtK');
  // SFT arith-id: 0.40, 0.42, 0.44 → mean 0.42, s = 0.02.
  close(cell(t, 'sft', 'arith-id').stat.mean, 0.42, 'sft mean');
  close(cell(t, 'sft', 'arith-id').stat.half, T2 * 0.02 / Math.sqrt(3), 'sft half');
  // ReNCE arith-id: 0.60, 0.70, 0.65 → mean 0.65, s = 0.05.
  close(cell(t, 'rence', 'arith-id').stat.half, T2 * 0.05 / Math.sqrt(3), 'rence half');
  // ReNCE Average per seed: (0.60+0.30)/2 = 0.45, (0.70+0.36)/2 = 0.53, (0.65+0.33)/2 = 0.49 → mean 0.49, s = 0.04.
  assert.deepEqual(cell(t, 'rence', 'Average').values.map((v) => Math.round(v.value * 1e6) / 1e6), [0.45, 0.53, 0.49]);
  close(cell(t, 'rence', 'Average').stat.mean, 0.49, 'rence average');
  close(cell(t, 'rence', 'Average').stat.half, T2 * 0.04 / Math.sqrt(3), 'rence average half');
  // GRPO arith-id: seeds 1, 2 finished at 0.58, 0.62; seed 3 failed, its last eval (step 2) is 0.50.
  // mean 0.566667; squared deviations 0.000178 + 0.002844 + 0.004444 = 0.0074667; s = sqrt(0.0074667/2).
  const g = cell(t, 'grpo', 'arith-id');
  assert.deepEqual(g.values.map((v) => v.value), [0.58, 0.62, 0.5]);
  close(g.stat.mean, 1.7 / 3, 'grpo mean');
  close(g.stat.half, T2 * Math.sqrt((0.58 - 1.7 / 3) ** 2 / 2 + (0.62 - 1.7 / 3) ** 2 / 2 + (0.5 - 1.7 / 3) ** 2 / 2) / Math.sqrt(3), 'grpo half');
  // DAPO has one seed: the CI is n/a, not 0.
  assert.ok(Number.isNaN(cell(t, 'dapo', 'arith-id').stat.half));
  // Other metrics read their own fields: pass@4 is passAtK[3] = avg + 0.2 in the fixture.
  close(cell(table('passK'), 'rence', 'arith-id').stat.mean, 0.85, 'pass@4');
  close(cell(table('greedy'), 'dapo', 'arith-id').stat.mean, 0.67, 'greedy');
});

test('bold marks the best mean of each column, per metric', () => {
  const bold = (t: ComparisonTable) => t.columns.map((c) => t.rows.filter((r) => r.cells[t.columns.indexOf(c)]?.best).map((r) => r.row.key));
  assert.deepEqual(bold(table('avgAtK')), [['rence'], ['rence'], ['rence']]);
  // greedy: DAPO's single seed (0.67, 0.36) beats ReNCE's mean (0.66, 0.34).
  assert.deepEqual(bold(table('greedy')), [['dapo'], ['dapo'], ['dapo']]);
  const md = readFileSync(join(out, 'table.md'), 'utf8');
  assert.match(md, /\| ReNCE \| 3 \| \*\*65\.0 ± 12\.4\*\* \| \*\*33\.0 ± 7\.5\*\* \| \*\*49\.0 ± 9\.9\*\* \|/);
  assert.match(md, /\| GRPO † \| 3 \| 56\.7 ± 15\.2 \| 27\.7 ± 6\.3 \| 42\.2 ± 10\.7 \|/);
  assert.match(md, /\| DAPO \| 1 \| 62\.0 ± n\/a \| 31\.0 ± n\/a \| 46\.5 ± n\/a \|/);
  assert.match(md, /\| SFT init \| 3 \| 42\.0 ± 5\.0 \|/);
  assert.equal(report.tableMarkdown.includes('**65.0 ± 12.4**'), true, 'headline table is avg@k');
});

test('a partial experiment is flagged, not hidden: † rows and a note per unfinished run', () => {
  const t = table('avgAtK');
  assert.deepEqual(t.rows.filter((r) => r.row.partial).map((r) => r.row.key), ['grpo', 'online-dpo']);
  assert.equal(summary.notes.length, 2);
  assert.match(summary.notes[0]!, /grpo-s3: failed at step 3 \(non-finite loss.*latest evaluation \(step 2\)/);
  assert.match(summary.notes[1]!, /online-dpo-s2: still running \(step 3 of 4\).*step 2/);
  assert.deepEqual(report.warnings, summary.notes);
  for (const f of ['table.md', 'table.tex', 'index.html']) {
    const text = readFileSync(join(out, f), 'utf8');
    assert.ok(text.includes('grpo-s3: failed at step 3'), `${f} names the failed run`);
    assert.ok(text.includes('online-dpo-s2: still running'), `${f} names the running run`);
  }
  assert.match(readFileSync(join(out, 'index.html'), 'utf8'), /Partial experiment:<\/strong> 1 running, 1 failed out of 13 runs/);
});

test('significance: paired t-test and exact sign-flip test of each objective against the baseline (the first objective) on the Average', () => {
  const sig = summary.significance.find((s) => s.metric === 'avgAtK')!;
  assert.equal(sig.baseline?.key, 'rence');
  const grpo = sig.rows.find((r) => r.row.key === 'grpo')!.result!;
  // GRPO Average per seed: 0.43, 0.46, 0.375; minus ReNCE's 0.45, 0.53, 0.49 → −0.02, −0.07, −0.115.
  const d = [-0.02, -0.07, -0.115];
  const m = (-0.02 - 0.07 - 0.115) / 3;
  const sd = Math.sqrt(d.reduce((a, x) => a + (x - m) ** 2, 0) / 2);
  close(grpo.meanDiff, m, 'mean diff');
  close(grpo.lo, m - T2 * sd / Math.sqrt(3), 'lo');
  close(grpo.hi, m + T2 * sd / Math.sqrt(3), 'hi');
  // t with 2 degrees of freedom has the closed-form CDF 1/2 + t / (2 √(2 + t²)).
  const t = m / (sd / Math.sqrt(3));
  close(grpo.pT, 1 - Math.abs(t) / Math.sqrt(2 + t * t), 'p, t-test', 1e-9);
  assert.equal(grpo.pSignFlip, 0.25);
  assert.equal(grpo.minPSignFlip, 0.25, 'the smallest p 3 seeds allow');
  assert.equal(grpo.bootstrap, undefined, 'no bootstrap below 10 seeds');
  assert.match(sig.rows.find((r) => r.row.key === 'dapo')!.note!, /1 seed paired with ReNCE/);
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.ok(html.includes('The paired t-test') && html.includes('cannot go below 2/2^n'), 'method stated');
  assert.match(readFileSync(join(out, 'table.md'), 'utf8'), /\| GRPO † \| 3 \| -6\.8 \| \[-18\.6, \+5\.0\] \| 0\.130 \| 0\.250 \| 0\.250 \| n\/a \|/);
});

test('table.csv and table.tex carry the same numbers; LaTeX is booktabs and escaped', () => {
  const csv = readFileSync(join(out, 'table.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'metric,metric_label,method_key,method,benchmark,mean,ci95_half_width,ci95_low,ci95_high,bench95_half_width,n_seeds,seed_values,best,partial');
  assert.equal(csv.length, 1 + 4 * 5 * 3, 'metrics × rows × columns');
  const rence = csv.find((l) => l.startsWith('avgAtK,avg@4,rence,ReNCE,arith-id,'))!.split(',');
  close(Number(rence[5]), 0.65, 'csv mean');
  close(Number(rence[6]), T2 * 0.05 / Math.sqrt(3), 'csv half');
  assert.equal(rence[9], '', 'no per-problem outcomes in the fixture: no benchmark interval');
  assert.equal(rence[10], '3');
  assert.equal(rence[12], 'true');
  const dapo = csv.find((l) => l.startsWith('avgAtK,avg@4,dapo,DAPO,arith-id,'))!.split(',');
  assert.equal(dapo[6], '', 'one seed: no CI in the CSV either');
  const tex = readFileSync(join(out, 'table.tex'), 'utf8');
  for (const k of ['\\toprule', '\\midrule', '\\bottomrule', '\\textbf{65.0} {\\scriptsize $\\pm$ 12.4}', 'GRPO$^\\dagger$', '62.0 {\\scriptsize $\\pm$ n/a}']) {
    assert.ok(tex.includes(k), `table.tex has ${k}`);
  }
  assert.equal(texEscape('a_b & 50% {x} #1 $y ~ ^ \\'), 'a\\_b \\& 50\\% \\{x\\} \\#1 \\$y \\textasciitilde{} \\textasciicircum{} \\textbackslash{}');
});

test('strings from results are escaped in the HTML: no injection from config values', () => {
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.ok(!html.includes('<script>alert('), 'raw script from experiment.json must not appear');
  assert.ok(html.includes('&lt;script&gt;alert('), 'config shown escaped');
  assert.equal(esc(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  assert.ok(!/(src|href)=["']?(https?:)?\/\//i.test(html), 'no network references');
});

test('PNG charts: one per benchmark learning curve plus training dynamics, 800×450', () => {
  const pngs = report.files.filter((f) => f.endsWith('.png'));
  assert.deepEqual(pngs, ['curve-arith-id.png', 'curve-arith-ood.png', 'dyn-accuracy.png', 'dyn-entropy.png', 'dyn-responselength.png', 'dyn-reward.png']);
  for (const f of pngs) {
    const buf = readFileSync(join(out, f));
    assert.deepEqual(pngSize(buf), { width: 800, height: 450 }, f);
    assert.ok(buf.length > 10_000, `${f} has content (${buf.length} bytes)`);
  }
  assert.deepEqual(readdirSync(out).sort(), report.files);
});

test('same results, same report: byte-identical tables and HTML', async () => {
  const again = join(dirname(out), 'again');
  await generateReport(FIXTURE, { outDir: again });
  for (const f of ['table.md', 'table.tex', 'table.csv', 'significance.csv', 'index.html']) {
    assert.equal(readFileSync(join(again, f), 'utf8'), readFileSync(join(out, f), 'utf8'), f);
  }
});

test('output folder: replaced whole, no temporary leftovers, never a non-report folder', async () => {
  const parent = scratch('replace');
  const dest = join(parent, 'rep');
  mkdirSync(dest);
  writeFileSync(join(dest, 'precious.txt'), 'keep me');
  await assert.rejects(generateReport(FIXTURE, { outDir: dest }), (e: unknown) => e instanceof UsageError && /not an rlbench report/.test(e.message));
  assert.equal(readFileSync(join(dest, 'precious.txt'), 'utf8'), 'keep me');
  const dest2 = join(parent, 'rep2');
  await generateReport(FIXTURE, { outDir: dest2, resamples: 200 });
  writeFileSync(join(dest2, 'stale.png'), 'old');
  await generateReport(FIXTURE, { outDir: dest2, resamples: 200 });
  assert.ok(!existsSync(join(dest2, 'stale.png')), 'a regenerated report has no files from the previous one');
  assert.deepEqual(readdirSync(parent).sort(), ['rep', 'rep2'], 'no temporary folders left');
});

test('tolerant loading: missing optional fields, a malformed line, no ReNCE, no run.json', async () => {
  const dir = join(scratch('sparse'), 'sparse');
  mkdirSync(join(dir, 'grpo-s1'), { recursive: true });
  mkdirSync(join(dir, 'grpo-s2'), { recursive: true });
  writeFileSync(join(dir, 'grpo-s1', 'eval.jsonl'), '{"step":0,"benchmark":"b1","avgAtK":0.5}\n{"step":4,"benchmark":"b1","avgAtK":0.7}\n{not json\n');
  writeFileSync(join(dir, 'grpo-s2', 'eval.jsonl'), '{"step":4,"benchmark":"b1","avgAtK":0.6}\n{"benchmark":"b1","avgAtK":0.9}\n');
  const r = await generateReport(dir, { outDir: join(dirname(dir), 'out'), resamples: 200 });
  assert.ok(r.warnings.some((w) => w.includes(join('grpo-s1', 'eval.jsonl') + ':3') && w.includes('not valid JSON')), r.warnings.join('\n'));
  assert.ok(r.warnings.some((w) => w.includes(join('grpo-s2', 'eval.jsonl') + ':2') && w.includes('"step"')), 'names the missing field');
  assert.ok(r.warnings.some((w) => w.includes('run.json: missing')));
  assert.match(r.tableMarkdown, /\| grpo † \| 2 \| \*\*65\.0 ± /);
  const html = readFileSync(join(r.outDir, 'index.html'), 'utf8');
  assert.ok(html.includes('grpo is the only objective; nothing to compare'), 'significance: nothing to compare with a note');
  assert.ok(!r.files.some((f) => f.startsWith('dyn-')), 'no metrics.jsonl: no dynamics PNGs');
});

test('bad input: a missing folder or one without runs is a UsageError naming the path', async () => {
  await assert.rejects(generateReport('/nonexistent/results/x'), (e: unknown) => e instanceof UsageError && /results directory not found: \/nonexistent\/results\/x/.test(e.message));
  const empty = scratch('empty');
  await assert.rejects(generateReport(empty), (e: unknown) => e instanceof UsageError && e.message.includes(`no runs in ${empty}`));
});

test('long logs are averaged per seed in bins of steps before the mean and CI over seeds', async () => {
  const { aggregateBySteps, MAX_POINTS } = await import('../../harness/report/summary.ts');
  const seed = (off: number) => Array.from({ length: 240 }, (_, i) => ({ step: i + 1, rollouts: 10 * (i + 1), wallTime: i + 1, y: i + 1 + off }));
  const pts = aggregateBySteps([seed(0), seed(2)]);
  assert.equal(MAX_POINTS, 120);
  assert.equal(pts.length, 120, '240 steps in bins of 2');
  // First bin: steps 1, 2. Seed means 1.5 and 3.5 → mean 2.5, s = √2, half = t_{0.975,1}·√2/√2.
  close(pts[0]!.step, 1.5, 'bin step');
  close(pts[0]!.rollouts!, 15, 'bin rollouts');
  close(pts[0]!.y, 2.5, 'bin mean');
  close(pts[0]!.hi! - pts[0]!.y, 12.706204736174707, 'bin half-width', 1e-8);
  const short = aggregateBySteps([[{ step: 0, y: 1 }, { step: 5, y: 2 }]]);
  assert.deepEqual(short.map((p) => [p.step, p.y, p.lo, p.rollouts]), [[0, 1, null, null], [5, 2, null, null]], 'one seed: no band; no rollouts logged: null x');
});
