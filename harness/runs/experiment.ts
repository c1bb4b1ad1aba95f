// Experiment configs: the JSON file a user writes, validated against the committed JSON Schema
// (experiment.schema.json) with ajv, defaults filled, then each objective's own settings
// resolved through the objectives registry. Every error names the field path and, where the
// schema has them, the allowed values or keys.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { UsageError } from '../util/errors.ts';
import type { Objective } from '../../objectives/types.ts';
import type { DatasetSource } from '../tasks/training-data.ts';
import { getObjective, isPluginPath, loadObjectivePlugin, resolveObjectiveConfig } from '../../objectives/registry.ts';

const schema = JSON.parse(readFileSync(new URL('./experiment.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** The built-in GPT: its shape (the vocabulary comes from the character tokenizer). */
export interface GptPolicySettings {
  from?: undefined;
  dModel: number;
  nLayers: number;
  nHeads: number;
  mlpRatio: number;
  contextLength: number;
  initSeed: number;
}

/** A Hugging Face checkpoint folder: its config.json fixes the architecture. */
export interface HfPolicySettings {
  from: string;
  /** At most max_position_embeddings; default that. */
  contextLength?: number;
  chatTemplate?: string;
  promptTemplate?: string;
}

export type PolicySettings = GptPolicySettings | HfPolicySettings;

export function isHfPolicy(p: PolicySettings): p is HfPolicySettings {
  return p.from !== undefined;
}

/** The built-in arithmetic curriculum, or training datasets (tasks/training-data.ts). */
export type TasksSettings = { dataSeed: number; maxPromptTokens?: number; /** Training rewards' grader; absent: 'math' (strict). */ grader?: 'math' | 'math-last-number' | 'math-verify' } & (
  | { curriculum: 'builtin'; trainProblems: number; datasets?: undefined }
  | { datasets: DatasetSource[]; dataDir?: string }
);

export interface SftSettings {
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  decay: 'constant' | 'cosine';
  minLrRatio: number;
  weightDecay: number;
  gradClip: number;
  seed: number;
  directAnswerFrac: number;
}

export interface RlSettings {
  promptsPerStep: number;
  rolloutsPerPrompt: number;
  epochs: number;
  minibatches: number;
  lr: number;
  warmupSteps: number;
  decay: 'constant' | 'cosine';
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  refillRounds: number;
}

export type Budget = { steps: number } | { rollouts: number } | { tokens: number };

export interface EvalSettings {
  every: number;
  /** Evaluate each time the generated rollouts cross a multiple of this (0: off). */
  everyRollouts: number;
  k: number;
  temperature: number;
  topP: number;
  greedy: boolean;
  maxTokens?: number;
  batchSize: number;
  /** Token budget of one decode pass (rows × (prompt + maxTokens)); absent or 0: none. */
  batchTokens?: number;
  /** A truncated response counts as wrong (absent: graded as it stands). */
  truncatedWrong?: boolean;
  seed: number;
}

export interface ObjectiveEntry {
  id?: string;
  module?: string;
  name?: string;
  config: Record<string, unknown>;
}

export interface BenchmarkEntry {
  name: string;
  limit?: number;
  path?: string;
  /** This benchmark's own evaluation settings (default: eval's). */
  k?: number;
  temperature?: number;
  topP?: number;
  /** Leave out problems whose prompt is longer (counted), instead of refusing them. */
  maxPromptTokens?: number;
}

/** A validated experiment with every default filled. */
export interface Experiment {
  name: string;
  description: string;
  policy: PolicySettings;
  tasks: TasksSettings;
  benchmarks: BenchmarkEntry[];
  objectives: ObjectiveEntry[];
  seeds: number[];
  /** null: no SFT (always so for a Hugging Face policy). */
  sft: SftSettings | null;
  rl: RlSettings;
  budget: Budget;
  eval: EvalSettings;
  checkpointEvery: number;
  execution: { provider: 'cpu' | 'cuda' | 'webgpu'; threads: number };
  /** The report's defaults: the significance baseline and which evaluation the tables compare. */
  report: { baseline?: string; compareAt: 'rollouts' | 'steps' | 'final' };
  output: string;
}

/** One objective of the experiment, ready to train: its plugin and its validated settings. */
export interface ResolvedObjective {
  /** Run name prefix: runs are `<name>-s<seed>`. */
  name: string;
  objective: Objective;
  config: unknown;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
const validate = ajv.compile(schema);

/** `/rl/lr` -> `rl.lr`, `/objectives/0/id` -> `objectives[0].id`. */
export function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out || '(root)';
}

function describeError(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as { properties?: Record<string, unknown> };
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys(parent.properties ?? {}).filter((k) => k !== '$schema');
      return `${fieldPath(e.instancePath, String(params.additionalProperty))}: unknown setting; allowed: ${allowed.join(', ')}`;
    }
    case 'required':
      return `${fieldPath(e.instancePath, String(params.missingProperty))}: required`;
    case 'enum':
      return `${fieldPath(e.instancePath)}: must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(e.data)}`;
    case 'maximum':
      // The schema's maximums bound what a run allocates (README: "Reliability").
      return `${fieldPath(e.instancePath)}: at most ${params.limit} allowed (a resource limit), got ${JSON.stringify(e.data)}`;
    case 'maxItems':
      return `${fieldPath(e.instancePath)}: at most ${params.limit} entries allowed, got ${(e.data as unknown[]).length}`;
    case 'minProperties':
    case 'maxProperties':
      if (e.instancePath === '/budget') return `budget: give exactly one of steps, rollouts, tokens (got ${JSON.stringify(e.data)})`;
      return `${fieldPath(e.instancePath)}: ${e.message}`;
    default:
      return `${fieldPath(e.instancePath)}: ${e.message}${e.data !== undefined && typeof e.data !== 'object' ? `, got ${JSON.stringify(e.data)}` : ''}`;
  }
}

/**
 * Validates a parsed experiment against the schema and fills defaults (a deep copy; the input
 * is not modified). `where` prefixes every message (usually the file path).
 */
export function validateExperiment(raw: unknown, where: string): Experiment {
  const data = structuredClone(raw);
  if (!validate(data)) {
    const msgs = [...new Set((validate.errors ?? []).map(describeError))];
    throw new UsageError(`${where}: invalid experiment:\n  ${msgs.join('\n  ')}`);
  }
  const exp = data as Experiment;
  exp.objectives.forEach((o, i) => {
    if ((o.id === undefined) === (o.module === undefined)) {
      throw new UsageError(`${where}: objectives[${i}]: give exactly one of "id" (a registered objective) or "module" (a plugin path)`);
    }
  });
  normalizePolicy(exp, raw as Record<string, unknown>, where);
  normalizeTasks(exp, raw as Record<string, unknown>, where);
  if (exp.eval.maxTokens === undefined) exp.eval.maxTokens = exp.rl.maxTokens;
  return exp;
}

const GPT_FIELDS = ['dModel', 'nLayers', 'nHeads', 'mlpRatio', 'initSeed'] as const;

/**
 * The schema fills the GPT's defaults whatever the policy; a Hugging Face policy ("from") keeps
 * only what was given, refuses the GPT's shape fields, and takes no SFT (sft absent, null or
 * { "steps": 0 }, all recorded as null).
 */
function normalizePolicy(exp: Experiment, raw: Record<string, unknown>, where: string): void {
  const given = (raw.policy ?? {}) as Record<string, unknown>;
  const p = exp.policy as unknown as Record<string, unknown>;
  if (given.from === undefined) {
    for (const k of ['chatTemplate', 'promptTemplate']) {
      if (given[k] !== undefined) throw new UsageError(`${where}: policy.${k}: applies to a Hugging Face policy ("from": DIR); the built-in GPT reads the curriculum's prompts`);
    }
    const g = exp.policy as GptPolicySettings;
    if (g.dModel % g.nHeads !== 0) throw new UsageError(`${where}: policy.dModel (${g.dModel}) must be divisible by policy.nHeads (${g.nHeads})`);
    return;
  }
  const bad = GPT_FIELDS.find((k) => given[k] !== undefined);
  if (bad) throw new UsageError(`${where}: policy.${bad}: not allowed with policy.from (the checkpoint's config.json fixes the architecture and its weights the initialisation)`);
  for (const k of [...GPT_FIELDS, 'contextLength']) if (given[k] === undefined) delete p[k];
  const sft = raw.sft as Record<string, unknown> | null | undefined;
  if (sft !== undefined && sft !== null) {
    const steps = sft.steps;
    if (steps !== 0 || Object.keys(sft).some((k) => k !== 'steps')) {
      throw new UsageError(`${where}: sft: a Hugging Face policy (policy.from) starts from its own weights and takes no SFT here; leave "sft" out, or set it to null or { "steps": 0 }`);
    }
  }
  exp.sft = null;
}

/** Datasets replace the curriculum: its fields are refused beside them, and dropped from the record. */
function normalizeTasks(exp: Experiment, raw: Record<string, unknown>, where: string): void {
  const given = (raw.tasks ?? {}) as Record<string, unknown>;
  const t = exp.tasks as unknown as Record<string, unknown>;
  if (given.datasets === undefined) {
    if (given.dataDir !== undefined) throw new UsageError(`${where}: tasks.dataDir: applies to tasks.datasets`);
    return;
  }
  for (const k of ['curriculum', 'trainProblems']) {
    if (given[k] !== undefined) throw new UsageError(`${where}: tasks.${k}: not allowed with tasks.datasets (the pool is the datasets' problems)`);
    delete t[k];
  }
  if (!isHfPolicy(exp.policy)) throw new UsageError(`${where}: tasks.datasets: needs a Hugging Face policy ("policy": { "from": DIR }); the built-in GPT's character vocabulary reads only the curriculum`);
  (given.datasets as Record<string, unknown>[]).forEach((d, i) => {
    if (d.path === undefined && d.name === undefined) throw new UsageError(`${where}: tasks.datasets[${i}]: give "name" (a shared dataset) or "path" (a JSONL file)`);
    if (d.path !== undefined && (d.problemField === undefined || d.answerField === undefined)) {
      throw new UsageError(`${where}: tasks.datasets[${i}]: a "path" source needs "problemField" and "answerField"`);
    }
  });
}

/** Reads, parses and validates an experiment file. */
export function readExperiment(path: string): Experiment {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${path}: cannot read experiment file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    // Node reports a character offset; an editor wants line and column.
    const at = /position (\d+)/.exec(msg);
    let where = '';
    if (at) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split('\n').length;
      where = `:${line}:${Number(at[1]) - before.lastIndexOf('\n')}`;
    }
    throw new UsageError(`${path}${where}: not valid JSON: ${msg}`);
  }
  return validateExperiment(raw, path);
}

