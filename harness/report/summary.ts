// Turns a loaded experiment into what a report shows: the comparison tables (mean ± 95% CI over
// seeds per objective and benchmark, beside the 95% interval due to the finite benchmark; the
// per-seed Average; the bold column best), each run taken at the same compute by default (its
// evaluation nearest to a common number of generated rollouts), the paired tests against the
// baseline objective, compute totals, and chart specs (learning curves, training dynamics,
// objective diagnostics). Everything here is pure and deterministic; rendering lives in
// tables.ts, charts.ts and html/.
import type { LoadedEvalRow, LoadedExperiment, MetricRow, RunData } from './load.ts';
import { mean, meanCI, type MeanCI } from '../util/stats.ts';
import { pairedComparison, problemStandardError, type PairedComparison } from './stats.ts';
import type { ChartSpec, SeriesPoint } from './html/chart-config.js';
import { Rng } from '../util/rng.ts';
import { UsageError } from '../util/errors.ts';

// pass@1 is not listed: the unbiased pass@1 is avg@k exactly (c/k per problem, averaged).
export type EvalMetricId = 'avgAtK' | 'passK' | 'majAtK' | 'greedy';

export interface EvalMetric {
  id: EvalMetricId;
  /** Label with the number of samples filled in, e.g. 'avg@4'; `k` is null when benchmarks differ. */
  label(k: number | null): string;
  describe: string;
  get(e: LoadedEvalRow): number | undefined;
  /** The per-problem values whose mean is get(e), for the benchmark-noise interval. */
  perProblem(e: LoadedEvalRow): readonly number[] | undefined;
}

export const EVAL_METRICS: readonly EvalMetric[] = [
  {
    id: 'avgAtK', label: (k) => `avg@${k ?? 'k'}`, describe: 'mean accuracy over the k sampled responses (= the unbiased pass@1)', get: (e) => e.avgAtK,
    perProblem: (e) => (e.perProblem && e.k ? e.perProblem.correct.map((c) => c / e.k!) : undefined),
  },
  {
    id: 'passK', label: (k) => `pass@${k ?? 'k'}`, describe: 'unbiased pass@k: at least one of k samples correct',
    get: (e) => (e.passAtK && e.passAtK.length ? e.passAtK[(e.k ?? e.passAtK.length) - 1] ?? e.passAtK[e.passAtK.length - 1] : undefined),
    perProblem: (e) => (e.perProblem && e.k ? e.perProblem.correct.map((c) => (c > 0 ? 1 : 0)) : undefined),
  },
  { id: 'majAtK', label: (k) => `maj@${k ?? 'k'}`, describe: 'majority vote over the k extracted answers (equivalent answers vote together)', get: (e) => e.majAtK, perProblem: (e) => e.perProblem?.maj },
  { id: 'greedy', label: () => 'greedy', describe: 'greedy-decoding accuracy', get: (e) => e.greedy, perProblem: (e) => e.perProblem?.greedy ?? undefined },
];

/** Which evaluation of each run the tables use. */
export type CompareAt = 'rollouts' | 'steps' | 'final';
export const COMPARE_AT: readonly CompareAt[] = ['rollouts', 'steps', 'final'];

/** A run's evaluation more than this far (relatively) from the comparison point is flagged. */
export const COMPUTE_MISMATCH = 0.1;

export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#8C564B', '#332288', '#117733', '#AA4499'];
export const SFT_COLOR = '#6b7280';
export const PARTIAL_MARK = '†';

export interface Row {
  key: string;
  title: string;
  objectiveId: string;
  isSft: boolean;
  runs: RunData[];
  /**
   * The runs whose evaluations are independent: for the SFT row, one (every seed evaluates the
   * same checkpoint with the same draws, so its copies are one measurement, n = 1).
   */
  measured: RunData[];
  color: string;
  /** Some run is not finished (running, failed, or of unknown status): the row is marked †. */
  partial: boolean;
}

