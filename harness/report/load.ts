// Reads one experiment's results directory (format: results/README.md) into plain arrays for
// the report. It is deliberately tolerant: runs may still be going, optional fields and metrics
// may be missing, and a malformed line is skipped with a warning naming file, line and field,
// so that a partial experiment still gets a report that says what is missing.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../util/errors.ts';
import { readProbe, type ProbeResult } from './probe.ts';

export type RunStatus = 'running' | 'finished' | 'failed' | 'unknown';

export interface LoadedEvalRow {
  step: number;
  rollouts?: number;
  tokens?: number;
  wallTime?: number;
  benchmark: string;
  n?: number;
  k?: number;
  temperature?: number;
  avgAtK?: number;
  passAtK?: number[];
  majAtK?: number;
  greedy?: number;
  meanLength?: number;
  /** Per-problem outcomes (correct samples, majority vote, greedy), when the run recorded them. */
  perProblem?: { correct: number[]; maj: number[]; greedy: number[] | null };
}

/** One line of metrics.jsonl: numeric fields only (objective metrics keep their `obj/` prefix). */
export type MetricRow = Record<string, number> & { step: number };

export interface RunData {
  /** Directory name, e.g. 'grpo-s1'. */
  name: string;
  /** Row key: the directory name without '-s<seed>' (several configs of one objective may coexist). */
  key: string;
  objectiveId: string;
  objectiveTitle: string;
  /** Titles of the objective's metrics (run.json objective.metricLabels). */
  metricLabels: Record<string, string>;
  seed: number;
  status: RunStatus;
  failure?: { step?: number; message?: string };
  step?: number;
  totalSteps?: number;
  rollouts?: number;
  tokens?: number;
  wallTime?: number;
  versions: Record<string, string>;
  gitCommit?: string;
  provider?: string;
  threads?: number;
  cpu?: string;
  isa?: string;
  startedAt?: string;
  updatedAt?: string;
  finishedAt?: string;
  metrics: MetricRow[];
  evals: LoadedEvalRow[];
}

export interface BenchmarkFile {
  name: string;
  data: unknown;
}

export interface LoadedExperiment {
  name: string;
  dir: string;
  config: unknown;
  runs: RunData[];
  benchmarkFiles: BenchmarkFile[];
  /** results/<experiment>/probe.json, written by `rlbench probe`, when present. */
  probe?: ProbeResult;
  warnings: string[];
}

const RUN_DIR = /^(.+)-s(\d+)$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function readJson(path: string, warnings: string[]): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    warnings.push(`${path}: not valid JSON (${(e as Error).message}); ignored`);
    return undefined;
  }
}

function readJsonl(path: string, warnings: string[]): { line: number; value: Record<string, unknown> }[] {
  if (!existsSync(path)) return [];
  const out: { line: number; value: Record<string, unknown> }[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim();
    if (!text) continue;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      warnings.push(`${path}:${i + 1}: not valid JSON (${(e as Error).message}); line skipped`);
      continue;
    }
    if (!isObject(v)) {
      warnings.push(`${path}:${i + 1}: expected a JSON object; line skipped`);
      continue;
    }
    out.push({ line: i + 1, value: v });
  }
  return out;
}

function parseEval(path: string, line: number, v: Record<string, unknown>, warnings: string[]): LoadedEvalRow | undefined {
  const step = num(v.step);
  const benchmark = str(v.benchmark);
  if (step === undefined) {
    warnings.push(`${path}:${line}: field "step" missing or not a finite number; line skipped`);
    return undefined;
  }
  if (!benchmark) {
    warnings.push(`${path}:${line}: field "benchmark" missing or not a string; line skipped`);
    return undefined;
  }
  const row: LoadedEvalRow = { step, benchmark };
  for (const f of ['rollouts', 'tokens', 'wallTime', 'n', 'k', 'temperature', 'avgAtK', 'majAtK', 'greedy', 'meanLength'] as const) {
    const x = num(v[f]);
    if (x !== undefined) row[f] = x;
    else if (v[f] !== undefined && v[f] !== null) warnings.push(`${path}:${line}: field "${f}" is not a finite number; treated as missing`);
  }
  if (Array.isArray(v.passAtK)) {
    const xs = v.passAtK.map(num);
    if (xs.every((x) => x !== undefined)) row.passAtK = xs as number[];
    else warnings.push(`${path}:${line}: field "passAtK" has non-numeric entries; treated as missing`);
  }
  if (v.perProblem !== undefined) {
    const pp = isObject(v.perProblem) ? v.perProblem : {};
    const nums = (x: unknown) => (Array.isArray(x) && x.every((y) => num(y) !== undefined) ? (x as number[]) : undefined);
    const correct = nums(pp.correct), maj = nums(pp.maj), greedy = pp.greedy === null ? null : nums(pp.greedy);
    if (correct && maj && greedy !== undefined && maj.length === correct.length && (greedy === null || greedy.length === correct.length)) row.perProblem = { correct, maj, greedy };
    else warnings.push(`${path}:${line}: field "perProblem" is not {correct, maj, greedy} arrays of one length; benchmark uncertainty unavailable for this row`);
  }
  return row;
}

