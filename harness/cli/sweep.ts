// The sweep side of `rlbench run`: which run this process trains (--index, or the array index a
// scheduler set), `--list`, and rebuilding the experiment-level files and the report under the
// experiment lock (`--report`, `--report-only`, the report job of a sweep).
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import type { Experiment, ResolvedObjective } from '../runs/experiment.ts';
import { withExperimentLock } from '../runs/locks.ts';
import { writeSummaries } from '../runs/results.ts';
import { indexFromEnv, pickRun, runList, writeSweepFile, RUN_ORDER, type SweepRun } from '../runs/sweep.ts';
import { fmtDuration, sweepStatus } from '../runs/sweep-status.ts';

export interface SweepOptions {
  index?: string;
  all?: boolean;
  only?: string;
}

export function experimentDir(exp: Experiment): string {
  return join(exp.output, exp.name);
}

/**
 * The run this process trains (undefined: all of them). Writes sweep.json so that `status` can
 * list runs that have not started. `--only` and `--all` ignore the scheduler's index.
 */
export function selectRun(path: string, exp: Experiment, objectives: ResolvedObjective[], opts: SweepOptions, log: (m: string) => void): string | undefined {
  const runs = runList(exp, objectives);
  writeSweepFile(experimentDir(exp), exp.name, runs);
  if (opts.index !== undefined && opts.only !== undefined) throw new UsageError('give --index or --only, not both');
  if (opts.index !== undefined && opts.all) throw new UsageError('give --index or --all, not both');
  if (opts.only !== undefined) return opts.only;
  let picked: SweepRun | undefined;
  if (opts.index !== undefined) picked = pickRun(runs, opts.index, '--index', path);
  else if (!opts.all) {
    const env = indexFromEnv();
    if (env) picked = pickRun(runs, env.raw, env.from, path);
    if (picked) log(`run ${picked.index} of ${runs.length} (${picked.run}), from ${env!.from}=${env!.raw}; --all trains every run instead`);
  }
  if (picked && opts.index !== undefined) log(`run ${picked.index} of ${runs.length}: ${picked.run}`);
  return picked?.run;
}

/** `rlbench run exp.json --list`: the runs in sweep order with their state. */
export function printRunList(exp: Experiment, objectives: ResolvedObjective[], json: boolean): void {
  const runs = runList(exp, objectives);
  const dir = experimentDir(exp);
  writeSweepFile(dir, exp.name, runs);
  const st = sweepStatus(dir);
  if (json) {
    process.stdout.write(JSON.stringify({ experiment: exp.name, order: RUN_ORDER, runs: st.runs.map((r) => ({ index: r.index, run: r.run, objective: r.objective, seed: r.seed, state: r.state })) }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${exp.name}: ${runs.length} runs, in sweep order (${RUN_ORDER})\n`);
  process.stdout.write(`${'index'.padStart(5)}  ${'run'.padEnd(20)} state\n`);
  for (const r of st.runs) process.stdout.write(`${String(r.index).padStart(5)}  ${r.run.padEnd(20)} ${r.state}${r.state === 'running' || r.state === 'interrupted' ? ` (step ${r.step}${r.totalSteps ? `/${r.totalSteps}` : ''}, ETA ${fmtDuration(r.eta)})` : ''}\n`);
}

type Generate = (dir: string) => Promise<{ outDir: string; tableMarkdown: string; warnings: string[] }>;

/**
 * Rebuilds summary.csv and curves.csv from the run folders and, with `report`, the report, all
 * under the experiment lock: one writer at a time even when many processes finish together.
 */
export async function rebuildExperimentFiles(dir: string, report: boolean, log: (m: string) => void): Promise<void> {
  // Loaded lazily: `run` keeps working even where the report's chart stack cannot load.
  let gen: Generate | null = null;
  if (report) {
    try {
      gen = ((await import('../report/generate.ts')) as unknown as { generateReport: Generate }).generateReport;
    } catch (e) {
      process.stdout.write(`\n(report generator unavailable: ${(e as Error).message})\n`);
    }
  }
  await withExperimentLock(
    dir,
    async () => {
      writeSummaries(dir);
      if (!gen) return;
      const rep = await gen(dir);
      process.stdout.write(`\n${rep.tableMarkdown}\n\nreport: ${join(rep.outDir, 'index.html')}\n`);
      for (const w of rep.warnings) process.stdout.write(`note: ${w}\n`);
    },
    log,
  );
}