export interface Cell {
  values: { seed: number; value: number }[];
  stat: MeanCI;
  /** 95% half-width due to the finite benchmark (1.96 × the standard error over problems); NaN when not recorded. */
  bench: number;
  best: boolean;
}

export interface ComparisonTable {
  metric: EvalMetric;
  label: string;
  /** Benchmarks, then 'Average'. */
  columns: string[];
  /** What the tables print over each column: the paper's names for its six benchmarks (MATH-500, AIME24, …), else the benchmark's. */
  headers: string[];
  rows: { row: Row; cells: (Cell | null)[] }[];
}

export interface SignificanceRow {
  row: Row;
  /** Absent when fewer than two seeds pair up; `note` says why. */
  result?: PairedComparison;
  note?: string;
}

export interface Significance {
  metric: EvalMetricId;
  baseline: Row | null;
  rows: SignificanceRow[];
  note?: string;
}

export interface ComputeRow {
  row: Row;
  steps: MeanCI;
  rollouts: MeanCI;
  tokens: MeanCI;
  wallTime: MeanCI;
  tokensPerSecond: MeanCI;
  /** Rollouts and step of the evaluations the tables use (mean over seeds). */
  comparedRollouts: MeanCI;
  comparedStep: MeanCI;
}

/** Where the tables compare the runs: which evaluation of each, and at what point. */
export interface Comparison {
  at: CompareAt;
  /** The common rollout count or step the evaluations are nearest to (null for 'final'). */
  target: number | null;
  /** One sentence for captions. */
  describe: string;
}

export interface DiagnosticsGroup {
  row: Row;
  charts: ChartSpec[];
}

export interface Summary {
  experiment: string;
  benchmarks: string[];
  rows: Row[];
  comparison: Comparison;
  /** The significance baseline's row key (from the options, experiment.json report.baseline, or the first objective). */
  baselineKey: string | null;
  tables: ComparisonTable[];
  significance: Significance[];
  compute: ComputeRow[];
  /** Per benchmark and eval metric: the learning curve. */
  curves: { benchmark: string; byMetric: Record<EvalMetricId, ChartSpec> }[];
  dynamics: ChartSpec[];
  diagnostics: DiagnosticsGroup[];
  /** Footnotes for † rows and other caveats, shown under every table. */
  notes: string[];
  bootstrapResamples: number;
}

export const BOOTSTRAP_RESAMPLES = 10_000;

/**
 * A metric's title: the objective's own label (run.json objective.metricLabels, written from
 * the objective's metricLabels), else its camelCase name split into words.
 */
export function objectiveMetricLabel(name: string, labels: Readonly<Record<string, string>> = {}): string {
  return labels[name] ?? name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
}

const DYNAMICS: { field: string; title: string; yLabel: string; percent: boolean }[] = [
  { field: 'reward', title: 'Mean reward', yLabel: 'reward', percent: false },
  { field: 'accuracy', title: 'Training accuracy', yLabel: 'accuracy (%)', percent: true },
  { field: 'responseLength', title: 'Response length', yLabel: 'tokens', percent: false },
  { field: 'entropy', title: 'Policy entropy', yLabel: 'nats / token', percent: false },
];

/** Longest series drawn point by point; longer ones are averaged in bins of steps. */
export const MAX_POINTS = 120;

export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

/** The evaluation with the largest step, per benchmark: a run's final (or latest) result. */
export function finalEvals(run: RunData): Map<string, LoadedEvalRow> {
  const out = new Map<string, LoadedEvalRow>();
  for (const e of run.evals) {
    const cur = out.get(e.benchmark);
    if (!cur || e.step >= cur.step) out.set(e.benchmark, e);
  }
  return out;
}

const position = (e: LoadedEvalRow, at: CompareAt): number | undefined => (at === 'rollouts' ? e.rollouts : e.step);

/**
 * The common point the runs are compared at: the largest rollout count (or step) that every
 * finished training run reached at an evaluation (every run when none is finished yet). With a
 * compute budget and the rollout schedule, that is each run's end, to within one step.
 */