/**
 * Loads each objective (registered id or plugin module, paths relative to `baseDir`) and
 * resolves its settings through the registry, so the objective's own schema is enforced with
 * the field path `objectives[i].config…`. The validated settings replace the raw ones in exp.
 */
export async function resolveObjectives(exp: Experiment, baseDir: string, where: string): Promise<ResolvedObjective[]> {
  const out: ResolvedObjective[] = [];
  const names = new Map<string, number>();
  for (let i = 0; i < exp.objectives.length; i++) {
    const entry = exp.objectives[i]!;
    let objective: Objective;
    try {
      // An id that looks like a path ("./my-objective.ts") names a plugin, as in the registry.
      const modulePath = entry.module ?? (isPluginPath(entry.id!) ? entry.id : undefined);
      objective = modulePath !== undefined ? await loadObjectivePlugin(resolve(baseDir, modulePath)) : getObjective(entry.id!);
    } catch (e) {
      throw new UsageError(`${where}: objectives[${i}].${entry.id !== undefined ? 'id' : 'module'}: ${(e as Error).message}`);
    }
    const config = resolveObjectiveConfig(objective, entry.config, `${where}: objectives[${i}].config`, { maxTokens: exp.rl.maxTokens });
    entry.config = config as Record<string, unknown>;
    const name = entry.name ?? objective.id;
    if (name === 'sft') throw new UsageError(`${where}: objectives[${i}].name: "sft" is reserved for the SFT initialisation rows`);
    const prev = names.get(name);
    if (prev !== undefined) {
      throw new UsageError(`${where}: objectives[${i}]: run name "${name}" is already used by objectives[${prev}]; give one of them a distinct "name"`);
    }
    names.set(name, i);
    out.push({ name, objective, config });
  }
  if (exp.report.baseline !== undefined && !names.has(exp.report.baseline)) {
    throw new UsageError(`${where}: report.baseline: "${exp.report.baseline}" is not an objective of this experiment (run names: ${[...names.keys()].join(', ')})`);
  }
  return out;
}

/** Reads an experiment and resolves its objectives (module paths relative to the file). */
export async function loadExperiment(path: string): Promise<{ experiment: Experiment; objectives: ResolvedObjective[] }> {
  const experiment = readExperiment(path);
  const objectives = await resolveObjectives(experiment, dirname(resolve(path)), path);
  return { experiment, objectives };
}

/** Run directory name for one objective and seed. */
export function runName(objectiveName: string, seed: number): string {
  return `${objectiveName}-s${seed}`;
}
