// Training pools read from datasets (the alternative to the built-in curriculum): each source is
// a shared dataset by name (`math_train`, `gsm8k_train`, …) or any JSONL file with its field
// names and answer convention; a source may keep only integer answers (as DAPO's training data
// has) and only its first N records. The pool is the sources in order. Problems that also appear
// in a held-out benchmark (the same text after whitespace and case are normalised, or the same id)
// are taken out and listed, so no benchmark problem is ever trained on.
import { resolve, join } from 'node:path';
import { UsageError } from '../util/errors.ts';
import type { Problem } from './types.ts';
import { STANDARD_DATASETS, loadJsonlProblemsWith, loadStandard, type AnswerFormat } from './datasets.ts';

export interface DatasetSource {
  /** A shared dataset's name (without `path`), or a label for the problems of `path`. */
  name?: string;
  /** A JSONL file (relative to the working directory). */
  path?: string;
  problemField?: string;
  answerField?: string;
  answerFormat?: AnswerFormat;
  idField?: string;
  /** Keep only problems whose gold answer is an integer (DAPO's training data are). */
  integerAnswers?: boolean;
  /** Use only the first N records of the file (before the integer filter). */
  limit?: number;
}

export interface LoadedSource {
  /** The source's label in messages and ids: the dataset name, or the file's `name`. */
  label: string;
  file: string;
  records: number;
  problems: Problem[];
  /** Records left out by the integer-answer filter. */
  nonInteger: number;
}

/** An integer gold answer: digits with an optional sign; `1,000` (thousands commas) counts, `3.0` does not. */
export function isIntegerAnswer(answer: string): boolean {
  let a = answer.trim();
  if (/^-?\d{1,3}(,\d{3})+$/.test(a)) a = a.replace(/,/g, '');
  return /^-?\d+$/.test(a);
}

/** Problem text compared for overlap: whitespace collapsed, case folded. */
export function normalizeProblemText(s: string): string {
  return s.replace(/\s+/g, ' ').trim().toLowerCase();
}

/** Loads one source; `where` names it in messages (e.g. `exp.json: tasks.datasets[1]`). */
export function loadSource(src: DatasetSource, dataDir: string, where: string): LoadedSource {
  let problems: Problem[];
  let file: string;
  let label: string;
  if (src.path !== undefined) {
    file = resolve(src.path);
    label = src.name ?? src.path.replace(/^.*[\\/]/, '').replace(/\.jsonl$/, '');
    if (!src.problemField || !src.answerField) throw new UsageError(`${where}: a dataset file needs "problemField" and "answerField" (the names of its problem and answer fields)`);
    problems = loadJsonlProblemsWith({ path: file, name: label, problemField: src.problemField, answerField: src.answerField, answerFormat: src.answerFormat, idField: src.idField });
  } else {
    const ds = STANDARD_DATASETS.find((d) => d.name === src.name);
    if (!ds) throw new UsageError(`${where}.name: unknown dataset ${JSON.stringify(src.name)} (shared datasets: ${STANDARD_DATASETS.map((d) => d.name).join(', ')}; or give "path" to a JSONL file)`);
    for (const k of ['problemField', 'answerField', 'answerFormat', 'idField'] as const) {
      if (src[k] !== undefined) throw new UsageError(`${where}.${k}: applies to a "path" source; the shared dataset ${ds.name} has its own fields`);
    }
    file = resolve(join(dataDir, ds.file));
    label = ds.name;
    problems = loadStandard(ds, file);
  }
  const records = problems.length;
  if (src.limit !== undefined) problems = problems.slice(0, src.limit);
  let nonInteger = 0;
  if (src.integerAnswers) {
    const before = problems.length;
    problems = problems.filter((p) => isIntegerAnswer(p.answer));
    nonInteger = before - problems.length;
  }
  return { label, file, records, problems, nonInteger };
}

export interface Overlap {
  id: string;
  benchmark: string;
  benchmarkId: string;
}

/**
 * Takes out of `pool` every problem whose text (normalised) or id equals a problem of one of
 * the benchmarks; returns what is kept and what was taken out (with the benchmark problem it
 * matched), in pool order.
 */
export function removeBenchmarkOverlap(pool: readonly Problem[], benchmarks: readonly { name: string; problems: readonly Problem[] }[]): { kept: Problem[]; removed: Overlap[] } {
  const byText = new Map<string, { benchmark: string; id: string }>();
  const byId = new Map<string, { benchmark: string; id: string }>();
  for (const b of benchmarks) {
    for (const p of b.problems) {
      const t = normalizeProblemText(p.problem);
      if (!byText.has(t)) byText.set(t, { benchmark: b.name, id: p.id });
      if (!byId.has(p.id)) byId.set(p.id, { benchmark: b.name, id: p.id });
    }
  }
  const kept: Problem[] = [];
  const removed: Overlap[] = [];
  for (const p of pool) {
    const hit = byId.get(p.id) ?? byText.get(normalizeProblemText(p.problem));
    if (hit) removed.push({ id: p.id, benchmark: hit.benchmark, benchmarkId: hit.id });
    else kept.push(p);
  }
  return { kept, removed };
}

/** Every problem id of the pool once: two sources that give the same id are refused. */
export function checkUniqueIds(sources: readonly LoadedSource[], where: string): void {
  const seen = new Map<string, number>();
  sources.forEach((s, i) => {
    for (const p of s.problems) {
      const prev = seen.get(p.id);
      if (prev !== undefined && prev !== i) throw new UsageError(`${where}[${i}] (${s.label}): problem id '${p.id}' is also in tasks.datasets[${prev}]; a problem may be in the pool once`);
      seen.set(p.id, i);
    }
  });
}
