// The results directory (format: results/README.md): run.json, the JSONL logs, the checkpoint
// folder with optimizer and data-cursor state, and the CSV summaries. Every write is atomic,
// and a multi-file checkpoint is swapped in by directory rename, so a crash at any moment leaves
// either the previous checkpoint or the new one.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { PolicyConfig } from '../engine/types.ts';
import { saveCheckpoint, loadCheckpoint } from '../engine/checkpoint.ts';
import type { AdamWState } from '../engine/optim.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { cpuInfo, cpuLabel } from '../util/machine.ts';
import type { EvalRow } from './evaluate.ts';
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
  sft?: { hash: string; dir: string };
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

export function readJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
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

export async function saveRunCheckpoint(runDir: string, config: PolicyConfig, params: Float32Array, opt: AdamWState, state: TrainState): Promise<void> {
  const final = join(runDir, 'checkpoint');
  const tmp = join(runDir, `.checkpoint.tmp-${process.pid}`);
  const old = join(runDir, '.checkpoint.old');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await saveCheckpoint(tmp, config, params);
  const moments = new Float32Array(opt.m.length * 2);
  moments.set(opt.m, 0);
  moments.set(opt.v, opt.m.length);
  writeFileAtomic(join(tmp, 'optimizer.bin'), new Uint8Array(moments.buffer));
  writeJsonAtomic(join(tmp, 'state.json'), { ...state, optimizer: { t: opt.t, size: opt.m.length, file: 'optimizer.bin', layout: 'float32 m then v' } });
  rmSync(old, { recursive: true, force: true });
  if (existsSync(final)) renameSync(final, old);
  renameSync(tmp, final);
  rmSync(old, { recursive: true, force: true });
}

export async function loadRunCheckpoint(runDir: string): Promise<{ params: Float32Array; opt: AdamWState; state: TrainState } | null> {
  let dir = join(runDir, 'checkpoint');
  // A crash between the two renames of saveRunCheckpoint leaves only the previous checkpoint.
  if (!existsSync(join(dir, 'state.json'))) dir = join(runDir, '.checkpoint.old');
  if (!existsSync(join(dir, 'state.json'))) return null;
  const raw = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as TrainState & { optimizer: { t: number; size: number } };
  const { params } = await loadCheckpoint(dir);
  const buf = readFileSync(join(dir, 'optimizer.bin'));
  const moments = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const n = raw.optimizer.size;
  if (moments.length !== 2 * n || params.length !== n) throw new Error(`${dir}: optimizer state holds ${moments.length} values for ${params.length} parameters`);
  const { step, cursor, refillCursor = 0, rollouts, tokens, wallTime, objectiveState } = raw;
  const state: TrainState = { step, cursor, refillCursor, rollouts, tokens, wallTime, ...(objectiveState ? { objectiveState } : {}) };
  return { params, opt: { t: raw.optimizer.t, m: moments.slice(0, n), v: moments.slice(n) }, state };
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
export function writeSummaries(expDir: string): { summary: string; curves: string; rows: SummaryRow[] } {
  const rows: SummaryRow[] = [];
  const curves: unknown[][] = [];
  for (const run of listRuns(expDir)) {
    const rj = readJson<RunJson>(join(expDir, run, 'run.json'))!;
    const evals = readJsonl<EvalRow>(join(expDir, run, 'eval.jsonl'));
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
  return { summary: join(expDir, 'summary.csv'), curves: join(expDir, 'curves.csv'), rows };
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