export function comparisonPoint(rows: readonly Row[], at: CompareAt): number | null {
  if (at === 'final') return null;
  const training = rows.filter((r) => !r.isSft).flatMap((r) => r.runs);
  const finished = training.filter((r) => r.status === 'finished');
  let target: number | null = null;
  for (const run of finished.length ? finished : training) {
    const reach = Math.max(...run.evals.map((e) => position(e, at) ?? -Infinity));
    if (reach === -Infinity) continue;
    target = target === null ? reach : Math.min(target, reach);
  }
  return target;
}

/**
 * Per benchmark, the run's evaluation the tables use: its last ('final'), or the one nearest to
 * `target` in rollouts or steps (ties: the earlier). A run whose evaluations lack the position
 * (old results) falls back to its last.
 */
export function comparedEvals(run: RunData, at: CompareAt, target: number | null): Map<string, LoadedEvalRow> {
  if (at === 'final' || target === null) return finalEvals(run);
  const out = new Map<string, LoadedEvalRow>();
  const fallback = finalEvals(run);
  for (const [b, last] of fallback) {
    let best: LoadedEvalRow | undefined;
    for (const e of run.evals) {
      if (e.benchmark !== b) continue;
      const x = position(e, at);
      if (x === undefined) continue;
      const d = Math.abs(x - target);
      const bd = best ? Math.abs(position(best, at)! - target) : Infinity;
      if (d < bd || (d === bd && e.step < best!.step)) best = e;
    }
    out.set(b, best ?? last);
  }
  return out;
}

/** Names listed in config[field] (strings, or objects named by the first of `fields` present). */
function listedInConfig(config: unknown, field: string, fields: string[]): string[] {
  const list = typeof config === 'object' && config !== null ? (config as Record<string, unknown>)[field] : undefined;
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const o of list) {
    if (typeof o === 'string') out.push(o);
    else if (typeof o === 'object' && o !== null) {
      const f = fields.find((k) => typeof (o as Record<string, unknown>)[k] === 'string');
      if (f) out.push((o as Record<string, string>)[f]!);
    }
  }
  return out;
}

/** Sorts names in the order the config lists them; unlisted ones follow, alphabetically or as given. */
function orderBy(names: string[], listed: string[], alphabetical: boolean): string[] {
  const rank = (k: string) => { const i = listed.indexOf(k); return i < 0 ? listed.length : i; };
  return names.map((k, i) => ({ k, i })).sort((a, b) => rank(a.k) - rank(b.k) || (alphabetical ? (a.k < b.k ? -1 : a.k > b.k ? 1 : 0) : a.i - b.i)).map((x) => x.k);
}

function buildRows(exp: LoadedExperiment): Row[] {
  const byKey = new Map<string, RunData[]>();
  for (const r of exp.runs) {
    const list = byKey.get(r.key) ?? [];
    list.push(r);
    byKey.set(r.key, list);
  }
  const isSft = (k: string) => k === 'sft' || byKey.get(k)!.every((r) => r.objectiveId === 'sft');
  const keys = [...byKey.keys()];
  const listed = listedInConfig(exp.config, 'objectives', ['name', 'objective', 'id']);
  const ordered = [...keys.filter(isSft).sort(), ...orderBy(keys.filter((k) => !isSft(k)), listed, true)];
  const titles = new Map<string, string>();
  for (const k of ordered) {
    const r0 = byKey.get(k)![0]!;
    // A named variant (runs '<name>-s<seed>' of some objective) keeps its name beside the title.
    // The step-0 row: the SFT warm start, or the initial policy of a run without SFT (a Hugging Face checkpoint).
    titles.set(k, isSft(k) ? (r0.objectiveTitle === 'Initial policy' ? 'Initial policy' : 'SFT init') : k === r0.objectiveId ? r0.objectiveTitle : `${r0.objectiveTitle} (${k})`);
  }
  let colorIdx = 0;
  return ordered.map((key) => {
    const runs = byKey.get(key)!.sort((a, b) => a.seed - b.seed);
    const sft = isSft(key);
    let title = titles.get(key)!;
    // Two objectives that share a title (e.g. two plugins both titled 'PPO') must stay distinguishable.
    if ([...titles.entries()].some(([k, t]) => k !== key && t === title)) title = `${title} (${key})`;
    return {
      key, title, isSft: sft, runs,
      measured: sft && identicalEvaluations(runs) ? runs.slice(0, 1) : runs,
      objectiveId: runs[0]!.objectiveId,
      color: sft ? SFT_COLOR : PALETTE[colorIdx++ % PALETTE.length]!,
      partial: runs.some((r) => r.status !== 'finished'),
    };
  });
}

