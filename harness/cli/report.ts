// `rlbench report results/<experiment> [--out dir]`: writes the HTML report, PNG figures and
// Markdown/LaTeX/CSV tables (harness/report/generate.ts), then prints the headline table.
import type { Command } from 'commander';
import { relative } from 'node:path';
import { generateReport } from '../report/generate.ts';
import { COMPARE_AT, type CompareAt } from '../report/summary.ts';
import { UsageError } from '../util/errors.ts';

export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description('build reports/<experiment>/: self-contained index.html, PNG charts, table.md/.tex/.csv')
    .argument('<results>', 'an experiment results directory, e.g. results/quick')
    .option('--out <dir>', 'output directory (default: reports/<experiment>)')
    .option('--resamples <n>', 'bootstrap resamples for the significance tests (used from 10 seeds)', '10000')
    .option('--baseline <name>', 'objective (run name) the others are tested against (default: experiment.json report.baseline, else the first objective)')
    .option('--at <point>', 'which evaluation of each run the tables use: rollouts (equal compute, the default), steps (equal updates) or final')
    .option('-q, --quiet', 'print only the output path')
    .action(async (results: string, opts: { out?: string; resamples: string; baseline?: string; at?: string; quiet?: boolean }) => {
      const resamples = Number(opts.resamples);
      if (!Number.isInteger(resamples) || resamples < 100) throw new UsageError(`--resamples must be an integer >= 100, got "${opts.resamples}"`);
      if (opts.at !== undefined && !COMPARE_AT.includes(opts.at as CompareAt)) throw new UsageError(`--at must be one of ${COMPARE_AT.join(', ')}, got "${opts.at}"`);
      const r = await generateReport(results, { outDir: opts.out, resamples, baseline: opts.baseline, compareAt: opts.at as CompareAt | undefined });
      for (const w of r.warnings) process.stderr.write(`rlbench: warning: ${w}\n`);
      if (!opts.quiet) process.stdout.write(`${r.tableMarkdown}\n`);
      const shown = relative(process.cwd(), r.outDir) || '.';
      process.stdout.write(`report: ${shown.startsWith('..') ? r.outDir : shown}/index.html (${r.files.length} files)\n`);
    });
}
