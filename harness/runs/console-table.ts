// The compact comparison table the runner prints at the end of an experiment (the full report
// is the report generator's job): per objective and benchmark, the final avg@k as mean ± 95% CI
// over seeds, and on the first (in-distribution) benchmark the gain over the SFT
// initialisation, paired by seed, with its own CI: the quick suite's science bar is
// "gain > CI" for every objective.
import type { SummaryRow } from './results.ts';
import { mean, meanCI } from '../util/stats.ts';

const ci95 = (xs: readonly number[]): number => meanCI(xs).half;

export interface GainRow {
  objective: string;
  seeds: number;
  mean: number;
  ci: number;
  gain: number;
  gainCi: number;
  /** gain > 0 and gain exceeds both its own paired CI and the objective's CI over seeds. */
  passes: boolean;
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '–');

function byObjective(rows: readonly SummaryRow[]): Map<string, SummaryRow[]> {
  const m = new Map<string, SummaryRow[]>();
  for (const r of rows) {
    if (!m.has(r.objective)) m.set(r.objective, []);
    m.get(r.objective)!.push(r);
  }
  return m;
}

/** Gain over SFT on `benchmark` (avg@k), paired by seed. */
export function gainsOverSft(rows: readonly SummaryRow[], benchmark: string, metric: 'avgAtK' | 'greedy' = 'avgAtK'): GainRow[] {
  const onB = rows.filter((r) => r.benchmark === benchmark);
  const sft = new Map(onB.filter((r) => r.objective === 'sft').map((r) => [r.seed, r[metric] ?? NaN]));
  const out: GainRow[] = [];
  for (const [obj, rs] of byObjective(onB)) {
    if (obj === 'sft') continue;
    const vals = rs.map((r) => r[metric] ?? NaN);
    const gains = rs.filter((r) => sft.has(r.seed)).map((r) => (r[metric] ?? NaN) - sft.get(r.seed)!);
    const g = mean(gains);
    const gci = ci95(gains);
    const ci = ci95(vals);
    out.push({ objective: obj, seeds: rs.length, mean: mean(vals), ci, gain: g, gainCi: gci, passes: g > 0 && g > gci && g > ci });
  }
  return out;
}

/** Markdown: rows SFT then objectives, columns benchmarks (avg@k mean ± CI, in %), then the gain column. */
export function compactTable(rows: readonly SummaryRow[], order: readonly string[] = []): string {
  const benches = [...new Set(rows.map((r) => r.benchmark))];
  if (benches.length === 0) return '(no evaluations yet)';
  // Each benchmark's own k (a benchmark may set its own, e.g. avg@32 on AIME).
  const kOf = (b: string) => rows.find((r) => r.benchmark === b)!.k;
  const objs = byObjective(rows);
  // SFT first, then the experiment's order, then anything else (e.g. runs of an older config).
  const names = ['sft', ...order, ...[...objs.keys()].sort()];
  const rowsOrder = names.filter((o, i) => names.indexOf(o) === i);
  const gains = new Map(gainsOverSft(rows, benches[0]!).map((g) => [g.objective, g]));
  const head = ['objective', 'seeds', ...benches.map((b) => `${b} avg@${kOf(b)}`), `Δ vs SFT on ${benches[0]} (paired)`];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const o of rowsOrder) {
    const rs = objs.get(o);
    if (!rs) continue;
    // The SFT rows of every seed are one checkpoint evaluated once: one measurement, n = 1.
    const once = o === 'sft' && benches.every((b) => new Set(rs.filter((r) => r.benchmark === b).map((r) => r.avgAtK)).size === 1);
    const cells = benches.map((b) => {
      const v = rs.filter((r) => r.benchmark === b).map((r) => r.avgAtK);
      return v.length > 1 && !once ? `${pct(mean(v))} ± ${pct(ci95(v))}` : pct(mean(v));
    });
    const g = gains.get(o);
    const gain = g ? `${g.gain >= 0 ? '+' : ''}${pct(g.gain)} ± ${pct(g.gainCi)}${g.passes ? ' ✓' : ''}` : '';
    lines.push(`| ${o} | ${once ? 1 : new Set(rs.map((r) => r.seed)).size} | ${cells.join(' | ')} | ${gain} |`);
  }
  return lines.join('\n');
}
