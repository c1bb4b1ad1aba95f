// Paper-style renderings of the comparison tables: Markdown (README, terminal), LaTeX with
// booktabs (papers), CSV (everything, unrounded, for further analysis). Cells show accuracy in
// percent as mean ± 95% CI half-width over seeds; the column best is bold; rows with unfinished
// runs carry † and the footnotes say which runs and why.
import { stringify } from 'csv-stringify/sync';
import { PARTIAL_MARK, type Cell, type ComparisonTable, type Significance, type Summary } from './summary.ts';

export function pct(x: number, digits = 1): string {
  return (x * 100).toFixed(digits);
}

/** '61.2 ± 3.4'; with one seed the CI is 'n/a', never 0; a missing cell is '–'. */
export function formatCell(cell: Cell | null): string {
  if (!cell) return '–';
  const half = Number.isNaN(cell.stat.half) ? 'n/a' : pct(cell.stat.half);
  return `${pct(cell.stat.mean)} ± ${half}`;
}

export function seedCount(t: ComparisonTable, i: number): number {
  return Math.max(0, ...t.rows[i]!.cells.map((c) => c?.values.length ?? 0));
}

export function tableCaption(t: ComparisonTable): string {
  return `${t.label}: accuracy (%), mean ± 95% CI over seeds (Student's t); best per column in bold; Average = mean over benchmarks per seed, then CI over seeds.`;
}

export function significanceMethod(resamples: number): string {
  return `Paired bootstrap over seeds: for each seed present in both runs, d = Average(objective) − Average(ReNCE); ` +
    `the seeds are resampled with replacement ${resamples.toLocaleString('en-US')} times (seeded RNG, so the numbers are reproducible) and the mean of d is taken each time. ` +
    `The interval is the 2.5–97.5% percentile of those means; the two-sided p-value is the share of resampled means at least as far from the observed mean as the observed mean is from 0 ` +
    `(the bootstrap distribution shifted to the null), with a +1 correction. With few seeds the bootstrap is coarse (3 seeds give 10 distinct resamples) and overconfident: ` +
    `when every seed's difference has the same sign its p-value is tiny. The exact sign-flip test beside it (all 2^n sign assignments of the differences) cannot go below 2/2^n ` +
    `(0.25 with 3 seeds) and is the safer guide at these sample sizes.`;
}

// ---- Markdown ------------------------------------------------------------------------------

function mdEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\*/g, '\\*').replace(/_/g, '\\_');
}

export function markdownTable(t: ComparisonTable): string {
  const head = `| Method | Seeds | ${t.columns.map(mdEscape).join(' | ')} |`;
  const align = `|:--|--:|${t.columns.map(() => '--:').join('|')}|`;
  const lines = t.rows.map(({ row, cells }, i) => {
    const name = `${mdEscape(row.title)}${row.partial ? ` ${PARTIAL_MARK}` : ''}`;
    const vals = cells.map((c) => (c?.best ? `**${formatCell(c)}**` : formatCell(c)));
    return `| ${name} | ${seedCount(t, i)} | ${vals.join(' | ')} |`;
  });
  return [head, align, ...lines].join('\n');
}

function markdownNotes(s: Summary): string {
  if (!s.notes.length) return '';
  return '\n\n' + s.notes.map((n) => `${PARTIAL_MARK} ${mdEscape(n)}`).join('  \n');
}

export function markdownSignificance(sig: Significance, s: Summary): string {
  if (!sig.baseline) return `_${sig.note}_`;
  const label = s.tables.find((t) => t.metric.id === sig.metric)!.label;
  const lines = [`| Objective vs ReNCE (Average, ${label}) | Paired seeds | Mean diff (pp) | 95% bootstrap CI (pp) | p (bootstrap) | p (sign-flip) |`, '|:--|--:|--:|--:|--:|--:|'];
  for (const r of sig.rows) {
    const name = `${mdEscape(r.row.title)}${r.row.partial ? ` ${PARTIAL_MARK}` : ''}`;
    if (!r.result) lines.push(`| ${name} | – | – | – | – | ${mdEscape(r.note ?? '')} |`);
    else lines.push(`| ${name} | ${r.result.n} | ${signedPct(r.result.meanDiff)} | [${signedPct(r.result.lo)}, ${signedPct(r.result.hi)}] | ${formatP(r.result.p)} | ${formatP(r.result.pSignFlip)} |`);
  }
  return lines.join('\n');
}

export function signedPct(x: number): string {
  const v = pct(x);
  return x > 0 && v !== '0.0' ? `+${v}` : v === '-0.0' ? '0.0' : v;
}

export function formatP(p: number): string {
  if (Number.isNaN(p)) return 'n/a';
  return p < 0.001 ? '<0.001' : p.toFixed(3);
}

/** The headline table (first metric, avg@k) with its footnotes: what `npm run bench` prints. */
export function headlineMarkdown(s: Summary): string {
  const t = s.tables[0]!;
  return `**${s.experiment}** — ${tableCaption(t)}\n\n${markdownTable(t)}${markdownNotes(s)}\n`;
}

