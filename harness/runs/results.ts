// The results directory (format: results/README.md): run.json, the JSONL logs, the checkpoint
// folder with optimizer and data-cursor state, the CSV summaries, and the locks that keep one
// writer per run and per experiment. Every write is atomic, and a multi-file checkpoint is
// swapped in by directory rename, so a crash at any moment leaves either the previous checkpoint
// or the new one. Every file of a checkpoint has its sha256 in the folder's SHA256SUMS, checked
// when it is read; every read names the damaged file (and line) and the way out.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { PolicyConfig } from '../engine/types.ts';
import type { AdamWState } from '../engine/optim.ts';
import { readChecksums, verifyChecksum, writeChecksums, SUMS_FILE } from '../util/checksums.ts';
import { isReportable, printable } from '../util/errors.ts';
import { CorruptFileError, readFileOrNull, readJsonFile, readJsonlFile, recoverDir, replaceDirAtomic, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { cpuInfo, cpuLabel } from '../util/machine.ts';
import { describeHolder, withLock, type LockOptions } from '../util/lock.ts';
import type { EvalRow } from './evaluate.ts';
import { loadPolicyFiles, readOptimizerFile, savePolicyFiles, writeOptimizerFile } from './policy-checkpoint.ts';
import type { PolicyInfo } from './policy-source.ts';
import type { ObjectiveState } from '../../objectives/types.ts';

export type RunStatus = 'running' | 'finished' | 'failed';

export interface RunJson {
  experiment: string;
  run: string;
  objective: { id: string; title: string; reference: string; config: unknown; name?: string; module?: string; metricLabels?: Record<string, string> };
  seed: number;
  status: RunStatus;
  failure?: { step: number; message: string; tensor?: string };
  step: number;
  totalSteps: number | null;
  rollouts: number;
  tokens: number;
  wallTime: number;
  versions: Record<string, string>;
  gitCommit: string | null;
  provider: string;
  threads?: number;
  cpu: string;
  /** The CPU's instruction-set extensions that pick ONNX Runtime's kernels (harness/util/machine.ts). */
  isa?: string;
  /** The start every run of the experiment trains from: the SFT cache entry, or the initial policy ('init-<digest>'). */
  sft?: { hash: string; dir: string };
  /** The policy: built-in GPT or Hugging Face checkpoint, its size, context and prompt formatting. */
  policy?: PolicyInfo;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
export const RLBENCH_VERSION = pkg.version;

function ortVersion(): string {
  try {
    const p = new URL('../../node_modules/onnxruntime-node/package.json', import.meta.url);
    return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function environment(): { versions: Record<string, string>; gitCommit: string | null; cpu: string; isa: string } {
  let gitCommit: string | null = null;
  try {
    gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: new URL('../..', import.meta.url), stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    gitCommit = null;
  }
  const cpu = cpuInfo();
  return {
    versions: { rlbench: RLBENCH_VERSION, node: process.version, onnxruntime: ortVersion() },
    gitCommit,
    cpu: cpuLabel(cpu),
    isa: cpu.isa,
  };
}

/** What to do about a damaged file of one run: start that run over. */
export function runRemedy(run: string): string {
  return `run with --fresh --only ${run} to start this run over`;
}

/** A JSON file, or null when missing; a damaged one throws CorruptFileError naming it and `remedy`. */
export function readJson<T>(path: string, remedy = ''): T | null {
  return readJsonFile<T>(path, remedy);
}

/** A JSONL file's rows, or [] when missing; a damaged line throws CorruptFileError naming file:line. */
export function readJsonl<T>(path: string, remedy = ''): T[] {
  return readJsonlFile<T>(path, remedy);
}

const STATUSES: readonly RunStatus[] = ['running', 'finished', 'failed'];

/** A run's run.json, checked for the fields the runner and the summaries rely on; null when missing. */
export function readRunJson(runDir: string): RunJson | null {
  const path = join(runDir, 'run.json');
  const remedy = runRemedy(basename(runDir));
  const rj = readJson<RunJson>(path, remedy);
  if (rj === null) return null;
  const bad = (what: string) => new CorruptFileError(path, what, remedy);
  if (typeof rj !== 'object' || Array.isArray(rj)) throw bad('not a JSON object');
  if (!STATUSES.includes(rj.status)) throw bad(`status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(rj.status)}`);
  if (!Number.isSafeInteger(rj.step) || rj.step < 0) throw bad(`step must be an integer >= 0, got ${JSON.stringify(rj.step)}`);
  if (!Number.isSafeInteger(rj.seed)) throw bad(`seed must be an integer, got ${JSON.stringify(rj.seed)}`);
  if (!rj.objective || typeof rj.objective.id !== 'string') throw bad('objective.id is missing');
  return rj;
}

/** Where the locks of an experiment live: `<expDir>/.locks/`. */
export function runLockPath(expDir: string, run: string): string {
  return join(expDir, '.locks', `${run}.lock`);
}

/** The lock over the experiment-level files: experiment.json, summary.csv, curves.csv, the report. */
export function experimentLockPath(expDir: string): string {
  return join(expDir, '.locks', 'experiment.lock');
}

/**
 * Whether runners use this results folder: it has `.locks/` (every runner makes it when it sets
 * the folder up) and this process may write there. A hand-made fixture, an old or a read-only
 * copy has none: nothing can be writing there that a lock would exclude.
 */
export function isLiveResultsFolder(expDir: string): boolean {
  try {
    accessSync(join(expDir, '.locks'), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` under the experiment lock (waiting for it, saying who holds it). With `ifLive`, only
 * where the folder is live (isLiveResultsFolder); elsewhere `fn` runs without it and nothing is
 * created in the folder (`rlbench report` on a fixture).
 */
export async function withExperimentLock<T>(
  expDir: string,
  purpose: string,
  fn: () => Promise<T> | T,
  opts: { ifLive?: boolean; log: (m: string) => void; lock?: Pick<LockOptions, 'heartbeatMs' | 'staleMs' | 'pollMs'> },
): Promise<T> {
  if (opts.ifLive && !isLiveResultsFolder(expDir)) return fn();
  return withLock(experimentLockPath(expDir), fn, { purpose, waitMs: Infinity, ...opts.lock, onWait: (h) => opts.log(`waiting: ${describeHolder(h, opts.lock?.staleMs)}`) });
}

export function writeJsonl(path: string, rows: readonly unknown[]): void {
  writeFileAtomic(path, rows.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** JSON cannot hold NaN or Infinity: such metrics are left out of the row rather than written as null. */
export function finiteOnly(row: Record<string, number | number[] | string | null>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === 'number' && !Number.isFinite(v)) continue;
    out[k] = v;
  }
  return out;
}

/** Everything besides the weights that a resumed run needs to continue exactly. */
export interface TrainState {
  step: number;
  /** Position in the seed's prompt stream. */
  cursor: number;
  /** Position in the seed's refill stream (a filtering objective's extra prompts). */
  refillCursor: number;
  rollouts: number;
  tokens: number;
  wallTime: number;
  /** The objective's state across steps (e.g. an adaptive KL coefficient), when it has one. */
  objectiveState?: ObjectiveState;
}

/**
 * The checkpoint folder is built aside and swapped in whole; SHA256SUMS covers every file. The
 * policy is written by savePolicyFiles (a GPT as ONNX, a Hugging Face policy as a float32
 * Hugging Face folder carrying `hfSource`'s config and tokenizer), the AdamW moments in pieces.
 */
export async function saveRunCheckpoint(runDir: string, config: PolicyConfig, params: Float32Array, opt: AdamWState, state: TrainState, hfSource: string | null = null): Promise<void> {
  await replaceDirAtomic(join(runDir, 'checkpoint'), async (tmp) => {
    const sums = await savePolicyFiles(tmp, config, params, hfSource);
    sums['optimizer.bin'] = writeOptimizerFile(join(tmp, 'optimizer.bin'), opt.m, opt.v);
    sums['state.json'] = writeJsonAtomic(join(tmp, 'state.json'), { ...state, optimizer: { t: opt.t, size: opt.m.length, file: 'optimizer.bin', layout: 'float32 m then v' } }).sha256;
    writeChecksums(tmp, sums);
  });
}

type StateJson = TrainState & { optimizer: { t: number; size: number } };

/** Checks every value of state.json a resume relies on; throws naming the field. */
function validateState(raw: unknown, path: string, remedy: string): StateJson {
  const bad = (what: string) => new CorruptFileError(path, what, remedy);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('not a JSON object');
  const r = raw as Record<string, unknown>;
  const count = (v: unknown, field: string) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${field} must be an integer >= 0, got ${JSON.stringify(v)}`);
  };
  for (const f of ['step', 'cursor', 'rollouts', 'tokens']) count(r[f], f);
  // Written by this version on: older checkpoints have no refill stream (0) and no objective state.
  if (r.refillCursor !== undefined) count(r.refillCursor, 'refillCursor');
  if (r.objectiveState !== undefined) {
    const os = r.objectiveState;
    if (!os || typeof os !== 'object' || Array.isArray(os) || Object.values(os).some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
      throw bad(`objectiveState must be an object of finite numbers, got ${JSON.stringify(os)}`);
    }
  }
  if (typeof r.wallTime !== 'number' || !Number.isFinite(r.wallTime) || r.wallTime < 0) throw bad(`wallTime must be a number >= 0, got ${JSON.stringify(r.wallTime)}`);
  const o = r.optimizer as Record<string, unknown> | undefined;
  if (!o || typeof o !== 'object') throw bad('optimizer is missing');
  count(o.t, 'optimizer.t');
  count(o.size, 'optimizer.size');
  return raw as StateJson;
}

/**
 * The run's last checkpoint, or null when it has none. Every file is checked against SHA256SUMS
 * and state.json's values are validated; a damaged checkpoint throws CorruptFileError naming the
 * file and `--fresh --only <run>`.
 */
export async function loadRunCheckpoint(runDir: string): Promise<{ params: Float32Array; opt: AdamWState; state: TrainState } | null> {
  const dir = join(runDir, 'checkpoint');
  const remedy = runRemedy(basename(runDir));
  // A crash between the two renames of a checkpoint swap leaves only the previous checkpoint.
  recoverDir(dir);
  const stateBytes = readFileOrNull(join(dir, 'state.json'), remedy);
  if (stateBytes === null) {
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new CorruptFileError(join(dir, 'state.json'), 'missing from the checkpoint folder', remedy);
    return null;
  }
  const sums = readChecksums(dir, remedy);
  verifyChecksum(dir, 'state.json', stateBytes, sums, remedy);
  let parsed: unknown;
  try {
    parsed = JSON.parse(stateBytes.toString('utf8'));
  } catch (e) {
    throw new CorruptFileError(join(dir, 'state.json'), `truncated or not valid JSON (${printable((e as Error).message)})`, remedy);
  }
  const raw = validateState(parsed, join(dir, 'state.json'), remedy);
  const { params } = await loadPolicyFiles(dir, sums, remedy);
  const n = raw.optimizer.size;
  if (params.length !== n) throw new CorruptFileError(join(dir, 'state.json'), `optimizer.size is ${n}, but the policy has ${params.length} parameters`, remedy);
  const optPath = join(dir, 'optimizer.bin');
  if (sums !== null && !sums.has('optimizer.bin')) throw new CorruptFileError(join(dir, SUMS_FILE), 'has no checksum for optimizer.bin', remedy);
  const { m, v } = readOptimizerFile(optPath, n, sums?.get('optimizer.bin') ?? null, remedy);
  const { step, cursor, refillCursor = 0, rollouts, tokens, wallTime, objectiveState } = raw;
  const state: TrainState = { step, cursor, refillCursor, rollouts, tokens, wallTime, ...(objectiveState ? { objectiveState } : {}) };
  return { params, opt: { t: raw.optimizer.t, m, v }, state };
}

/** Run directories of an experiment (those holding a run.json), sorted by name. */
export function listRuns(expDir: string): string[] {
  if (!existsSync(expDir)) return [];
  return readdirSync(expDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(expDir, d.name, 'run.json')))
    .map((d) => d.name)
    .sort();
}

/**
 * summary.csv: the final evaluation of every run, one row per (run, benchmark); curves.csv:
 * every evaluation. Both are rebuilt from the runs' eval.jsonl, so they always agree with them.
 */
export function writeSummaries(expDir: string): { summary: string; curves: string; rows: SummaryRow[]; skipped: { run: string; message: string }[] } {
  const rows: SummaryRow[] = [];
  const curves: unknown[][] = [];
  // A damaged run is left out (and listed), so one broken run never blocks the others' rows.
  const skipped: { run: string; message: string }[] = [];
  for (const run of listRuns(expDir)) {
    let rj: RunJson;
    let evals: EvalRow[];
    try {
      rj = readRunJson(join(expDir, run))!;
      evals = readJsonl<EvalRow>(join(expDir, run, 'eval.jsonl'), runRemedy(run));
    } catch (e) {
      if (!(e instanceof CorruptFileError)) throw e;
      skipped.push({ run, message: e.message });
      continue;
    }
    for (const e of evals) curves.push([run, rj.objective.name ?? rj.objective.id, rj.seed, e.step, e.rollouts, e.tokens, e.wallTime, e.benchmark, e.n, e.k, e.avgAtK, e.passAtK[0], e.passAtK[e.passAtK.length - 1], e.majAtK, e.greedy ?? '', e.meanLength]);
    const lastStep = evals.reduce((m, e) => Math.max(m, e.step), -1);
    for (const e of evals.filter((x) => x.step === lastStep)) {
      rows.push({ run, objective: rj.objective.name ?? rj.objective.id, seed: rj.seed, status: rj.status, step: e.step, rollouts: e.rollouts, tokens: e.tokens, wallTime: rj.wallTime, benchmark: e.benchmark, n: e.n, k: e.k, avgAtK: e.avgAtK, passAt1: e.passAtK[0]!, passAtK: e.passAtK[e.passAtK.length - 1]!, majAtK: e.majAtK, greedy: e.greedy, meanLength: e.meanLength });
    }
  }
  const summaryHeader = ['run', 'objective', 'seed', 'status', 'step', 'rollouts', 'tokens', 'wallTime', 'benchmark', 'n', 'k', 'avgAtK', 'passAt1', 'passAtK', 'majAtK', 'greedy', 'meanLength'];
  const summary = stringify(
    rows.map((r) => summaryHeader.map((h) => (r as unknown as Record<string, unknown>)[h] ?? '')),
    { header: true, columns: summaryHeader },
  );
  const curvesHeader = ['run', 'objective', 'seed', 'step', 'rollouts', 'tokens', 'wallTime', 'benchmark', 'n', 'k', 'avgAtK', 'passAt1', 'passAtK', 'majAtK', 'greedy', 'meanLength'];
  const curvesCsv = stringify(curves, { header: true, columns: curvesHeader });
  writeFileAtomic(join(expDir, 'summary.csv'), summary);
  writeFileAtomic(join(expDir, 'curves.csv'), curvesCsv);
  return { summary: join(expDir, 'summary.csv'), curves: join(expDir, 'curves.csv'), rows, skipped };
}

export interface SummaryRow {
  run: string;
  objective: string;
  seed: number;
  status: RunStatus;
  step: number;
  rollouts: number;
  tokens: number;
  wallTime: number;
  benchmark: string;
  n: number;
  k: number;
  avgAtK: number;
  passAt1: number;
  passAtK: number;
  majAtK: number;
  greedy: number | null;
  meanLength: number;
}
