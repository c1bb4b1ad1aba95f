// The sweep side of `rlbench run`: which run this process trains (--index, or the array index a
// scheduler set), and `--list`. The run order itself is runs/sweep.ts's.
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import type { Experiment, ResolvedObjective } from '../runs/experiment.ts';
import { indexFromEnv, pickRun, runList, RUN_ORDER, type SweepRun } from '../runs/sweep.ts';
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
 * The run this process trains (undefined: all of them). `--only` and `--all` ignore the
 * scheduler's index; SLURM_ARRAY_TASK_ID counts only inside an array task (runs/sweep.ts).
 */
export function selectRun(path: string, exp: Experiment, objectives: ResolvedObjective[], opts: SweepOptions, log: (m: string) => void): string | undefined {
  const runs = runList(exp, objectives);
  if (opts.index !== undefined && opts.only !== undefined) throw new UsageError('give --index or --only, not both');
  if (opts.index !== undefined && opts.all) throw new UsageError('give --index or --all, not both');
  if (opts.only !== undefined) return opts.only;
  let picked: SweepRun | undefined;
  if (opts.index !== undefined) {
    picked = pickRun(runs, opts.index, '--index', path);
    log(`run ${picked.index} of ${runs.length}: ${picked.run}`);
  } else if (!opts.all) {
    const env = indexFromEnv();
    if (env) {
      picked = pickRun(runs, env.raw, env.from, path);
      log(`run ${picked.index} of ${runs.length} (${picked.run}), from ${env.from}=${env.raw}; --all trains every run instead`);
    }
  }
  return picked?.run;
}

/** `rlbench run exp.json --list`: the runs in sweep order with their state (nothing is written). */
export function printRunList(exp: Experiment, objectives: ResolvedObjective[], json: boolean): void {
  const runs = runList(exp, objectives);
  const st = sweepStatus(experimentDir(exp), { runs, order: RUN_ORDER, exp });
  if (json) {
    process.stdout.write(JSON.stringify({ experiment: exp.name, order: RUN_ORDER, runs: st.runs.map((r) => ({ index: r.index, run: r.run, objective: r.objective, seed: r.seed, state: r.state })) }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${exp.name}: ${runs.length} runs, in sweep order (${RUN_ORDER})\n`);
  process.stdout.write(`${'index'.padStart(5)}  ${'run'.padEnd(20)} state\n`);
  for (const r of st.runs) process.stdout.write(`${String(r.index).padStart(5)}  ${r.run.padEnd(20)} ${r.state}${r.state === 'running' || r.state === 'interrupted' ? ` (step ${r.step}${r.totalSteps ? `/${r.totalSteps}` : ''}, ETA ${fmtDuration(r.eta)})` : ''}\n`);
}
