// Turns a loaded experiment into what a report shows: the comparison tables (mean ± 95% CI over
// seeds per objective and benchmark, the per-seed Average, the bold column best), the paired
// bootstrap against ReNCE, compute totals, and chart specs (learning curves, training
// dynamics, objective diagnostics). Everything here is pure and deterministic; rendering lives
// in tables.ts, charts.ts and html/.
import type { LoadedEvalRow, LoadedExperiment, MetricRow, RunData } from './load.ts';
import { mean, meanCI, type MeanCI } from '../util/stats.ts';
import { pairedBootstrap, type PairedBootstrap } from './stats.ts';
import type { ChartSpec, SeriesPoint } from './html/chart-config.js';
import { Rng } from '../util/rng.ts';

export type EvalMetricId = 'avgAtK' | 'pass1' | 'passK' | 'majAtK' | 'greedy';

export interface EvalMetric {
  id: EvalMetricId;
  /** Label with the number of samples filled in, e.g. 'avg@4'; `k` is null when benchmarks differ. */
  label(k: number | null): string;
  describe: string;
  get(e: LoadedEvalRow): number | undefined;
}

export const EVAL_METRICS: readonly EvalMetric[] = [
  { id: 'avgAtK', label: (k) => `avg@${k ?? 'k'}`, describe: 'mean accuracy over the k sampled responses', get: (e) => e.avgAtK },
  { id: 'pass1', label: () => 'pass@1', describe: 'unbiased pass@1 estimate', get: (e) => e.passAtK?.[0] },
  {
    id: 'passK', label: (k) => `pass@${k ?? 'k'}`, describe: 'unbiased pass@k: at least one of k samples correct',
    get: (e) => (e.passAtK && e.passAtK.length ? e.passAtK[(e.k ?? e.passAtK.length) - 1] ?? e.passAtK[e.passAtK.length - 1] : undefined),
  },
  { id: 'majAtK', label: (k) => `maj@${k ?? 'k'}`, describe: 'majority vote over the k extracted answers', get: (e) => e.majAtK },
  { id: 'greedy', label: () => 'greedy', describe: 'greedy-decoding accuracy', get: (e) => e.greedy },
];

export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#8C564B', '#332288', '#117733', '#AA4499'];
export const SFT_COLOR = '#6b7280';
export const PARTIAL_MARK = '†';

export interface Row {
  key: string;
  title: string;
  objectiveId: string;
  isSft: boolean;
  runs: RunData[];
  color: string;
  /** Some run is not finished (running, failed, or of unknown status): the row is marked †. */
  partial: boolean;
}

export interface Cell {
  values: { seed: number; value: number }[];
  stat: MeanCI;
  best: boolean;
}

export interface ComparisonTable {
  metric: EvalMetric;
  label: string;
  /** Benchmarks, then 'Average'. */
  columns: string[];
  rows: { row: Row; cells: (Cell | null)[] }[];
}

export interface SignificanceRow {
  row: Row;
  /** Absent when fewer than two seeds pair up; `note` says why. */
  result?: PairedBootstrap;
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
}

export interface DiagnosticsGroup {
  row: Row;
  charts: ChartSpec[];
}

export interface Summary {
  experiment: string;
  benchmarks: string[];
  rows: Row[];
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

// Known objective metrics get readable labels; anything else is shown by its split camelCase name.
const OBJ_LABELS: Record<string, string> = {
  clipFracLow: 'clip fraction, low side (ratio < 1−ε)',
  clipFracHigh: 'clip fraction, high side (ratio > 1+ε)',
  clipFrac: 'clip fraction',
  ratioMean: 'mean importance ratio π/π_old',
  klK3: 'KL to reference (k3 estimator)',
  kl: 'KL to reference',
  groupsKept: 'groups kept (dynamic sampling)',
  groupsFiltered: 'groups filtered (all correct or all wrong)',
  groupsFilteredFrac: 'fraction of groups filtered',
  pairs: 'preference pairs',
  implicitAcc: 'implicit-reward accuracy',
  margin: 'mean implicit-reward margin (βz)',
  groupsUsed: 'groups used',
  groupsSkipped: 'groups skipped (no positive or no negative)',
  posMean: 'mean |P| (positives per used group)',
  negMean: 'mean |N| (negatives per used group)',
  posteriorPos: 'mean NCE posterior of the positives',
  scorePosMean: 'mean score, positives',
  scoreNegMean: 'mean score, negatives',
};
const OBJ_ORDER = Object.keys(OBJ_LABELS);

export function objectiveMetricLabel(name: string): string {
  return OBJ_LABELS[name] ?? name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
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
    titles.set(k, isSft(k) ? 'SFT init' : k === r0.objectiveId ? r0.objectiveTitle : `${r0.objectiveTitle} (${k})`);
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
      objectiveId: runs[0]!.objectiveId,
      color: sft ? SFT_COLOR : PALETTE[colorIdx++ % PALETTE.length]!,
      partial: runs.some((r) => r.status !== 'finished'),
    };
  });
}

