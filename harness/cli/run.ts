// `rlbench run <experiment.json>` and `rlbench bench [--suite quick|paper]`: train and evaluate
// every objective × seed of an experiment (resuming unfinished runs), then print the comparison
// table; `bench` also generates the report. A live line per run on a terminal, plain log lines
// otherwise. SIGINT/SIGTERM (Ctrl-C, scancel, a Slurm time limit) stop at once: temporary files
// are removed, locks released, and one line says where the run stopped and how to resume.
// In a sweep (cli/sweep.ts) a process trains one run, chosen by --index or by the scheduler's
// array index; --sft-only and --report-only are the sweep's first and last jobs.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { asDiskFull, removeOwnTemps } from '../util/fs.ts';
import { releaseAllLocks } from '../util/lock.ts';
import { loadExperiment } from '../runs/experiment.ts';
import { withExperimentLock, writeSummaries } from '../runs/results.ts';
import { describeStop, runExperiment, type ExperimentResult, type RunOptions, type RunTracker } from '../runs/runner.ts';
import type { RunProgress } from '../runs/trainer.ts';
import { compactTable } from '../runs/console-table.ts';
import { experimentDir, printRunList, selectRun, type SweepOptions } from './sweep.ts';

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
  const count = (s: string) => r.runs.filter((x) => x.status === s).length;
  const parts = [`${count('finished')} trained`, `${count('skipped')} already done`, `${count('failed')} failed`];
  if (count('busy')) parts.push(`${count('busy')} being trained by another process`);
  if (count('corrupt')) parts.push(`${count('corrupt')} damaged`);
  process.stdout.write(`\n${r.experiment.name}: ${r.runs.length} runs (${parts.join(', ')}) in ${fmtTime(r.wallTime)}\n`);
  process.stdout.write(`results: ${r.dir}  (summary.csv, curves.csv)\n\n`);
  process.stdout.write(compactTable(r.summary, r.objectives) + '\n');
  for (const f of r.runs) {
    if (f.status === 'failed') process.stdout.write(`FAILED ${f.run}: ${f.failure}\n`);
    if (f.status === 'corrupt') process.stdout.write(`DAMAGED ${f.run}: ${f.failure}\n`);
    if (f.status === 'busy') process.stdout.write(`BUSY ${f.run}: ${f.failure}\n`);
  }
}

interface RunFlags extends SweepOptions {
  fresh?: boolean;
  freshSft?: boolean;
  wait?: boolean;
  memoryCheck?: boolean;
  list?: boolean;
  json?: boolean;
  sftOnly?: boolean;
  reportOnly?: boolean;
}

/** Flags that make no sense together, refused before anything is loaded. */
function checkFlags(f: RunFlags): void {
  const given = (names: (keyof RunFlags)[]) => names.filter((n) => f[n] !== undefined && f[n] !== false).map((n) => `--${n.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  const alone = (flag: keyof RunFlags, allowed: (keyof RunFlags)[]) => {
    if (!f[flag]) return;
    const other = given((['fresh', 'only', 'index', 'all', 'freshSft', 'wait', 'list', 'sftOnly', 'reportOnly'] as (keyof RunFlags)[]).filter((n) => n !== flag && !allowed.includes(n)));
    if (other.length) throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} cannot be combined with ${other.join(', ')}`);
  };
  alone('list', []);
  alone('reportOnly', []);
  alone('sftOnly', ['fresh', 'freshSft', 'wait']);
  if (f.json && !f.list) throw new UsageError('--json goes with --list');
}

/**
 * SIGINT/SIGTERM: nothing is mid-write when a JS handler runs (writes are synchronous), so it
 * removes the temporary files of writes in progress (a checkpoint being assembled), releases the
 * locks, prints one line and exits 130/143.
 */
