// `rlbench run <experiment.json>` and `rlbench bench [--suite quick|paper]`: train and evaluate
// every objective × seed of an experiment (resuming unfinished runs), then print the comparison
// table; `bench` also generates the report. A live line per run on a terminal, plain log lines
// otherwise. In a sweep (cli/sweep.ts) a process trains one run, chosen by --index or by the
// scheduler's array index.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { runExperiment, type ExperimentResult } from '../runs/runner.ts';
import { loadExperiment } from '../runs/experiment.ts';
import { experimentDir, printRunList, rebuildExperimentFiles, selectRun, type SweepOptions } from './sweep.ts';
import type { RunProgress } from '../runs/trainer.ts';
import { compactTable } from '../runs/console-table.ts';

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

/** Progress output: one redrawn line per run on a TTY, a log line every ~10% otherwise. */
function progressPrinter(): { log: (m: string) => void; progress: (p: RunProgress) => void } {
  const tty = Boolean(process.stderr.isTTY);
  let live = '';
  let lastLogged = new Map<string, number>();
  const line = (p: RunProgress) => {
    const done = p.fraction - p.startFraction;
    const eta = done > 0 ? (p.elapsed * (1 - p.fraction)) / done : NaN;
    const steps = p.totalSteps ? `${p.step}/${p.totalSteps}` : `${p.step} (${(100 * p.fraction).toFixed(0)}%)`;
    return `${p.run.padEnd(14)} step ${steps}  reward ${p.reward.toFixed(3)}  acc ${p.accuracy.toFixed(3)}  ETA ${fmtTime(eta)}`;
  };
  return {
    log(m: string) {
      if (tty && live) process.stderr.write('\r\x1b[K');
      process.stderr.write(m + '\n');
      if (tty && live) process.stderr.write(live);
    },
    progress(p: RunProgress) {
      if (tty) {
        live = line(p);
        process.stderr.write('\r\x1b[K' + live);
        if (p.fraction >= 1) {
          process.stderr.write('\n');
          live = '';
        }
      } else {
        const bucket = Math.floor(p.fraction * 10);
        if (bucket !== lastLogged.get(p.run) || p.fraction >= 1) {
          lastLogged.set(p.run, bucket);
          process.stderr.write(line(p) + '\n');
        }
      }
    },
  };
}

function printResult(r: ExperimentResult): void {
  const failed = r.runs.filter((x) => x.status === 'failed');
  process.stdout.write(`\n${r.experiment.name}: ${r.runs.length} runs (${r.runs.filter((x) => x.status === 'finished').length} trained, ${r.runs.filter((x) => x.status === 'skipped').length} already done, ${failed.length} failed) in ${fmtTime(r.wallTime)}\n`);
  process.stdout.write(`results: ${r.dir}  (summary.csv, curves.csv)\n\n`);
  process.stdout.write(compactTable(r.summary, r.objectives) + '\n');
  for (const f of failed) process.stdout.write(`FAILED ${f.run}: ${f.failure}\n`);
}

type RunCliOptions = SweepOptions & { fresh?: boolean; list?: boolean; json?: boolean; sftOnly?: boolean; reportOnly?: boolean };

async function runAndReport(path: string, opts: RunCliOptions, withReport: boolean): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`experiment file not found: ${path}`);
  const out = progressPrinter();
  const { experiment, objectives } = await loadExperiment(path);
  if (opts.list) return printRunList(experiment, objectives, Boolean(opts.json));
  if (opts.reportOnly) return rebuildExperimentFiles(experimentDir(experiment), true, out.log);
  const only = opts.sftOnly ? undefined : selectRun(path, experiment, objectives, opts, out.log);
  const r = await runExperiment(experiment, objectives, path, { fresh: opts.fresh, only, sftOnly: opts.sftOnly, log: out.log, onProgress: out.progress });
  printResult(r);
  if (withReport) await rebuildExperimentFiles(r.dir, true, out.log);
  if (r.runs.some((x) => x.status === 'failed')) process.exitCode = 1;
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('train and evaluate every objective × seed of an experiment (resumes unfinished runs, skips finished ones)')
    .argument('<experiment>', 'experiment JSON file (schema: harness/runs/experiment.schema.json)')
    .option('--fresh', 'delete this experiment\'s results and start over (with --only: just that run)')
    .option('--only <run>', 'train only this run, e.g. grpo-s1')
    .option('--report', 'generate the report at the end')
    .option('--index <i>', 'train only run I of the sweep order (see --list); default: SLURM_ARRAY_TASK_ID in a Slurm array task, JOB_COMPLETION_INDEX in a Kubernetes Indexed Job')
    .option('--all', 'train every run, even inside an array task')
    .option('--list', 'print the runs in sweep order (index, run, state) and exit')
    .option('--json', 'with --list: print JSON')
    .option('--sft-only', 'train (or reuse) the SFT warm start and write its evaluation rows, then stop')
    .option('--report-only', 'rebuild summary.csv, curves.csv and the report from the run folders; train nothing')
    .action(async (path: string, opts: RunCliOptions & { report?: boolean }) => {
      await runAndReport(path, opts, Boolean(opts.report));
    });

  program
    .command('bench')
    .description('run a benchmark suite (benchmarks/<suite>.json), then print the comparison table and write the report')
    .option('--suite <name>', 'quick (4 objectives × 3 seeds, ~15 min on 2 cores) or paper (4 × 5 seeds, six benchmarks)', 'quick')
    .option('--fresh', 'start the suite over (the cached SFT checkpoint is still reused)')
    .action(async (opts: { suite: string; fresh?: boolean }) => {
      const path = join('benchmarks', `${opts.suite}.json`);
      if (!/^[A-Za-z0-9_-]+$/.test(opts.suite) || !existsSync(path)) throw new UsageError(`--suite ${opts.suite}: no such suite (expected ${path}; suites: quick, paper)`);
      await runAndReport(path, { fresh: opts.fresh }, true);
    });
}
