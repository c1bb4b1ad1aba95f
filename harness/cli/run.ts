// `rlbench run <experiment.json>` and `rlbench bench [--suite quick|paper]`: train and evaluate
// every objective × seed of an experiment (resuming unfinished runs), then print the comparison
// table; `bench` also generates the report. A live line per run on a terminal, plain log lines
// otherwise. SIGINT/SIGTERM stop at once: temporary files are removed, locks released, and one
// line says where the run stopped and how to resume.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { asDiskFull, removeOwnTemps } from '../util/fs.ts';
import { describeHolder, releaseAllLocks, withLock } from '../util/lock.ts';
import { experimentLockPath } from '../runs/results.ts';
import { describeStop, runExperimentFile, type ExperimentResult, type RunOptions, type RunTracker } from '../runs/runner.ts';
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

interface RunFlags {
  fresh?: boolean;
  only?: string;
  freshSft?: boolean;
  wait?: boolean;
  memoryCheck?: boolean;
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

async function runAndReport(path: string, flags: RunFlags, withReport: boolean, resume: string): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`experiment file not found: ${path}`);
  const out = progressPrinter();
  const tracker: RunTracker = { phase: 'setup' };
  const unhook = onSignals(tracker, resume);
  try {
    const opts: RunOptions = { fresh: flags.fresh, only: flags.only, freshSft: flags.freshSft, wait: flags.wait, memoryCheck: flags.memoryCheck, log: out.log, onProgress: out.progress, tracker };
    let r: ExperimentResult;
    try {
      r = await runExperimentFile(path, opts);
    } catch (e) {
      // A full disk anywhere (a folder created, a lock taken) reads like one in an atomic write.
      throw asDiskFull(e, (e as { path?: string } | null)?.path ?? 'results');
    }
    printResult(r);
    if (withReport) await reportUnderLock(r.dir);
    if (r.runs.some((x) => x.status === 'failed' || x.status === 'corrupt')) process.exitCode = 1;
  } finally {
    unhook();
  }
}

/** The report is an experiment-level output: one writer at a time, under the experiment lock. */
async function reportUnderLock(dir: string): Promise<void> {
  // Loaded lazily: `run` keeps working even where the report's chart stack cannot load.
  type Generate = (dir: string) => Promise<{ outDir: string; tableMarkdown: string; warnings: string[] }>;
  let gen: Generate | null = null;
  try {
    gen = ((await import('../report/generate.ts')) as unknown as { generateReport: Generate }).generateReport;
  } catch (e) {
    process.stdout.write(`\n(report generator unavailable: ${(e as Error).message})\n`);
  }
  if (!gen) return;
  const generate = gen;
  const rep = await withLock(experimentLockPath(dir), () => generate(dir), {
    purpose: 'the report is being written',
    waitMs: Infinity,
    onWait: (h) => process.stderr.write(`report: waiting: ${describeHolder(h)}\n`),
  });
  process.stdout.write(`\n${rep.tableMarkdown}\n\nreport: ${join(rep.outDir, 'index.html')}\n`);
  for (const w of rep.warnings) process.stdout.write(`note: ${w}\n`);
}

function resumeCommand(cmd: string, flags: RunFlags & { report?: boolean }): string {
  return [`rlbench ${cmd}`, flags.only ? `--only ${flags.only}` : '', flags.wait ? '--wait' : '', flags.report ? '--report' : ''].filter(Boolean).join(' ');
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
    .action(async (path: string, opts: RunFlags & { report?: boolean }) => {
      await runAndReport(path, opts, Boolean(opts.report), resumeCommand(`run ${path}`, opts));
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
      await runAndReport(path, { fresh: opts.fresh, freshSft: opts.freshSft, wait: opts.wait, memoryCheck: opts.memoryCheck }, true, resumeCommand(`bench --suite ${opts.suite}`, opts));
    });
}