/** Whether the runs' evaluations are copies of one measurement (the SFT rows of every seed). */
function identicalEvaluations(runs: readonly RunData[]): boolean {
  const key = (r: RunData) => JSON.stringify(r.evals.map((e) => [e.benchmark, e.step, e.avgAtK, e.passAtK, e.majAtK, e.greedy]));
  return runs.length > 1 && runs.every((r) => key(r) === key(runs[0]!));
}

function runNotes(rows: Row[], cmp: Comparison): string[] {
  const notes: string[] = [];
  for (const row of rows) {
    for (const r of row.runs) {
      const fe = [...comparedEvals(r, cmp.at, cmp.target).values()];
      const evalStep = fe.length ? Math.max(...fe.map((e) => e.step)) : null;
      const used = evalStep === null ? 'it has no evaluation yet, so it is not in the tables' : `its latest evaluation (step ${evalStep}) is used`;
      const of = r.totalSteps !== undefined ? ` of ${r.totalSteps}` : '';
      if (r.status === 'failed') {
        const at = r.failure?.step ?? r.step;
        notes.push(`${r.name}: failed${at !== undefined ? ` at step ${at}` : ''}${r.failure?.message ? ` (${r.failure.message})` : ''}; ${used}.`);
      } else if (r.status === 'running') {
        notes.push(`${r.name}: still running${r.step !== undefined ? ` (step ${r.step}${of})` : ''}; ${used}.`);
      } else if (r.status === 'unknown') {
        notes.push(`${r.name}: status unknown (run.json missing or without a status); ${used}.`);
      } else if (evalStep === null) {
        notes.push(`${r.name}: finished but has no evaluation; not in the tables.`);
      }
    }
  }
  return notes;
}

function kLabel(exp: LoadedExperiment, benchmarks: string[]): number | null {
  const ks = new Set<number>();
  for (const r of exp.runs) for (const e of finalEvals(r).values()) if (benchmarks.includes(e.benchmark) && e.k !== undefined) ks.add(e.k);
  return ks.size === 1 ? [...ks][0]! : null;
}

/** Per seed: the metric on each benchmark, and the Average over benchmarks when all are present. */
function perSeedValues(row: Row, metric: EvalMetric, benchmarks: string[], cmp: Comparison): Map<number, (number | undefined)[]> {
  const out = new Map<number, (number | undefined)[]>();
  for (const r of row.measured) {
    const fe = comparedEvals(r, cmp.at, cmp.target);
    const vals = benchmarks.map((b) => { const e = fe.get(b); return e ? metric.get(e) : undefined; });
    const complete = vals.every((v) => v !== undefined);
    out.set(r.seed, [...vals, complete && vals.length ? mean(vals as number[]) : undefined]);
  }
  return out;
}

/**
 * 95% half-widths due to the finite benchmarks, per column: for benchmark b, 1.96 × the
 * standard error over problems of the row's mean (per-problem values averaged over seeds);
 * for the Average, the benchmarks' standard errors combined (√Σ SE_b² / B). NaN where a seed
 * did not record its per-problem outcomes.
 */