function parseMetric(path: string, line: number, v: Record<string, unknown>, warnings: string[]): MetricRow | undefined {
  const step = num(v.step);
  if (step === undefined) {
    warnings.push(`${path}:${line}: field "step" missing or not a finite number; line skipped`);
    return undefined;
  }
  const row: Record<string, number> = { step };
  // Non-finite values (a NaN loss written as null) are dropped: they would break every mean.
  for (const [k, x] of Object.entries(v)) {
    const f = num(x);
    if (f !== undefined) row[k] = f;
  }
  return row as MetricRow;
}

function loadRun(dir: string, name: string, warnings: string[]): RunData {
  const m = RUN_DIR.exec(name);
  const runJsonPath = join(dir, 'run.json');
  const meta = existsSync(runJsonPath) ? readJson(runJsonPath, warnings) : undefined;
  if (!existsSync(runJsonPath)) warnings.push(`${runJsonPath}: missing; run described from its directory name`);
  const r = isObject(meta) ? meta : {};
  const obj = isObject(r.objective) ? r.objective : {};
  const key = m ? m[1]! : name;
  const seed = num(r.seed) ?? (m ? Number(m[2]) : 0);
  const statusRaw = str(r.status);
  const status: RunStatus = statusRaw === 'running' || statusRaw === 'finished' || statusRaw === 'failed' ? statusRaw : 'unknown';
  if (isObject(meta) && status === 'unknown') warnings.push(`${runJsonPath}: field "status" is ${JSON.stringify(r.status)}; treated as unknown`);
  const versions: Record<string, string> = {};
  if (isObject(r.versions)) for (const [k, v] of Object.entries(r.versions)) if (typeof v === 'string') versions[k] = v;
  const failure = isObject(r.failure) ? { step: num(r.failure.step), message: str(r.failure.message) } : undefined;

  const evalPath = join(dir, 'eval.jsonl');
  const evals = readJsonl(evalPath, warnings)
    .map(({ line, value }) => parseEval(evalPath, line, value, warnings))
    .filter((x): x is LoadedEvalRow => x !== undefined);
  const metricsPath = join(dir, 'metrics.jsonl');
  const metrics = readJsonl(metricsPath, warnings)
    .map(({ line, value }) => parseMetric(metricsPath, line, value, warnings))
    .filter((x): x is MetricRow => x !== undefined)
    .sort((a, b) => a.step - b.step);

  const last = metrics[metrics.length - 1];
  const id = str(obj.id) ?? key;
  const metricLabels: Record<string, string> = {};
  if (isObject(obj.metricLabels)) for (const [k, v] of Object.entries(obj.metricLabels)) if (typeof v === 'string') metricLabels[k] = v;
  return {
    name, key, seed, status, versions,
    objectiveId: id,
    objectiveTitle: str(obj.title) ?? id,
    metricLabels,
    failure,
    step: num(r.step) ?? last?.step,
    totalSteps: num(r.totalSteps),
    rollouts: num(r.rollouts) ?? last?.rollouts,
    tokens: num(r.tokens) ?? last?.tokens,
    wallTime: num(r.wallTime) ?? last?.wallTime,
    gitCommit: str(r.gitCommit),
    provider: str(r.provider),
    threads: num(r.threads),
    cpu: str(r.cpu),
    isa: str(r.isa),
    startedAt: str(r.startedAt),
    updatedAt: str(r.updatedAt),
    finishedAt: str(r.finishedAt),
    metrics,
    evals,
  };
}

/** Loads `results/<experiment>`; throws UsageError when it is not a results directory with runs. */
export function loadExperiment(resultsDir: string): LoadedExperiment {
  const dir = resolve(resultsDir);
  if (!existsSync(dir)) throw new UsageError(`results directory not found: ${resultsDir}`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`not a directory: ${resultsDir} (expected results/<experiment>)`);
  const warnings: string[] = [];
  const expPath = join(dir, 'experiment.json');
  const config = existsSync(expPath) ? readJson(expPath, warnings) : undefined;
  if (!existsSync(expPath)) warnings.push(`${expPath}: missing; provenance has no experiment config`);

  const runs: RunData[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name === 'benchmarks' || name.startsWith('.') || !statSync(p).isDirectory()) continue;
    if (!['run.json', 'eval.jsonl', 'metrics.jsonl'].some((f) => existsSync(join(p, f)))) continue;
    runs.push(loadRun(p, name, warnings));
  }
  if (runs.length === 0) {
    throw new UsageError(`no runs in ${resultsDir}: expected <objective>-s<seed>/ folders with run.json, eval.jsonl or metrics.jsonl (see results/README.md)`);
  }

  const benchmarkFiles: BenchmarkFile[] = [];
  const benchDir = join(dir, 'benchmarks');
  if (existsSync(benchDir) && statSync(benchDir).isDirectory()) {
    for (const f of readdirSync(benchDir).sort()) {
      if (!f.endsWith('.json')) continue;
      const data = readJson(join(benchDir, f), warnings);
      if (data !== undefined) benchmarkFiles.push({ name: f.replace(/\.json$/, ''), data });
    }
  }
  // The folder name is the experiment's name: it is what `results/<experiment>` and the default
  // `reports/<experiment>` share.
  const probe = readProbe(join(dir, 'probe.json'), warnings);
  return { name: basename(dir), dir, config, runs, benchmarkFiles, ...(probe ? { probe } : {}), warnings };
}
