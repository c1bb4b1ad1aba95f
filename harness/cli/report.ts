// `rlbench report results/<experiment> [--out dir]`: writes the HTML report, PNG figures and
// Markdown/LaTeX/CSV tables (harness/report/generate.ts), then prints the headline table.
// The report is an experiment-level output: on a results folder that runners use (it has .locks/
// and is writable) it is written under the experiment lock, as `run --report`, `--report-only`
// and `bench` write it, so it never mixes with a finishing run's summaries or another report. A
// hand-made or read-only folder is read as it is, and nothing is created in it.
import type { Command } from 'commander';
import { relative } from 'node:path';
import { COMPARE_AT, type CompareAt } from '../report/summary.ts';
import { UsageError } from '../util/errors.ts';
import { releaseAllLocks } from '../util/lock.ts';
import { withExperimentLock } from '../runs/results.ts';

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
      const { generateReport } = await import('../report/generate.ts');
      // Interrupted while holding the experiment lock: release it (the default action would not).
      const stop = (sig: NodeJS.Signals) => {
        releaseAllLocks();
        process.exit(sig === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', stop).once('SIGTERM', stop);
      try {
        const r = await withExperimentLock(results, 'the report is being written', () => generateReport(results, { outDir: opts.out, resamples, baseline: opts.baseline, compareAt: opts.at as CompareAt | undefined }), {
          ifLive: true,
          log: (m) => process.stderr.write(`report: ${m}\n`),
        });
        for (const w of r.warnings) process.stderr.write(`rlbench: warning: ${w}\n`);
        if (!opts.quiet) process.stdout.write(`${r.tableMarkdown}\n`);
        const shown = relative(process.cwd(), r.outDir) || '.';
        process.stdout.write(`report: ${shown.startsWith('..') ? r.outDir : shown}/index.html (${r.files.length} files)\n`);
      } finally {
        process.off('SIGINT', stop).off('SIGTERM', stop);
      }
    });
}
