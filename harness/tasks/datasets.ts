// Loaders for the standard math benchmark files (formats in ../shared/datasets/SOURCES.md) and a
// generic JSONL loader. Each maps records to { id, problem, answer, meta } with the dataset's own
// answer convention applied. Strict: a malformed line names file and line, a missing field names
// the field, an empty file is an error; nothing is silently dropped. A UTF-8 byte-order mark is
// accepted, and text quoted from a broken line has its control bytes escaped.
import { readFileSync } from 'node:fs';
import { UsageError, printable } from '../util/errors.ts';
import type { Problem } from './types.ts';
import { lastBoxed } from './grading/extract.ts';

export interface JsonlRecord {
  line: number;
  value: Record<string, unknown>;
}

/** Parses a JSONL file: one object per non-empty line; a blank line inside the file is an error. */
export function readJsonl(path: string): JsonlRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${path}: cannot read dataset file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte-order mark (Windows editors write one)
  if (!text.trim()) throw new UsageError(`${path}: empty file (expected one JSON object per line)`);
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const out: JsonlRecord[] = [];
  lines.forEach((raw, k) => {
    const line = k + 1;
    const s = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!s.trim()) throw new UsageError(`${path}:${line}: blank line (every line must hold one JSON object)`);
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      throw new UsageError(`${path}:${line}: malformed JSON (${printable((e as Error).message)})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`${path}:${line}: expected a JSON object, got ${Array.isArray(v) ? 'an array' : typeof v}`);
    out.push({ line, value: v as Record<string, unknown> });
  });
  return out;
}

/**
 * A field of a record: a top-level key, or a dotted path into nested objects
 * ("reward_model.ground_truth") when no top-level key has that name.
 */
function field(path: string, rec: JsonlRecord, name: string): unknown {
  let v: unknown = rec.value[name];
  if (!(name in rec.value) && name.includes('.')) {
    v = rec.value;
    for (const part of name.split('.')) v = v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[part] : undefined;
  }
  if (v === null || v === undefined) throw new UsageError(`${path}:${rec.line}: missing field '${name}'`);
  return v;
}

function str(path: string, rec: JsonlRecord, name: string): string {
  const v = field(path, rec, name);
  if (typeof v !== 'string') throw new UsageError(`${path}:${rec.line}: field '${name}' must be a string, got ${typeof v}`);
  return v;
}

/** A string or number field as an answer string (numbers via their shortest decimal form). */
function answerValue(path: string, rec: JsonlRecord, name: string): string {
  const v = field(path, rec, name);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new UsageError(`${path}:${rec.line}: field '${name}' must be a string or a number, got ${typeof v}`);
}

function boxedOf(path: string, rec: JsonlRecord, name: string): string {
  const sol = str(path, rec, name);
  const b = lastBoxed(sol);
  if (b === null) throw new UsageError(`${path}:${rec.line}: field '${name}' has no \\boxed{…} answer`);
  return b.trim();
}

/** "025" → "25": AIME answers are integers, some stored zero-padded. */
function integerAnswer(path: string, rec: JsonlRecord, raw: string, name: string): string {
  const t = raw.trim();
  if (!/^-?\d+(\.0+)?$/.test(t)) throw new UsageError(`${path}:${rec.line}: field '${name}' should be an integer, got ${printable(JSON.stringify(raw))}`);
  const neg = t.startsWith('-');
  const digits = t.replace(/^-/, '').replace(/\.0+$/, '').replace(/^0+(?=\d)/, '');
  return (neg && digits !== '0' ? '-' : '') + digits;
}

export type DatasetKind = 'math500' | 'aime24' | 'aime25' | 'amc23' | 'minerva_math' | 'olympiadbench' | 'gsm8k' | 'gsm8k_train' | 'math_train';

export interface StandardDataset {
  name: DatasetKind;
  file: string;
  description: string;
  map(path: string, rec: JsonlRecord, index: number): Problem;
}

const gsm8k = (split: string) => (path: string, rec: JsonlRecord, i: number): Problem => {
  const sol = str(path, rec, 'answer');
  const at = sol.lastIndexOf('####');
  if (at < 0) throw new UsageError(`${path}:${rec.line}: field 'answer' has no '#### <answer>' line`);
  const final = sol.slice(at + 4).trim().replace(/,/g, '');
  if (!final) throw new UsageError(`${path}:${rec.line}: field 'answer' has an empty '####' answer`);
  return { id: `gsm8k/${split}/${i}`, problem: str(path, rec, 'question'), answer: final, solution: sol, meta: { line: rec.line } };
};

export const STANDARD_DATASETS: readonly StandardDataset[] = [
  {
    name: 'math500', file: 'math500/test.jsonl',
    description: 'MATH-500 (the "Let\'s Verify Step by Step" test subset), 500 competition problems, LaTeX answers.',
    map: (path, rec) => ({
      id: str(path, rec, 'unique_id'), problem: str(path, rec, 'problem'), answer: str(path, rec, 'answer'),
      solution: str(path, rec, 'solution'), meta: { subject: rec.value.subject, level: rec.value.level },
    }),
  },
  {
    name: 'aime24', file: 'aime24/test.jsonl',
    description: 'AIME 2024 I+II, 30 problems, integer answers (zero-padded in the file; normalised).',
    map: (path, rec) => ({
      id: `aime24/${answerValue(path, rec, 'id')}`, problem: str(path, rec, 'problem'),
      answer: integerAnswer(path, rec, answerValue(path, rec, 'answer'), 'answer'), meta: { rawAnswer: rec.value.answer, url: rec.value.url },
    }),
  },
  {
    name: 'aime25', file: 'aime25/test.jsonl',
    description: 'AIME 2025 I+II, 30 problems, integer answers.',
    map: (path, rec) => ({
      id: `aime25/${answerValue(path, rec, 'id')}`, problem: str(path, rec, 'problem'),
      answer: integerAnswer(path, rec, answerValue(path, rec, 'answer'), 'answer'), meta: {},
    }),
  },
  {
    name: 'amc23', file: 'amc23/test.jsonl',
    description: 'AMC 2023 (12A/12B), 40 problems, answers stored as floats (27.0 → "27").',
    map: (path, rec) => ({
      id: `amc23/${answerValue(path, rec, 'id')}`, problem: str(path, rec, 'problem'),
      answer: answerValue(path, rec, 'answer'), meta: { rawAnswer: rec.value.answer, url: rec.value.url },
    }),
  },
  {
    name: 'minerva_math', file: 'minerva_math/test.jsonl',
    description: 'Minerva Math (OCW courses), 272 problems; gold = the \\boxed{} in the solution.',
    map: (path, rec) => ({
      id: `minerva_math/${answerValue(path, rec, 'idx')}`, problem: str(path, rec, 'problem'),
      answer: boxedOf(path, rec, 'solution'), solution: str(path, rec, 'solution'), meta: { type: rec.value.type },
    }),
  },
  {
    name: 'olympiadbench', file: 'olympiadbench/test.jsonl',
    description: 'OlympiadBench (math, English, open-ended, text-only), 675 problems; gold = final_answer[0] without $.',
    map: (path, rec) => {
      const fa = field(path, rec, 'final_answer');
      if (!Array.isArray(fa) || typeof fa[0] !== 'string') throw new UsageError(`${path}:${rec.line}: field 'final_answer' must be a non-empty list of strings`);
      return {
        id: `olympiadbench/${answerValue(path, rec, 'id')}`, problem: str(path, rec, 'question'),
        answer: fa[0].replace(/\$/g, '').trim(),
        meta: { subfield: rec.value.subfield, isMultipleAnswer: rec.value.is_multiple_answer, unit: rec.value.unit, answerType: rec.value.answer_type, error: rec.value.error },
      };
    },
  },
  { name: 'gsm8k', file: 'gsm8k/test.jsonl', description: 'GSM8K test, 1319 grade-school word problems; gold after "####", commas removed.', map: gsm8k('test') },
  { name: 'gsm8k_train', file: 'gsm8k/train.jsonl', description: 'GSM8K train, 7473 problems (same conventions as gsm8k).', map: gsm8k('train') },
  {
    name: 'math_train', file: 'math_train/train.jsonl',
    description: 'MATH (Hendrycks) train, 7500 problems; gold = the last \\boxed{} in the solution.',
    map: (path, rec) => ({
      id: str(path, rec, 'unique_id'), problem: str(path, rec, 'problem'), answer: boxedOf(path, rec, 'solution'),
      solution: str(path, rec, 'solution'), meta: { type: rec.value.type, level: rec.value.level },
    }),
  },
];

/** Loads one standard dataset file with its conventions. */
export function loadStandard(ds: StandardDataset, path: string): Problem[] {
  return readJsonl(path).map((rec, i) => ds.map(path, rec, i));
}

export interface JsonlLoaderSpec {
  path: string;
  name: string;
  /** Field holding a stable id; defaults to `<name>/<index>`. */
  idField?: string;
  problemField: string;
  answerField: string;
}

/** Generic JSONL problems: field names come from the config; the answer field holds the answer itself. */
export function loadJsonlProblems(spec: JsonlLoaderSpec): Problem[] {
  return loadJsonlProblemsWith(spec);
}

/** How a JSONL file's answer field holds the gold answer. */
export type AnswerFormat = 'plain' | 'boxed' | '####';
export const ANSWER_FORMATS: readonly AnswerFormat[] = ['plain', 'boxed', '####'];

export interface JsonlProblemsSpec extends JsonlLoaderSpec {
  /**
   * 'plain' (default): the field is the answer (a string or a number); 'boxed': the last
   * \boxed{…} of the field (a worked solution); '####': the text after the last '####' (GSM8K's
   * convention), thousands commas removed.
   */
  answerFormat?: AnswerFormat;
  /** Field holding a worked solution, kept for reference. */
  solutionField?: string;
}

/** The gold answer of a record under an answer format; a record without one names file:line and field. */
function answerIn(path: string, rec: JsonlRecord, name: string, format: AnswerFormat): string {
  if (format === 'boxed') return boxedOf(path, rec, name);
  if (format === '####') {
    const sol = str(path, rec, name);
    const at = sol.lastIndexOf('####');
    if (at < 0) throw new UsageError(`${path}:${rec.line}: field '${name}' has no '#### <answer>' line`);
    const final = sol.slice(at + 4).trim().replace(/,/g, '');
    if (!final) throw new UsageError(`${path}:${rec.line}: field '${name}' has an empty '####' answer`);
    return final;
  }
  const v = answerValue(path, rec, name).trim();
  if (!v) throw new UsageError(`${path}:${rec.line}: field '${name}' is empty (no answer)`);
  return v;
}

/**
 * Problems from any JSONL file with the field names and answer convention given (training data,
 * or benchmarks): every record must have a problem and an answer; a record without one is an
 * error naming the file, line and field, and nothing is dropped.
 */
export function loadJsonlProblemsWith(spec: JsonlProblemsSpec): Problem[] {
  const format = spec.answerFormat ?? 'plain';
  if (!ANSWER_FORMATS.includes(format)) throw new UsageError(`${spec.path}: answer format ${JSON.stringify(format)} is not one of ${ANSWER_FORMATS.join(', ')}`);
  const ids = new Set<string>();
  return readJsonl(spec.path).map((rec, i) => {
    const id = spec.idField ? `${spec.name}/${answerValue(spec.path, rec, spec.idField)}` : `${spec.name}/${i}`;
    if (ids.has(id)) throw new UsageError(`${spec.path}:${rec.line}: duplicate id '${printable(id)}' (field '${spec.idField}')`);
    ids.add(id);
    const problem = str(spec.path, rec, spec.problemField);
    if (!problem.trim()) throw new UsageError(`${spec.path}:${rec.line}: field '${spec.problemField}' is empty (no problem)`);
    return {
      id, problem, answer: answerIn(spec.path, rec, spec.answerField, format),
      ...(spec.solutionField ? { solution: str(spec.path, rec, spec.solutionField) } : {}),
      meta: { line: rec.line },
    };
  });
}
