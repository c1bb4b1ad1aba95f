// Benchmark registry: the six built-in arithmetic benchmarks and the standard math benchmarks
// (read from a data directory, default ../shared/datasets relative to the working directory),
// plus the generic JSONL loader. `getBenchmark` is what configs and the CLI resolve names with.
import { resolve, join } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { Benchmark, Grader, Problem } from './types.ts';
import { BUILTIN_BENCHMARKS, builtinBenchmark, builtinDescription } from './curriculum.ts';
import { STANDARD_DATASETS, loadJsonlProblemsWith, loadStandard, type JsonlProblemsSpec } from './datasets.ts';
import { mathVerifyGrader } from './grading/grader.ts';

export const DEFAULT_DATA_DIR = '../shared/datasets';

export interface BenchmarkOptions {
  /** Folder holding the standard dataset files (default ../shared/datasets, against the cwd). */
  dataDir?: string;
  /** A data file (used instead of the standard file name) or a folder (same as dataDir). */
  path?: string;
  /** At most this many problems (built-ins: the benchmark size, default 200). */
  limit?: number;
  /** Built-ins: generation seed; standard sets: when given with `limit`, a seeded subsample. */
  seed?: number;
}

export interface BenchmarkInfo {
  name: string;
  kind: 'builtin' | 'standard';
  description: string;
  /** Relative to the data dir, for standard benchmarks. */
  file?: string;
}

export function listBenchmarks(): BenchmarkInfo[] {
  return [
    ...BUILTIN_BENCHMARKS.map((name) => ({ name, kind: 'builtin' as const, description: builtinDescription(name)! })),
    ...STANDARD_DATASETS.map((d) => ({ name: d.name, kind: 'standard' as const, description: d.description, file: d.file })),
  ];
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new UsageError(`benchmark limit must be a non-negative integer, got ${limit}`);
}

function limited(problems: Problem[], limit: number | undefined, seed: number | undefined): Problem[] {
  if (limit === undefined || limit >= problems.length) return problems;
  if (seed === undefined) return problems.slice(0, limit);
  // A seeded subsample in file order, so ids stay sorted and the choice is reproducible.
  const idx = new Rng(seed).fork('subsample').shuffle(problems.map((_, i) => i)).slice(0, limit).sort((a, b) => a - b);
  return idx.map((i) => problems[i]!);
}

export function getBenchmark(name: string, opts: BenchmarkOptions = {}): Benchmark {
  checkLimit(opts.limit);
  if (BUILTIN_BENCHMARKS.includes(name)) return builtinBenchmark(name, { limit: opts.limit, seed: opts.seed });
  const ds = STANDARD_DATASETS.find((d) => d.name === name);
  if (!ds) throw new UsageError(`unknown benchmark '${name}' (known: ${listBenchmarks().map((b) => b.name).join(', ')})`);
  let path = resolve(opts.dataDir ?? DEFAULT_DATA_DIR, ds.file);
  if (opts.path !== undefined) {
    const p = resolve(opts.path);
    path = existsSync(p) && statSync(p).isDirectory() ? join(p, ds.file) : p;
  }
  let cache: Problem[] | null = null;
  return {
    name,
    description: ds.description,
    // Evaluation reads answers the way real checkpoints write them (harness/tasks/README.md).
    grader: mathVerifyGrader,
    problems: () => (cache ??= limited(loadStandard(ds, path), opts.limit, opts.seed)),
  };
}

/** A benchmark from any JSONL file, with its field names given in the config. */
export function loadJsonlBenchmark(spec: JsonlProblemsSpec & { description?: string; grader?: Grader; limit?: number }): Benchmark {
  checkLimit(spec.limit);
  if (!spec.problemField || !spec.answerField) throw new UsageError(`benchmark ${spec.name}: problemField and answerField are required`);
  let cache: Problem[] | null = null;
  return {
    name: spec.name,
    description: spec.description ?? `JSONL problems from ${spec.path}`,
    grader: spec.grader ?? mathVerifyGrader,
    problems: () => (cache ??= limited(loadJsonlProblemsWith({ ...spec, path: resolve(spec.path) }), spec.limit, undefined)),
  };
}

