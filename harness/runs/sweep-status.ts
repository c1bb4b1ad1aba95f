// The state of every run of a sweep, read from the shared results folder alone (run.json,
// metrics.jsonl, eval.jsonl and the run locks of util/lock.ts), so it works from any machine that
// mounts it:
//   pending      nothing written yet;
//   running      a live process holds the run's lock (host, PID, since when, heartbeat);
//   interrupted  started, not finished, and nobody holds it (killed, timed out, node lost), or
//                its holder is provably gone (a dead PID on this host, a heartbeat older than
//                the stale limit): resubmitting it resumes from its last checkpoint;
//   finished     run.json says so;
//   failed       stopped by a diagnosed error (run.json's failure): a resubmission skips it,
//                `--fresh` starts it over;
//   damaged      one of its files cannot be read (the message names it and the way out).
// Step/total and the ETA come from metrics.jsonl (the per-step wall times of the latest steps)
// and eval.jsonl (the time of an evaluation point).
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { CorruptFileError } from '../util/fs.ts';
import { inspectLock, type LockHolder } from '../util/lock.ts';
import { mean } from '../util/stats.ts';
import { readJson, readJsonl, readRunJson, runLockPath, runRemedy, type RunJson } from './results.ts';
import { readSweepFile, runList, type SweepRun } from './sweep.ts';
import { runName, type Budget, type Experiment } from './experiment.ts';

export type RunState = 'pending' | 'running' | 'interrupted' | 'finished' | 'failed' | 'damaged';

/** Who holds (or held) a lock, as status shows it. */
export interface HolderInfo {
  /** Null where the lock file cannot be read. */
  host: string | null;
  pid: number | null;
  /** When the holder took the lock (ISO). */
  since: string | null;
  command: string | null;
  /** Seconds since the holder's last heartbeat. */
  heartbeatAge: number;
  /** Why the holder is gone, or null while it may be alive. */
  stale: string | null;
}

function holderInfo(h: LockHolder): HolderInfo {
  return { host: h.owner?.host ?? null, pid: h.owner?.pid ?? null, since: h.owner?.startedAt ?? null, command: h.owner?.command ?? null, heartbeatAge: Math.max(0, Math.round(h.heartbeatAgeMs / 1000)), stale: h.stale };
}

/** "node7 PID 1234 since 2026-…, heartbeat 4 s ago". */
export function describeHolderInfo(h: HolderInfo): string {
  return `${h.host ?? '?'} PID ${h.pid ?? '?'}${h.since ? ` since ${h.since}` : ''}, heartbeat ${h.heartbeatAge} s ago`;
}

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
  /** The lock holder while running (or the gone holder of an interrupted run). */
  holder: HolderInfo | null;
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
  const exp = readJson<Experiment>(join(dir, 'experiment.json'), 'restore it, or run the experiment with --fresh to start it over');
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

/** One run's state from its folder and its lock; a damaged file makes it 'damaged', never an exception. */
function runStatus(dir: string, r: SweepRun, exp: Experiment | null): RunStatus {
  const rdir = join(dir, r.run);
  const lock = inspectLock(runLockPath(dir, r.run));
  const holder = lock ? holderInfo(lock) : null;
  const live = holder !== null && holder.stale === null;
  const totalOf = (rj: RunJson | null) => rj?.totalSteps ?? (exp && 'steps' in exp.budget ? exp.budget.steps : null);
  let rj: RunJson | null;
  let metrics: Record<string, number>[];
  let evals: Record<string, number>[];
  let ck: { step: number } | null;
  try {
    const remedy = runRemedy(r.run);
    rj = readRunJson(rdir);
    metrics = readJsonl<Record<string, number>>(join(rdir, 'metrics.jsonl'), remedy);
    evals = readJsonl<Record<string, number>>(join(rdir, 'eval.jsonl'), remedy);
    ck = readJson<{ step: number }>(join(rdir, 'checkpoint', 'state.json'), remedy);
  } catch (e) {
    if (!(e instanceof CorruptFileError)) throw e;
    // A run being trained rewrites its files atomically, so a damaged one is damaged for good.
    return { ...r, state: 'damaged', step: 0, totalSteps: totalOf(null), fraction: 0, eta: null, secondsPerStep: null, holder: live ? holder : null, why: e.message, checkpointStep: null };
  }
  const last = metrics[metrics.length - 1];
  const step = last?.step ?? rj?.step ?? 0;
  const totalSteps = totalOf(rj);
  const fraction = rj?.status === 'finished' ? 1 : budgetFraction(exp?.budget, step, last?.rollouts ?? 0, last?.tokens ?? 0, totalSteps);
  let state: RunState;
  let why: string | null = null;
  if (rj?.status === 'finished') state = 'finished';
  else if (rj?.status === 'failed') {
    state = 'failed';
    why = rj.failure?.message ?? 'failed (no message in run.json)';
  } else if (live) state = 'running';
  else if (rj || metrics.length || holder) {
    state = 'interrupted';
    why = holder ? `its process is gone: ${describeHolderInfo(holder)} (${holder.stale})` : 'no process holds it';
  } else state = 'pending';
  const est = state === 'running' || state === 'interrupted' ? estimate(exp, metrics, evals, totalSteps, fraction) : { eta: null, perStep: null };
  return { ...r, state, step, totalSteps, fraction, eta: est.eta, secondsPerStep: est.perStep, holder: state === 'finished' ? null : holder, why, checkpointStep: ck?.step ?? null };
}

/**
 * Every run's state. `list` gives the run list (and experiment) instead of sweep.json: `run
 * --list` shows the order before anything is written, when the folder may not exist yet.
 */
export function sweepStatus(resultsDir: string, list?: { runs: SweepRun[]; order: string; exp: Experiment }): SweepStatus {
  const dir = resolve(resultsDir);
  if (!list && !existsSync(dir)) throw new UsageError(`results folder not found: ${resultsDir}`);
  const { runs, order, exp } = list ?? loadRunList(dir);
  const counts: Record<RunState, number> = { pending: 0, running: 0, interrupted: 0, finished: 0, failed: 0, damaged: 0 };
  const out = runs.map((r) => runStatus(dir, r, exp));
  for (const r of out) counts[r.state]++;

  // The SFT warm start: ready once every seed's sft-s<seed> row is written; training while an
  // SFT cache lock is held (the cache may serve other experiments too).
  const seeds = [...new Set(runs.map((r) => r.seed))];
  let rowsReady: (RunJson | null)[];
  try {
    rowsReady = seeds.map((s) => readRunJson(join(dir, runName('sft', s))));
  } catch (e) {
    if (!(e instanceof CorruptFileError)) throw e;
    rowsReady = [null]; // damaged rows are evaluated again by the next run
  }
  let sft: SweepStatus['sft'];
  if (rowsReady.length && rowsReady.every((r) => r?.status === 'finished')) sft = { state: 'ready', detail: rowsReady[0]!.sft?.dir ?? '' };
  else {
    const locks = join(dir, '..', '.cache', '.locks'); // results/<experiment> sits in the output root, beside .cache
    const held = existsSync(locks)
      ? readdirSync(locks)
          .filter((f) => f.startsWith('sft-') && f.endsWith('.lock'))
          .map((f) => inspectLock(join(locks, f)))
          .find((l) => l !== null && l.stale === null)
      : undefined;
    sft = held ? { state: 'training', detail: describeHolderInfo(holderInfo(held)) } : { state: 'not started', detail: '' };
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
