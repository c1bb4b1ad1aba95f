// Paper-style renderings of the comparison tables: Markdown (README, terminal), LaTeX with
// booktabs (papers), CSV (everything, unrounded, for further analysis). Cells show accuracy in
// percent as mean ± 95% CI half-width over seeds, then in parentheses the 95% half-width due to
// the finite benchmark; the SFT row, one checkpoint evaluated once, shows no seed interval; the
// column best is bold; rows with unfinished runs carry † and the footnotes say which runs and why.
import { stringify } from 'csv-stringify/sync';
import { PARTIAL_MARK, type Cell, type ComparisonTable, type Row, type Significance, type Summary } from './summary.ts';

export function pct(x: number, digits = 1): string {
  return (x * 100).toFixed(digits);
}

/**
 * '61.2 ± 3.4 (±2.9)': mean ± the CI over seeds, then the benchmark's own 95% half-width when
 * recorded. One measurement has no seed interval: the SFT row shows '50.7 (±3.5)'; an
 * objective with one seed shows '± n/a', never 0. A missing cell is '–'.
 */
export function formatCell(cell: Cell | null, row?: Pick<Row, 'isSft'>): string {
  if (!cell) return '–';
  const bench = Number.isNaN(cell.bench) ? '' : ` (±${pct(cell.bench)})`;
  if (cell.stat.n === 1 && row?.isSft) return `${pct(cell.stat.mean)}${bench}`;
  const half = Number.isNaN(cell.stat.half) ? 'n/a' : pct(cell.stat.half);
  return `${pct(cell.stat.mean)} ± ${half}${bench}`;
}

export function seedCount(t: ComparisonTable, i: number): number {
  return Math.max(0, ...t.rows[i]!.cells.map((c) => c?.values.length ?? 0));
}

export function tableCaption(t: ComparisonTable, s: Pick<Summary, 'comparison' | 'rows'>): string {
  const sftOnce = s.rows.some((r) => r.isSft && r.measured.length === 1 && r.runs.length > 1);
  return `${t.label}: accuracy (%), ${s.comparison.describe}. Mean ± 95% CI over seeds (Student's t); in parentheses, ± the 95% interval due to the finite benchmark ` +
    `(1.96 × the standard error over problems, from the per-problem outcomes), so seed noise and benchmark noise can be told apart; ` +
    `it bounds a row's level, while differences between rows, measured on the same problems with the same sampling draws, carry less of it.` +
    `${sftOnce ? ' The SFT initialisation is one checkpoint evaluated once (every seed starts from it): n = 1, no seed interval.' : ''}` +
    ` Best per column in bold; Average = mean over benchmarks per seed, then CI over seeds. pass@1 equals avg@k and is not shown separately.`;
}

export function significanceMethod(s: Pick<Summary, 'bootstrapResamples' | 'significance'>): string {
  const base = s.significance.find((x) => x.baseline)?.baseline?.title ?? 'the baseline';
  return `Each objective against ${base}, paired by seed: d = Average(objective) − Average(${base}) for each seed present in both. ` +
    `The paired t-test (t = mean(d) / (s_d/√n), n − 1 degrees of freedom; the interval is mean ± t_{0.975,n−1}·s_d/√n) assumes roughly normal differences and can reach any p. ` +
    `The exact sign-flip test (all 2^n sign assignments of the differences) assumes only symmetry under the null, but cannot go below 2/2^n: 0.25 with 3 seeds, 0.0625 with 5, ` +
    `so with 3 seeds no difference is significant at 0.05 by it, however large. Read both, and the floor. ` +
    `A paired bootstrap (${s.bootstrapResamples.toLocaleString('en-US')} seeded resamples) is added only from 10 seeds: with 3 seeds it has 10 distinct resamples and prints p < 0.001 whenever all differences share a sign.`;
}

// ---- Markdown ------------------------------------------------------------------------------

function mdEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\*/g, '\\*').replace(/_/g, '\\_');
}

export function markdownTable(t: ComparisonTable): string {
  const head = `| Method | Seeds | ${t.headers.map(mdEscape).join(' | ')} |`;
  const align = `|:--|--:|${t.columns.map(() => '--:').join('|')}|`;
  const lines = t.rows.map(({ row, cells }, i) => {
    const name = `${mdEscape(row.title)}${row.partial ? ` ${PARTIAL_MARK}` : ''}`;
    const vals = cells.map((c) => (c?.best ? `**${formatCell(c, row)}**` : formatCell(c, row)));
    return `| ${name} | ${seedCount(t, i)} | ${vals.join(' | ')} |`;
  });
  return [head, align, ...lines].join('\n');
}

function markdownNotes(s: Summary): string {
  if (!s.notes.length) return '';
  return '\n\n' + s.notes.map((n) => `${PARTIAL_MARK} ${mdEscape(n)}`).join('  \n');
}