export function fullMarkdown(s: Summary): string {
  const parts = [`# ${mdEscape(s.experiment)}: comparison tables\n`];
  for (const t of s.tables) {
    parts.push(`## ${t.label}\n\n${tableCaption(t)}\n\n${markdownTable(t)}${markdownNotes(s)}\n`);
  }
  parts.push(`## Significance against ReNCE\n\n${significanceMethod(s.bootstrapResamples)}\n`);
  for (const sig of s.significance) parts.push(markdownSignificance(sig, s) + '\n');
  return parts.join('\n');
}

// ---- LaTeX (booktabs) -------------------------------------------------------------------------

const TEX_SPECIAL: Record<string, string> = {
  '\\': '\\textbackslash{}', '{': '\\{', '}': '\\}', $: '\\$', '&': '\\&', '#': '\\#', '_': '\\_', '%': '\\%',
  '^': '\\textasciicircum{}', '~': '\\textasciitilde{}', '<': '\\textless{}', '>': '\\textgreater{}',
  '±': '$\\pm$', '†': '$^\\dagger$', '−': '$-$',
};

/** Escapes text for LaTeX so that config values and run titles cannot break (or inject into) a document. */
export function texEscape(s: string): string {
  return s.replace(/[\\{}$&#_%^~<>±†−]/g, (c) => TEX_SPECIAL[c]!);
}

function texCell(c: Cell | null): string {
  if (!c) return '--';
  const half = Number.isNaN(c.stat.half) ? 'n/a' : pct(c.stat.half);
  const m = c.best ? `\\textbf{${pct(c.stat.mean)}}` : pct(c.stat.mean);
  return `${m} {\\scriptsize $\\pm$ ${half}}`;
}

export function texTable(t: ComparisonTable, s: Summary): string {
  const cols = `l${'r'.repeat(t.columns.length)}`;
  const lines = [
    '\\begin{table}[t]',
    '\\centering',
    `\\caption{${texEscape(`${s.experiment}, ${tableCaption(t)}`)}}`,
    `\\label{tab:${s.experiment.replace(/[^A-Za-z0-9]+/g, '-')}-${t.metric.id}}`,
    `\\begin{tabular}{${cols}}`,
    '\\toprule',
    `Method & ${t.columns.map(texEscape).join(' & ')} \\\\`,
    '\\midrule',
  ];
  t.rows.forEach(({ row, cells }, i) => {
    lines.push(`${texEscape(row.title)}${row.partial ? '$^\\dagger$' : ''} & ${cells.map(texCell).join(' & ')} \\\\`);
    if (i === 0 && row.isSft && t.rows.length > 1) lines.push('\\midrule');
  });
  lines.push('\\bottomrule', '\\end{tabular}');
  if (s.notes.length) {
    lines.push(`\\par\\smallskip{\\footnotesize ${s.notes.map((n) => `$^\\dagger$ ${texEscape(n)}`).join('\\\\\n')}}`);
  }
  lines.push('\\end{table}');
  return lines.join('\n');
}

export function fullTex(s: Summary): string {
  return [
    `% ${s.experiment}: comparison tables generated by rlbench report. Needs \\usepackage{booktabs}.`,
    ...s.tables.map((t) => texTable(t, s) + '\n'),
  ].join('\n');
}

// ---- CSV ---------------------------------------------------------------------------------------

export function fullCsv(s: Summary): string {
  const records: (string | number | boolean)[][] = [];
  for (const t of s.tables) {
    for (const { row, cells } of t.rows) {
      cells.forEach((c, j) => {
        const half = c && !Number.isNaN(c.stat.half) ? c.stat.half : '';
        records.push([
          t.metric.id, t.label, row.key, row.title, t.columns[j]!,
          c ? c.stat.mean : '', half, c && half !== '' ? c.stat.mean - c.stat.half : '', c && half !== '' ? c.stat.mean + c.stat.half : '',
          c ? c.stat.n : 0, c ? c.values.map((v) => `${v.seed}:${v.value}`).join(';') : '', c?.best ?? false, row.partial,
        ]);
      });
    }
  }
  return stringify(records, {
    header: true,
    columns: ['metric', 'metric_label', 'method_key', 'method', 'benchmark', 'mean', 'ci95_half_width', 'ci95_low', 'ci95_high', 'n_seeds', 'seed_values', 'best', 'partial'],
    cast: { boolean: (b) => (b ? 'true' : 'false') },
  });
}

export function significanceCsv(s: Summary): string {
  const records: (string | number)[][] = [];
  for (const sig of s.significance) {
    for (const r of sig.rows) {
      records.push([sig.metric, r.row.key, r.row.title, sig.baseline?.key ?? '', r.result?.n ?? 0,
        r.result?.meanDiff ?? '', r.result?.lo ?? '', r.result?.hi ?? '', r.result?.p ?? '', r.result?.pSignFlip ?? '', r.result?.resamples ?? '', r.note ?? '']);
    }
  }
  return stringify(records, {
    header: true,
    columns: ['metric', 'method_key', 'method', 'baseline_key', 'paired_seeds', 'mean_diff', 'boot95_low', 'boot95_high', 'p_bootstrap', 'p_sign_flip', 'resamples', 'note'],
  });
}
