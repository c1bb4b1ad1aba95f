// The state of every run of a sweep, read from the shared results folder alone (run.json,
// metrics.jsonl, eval.jsonl and the run locks), so it works from any machine that mounts it:
//   pending      nothing written yet;
//   running      a live process holds the run's lock (host, PID, since when, heartbeat);
//   interrupted  started, not finished, and nobody holds it (killed, timed out, node lost):
//                resubmitting it resumes from its last checkpoint;
//   finished     run.json says so;
//   failed       stopped by a diagnosed error (run.json's failure): a resubmission skips it,
//                `--fresh` starts it over.
// Step/total and the ETA come from metrics.jsonl (the per-step wall times of the latest steps)
// and eval.jsonl (the time of an evaluation point).
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { mean } from '../util/stats.ts';
import { readLock, readRunLock, type LockInfo } from './locks.ts';
import { readJson, readJsonl, type RunJson } from './results.ts';
import { readSweepFile, runList, type SweepRun } from './sweep.ts';
import { runName, type Budget, type Experiment } from './experiment.ts';

export type RunState = 'pending' | 'running' | 'interrupted' | 'finished' | 'failed';

export interface RunStatus extends SweepRun {
  state: RunState;
  /** Last completed step (metrics.jsonl), and the planned total when the budget is in steps. */
  step: number;
  totalSteps: number | null;
  /** Fraction of the budget done, 0..1. */
  fraction: number;
  /** Seconds left (training plus the remaining evaluations), when it can be estimated. */
  eta: number | null;
  /** Seconds per step over the latest steps. */
  secondsPerStep: number | null;
  /** The lock holder while running (or the stale holder of an interrupted run). */
  holder: LockInfo | null;
  /** Why it failed or stopped. */
  why: string | null;
  /** Step of the last checkpoint, where a resumed run continues. */
  checkpointStep: number | null;
}

export interface SweepStatus {
  experiment: string;
  dir: string;
  order: string;
  runs: RunStatus[];
  counts: Record<RunState, number>;
  sft: { state: 'ready' | 'training' | 'not started'; detail: string };
}

/** The run list: sweep.json, or (older results) computed from experiment.json where names are known. */
function loadRunList(dir: string): { runs: SweepRun[]; order: string; exp: Experiment | null } {
  const exp = readJson<Experiment>(join(dir, 'experiment.json'));
  const sweep = readSweepFile(dir);
  if (sweep) return { runs: sweep.runs, order: sweep.order, exp };
  if (!exp) throw new UsageError(`${dir}: not an experiment's results folder (no experiment.json or sweep.json)`);
  const names = exp.objectives.map((o, i) => {
    const n = o.name ?? o.id;
    if (n === undefined) throw new UsageError(`${dir}: objectives[${i}] is a plugin without a "name"; run \`rlbench run <experiment> --list\` once to write sweep.json`);
    return { name: n };
  });
  return { runs: runList(exp, names), order: 'seeds-major', exp };
}

function budgetFraction(budget: Budget | undefined, step: number, rollouts: number, tokens: number, totalSteps: number | null): number {
  if (budget && 'rollouts' in budget) return Math.min(1, rollouts / budget.rollouts);
  if (budget && 'tokens' in budget) return Math.min(1, tokens / budget.tokens);
  return totalSteps ? Math.min(1, step / totalSteps) : 0;
}

