// A sweep as a scheduler sees it: the experiment's runs in one stable, documented order, so that
// array task I of a Slurm job array or completion index I of a Kubernetes Indexed Job trains
// exactly run I. The order is the runner's own:
//
//   seeds-major: for each seed in the file's order, each objective in the file's order.
//   index = seedPosition × (number of objectives) + objectivePosition
//
// e.g. objectives [grpo, dapo] × seeds [1, 2] → 0 grpo-s1, 1 dapo-s1, 2 grpo-s2, 3 dapo-s2.
// Adding a seed appends indexes; adding an objective renumbers, so a sweep is resubmitted from the
// same experiment file it was generated from (`rlbench run exp.json --list` shows the order).
//
// The list is also written to results/<experiment>/sweep.json, so `rlbench status` can show runs
// that have not started yet without loading the experiment's plugins.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { CorruptFileError, readJsonFile, writeJsonAtomic } from '../util/fs.ts';
import { runName, type Experiment, type ResolvedObjective } from './experiment.ts';

export const RUN_ORDER = 'seeds-major: for each seed in file order, each objective in file order; index = seedPosition × objectives + objectivePosition';

export interface SweepRun {
  index: number;
  run: string;
  /** The objective's run-name prefix. */
  objective: string;
  seed: number;
}

export interface SweepFile {
  experiment: string;
  order: string;
  runs: SweepRun[];
}

/** The experiment's runs in sweep order. */
export function runList(exp: Pick<Experiment, 'seeds'>, objectives: readonly Pick<ResolvedObjective, 'name'>[]): SweepRun[] {
  return exp.seeds.flatMap((seed, si) => objectives.map((o, oi) => ({ index: si * objectives.length + oi, run: runName(o.name, seed), objective: o.name, seed })));
}

export function sweepPath(expDir: string): string {
  return join(expDir, 'sweep.json');
}

export function writeSweepFile(expDir: string, experiment: string, runs: SweepRun[]): void {
  const file: SweepFile = { experiment, order: RUN_ORDER, runs };
  const path = sweepPath(expDir);
  // Identical content from every process of a sweep: rewrite only when it changed.
  if (existsSync(path) && readFileSync(path, 'utf8') === JSON.stringify(file, null, 2) + '\n') return;
  writeJsonAtomic(path, file);
}

export function readSweepFile(expDir: string): SweepFile | null {
  const path = sweepPath(expDir);
  const f = readJsonFile<SweepFile>(path, 'delete it: the next `rlbench run` or `rlbench slurm` of the experiment writes it again');
  if (f !== null && (!Array.isArray(f.runs) || !f.runs.every((r) => typeof r?.run === 'string' && Number.isSafeInteger(r.index) && Number.isSafeInteger(r.seed)))) {
    throw new CorruptFileError(path, 'runs must be a list of {index, run, objective, seed}', 'delete it: the next `rlbench run` or `rlbench slurm` of the experiment writes it again');
  }
  return f;
}

/** Where the array index of this process came from. */
export type IndexSource = '--index' | 'SLURM_ARRAY_TASK_ID' | 'JOB_COMPLETION_INDEX';

/**
 * The array index that the scheduler gave this process, or null. SLURM_ARRAY_TASK_ID counts only
 * together with SLURM_ARRAY_JOB_ID (both are set in array tasks only), so a plain `rlbench run`
 * inside an interactive allocation still trains every run; JOB_COMPLETION_INDEX is set only by
 * the Kubernetes Job controller for Indexed Jobs.
 */
export function indexFromEnv(env: NodeJS.ProcessEnv = process.env): { raw: string; from: IndexSource } | null {
  if (env.SLURM_ARRAY_TASK_ID !== undefined && env.SLURM_ARRAY_JOB_ID !== undefined) return { raw: env.SLURM_ARRAY_TASK_ID, from: 'SLURM_ARRAY_TASK_ID' };
  if (env.JOB_COMPLETION_INDEX !== undefined) return { raw: env.JOB_COMPLETION_INDEX, from: 'JOB_COMPLETION_INDEX' };
  return null;
}

/** Parses an index and checks it against the run list; the message names where it came from. */
export function pickRun(runs: readonly SweepRun[], raw: string, from: IndexSource, where: string): SweepRun {
  const i = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(i)) throw new UsageError(`${from} ${JSON.stringify(raw)}: not a run index (an integer from 0 to ${runs.length - 1})`);
  if (i >= runs.length) {
    throw new UsageError(`${from} ${i}: ${where} has ${runs.length} runs (indexes 0-${runs.length - 1}; \`rlbench run ${where} --list\` shows them)`);
  }
  return runs[i]!;
}

/**
 * The thread count a run uses. A fixed execution.threads wins (numbers depend on it in the last
 * bits, so a sweep keeps it). 0 means "the cores this task was given": RLBENCH_THREADS, else
 * Slurm's SLURM_CPUS_PER_TASK, else undefined (ONNX Runtime's default, every core of the machine).
 */
export function effectiveThreads(configured: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (configured > 0) return configured;
  for (const v of [env.RLBENCH_THREADS, env.SLURM_CPUS_PER_TASK]) {
    const n = Number(v);
    if (v !== undefined && v !== '' && Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}