function benchmarkHalfWidths(row: Row, metric: EvalMetric, benchmarks: string[], cmp: Comparison): number[] {
  const evals = row.measured.map((r) => comparedEvals(r, cmp.at, cmp.target));
  const se = benchmarks.map((b) => {
    const per = evals.map((fe) => { const e = fe.get(b); return e ? metric.perProblem(e) : undefined; });
    return per.length && per.every((v) => v !== undefined) ? problemStandardError(per as number[][]) : NaN;
  });
  const avg = Math.sqrt(se.reduce((a, x) => a + x * x, 0)) / se.length;
  return [...se, avg].map((x) => 1.959963984540054 * x);
}

/** The names the ReNCE paper's table gives its six benchmarks; other benchmarks keep their own. */
export const BENCHMARK_LABELS: Readonly<Record<string, string>> = {
  math500: 'MATH-500',
  aime24: 'AIME24',
  aime25: 'AIME25',
  amc23: 'AMC23',
  minerva_math: 'Minerva',
  olympiadbench: 'OlympiadBench',
};

function buildTable(rows: Row[], metric: EvalMetric, benchmarks: string[], k: number | null, cmp: Comparison): ComparisonTable {
  const columns = [...benchmarks, 'Average'];
  const headers = columns.map((c) => BENCHMARK_LABELS[c] ?? c);
  const tableRows = rows.map((row) => {
    const perSeed = perSeedValues(row, metric, benchmarks, cmp);
    const bench = benchmarkHalfWidths(row, metric, benchmarks, cmp);
    const cells = columns.map((_, c): Cell | null => {
      const values: { seed: number; value: number }[] = [];
      for (const [seed, vals] of perSeed) if (vals[c] !== undefined) values.push({ seed, value: vals[c]! });
      return values.length ? { values, stat: meanCI(values.map((v) => v.value)), bench: bench[c]!, best: false } : null;
    });
    return { row, cells };
  });
  for (let c = 0; c < columns.length; c++) {
    const present = tableRows.map((r) => r.cells[c]).filter((x): x is Cell => x !== null);
    if (!present.length) continue;
    const best = Math.max(...present.map((x) => x.stat.mean));
    for (const x of present) x.best = x.stat.mean >= best - 1e-12;
  }
  return { metric, label: metric.label(k), columns, headers, rows: tableRows };
}

function buildSignificance(rows: Row[], tables: ComparisonTable[], resamples: number, baselineKey: string | null, askedFor: string | undefined): Significance[] {
  const baseline = rows.find((r) => !r.isSft && r.key === baselineKey) ?? null;
  return tables.map((t) => {
    if (!baseline) {
      const note = askedFor !== undefined
        ? `The baseline "${askedFor}" is not an objective of this experiment (rows: ${rows.filter((r) => !r.isSft).map((r) => r.key).join(', ')}); significance skipped.`
        : 'There is no objective to use as the baseline; significance skipped.';
      return { metric: t.metric.id, baseline: null, rows: [], note };
    }
    const avgCol = t.columns.length - 1;
    const avgOf = (row: Row) => {
      const cell = t.rows.find((x) => x.row === row)!.cells[avgCol];
      return new Map((cell?.values ?? []).map((v) => [v.seed, v.value]));
    };
    const base = avgOf(baseline);
    const out: SignificanceRow[] = [];
    for (const row of rows) {
      if (row === baseline || row.isSft) continue;
      const mine = avgOf(row);
      const diffs: number[] = [];
      for (const [seed, v] of [...mine].sort((a, b) => a[0] - b[0])) if (base.has(seed)) diffs.push(v - base.get(seed)!);
      if (diffs.length < 2) {
        out.push({ row, note: `${diffs.length} seed${diffs.length === 1 ? '' : 's'} paired with ${baseline.title}; at least 2 are needed` });
        continue;
      }
      const rng = new Rng(`report-bootstrap/${t.metric.id}/${row.key}`);
      out.push({ row, result: pairedComparison(diffs, rng, resamples) });
    }
    return { metric: t.metric.id, baseline, rows: out };
  });
}

