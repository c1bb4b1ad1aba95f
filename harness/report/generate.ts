// `rlbench report`: results/<experiment> in, reports/<experiment> out. Builds everything in a
// temporary sibling folder and swaps it into place at the end, so the output folder holds a
// complete report or the previous one, never half of each.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { loadExperiment } from './load.ts';
import { summarize, slug, type SummaryOptions } from './summary.ts';
import { fullCsv, fullMarkdown, fullTex, headlineMarkdown, significanceCsv } from './tables.ts';
import { renderPng } from './charts.ts';
import { renderPage } from './html/template.ts';

export interface ReportResult {
  outDir: string;
  /** Files written, relative to outDir, sorted. */
  files: string[];
  /** The headline comparison table (avg@k) with its footnotes, in Markdown. */
  tableMarkdown: string;
  /** Problems found while reading results, and notes on unfinished runs. */
  warnings: string[];
}

/** Written into every report folder; its presence is what lets a later report replace the folder. */
const MARKER = 'report.json';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function checkReplaceable(outDir: string): void {
  if (!existsSync(outDir)) return;
  if (!statSync(outDir).isDirectory()) throw new UsageError(`--out ${outDir} exists and is not a directory`);
  const entries = readdirSync(outDir);
  if (entries.length > 0 && !entries.includes(MARKER)) {
    throw new UsageError(`--out ${outDir} is a non-empty folder that is not an rlbench report (no ${MARKER}); refusing to replace it`);
  }
}

export async function generateReport(resultsDir: string, opts: { outDir?: string } & SummaryOptions = {}): Promise<ReportResult> {
  const exp = loadExperiment(resultsDir);
  const outDir = resolve(opts.outDir ?? join('reports', exp.name));
  if (outDir === exp.dir || exp.dir.startsWith(outDir + '/')) throw new UsageError(`--out ${outDir} would replace the results it reads`);
  checkReplaceable(outDir);
  const summary = summarize(exp, { resamples: opts.resamples, baseline: opts.baseline, compareAt: opts.compareAt });
  // Figures share the tables' view: against rollouts at equal compute, against steps otherwise.
  const xKey = summary.comparison.at === 'rollouts' ? 'rollouts' : 'step';
  const generator = `rlbench ${pkg.version}`;

  mkdirSync(dirname(outDir), { recursive: true });
  const tmp = join(dirname(outDir), `.${basename(outDir)}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array) => { writeFileAtomic(join(tmp, name), data); files.push(name); };
  try {
    const pngs: string[] = [];
    for (const c of summary.curves) {
      const name = `curve-${slug(c.benchmark)}.png`;
      put(name, await renderPng(c.byMetric.avgAtK, xKey));
      pngs.push(name);
    }
    for (const d of summary.dynamics) {
      if (!d.series.length) continue;
      const name = `${d.id}.png`;
      put(name, await renderPng(d, xKey));
      pngs.push(name);
    }
    const tableMarkdown = headlineMarkdown(summary);
    put('table.md', fullMarkdown(summary));
    put('table.tex', fullTex(summary));
    put('table.csv', fullCsv(summary));
    put('significance.csv', significanceCsv(summary));
    put('index.html', renderPage({ exp, summary, generator, pngs }));
    files.push(MARKER);
    files.sort();
    writeJsonAtomic(join(tmp, MARKER), { generator, experiment: exp.name, results: relative(process.cwd(), exp.dir) || '.', files });

    // Swap: the old report moves aside only once the new one is complete.
    const old = existsSync(outDir) ? join(dirname(outDir), `.${basename(outDir)}.old-${process.pid}-${Date.now()}`) : null;
    if (old) renameSync(outDir, old);
    renameSync(tmp, outDir);
    if (old) rmSync(old, { recursive: true, force: true });
    return { outDir, files, tableMarkdown, warnings: [...exp.warnings, ...summary.notes] };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