function onSignals(tracker: RunTracker, resume: string): () => void {
  const handler = (sig: NodeJS.Signals) => {
    removeOwnTemps();
    releaseAllLocks();
    process.stderr.write(`\nrlbench: interrupted by ${sig}: ${describeStop(tracker)}; to resume, run: ${resume}\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

async function runAndReport(path: string, flags: RunFlags, withReport: boolean, resume: (run?: string) => string): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`experiment file not found: ${path}`);
  checkFlags(flags);
  const out = progressPrinter();
  const { experiment, objectives } = await loadExperiment(path);
  if (flags.list) return printRunList(experiment, objectives, Boolean(flags.json));
  const tracker: RunTracker = { phase: 'setup' };
  if (flags.reportOnly) {
    tracker.phase = 'summaries';
    const unhook = onSignals(tracker, resume());
    try {
      await reportUnderLock(experimentDir(experiment), { summaries: true, log: out.log });
    } finally {
      unhook();
    }
    return;
  }
  const only = flags.sftOnly ? undefined : selectRun(path, experiment, objectives, flags, out.log);
  const unhook = onSignals(tracker, resume(only));
  try {
    const opts: RunOptions = { fresh: flags.fresh, only, sftOnly: flags.sftOnly, freshSft: flags.freshSft, wait: flags.wait, memoryCheck: flags.memoryCheck, log: out.log, onProgress: out.progress, tracker };
    let r: ExperimentResult;
    try {
      r = await runExperiment(experiment, objectives, path, opts);
    } catch (e) {
      // A full disk anywhere (a folder created, a lock taken) reads like one in an atomic write.
      throw asDiskFull(e, (e as { path?: string } | null)?.path ?? 'results');
    }
    printResult(r);
    if (withReport) await reportUnderLock(r.dir, { summaries: false, log: out.log });
    if (r.runs.some((x) => x.status === 'failed' || x.status === 'corrupt')) process.exitCode = 1;
  } finally {
    unhook();
  }
}

/**
 * The report (and with `summaries`, summary.csv and curves.csv first: --report-only, the report
 * job of a sweep) under the experiment lock: one writer of the experiment-level files at a time,
 * however many processes finish together.
 */
async function reportUnderLock(dir: string, o: { summaries: boolean; log: (m: string) => void }): Promise<void> {
  if (o.summaries && !existsSync(join(dir, 'experiment.json'))) throw new UsageError(`${dir}: no results yet (no experiment.json); run the experiment first`);
  // Loaded lazily: `run` keeps working even where the report's chart stack cannot load.
  type Generate = (dir: string) => Promise<{ outDir: string; tableMarkdown: string; warnings: string[] }>;
  let gen: Generate | null = null;
  try {
    gen = ((await import('../report/generate.ts')) as unknown as { generateReport: Generate }).generateReport;
  } catch (e) {
    process.stdout.write(`\n(report generator unavailable: ${(e as Error).message})\n`);
  }
  if (!gen && !o.summaries) return;
  const rep = await withExperimentLock(
    dir,
    'the report is being written',
    async () => {
      if (o.summaries) {
        const { skipped } = writeSummaries(dir);
        for (const s of skipped) o.log(`summaries: left out ${s.run}: ${s.message}`);
        process.stdout.write(`summaries: ${join(dir, 'summary.csv')}, ${join(dir, 'curves.csv')}\n`);
      }
      return gen ? gen(dir) : null;
    },
    { log: (m) => o.log(`report: ${m}`) },
  );
  if (!rep) return;
  process.stdout.write(`\n${rep.tableMarkdown}\n\nreport: ${join(rep.outDir, 'index.html')}\n`);
  for (const w of rep.warnings) process.stdout.write(`note: ${w}\n`);
}

/** The command that resumes this one: the run it trained (by --index or --only), the same mode. */
function resumeCommand(cmd: string, flags: RunFlags & { report?: boolean }, run?: string): string {
  const which = flags.index !== undefined ? `--index ${flags.index}` : run ? `--only ${run}` : '';
  return [`rlbench ${cmd}`, which, flags.sftOnly ? '--sft-only' : '', flags.reportOnly ? '--report-only' : '', flags.wait ? '--wait' : '', flags.report ? '--report' : ''].filter(Boolean).join(' ');
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('train and evaluate every objective × seed of an experiment (resumes unfinished runs, skips finished ones)')
    .argument('<experiment>', 'experiment JSON file (schema: harness/runs/experiment.schema.json)')
    .option('--fresh', 'delete this experiment\'s results and start over (with --only: just that run)')
    .option('--only <run>', 'train only this run, e.g. grpo-s1')
    .option('--fresh-sft', 'train the SFT warm start again instead of using the cached one (e.g. after a checksum error)')
    .option('--wait', 'wait for runs that another process is training, instead of skipping them')
    .option('--no-memory-check', 'start even when the memory estimate exceeds this machine\'s memory')
    .option('--report', 'generate the report at the end')
    .option('--index <i>', 'train only run I of the sweep order (see --list); default: SLURM_ARRAY_TASK_ID in a Slurm array task, JOB_COMPLETION_INDEX in a Kubernetes Indexed Job')
    .option('--all', 'train every run, even inside an array task')
    .option('--list', 'print the runs in sweep order (index, run, state) and exit')
    .option('--json', 'with --list: print JSON')
    .option('--sft-only', 'train (or reuse) the SFT warm start and write its evaluation rows, then stop (the first job of a sweep)')
    .option('--report-only', 'rebuild summary.csv, curves.csv and the report from the run folders under the experiment lock; train nothing (the last job of a sweep)')
    .action(async (path: string, opts: RunFlags & { report?: boolean }) => {
      if (opts.report && (opts.reportOnly || opts.list)) throw new UsageError(`--report cannot be combined with ${opts.list ? '--list' : '--report-only'}`);
      await runAndReport(path, opts, Boolean(opts.report), (run) => resumeCommand(`run ${path}`, opts, run));
    });

  program
    .command('bench')
    .description('run a benchmark suite (benchmarks/<suite>.json), then print the comparison table and write the report')
    .option('--suite <name>', 'quick (4 objectives × 3 seeds, ~15 min on 2 cores) or paper (4 × 5 seeds, six benchmarks)', 'quick')
    .option('--fresh', 'start the suite over (the cached SFT checkpoint is still reused)')
    .option('--fresh-sft', 'train the SFT warm start again instead of using the cached one')
    .option('--wait', 'wait for runs that another process is training, instead of skipping them')
    .option('--no-memory-check', 'start even when the memory estimate exceeds this machine\'s memory')
    .action(async (opts: { suite: string } & RunFlags) => {
      const path = join('benchmarks', `${opts.suite}.json`);
      if (!/^[A-Za-z0-9_-]+$/.test(opts.suite) || !existsSync(path)) throw new UsageError(`--suite ${opts.suite}: no such suite (expected ${path}; suites: quick, paper)`);
      await runAndReport(path, { fresh: opts.fresh, freshSft: opts.freshSft, wait: opts.wait, memoryCheck: opts.memoryCheck, all: true }, true, () => resumeCommand(`bench --suite ${opts.suite}`, opts));
    });
}