function buildCompute(rows: Row[], cmp: Comparison): ComputeRow[] {
  const ci = (xs: (number | undefined)[]) => meanCI(xs.filter((x): x is number => x !== undefined));
  // The evaluation a run contributes: its latest over benchmarks among the compared ones.
  const used = (r: RunData) => { const es = [...comparedEvals(r, cmp.at, cmp.target).values()]; return es.length ? es.reduce((a, e) => (e.step > a.step ? e : a)) : undefined; };
  return rows.filter((r) => !r.isSft).map((row) => ({
    row,
    steps: ci(row.runs.map((r) => r.step)),
    rollouts: ci(row.runs.map((r) => r.rollouts)),
    tokens: ci(row.runs.map((r) => r.tokens)),
    wallTime: ci(row.runs.map((r) => r.wallTime)),
    tokensPerSecond: ci(row.runs.map((r) => (r.tokens !== undefined && r.wallTime ? r.tokens / r.wallTime : undefined))),
    comparedRollouts: ci(row.runs.map((r) => used(r)?.rollouts)),
    comparedStep: ci(row.runs.map((r) => used(r)?.step)),
  }));
}

/**
 * Notes on rows whose finished runs were compared far from the comparison point (not matched):
 * e.g. a steps budget evaluated every N steps, where DAPO's refills put it at more rollouts.
 * Unfinished runs have their own † note.
 */
function comparisonNotes(rows: Row[], cmp: Comparison): string[] {
  if (cmp.target === null || cmp.target <= 0) return [];
  const notes: string[] = [];
  const unit = cmp.at === 'rollouts' ? 'rollouts' : 'steps';
  for (const row of rows) {
    if (row.isSft) continue;
    const xs: number[] = [];
    for (const r of row.runs) {
      if (r.status !== 'finished') continue;
      for (const e of comparedEvals(r, cmp.at, cmp.target).values()) {
        const x = position(e, cmp.at);
        if (x !== undefined) xs.push(x);
      }
    }
    if (!xs.length) continue;
    const x = mean(xs);
    const off = Math.abs(x - cmp.target) / cmp.target;
    if (off > COMPUTE_MISMATCH) {
      notes.push(`${row.title}: evaluated at ${Math.round(x).toLocaleString('en-US')} ${unit} on average, ${Math.round(100 * off)}% from the comparison point ${cmp.target.toLocaleString('en-US')}: not matched; evaluate on the rollout schedule (eval.everyRollouts) or budget by rollouts.`);
    }
  }
  return notes;
}

interface SeedPoint { step: number; rollouts?: number; wallTime?: number; y: number }

/**
 * Mean and CI over seeds at each step; x positions (rollouts, wall time) are seed means too.
 * Long logs (more than MAX_POINTS distinct steps) are first averaged per seed over bins of
 * consecutive steps, so a 500-step curve reads as a trend and its band is still a CI over seeds.
 */
export function aggregateBySteps(perSeed: SeedPoint[][]): SeriesPoint[] {
  const steps = [...new Set(perSeed.flatMap((pts) => pts.map((p) => p.step)))].sort((a, b) => a - b);
  const width = Math.max(1, Math.ceil(steps.length / MAX_POINTS));
  const binOf = new Map(steps.map((st, i) => [st, Math.floor(i / width)]));
  const nBins = Math.ceil(steps.length / width);
  // bins[b] collects one averaged point per seed.
  const bins: SeedPoint[][] = Array.from({ length: nBins }, () => []);
  for (const pts of perSeed) {
    const acc = new Map<number, SeedPoint[]>();
    for (const p of pts) {
      const b = binOf.get(p.step)!;
      const list = acc.get(b) ?? [];
      list.push(p);
      acc.set(b, list);
    }
    for (const [b, list] of acc) {
      const avg = (f: (p: SeedPoint) => number | undefined) => {
        const xs = list.map(f);
        return xs.every((x) => x !== undefined) ? mean(xs as number[]) : undefined;
      };
      bins[b]!.push({ step: avg((p) => p.step)!, rollouts: avg((p) => p.rollouts), wallTime: avg((p) => p.wallTime), y: avg((p) => p.y)! });
    }
  }
  return bins.filter((pts) => pts.length > 0).map((pts) => {
    const s = meanCI(pts.map((p) => p.y));
    const xr = pts.map((p) => p.rollouts).filter((x): x is number => x !== undefined);
    const xw = pts.map((p) => p.wallTime).filter((x): x is number => x !== undefined);
    return {
      step: mean(pts.map((p) => p.step)),
      rollouts: xr.length === pts.length ? mean(xr) : null,
      wallTime: xw.length === pts.length ? mean(xw) : null,
      y: s.mean,
      lo: Number.isNaN(s.half) ? null : s.mean - s.half,
      hi: Number.isNaN(s.half) ? null : s.mean + s.half,
      n: s.n,
    };
  });
}