/** Seconds left for a run, from its logs: training at the recent pace plus the evaluations to come. */
function estimate(exp: Experiment | null, metrics: Record<string, number>[], evals: Record<string, number>[], totalSteps: number | null, fraction: number): { eta: number | null; perStep: number | null } {
  if (metrics.length === 0) return { eta: null, perStep: null };
  const recent = metrics.slice(-21);
  const diffs = recent.slice(1).map((m, i) => m.wallTime! - recent[i]!.wallTime!);
  const perStep = diffs.length ? mean(diffs) : metrics[0]!.wallTime!;
  const last = metrics[metrics.length - 1]!;
  let train: number;
  if (totalSteps !== null) train = Math.max(0, totalSteps - last.step!) * perStep;
  else if (fraction > 0) train = (last.wallTime! * (1 - fraction)) / fraction;
  else return { eta: null, perStep };
  // Evaluation time is not in wallTime: add one evaluation point's time per point still to come.
  let evalTime = 0;
  const byStep = new Map<number, number>();
  for (const e of evals) if (e.step! > 0 && typeof e.evalTime === 'number') byStep.set(e.step!, (byStep.get(e.step!) ?? 0) + e.evalTime);
  if (byStep.size && exp && totalSteps !== null) {
    const every = exp.eval.every;
    let points = 0;
    for (let s = last.step! + 1; s <= totalSteps; s++) if (s === totalSteps || (every > 0 && s % every === 0)) points++;
    evalTime = points * mean([...byStep.values()]);
  }
  return { eta: train + evalTime, perStep };
}

export function sweepStatus(resultsDir: string): SweepStatus {
  const dir = resolve(resultsDir);
  if (!existsSync(dir)) throw new UsageError(`results folder not found: ${resultsDir}`);
  const { runs, order, exp } = loadRunList(dir);
  const counts: Record<RunState, number> = { pending: 0, running: 0, interrupted: 0, finished: 0, failed: 0 };
  const out: RunStatus[] = runs.map((r) => {
    const rdir = join(dir, r.run);
    const rj = readJson<RunJson>(join(rdir, 'run.json'));
    const metrics = readJsonl<Record<string, number>>(join(rdir, 'metrics.jsonl'));
    const evals = readJsonl<Record<string, number>>(join(rdir, 'eval.jsonl'));
    const ck = readJson<{ step: number }>(join(rdir, 'checkpoint', 'state.json'));
    const lockInfo = readRunLock(dir, r.run);
    const last = metrics[metrics.length - 1];
    const step = last?.step ?? rj?.step ?? 0;
    const totalSteps = rj?.totalSteps ?? (exp && 'steps' in exp.budget ? exp.budget.steps : null);
    const fraction = rj?.status === 'finished' ? 1 : budgetFraction(exp?.budget, step, last?.rollouts ?? 0, last?.tokens ?? 0, totalSteps);
    let state: RunState;
    let why: string | null = null;
    if (rj?.status === 'finished') state = 'finished';
    else if (rj?.status === 'failed') {
      state = 'failed';
      why = rj.failure?.message ?? 'failed (no message in run.json)';
    } else if (lockInfo?.live) state = 'running';
    else if (rj || metrics.length || lockInfo) {
      state = 'interrupted';
      why = lockInfo ? `its process is gone: ${lockInfo.host} PID ${lockInfo.pid}, last heartbeat ${lockInfo.heartbeatAge.toFixed(0)} s ago` : 'no process holds it';
    } else state = 'pending';
    counts[state]++;
    const est = state === 'running' || state === 'interrupted' ? estimate(exp, metrics, evals, totalSteps, fraction) : { eta: null, perStep: null };
    return { ...r, state, step, totalSteps, fraction, eta: est.eta, secondsPerStep: est.perStep, holder: state === 'finished' ? null : lockInfo, why, checkpointStep: ck?.step ?? null };
  });

  // The SFT warm start: ready once every seed's sft-s<seed> row is written; training while its
  // cache lock is held.
  const seeds = [...new Set(runs.map((r) => r.seed))];
  const sftRows = seeds.map((s) => readJson<RunJson>(join(dir, runName('sft', s), 'run.json')));
  let sft: SweepStatus['sft'];
  if (sftRows.length && sftRows.every((r) => r?.status === 'finished')) sft = { state: 'ready', detail: sftRows[0]!.sft?.dir ?? '' };
  else {
    const cache = join(dir, '..', '.cache'); // results/<experiment> sits in the output root
    const held = existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.lock')).map((f) => readLock(join(cache, f))).find((l) => l?.live) : undefined;
    sft = held ? { state: 'training', detail: `${held.host} PID ${held.pid} since ${held.since}` } : { state: 'not started', detail: '' };
  }
  return { experiment: exp?.name ?? basename(dir), dir, order, runs: out, counts, sft };
}

export function fmtDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