export function markdownSignificance(sig: Significance, s: Summary): string {
  if (!sig.baseline) return `_${mdEscape(sig.note ?? '')}_`;
  const label = s.tables.find((t) => t.metric.id === sig.metric)!.label;
  const lines = [
    `| Objective vs ${mdEscape(sig.baseline.title)} (Average, ${label}) | Paired seeds | Mean diff (pp) | 95% t CI (pp) | p (paired t) | p (sign-flip) | smallest p (sign-flip) | p (bootstrap, ≥ 10 seeds) |`,
    '|:--|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of sig.rows) {
    const name = `${mdEscape(r.row.title)}${r.row.partial ? ` ${PARTIAL_MARK}` : ''}`;
    if (!r.result) lines.push(`| ${name} | – | – | – | – | – | – | ${mdEscape(r.note ?? '')} |`);
    else {
      const x = r.result;
      lines.push(`| ${name} | ${x.n} | ${signedPct(x.meanDiff)} | [${signedPct(x.lo)}, ${signedPct(x.hi)}] | ${formatP(x.pT)} | ${formatP(x.pSignFlip)} | ${formatP(x.minPSignFlip)} | ${x.bootstrap ? formatP(x.bootstrap.p) : 'n/a'} |`);
    }
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
  return `**${s.experiment}** — ${tableCaption(t, s)}\n\n${markdownTable(t)}${markdownNotes(s)}\n`;
}

export function significanceTitle(s: Summary): string {
  const base = s.significance.find((x) => x.baseline)?.baseline;
  return base ? `Significance against ${base.title}` : 'Significance';
}

export function fullMarkdown(s: Summary): string {
  const parts = [`# ${mdEscape(s.experiment)}: comparison tables\n`];
  for (const t of s.tables) {
    parts.push(`## ${t.label}\n\n${tableCaption(t, s)}\n\n${markdownTable(t)}${markdownNotes(s)}\n`);
  }
  parts.push(`## ${mdEscape(significanceTitle(s))}\n\n${significanceMethod(s)}\n`);
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

function texCell(c: Cell | null, row: Row): string {
  if (!c) return '--';
  const m = c.best ? `\\textbf{${pct(c.stat.mean)}}` : pct(c.stat.mean);
  const bench = Number.isNaN(c.bench) ? '' : ` ($\\pm$${pct(c.bench)})`;
  if (c.stat.n === 1 && row.isSft) return bench ? `${m} {\\scriptsize${bench}}` : m;
  const half = Number.isNaN(c.stat.half) ? 'n/a' : pct(c.stat.half);
  return `${m} {\\scriptsize $\\pm$ ${half}${bench}}`;
}

export function texTable(t: ComparisonTable, s: Summary): string {
  const cols = `l${'r'.repeat(t.columns.length)}`;
  const lines = [
    '\\begin{table}[t]',
    '\\centering',
    `\\caption{${texEscape(`${s.experiment}, ${tableCaption(t, s)}`)}}`,
    `\\label{tab:${s.experiment.replace(/[^A-Za-z0-9]+/g, '-')}-${t.metric.id}}`,
    `\\begin{tabular}{${cols}}`,
    '\\toprule',
    `Method & ${t.headers.map(texEscape).join(' & ')} \\\\`,
    '\\midrule',
  ];
  t.rows.forEach(({ row, cells }, i) => {
    lines.push(`${texEscape(row.title)}${row.partial ? '$^\\dagger$' : ''} & ${cells.map((c) => texCell(c, row)).join(' & ')} \\\\`);
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
          c && !Number.isNaN(c.bench) ? c.bench : '',
          c ? c.stat.n : 0, c ? c.values.map((v) => `${v.seed}:${v.value}`).join(';') : '', c?.best ?? false, row.partial,
        ]);
      });
    }
  }
  return stringify(records, {
    header: true,
    columns: ['metric', 'metric_label', 'method_key', 'method', 'benchmark', 'mean', 'ci95_half_width', 'ci95_low', 'ci95_high', 'bench95_half_width', 'n_seeds', 'seed_values', 'best', 'partial'],
    cast: { boolean: (b) => (b ? 'true' : 'false') },
  });
}

export function significanceCsv(s: Summary): string {
  const records: (string | number)[][] = [];
  for (const sig of s.significance) {
    for (const r of sig.rows) {
      const x = r.result;
      const b = x?.bootstrap;
      records.push([sig.metric, r.row.key, r.row.title, sig.baseline?.key ?? '', x?.n ?? 0,
        x?.meanDiff ?? '', x?.lo ?? '', x?.hi ?? '', x && Number.isFinite(x.t) ? x.t : x ? String(x.t) : '', x?.pT ?? '', x?.pSignFlip ?? '', x?.minPSignFlip ?? '',
        b?.p ?? '', b?.lo ?? '', b?.hi ?? '', b?.resamples ?? '', r.note ?? '']);
    }
  }
  return stringify(records, {
    header: true,
    columns: ['metric', 'method_key', 'method', 'baseline_key', 'paired_seeds', 'mean_diff', 't95_low', 't95_high', 't', 'p_t', 'p_sign_flip', 'min_p_sign_flip', 'p_bootstrap', 'boot95_low', 'boot95_high', 'resamples', 'note'],
  });
}