function metricSeries(run: RunData, field: string, scale: number): SeedPoint[] {
  const out: SeedPoint[] = [];
  for (const m of run.metrics as MetricRow[]) {
    const y = m[field];
    if (y === undefined) continue;
    out.push({ step: m.step, rollouts: m.rollouts, wallTime: m.wallTime, y: y * scale });
  }
  return out;
}

function buildCurves(rows: Row[], benchmarks: string[], k: number | null): Summary['curves'] {
  return benchmarks.map((b) => {
    const byMetric = {} as Record<EvalMetricId, ChartSpec>;
    for (const metric of EVAL_METRICS) {
      const series: ChartSpec['series'] = [];
      const refLines: NonNullable<ChartSpec['refLines']> = [];
      for (const row of rows) {
        const perSeed = row.runs.map((r) => r.evals
          .filter((e) => e.benchmark === b && metric.get(e) !== undefined)
          .map((e) => ({ step: e.step, rollouts: e.rollouts, wallTime: e.wallTime, y: metric.get(e)! * 100 })));
        const points = aggregateBySteps(perSeed);
        if (!points.length) continue;
        // The SFT initialisation is one point at step 0: a reference line reads better than a dot.
        if (row.isSft && points.length === 1) refLines.push({ label: `${row.title}${row.partial ? ` ${PARTIAL_MARK}` : ''}`, y: points[0]!.y, color: row.color });
        else series.push({ label: `${row.title}${row.partial ? ` ${PARTIAL_MARK}` : ''}`, color: row.color, points, dashed: row.isSft });
      }
      byMetric[metric.id] = {
        id: `curve-${slug(b)}`, title: `${b}: ${metric.label(k)}`, yLabel: `${metric.label(k)} (%)`, series, refLines,
      };
    }
    return { benchmark: b, byMetric };
  });
}

function buildDynamics(rows: Row[]): ChartSpec[] {
  return DYNAMICS.map((d) => ({
    id: `dyn-${slug(d.field)}`, title: d.title, yLabel: d.yLabel,
    series: rows.filter((r) => !r.isSft).map((row) => ({
      label: `${row.title}${row.partial ? ` ${PARTIAL_MARK}` : ''}`, color: row.color,
      points: aggregateBySteps(row.runs.map((r) => metricSeries(r, d.field, d.percent ? 100 : 1))),
    })).filter((s) => s.points.length > 0),
  }));
}

function buildDiagnostics(rows: Row[]): DiagnosticsGroup[] {
  const groups: DiagnosticsGroup[] = [];
  const used = new Set<string>();
  for (const row of rows) {
    if (row.isSft) continue;
    const names = new Set<string>();
    for (const r of row.runs) for (const m of r.metrics) for (const f of Object.keys(m)) if (f.startsWith('obj/')) names.add(f.slice(4));
    // The objective's labels title its metrics and give their order; unlabelled ones follow, alphabetically.
    const labels = row.runs[0]!.metricLabels;
    const order = Object.keys(labels);
    const ordered = [...names].sort((a, b) => {
      const ia = order.indexOf(a), ib = order.indexOf(b);
      return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib) || (a < b ? -1 : a > b ? 1 : 0);
    });
    const charts: ChartSpec[] = [];
    for (const name of ordered) {
      let id = `diag-${slug(row.key)}-${slug(name)}`;
      for (let i = 2; used.has(id); i++) id = `diag-${slug(row.key)}-${slug(name)}-${i}`;
      used.add(id);
      charts.push({
        id, title: objectiveMetricLabel(name, labels), yLabel: name,
        series: [{ label: row.title, color: row.color, points: aggregateBySteps(row.runs.map((r) => metricSeries(r, `obj/${name}`, 1))) }],
      });
    }
    if (charts.length) groups.push({ row, charts });
  }
  return groups;
}