function runNotes(rows: Row[]): string[] {
  const notes: string[] = [];
  for (const row of rows) {
    for (const r of row.runs) {
      const fe = [...finalEvals(r).values()];
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
function perSeedValues(row: Row, metric: EvalMetric, benchmarks: string[]): Map<number, (number | undefined)[]> {
  const out = new Map<number, (number | undefined)[]>();
  for (const r of row.runs) {
    const fe = finalEvals(r);
    const vals = benchmarks.map((b) => { const e = fe.get(b); return e ? metric.get(e) : undefined; });
    const complete = vals.every((v) => v !== undefined);
    out.set(r.seed, [...vals, complete && vals.length ? mean(vals as number[]) : undefined]);
  }
  return out;
}

function buildTable(rows: Row[], metric: EvalMetric, benchmarks: string[], k: number | null): ComparisonTable {
  const columns = [...benchmarks, 'Average'];
  const tableRows = rows.map((row) => {
    const perSeed = perSeedValues(row, metric, benchmarks);
    const cells = columns.map((_, c): Cell | null => {
      const values: { seed: number; value: number }[] = [];
      for (const [seed, vals] of perSeed) if (vals[c] !== undefined) values.push({ seed, value: vals[c]! });
      return values.length ? { values, stat: meanCI(values.map((v) => v.value)), best: false } : null;
    });
    return { row, cells };
  });
  for (let c = 0; c < columns.length; c++) {
    const present = tableRows.map((r) => r.cells[c]).filter((x): x is Cell => x !== null);
    if (!present.length) continue;
    const best = Math.max(...present.map((x) => x.stat.mean));
    for (const x of present) x.best = x.stat.mean >= best - 1e-12;
  }
  return { metric, label: metric.label(k), columns, rows: tableRows };
}

function buildSignificance(rows: Row[], tables: ComparisonTable[], resamples: number): Significance[] {
  const rence = rows.find((r) => r.key === 'rence') ?? rows.find((r) => r.objectiveId === 'rence') ?? null;
  return tables.map((t) => {
    if (!rence) return { metric: t.metric.id, baseline: null, rows: [], note: 'ReNCE is not in this experiment, so there is no baseline to test against; significance skipped.' };
    const avgCol = t.columns.length - 1;
    const avgOf = (row: Row) => {
      const cell = t.rows.find((x) => x.row === row)!.cells[avgCol];
      return new Map((cell?.values ?? []).map((v) => [v.seed, v.value]));
    };
    const base = avgOf(rence);
    const out: SignificanceRow[] = [];
    for (const row of rows) {
      if (row === rence || row.isSft) continue;
      const mine = avgOf(row);
      const diffs: number[] = [];
      for (const [seed, v] of [...mine].sort((a, b) => a[0] - b[0])) if (base.has(seed)) diffs.push(v - base.get(seed)!);
      if (diffs.length < 2) {
        out.push({ row, note: `${diffs.length} seed${diffs.length === 1 ? '' : 's'} paired with ReNCE; at least 2 are needed` });
        continue;
      }
      const rng = new Rng(`report-bootstrap/${t.metric.id}/${row.key}`);
      out.push({ row, result: pairedBootstrap(diffs, rng, resamples) });
    }
    return { metric: t.metric.id, baseline: rence, rows: out };
  });
}

function buildCompute(rows: Row[]): ComputeRow[] {
  const ci = (xs: (number | undefined)[]) => meanCI(xs.filter((x): x is number => x !== undefined));
  return rows.filter((r) => !r.isSft).map((row) => ({
    row,
    steps: ci(row.runs.map((r) => r.step)),
    rollouts: ci(row.runs.map((r) => r.rollouts)),
    tokens: ci(row.runs.map((r) => r.tokens)),
    wallTime: ci(row.runs.map((r) => r.wallTime)),
    tokensPerSecond: ci(row.runs.map((r) => (r.tokens !== undefined && r.wallTime ? r.tokens / r.wallTime : undefined))),
  }));
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
    const ordered = [...names].sort((a, b) => {
      const ia = OBJ_ORDER.indexOf(a), ib = OBJ_ORDER.indexOf(b);
      return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib) || (a < b ? -1 : a > b ? 1 : 0);
    });
    const charts: ChartSpec[] = [];
    for (const name of ordered) {
      let id = `diag-${slug(row.key)}-${slug(name)}`;
      for (let i = 2; used.has(id); i++) id = `diag-${slug(row.key)}-${slug(name)}-${i}`;
      used.add(id);
      charts.push({
        id, title: objectiveMetricLabel(name), yLabel: name,
        series: [{ label: row.title, color: row.color, points: aggregateBySteps(row.runs.map((r) => metricSeries(r, `obj/${name}`, 1))) }],
      });
    }
    if (charts.length) groups.push({ row, charts });
  }
  return groups;
}

export function summarize(exp: LoadedExperiment, opts: { resamples?: number } = {}): Summary {
  const rows = buildRows(exp);
  const seen: string[] = [];
  for (const r of exp.runs) for (const e of r.evals) if (!seen.includes(e.benchmark)) seen.push(e.benchmark);
  const benchmarks = orderBy(seen, listedInConfig(exp.config, 'benchmarks', ['name', 'id']), false);
  const k = kLabel(exp, benchmarks);
  const tables = EVAL_METRICS.map((m) => buildTable(rows, m, benchmarks, k));
  const resamples = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  const notes = runNotes(rows);
  for (const t of tables.slice(0, 1)) {
    for (const { row, cells } of t.rows) {
      const avg = cells[cells.length - 1];
      const seedsWithEval = row.runs.filter((r) => r.evals.length > 0).length;
      if ((avg?.values.length ?? 0) < seedsWithEval) {
        notes.push(`${row.title}: the Average uses only the seeds evaluated on every benchmark (${avg?.values.length ?? 0} of ${seedsWithEval}).`);
      }
    }
  }
  return {
    experiment: exp.name, benchmarks, rows, tables,
    significance: buildSignificance(rows, tables, resamples),
    compute: buildCompute(rows),
    curves: buildCurves(rows, benchmarks, k),
    dynamics: buildDynamics(rows),
    diagnostics: buildDiagnostics(rows),
    notes,
    bootstrapResamples: resamples,
  };
}