export interface SummaryOptions {
  resamples?: number;
  /** Overrides experiment.json report.baseline (default: the first objective). */
  baseline?: string;
  /** Overrides experiment.json report.compareAt (default 'rollouts': equal compute). */
  compareAt?: CompareAt;
}

/** A field of experiment.json's "report" object, when it is a string. */
function reportSetting(config: unknown, field: string): string | undefined {
  const rep = typeof config === 'object' && config !== null ? (config as Record<string, unknown>).report : undefined;
  const v = typeof rep === 'object' && rep !== null ? (rep as Record<string, unknown>)[field] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function describeComparison(at: CompareAt, target: number | null): string {
  if (at === 'final' || target === null) return 'each run at its last evaluation';
  return at === 'rollouts'
    ? `at equal compute: each run at its evaluation nearest to ${target.toLocaleString('en-US')} generated rollouts`
    : `at equal updates: each run at its evaluation nearest to step ${target.toLocaleString('en-US')}`;
}

export function summarize(exp: LoadedExperiment, opts: SummaryOptions = {}): Summary {
  const rows = buildRows(exp);
  const seen: string[] = [];
  for (const r of exp.runs) for (const e of r.evals) if (!seen.includes(e.benchmark)) seen.push(e.benchmark);
  const benchmarks = orderBy(seen, listedInConfig(exp.config, 'benchmarks', ['name', 'id']), false);
  const k = kLabel(exp, benchmarks);
  const configured = reportSetting(exp.config, 'compareAt');
  const at: CompareAt = opts.compareAt ?? (COMPARE_AT.includes(configured as CompareAt) ? (configured as CompareAt) : 'rollouts');
  const target = comparisonPoint(rows, at);
  const comparison: Comparison = { at, target, describe: describeComparison(at, target) };
  const tables = EVAL_METRICS.map((m) => buildTable(rows, m, benchmarks, k, comparison));
  const resamples = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  if (opts.baseline !== undefined && !rows.some((r) => !r.isSft && r.key === opts.baseline)) {
    throw new UsageError(`--baseline ${opts.baseline}: not an objective of ${exp.name} (objectives: ${rows.filter((r) => !r.isSft).map((r) => r.key).join(', ')})`);
  }
  const askedFor = opts.baseline ?? reportSetting(exp.config, 'baseline');
  const baselineKey = askedFor ?? rows.find((r) => !r.isSft)?.key ?? null;
  const compute = buildCompute(rows, comparison);
  const notes = runNotes(rows, comparison);
  for (const t of tables.slice(0, 1)) {
    for (const { row, cells } of t.rows) {
      const avg = cells[cells.length - 1];
      const seedsWithEval = row.measured.filter((r) => r.evals.length > 0).length;
      if ((avg?.values.length ?? 0) < seedsWithEval) {
        notes.push(`${row.title}: the Average uses only the seeds evaluated on every benchmark (${avg?.values.length ?? 0} of ${seedsWithEval}).`);
      }
    }
  }
  notes.push(...comparisonNotes(rows, comparison));
  return {
    experiment: exp.name, benchmarks, rows, comparison, baselineKey, tables,
    significance: buildSignificance(rows, tables, resamples, baselineKey, askedFor),
    compute,
    curves: buildCurves(rows, benchmarks, k),
    dynamics: buildDynamics(rows),
    diagnostics: buildDiagnostics(rows),
    notes,
    bootstrapResamples: resamples,
  };
}

