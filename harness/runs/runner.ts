// The experiment runner. runExperiment is its six numbered steps:
//   1. validate the inputs before anything is written: the policy (the built-in GPT, or a Hugging
//      Face folder with its chat and prompt templates: runs/policy-source.ts), the benchmarks and
//      the training pool (the curriculum, or datasets with every benchmark problem taken out),
//      encoded and checked against the context, and the memory estimate;
//   2. prepare the results folder under the experiment lock: --fresh, the config check against
//      experiment.json (location-only fields left out; the data compared by digest, inputs.json),
//      sweep.json (the runs in sweep order, runs/sweep.ts), stale temporary files;
//   3. the start: the SFT warm start, cached or trained once (its own lock: concurrent processes
//      wait), or without SFT the initial policy (a Hugging Face checkpoint's weights, held in
//      memory only when an objective needs them as the frozen reference);
//   4. the SFT rows sft-s<seed>: the step-0 evaluation every run of that seed starts from;
//   5. the runs, each under its own lock: a run another process trains is skipped (or waited
//      for), others resume or start; a failed or damaged run is reported and the rest go on
//      (none with sftOnly, the first job of a sweep); a Hugging Face policy's finished run is
//      exported as a Hugging Face folder (<run>/model/);
//   6. summary.csv and curves.csv, rebuilt from the run folders under the experiment lock.
// One policy engine and one rollout engine serve the whole process. Many such processes may share
// one results folder (a Slurm array, a Kubernetes Indexed Job): the locks (util/lock.ts) work
// across hosts on a network filesystem.
import { existsSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { GptConfig, PolicyConfig, PolicyEngine } from '../engine/types.ts';
import { createPolicyEngine, defaultMaxBatchTokens } from '../engine/policy.ts';
import { policyParamLayout } from '../engine/policy-graph.ts';
import { defaultTokenizer } from '../tasks/tokenizer.ts';
import { trainingProblems } from '../tasks/curriculum.ts';
import { getGrader } from '../tasks/grading/grader.ts';
import { getBenchmark, DEFAULT_DATA_DIR } from '../tasks/registry.ts';
import { checkUniqueIds, loadSource, removeBenchmarkOverlap, type Overlap } from '../tasks/training-data.ts';
import type { Problem } from '../tasks/types.ts';
import { sha256OfFile } from '../util/checksums.ts';
import { RunError, UsageError } from '../util/errors.ts';
import { CorruptFileError, readJsonFile, removeStaleTemps, sha256, writeJsonAtomic } from '../util/fs.ts';
import { acquireLock, describeHolder, isLock, tryLock, withLock, type Lock, type LockHolder, type LockOptions } from '../util/lock.ts';
import { isHfPolicy, readExperiment, resolveObjectives, runName, type Experiment, type ResolvedObjective } from './experiment.ts';
import { PromptStream, prepareBenchmarks, prepareTrainingPool } from './data.ts';
import { gptPolicySource, openHfPolicy, type HfPolicySource, type PolicySource } from './policy-source.ts';
import { exportHfPolicy } from './policy-checkpoint.ts';
import { RolloutEngine } from './rollout.ts';
import { ensureSft } from './sft.ts';
import { evaluate, type EvalPlan, type EvalRow, type PreparedBenchmark } from './evaluate.ts';
import { compareWithMachine, estimateRunMemory, formatBytes, machineMemory, modelShapeOf } from './memory.ts';
import { trainRun, recordFailure, RunFailure, type RunProgress, type RunSpec } from './trainer.ts';
import { effectiveThreads, runList, writeSweepFile } from './sweep.ts';
import {
  environment,
  withExperimentLock,
  listRuns,
  readJsonl,
  readRunJson,
  runLockPath,
  runRemedy,
  writeJsonl,
  writeSummaries,
  RLBENCH_VERSION,
  type RunJson,
  type SummaryRow,
} from './results.ts';

export interface RunOptions {
  /** Delete this experiment's results (or the --only run's) and start over. */
  fresh?: boolean;
  /** Train only this run (e.g. "grpo-s1"); the SFT rows are always ensured. */
  only?: string;
  /** Ensure the SFT warm start and its rows (steps 1-4, and 6), train no run: the first job of a sweep. */
  sftOnly?: boolean;
  /** Train the SFT warm start again even when it is cached (--fresh-sft). */
  freshSft?: boolean;
  /** Wait for runs that another process is training, instead of skipping them (--wait). */
  wait?: boolean;
  /** Refuse experiments whose memory estimate exceeds the machine (default true; --no-memory-check). */
  memoryCheck?: boolean;
  log?: (msg: string) => void;
  /** Live progress per run (the CLI draws a line on a terminal). */
  onProgress?: (p: RunProgress) => void;
  /** Test hook passed to every run's trainer (throwing simulates a crash). */
  afterStep?: (run: string, step: number) => void;
  /** Overrides experiment.output (tests write to a temporary folder). */
  outputRoot?: string;
  /** Lock timings (tests shorten them); see harness/util/lock.ts. */
  lock?: Pick<LockOptions, 'heartbeatMs' | 'staleMs' | 'pollMs'>;
  /** Filled in as the runner goes, so a signal handler can say where it stopped (describeStop). */
  tracker?: RunTracker;
}

export type RunOutcome = 'finished' | 'failed' | 'skipped' | 'busy' | 'corrupt';

export interface ExperimentResult {
  dir: string;
  experiment: Experiment;
  /** failure: the diagnostic of a failed run, the holder of a busy one, the damaged file of a corrupt one. */
  runs: { run: string; status: RunOutcome; failure?: string }[];
  /** Objective run-name prefixes in experiment order. */
  objectives: string[];
  summary: SummaryRow[];
  sftDir: string;
  wallTime: number;
}

/** Where the runner is, for a message when it is interrupted. */
export interface RunTracker {
  phase: 'setup' | 'sft' | 'sft-rows' | 'runs' | 'summaries' | 'done';
  expDir?: string;
  run?: string;
  step?: number;
}

/**
 * Fields that only say where things are: moving or copying a results folder (`output`), the data
 * (`benchmarks[].path`, `tasks.dataDir`, `tasks.datasets[].path`) or the model (`policy.from`)
 * must not stop a resume. What they hold is compared instead, by digests in inputs.json.
 */
function withoutLocation(config: object): Record<string, unknown> {
  const out = { ...(config as Record<string, unknown>) };
  delete out.output;
  const drop = (o: unknown, keys: string[]) => (o && typeof o === 'object' && !Array.isArray(o) ? Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) : o);
  if (Array.isArray(out.benchmarks)) out.benchmarks = out.benchmarks.map((b: unknown) => drop(b, ['path']));
  out.policy = drop(out.policy, ['from']);
  const tasks = drop(out.tasks, ['dataDir']) as Record<string, unknown> | undefined;
  if (tasks && Array.isArray(tasks.datasets)) tasks.datasets = tasks.datasets.map((d: unknown) => drop(d, ['path']));
  out.tasks = tasks;
  return out;
}

interface InputsJson {
  format: 'rlbench-inputs/1';
  benchmarks: { name: string; problems: number; sha256: string }[];
  /** The training pool (datasets only): its problems' ids, texts and answers, digested, and what was left out. */
  train?: { problems: number; sha256: string; leftOutLong: number; leftOutOverlap: number };
  /** The starting checkpoint (a Hugging Face policy): its config, weights, tokenizer and prompt formatting, digested. */
  policy?: { sha256: string };
}

const digestProblems = (ps: readonly Problem[]) => sha256(JSON.stringify(ps.map((p) => [p.id, p.problem, p.answer])));

/** What each benchmark holds, the training pool of datasets, and the starting checkpoint, digested. */
function inputDigests(ctx: Pick<Context, 'benches' | 'pool' | 'poolInfo' | 'policyDigest'>): InputsJson {
  return {
    format: 'rlbench-inputs/1',
    benchmarks: ctx.benches.map((b) => ({ name: b.name, problems: b.problems.length, sha256: digestProblems(b.problems) })),
    ...(ctx.poolInfo ? { train: { problems: ctx.pool.length, sha256: digestProblems(ctx.pool), leftOutLong: ctx.poolInfo.leftOutLong, leftOutOverlap: ctx.poolInfo.overlaps.length } } : {}),
    ...(ctx.policyDigest ? { policy: { sha256: ctx.policyDigest } } : {}),
  };
}

/**
 * The identity of a Hugging Face starting checkpoint: config.json, every weight file, the
 * tokenizer files and the prompt formatting (chat and prompt templates), hashed.
 */
function hfPolicyDigest(source: HfPolicySource): string {
  const parts: string[] = [];
  for (const f of ['config.json', ...source.checkpoint.weightFiles, ...source.checkpoint.tokenizer.files]) parts.push(`${f}:${sha256OfFile(join(source.dir, f)) ?? 'missing'}`);
  parts.push(JSON.stringify(source.prompts.record), JSON.stringify(source.info.contextLength));
  return sha256(parts.join('\n'));
}

/** The run another process holds the lock of, or the lock this one lost. */
class LockLostError extends RunError {
  constructor(message: string) {
    super(message);
    this.name = 'LockLostError';
  }
}

interface PlannedRun {
  o: ResolvedObjective;
  seed: number;
  run: string;
}

/** What the steps share: the validated inputs of step 1. */
interface Context {
  exp: Experiment;
  objectives: ResolvedObjective[];
  where: string;
  opts: RunOptions;
  log: (msg: string) => void;
  expDir: string;
  cacheRoot: string;
  /** The policy: its config, prompts, EOS/PAD, and for a Hugging Face policy its folder. */
  source: PolicySource;
  policyConfig: PolicyConfig;
  runs: PlannedRun[];
  benches: PreparedBenchmark[];
  pool: Problem[];
  /** For a pool of datasets: what was left out, and the stream name every seed's order is drawn under. */
  poolInfo: { leftOutLong: number; overlaps: Overlap[]; streamName: string } | null;
  /** Digest of a Hugging Face starting checkpoint (inputs.json). */
  policyDigest: string | null;
  /** Whether some objective needs the frozen reference (logpRef): only then is a copy of it held. */
  needsRef: boolean;
  evalPlan: EvalPlan;
  lockOpts: Pick<LockOptions, 'heartbeatMs' | 'staleMs' | 'pollMs'>;
  /** ONNX Runtime threads (undefined: its default, every core); see effectiveThreads. */
  threads: number | undefined;
}

/** Loads, validates and runs an experiment file. */
export async function runExperimentFile(path: string, opts: RunOptions = {}): Promise<ExperimentResult> {
  const experiment = readExperiment(path);
  const objectives = await resolveObjectives(experiment, dirname(resolve(path)), path);
  return runExperiment(experiment, objectives, path, opts);
}

export async function runExperiment(exp: Experiment, objectives: ResolvedObjective[], where: string, opts: RunOptions = {}): Promise<ExperimentResult> {
  const t0 = performance.now();
  const tracker = opts.tracker ?? { phase: 'setup' };
  const ctx = validateInputs(exp, objectives, where, opts); // 1
  tracker.expDir = ctx.expDir;
  await prepareResults(ctx); // 2
  const policy = await createPolicyEngine(ctx.policyConfig, { provider: exp.execution.provider, threads: ctx.threads });
  try {
    const { source } = ctx;
    const rollout = new RolloutEngine(policy, { eos: source.eos, pad: source.pad, detokenize: (ids) => source.detokenize(ids), batchSize: exp.eval.batchSize, maxBatchTokens: exp.eval.batchTokens ?? 0 });
    tracker.phase = 'sft';
    const start = await startingPolicy(ctx, policy); // 3
    const base = runJsonBase(ctx, start);
    tracker.phase = 'sft-rows';
    const initialEval = await sftRows(ctx, rollout, start, base); // 4
    tracker.phase = 'runs';
    const runs = await trainRuns(ctx, { policy, rollout, start, base, initialEval }, tracker); // 5
    tracker.phase = 'summaries';
    const summary = await rebuildSummaries(ctx); // 6
    tracker.phase = 'done';
    return { dir: ctx.expDir, experiment: exp, objectives: objectives.map((o) => o.name), runs, summary, sftDir: start.dir ?? '', wallTime: (performance.now() - t0) / 1000 };
  } finally {
    await policy.release();
  }
}

// 1. ------------------------------------------------------------------------------------------

/** The policy of the experiment: the built-in GPT, or the Hugging Face folder of policy.from. */
function policySourceOf(exp: Experiment, where: string): PolicySource {
  const p = exp.policy;
  if (isHfPolicy(p)) {
    try {
      return openHfPolicy(p.from, { contextLength: p.contextLength, chatTemplate: p.chatTemplate, promptTemplate: p.promptTemplate, settings: 'experiment' });
    } catch (e) {
      if (e instanceof UsageError) throw new UsageError(`${where}: policy.from: ${e.message}`);
      throw e;
    }
  }
  const tok = defaultTokenizer;
  const config: GptConfig = { vocabSize: tok.vocabSize, contextLength: p.contextLength, dModel: p.dModel, nLayers: p.nLayers, nHeads: p.nHeads, mlpRatio: p.mlpRatio };
  const layout = policyParamLayout(config);
  return gptPolicySource(config, layout[layout.length - 1]!.offset + layout[layout.length - 1]!.size, tok);
}

/**
 * The training pool: the curriculum's problems, or the datasets' (loaded, filtered, with every
 * problem of a benchmark taken out); encoded by the policy's prompts and checked against the
 * context (tasks.maxPromptTokens leaves long ones out).
 */
function trainingPool(exp: Experiment, source: PolicySource, where: string, log: (m: string) => void): { pool: Problem[]; longest: number; info: Context['poolInfo'] } {
  const t = exp.tasks;
  const ctxLen = source.config.contextLength;
  if (t.datasets === undefined) {
    const prepared = prepareTrainingPool(trainingProblems(t.dataSeed, t.trainProblems), source.prompts, ctxLen, exp.rl.maxTokens, t.maxPromptTokens, `${where}: tasks`);
    return { pool: prepared.pool, longest: prepared.longest, info: null };
  }
  const dataDir = t.dataDir ?? DEFAULT_DATA_DIR;
  const sources = t.datasets.map((d, i) => loadSource(d, dataDir, `${where}: tasks.datasets[${i}]`));
  checkUniqueIds(sources, `${where}: tasks.datasets`);
  for (const [i, s] of sources.entries()) {
    log(`tasks: datasets[${i}] ${s.label}: ${s.problems.length} problems${s.nonInteger ? ` (${s.nonInteger} without an integer answer left out)` : ''} from ${s.file}`);
  }
  // Held out means never trained on: every problem of a benchmark (all of it, not just the
  // evaluated prefix) is taken out of the pool, by text or id.
  const held = exp.benchmarks.map((e) => ({ name: e.name, problems: getBenchmark(e.name, { path: e.path }).problems() }));
  const { kept, removed } = removeBenchmarkOverlap(sources.flatMap((s) => s.problems), held);
  if (removed.length) {
    const shown = removed.slice(0, 5).map((r) => `${r.id} = ${r.benchmark} ${r.benchmarkId}`).join(', ');
    log(`tasks: left out ${removed.length} training problem${removed.length > 1 ? 's' : ''} that also appear in the benchmarks (same text or id): ${shown}${removed.length > 5 ? ', …' : ''}`);
  }
  const prepared = prepareTrainingPool(kept, source.prompts, ctxLen, exp.rl.maxTokens, t.maxPromptTokens, `${where}: tasks`);
  if (prepared.leftOut) log(`tasks: left out ${prepared.leftOut} training problems whose prompt exceeds tasks.maxPromptTokens ${t.maxPromptTokens}`);
  log(`tasks: training pool of ${prepared.pool.length} problems (${source.prompts.label}), longest prompt ${prepared.longest} tokens`);
  return { pool: prepared.pool, longest: prepared.longest, info: { leftOutLong: prepared.leftOut, overlaps: removed, streamName: `prompts/data${t.dataSeed}` } };
}

function validateInputs(exp: Experiment, objectives: ResolvedObjective[], where: string, opts: RunOptions): Context {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const root = opts.outputRoot ?? exp.output;
  const evalMaxTokens = exp.eval.maxTokens ?? exp.rl.maxTokens;

  const runs = exp.seeds.flatMap((seed) => objectives.map((o) => ({ o, seed, run: runName(o.name, seed) })));
  if (opts.sftOnly && opts.only !== undefined) throw new UsageError(`${where}: --sft-only trains no run; give it without --only or --index`);
  if (opts.only !== undefined && !runs.some((r) => r.run === opts.only)) {
    throw new UsageError(`--only ${opts.only}: no such run in ${where} (runs: ${runs.map((r) => r.run).join(', ')})`);
  }
  const source = policySourceOf(exp, where);
  const contextLength = source.config.contextLength;
  const benches = prepareBenchmarks(exp.benchmarks, source.prompts, contextLength, evalMaxTokens, where);
  const { pool, longest: longestPrompt, info: poolInfo } = trainingPool(exp, source, where, log);
  const longestBench = Math.max(0, ...benches.flatMap((b) => b.prompts.map((p) => p.length)));
  const seqLen = Math.min(contextLength, Math.max(longestPrompt + exp.rl.maxTokens, longestBench + evalMaxTokens));
  const needsRef = objectives.some((o) => o.objective.needsReference(o.config));
  checkMemory(exp, source, benches, seqLen, pool.length, needsRef, where, opts, log);

  return {
    exp,
    objectives,
    where,
    opts,
    log,
    expDir: join(root, exp.name),
    cacheRoot: join(root, '.cache'),
    source,
    policyConfig: source.config,
    runs: opts.sftOnly ? [] : runs.filter((r) => opts.only === undefined || r.run === opts.only),
    benches,
    pool,
    poolInfo,
    policyDigest: source.kind === 'hf' ? hfPolicyDigest(source as HfPolicySource) : null,
    needsRef,
    evalPlan: { k: exp.eval.k, temperature: exp.eval.temperature, topP: exp.eval.topP, greedy: exp.eval.greedy, maxTokens: evalMaxTokens, ...(exp.eval.truncatedWrong ? { truncatedWrong: true } : {}) },
    lockOpts: opts.lock ?? {},
    threads: effectiveThreads(exp.execution.threads),
  };
}

/** Refuses, before anything is allocated, an experiment whose estimate exceeds the machine. */
function checkMemory(exp: Experiment, source: PolicySource, benches: PreparedBenchmark[], seqLen: number, poolProblems: number, needsRef: boolean, where: string, opts: RunOptions, log: (m: string) => void): void {
  const rl = exp.rl;
  const cfg = source.config;
  const rolloutsPerStep = rl.promptsPerStep * rl.rolloutsPerPrompt * (1 + rl.refillRounds);
  const evalSequences = Math.max(0, ...benches.map((b) => b.problems.length * (b.plan?.k ?? exp.eval.k)));
  const byRows = Math.min(exp.eval.batchSize, Math.max(rl.promptsPerStep * rl.rolloutsPerPrompt, evalSequences));
  const budget = exp.eval.batchTokens ?? 0;
  const decodeBatch = budget > 0 ? Math.max(1, Math.min(byRows, Math.floor(budget / seqLen))) : byRows;
  const est = estimateRunMemory(
    modelShapeOf(cfg),
    {
      seqLen,
      chunkTokens: defaultMaxBatchTokens(cfg.vocabSize),
      decodeBatch,
      rolloutsPerStep,
      evalSequences,
      poolProblems,
      sftBatch: exp.sft?.batchSize ?? 0,
    },
    { reference: needsRef, checkpoint: source.kind === 'hf' ? 'streamed' : 'onnx' },
  );
  const machine = machineMemory();
  const { verdict, message } = compareWithMachine(est, machine);
  if (verdict === 'refuse' && opts.memoryCheck !== false) {
    throw new UsageError(`${where}: this experiment ${message}. Make the policy, rl.promptsPerStep × rl.rolloutsPerPrompt, eval.batchSize, eval.batchTokens or eval.k smaller, or run with --no-memory-check to try anyway`);
  }
  log(verdict === 'fits' ? `memory: about ${formatBytes(est.bytes)} needed (estimate), ${formatBytes(Math.min(machine.limit, machine.available))} available` : `note: this experiment ${message}`);
}

// 2. ------------------------------------------------------------------------------------------

async function prepareResults(ctx: Context): Promise<void> {
  const { exp, expDir, opts, where } = ctx;
  const configPath = join(expDir, 'experiment.json');
  const inputsPath = join(expDir, 'inputs.json');
  const inputs = inputDigests(ctx);
  await withExperimentLock(
    expDir,
    `experiment ${exp.name} is being set up`,
    () => {
      for (const d of [expDir, join(expDir, '.locks')]) removeStaleTemps(d);
      if (opts.fresh) startOver(ctx);
      if (!opts.fresh || opts.only !== undefined) {
        // Resuming under a different config would mix results: refuse, naming the first difference.
        const old = readJsonFile<Record<string, unknown>>(configPath, 'restore it, or run with --fresh to start the experiment over');
        if (old !== null) {
          const diff = firstDifference(withoutLocation(old), withoutLocation(exp));
          if (diff !== null) throw new UsageError(`${where}: ${configPath} was written by a different configuration (${diff}); run with --fresh to start over, or change "name"`);
        }
        const before = readJsonFile<InputsJson>(inputsPath, 'restore it, or delete it to accept the data as it is now');
        before?.benchmarks?.forEach((b, i) => {
          const now = inputs.benchmarks[i];
          if (now && now.name === b.name && now.sha256 !== b.sha256) {
            throw new UsageError(`${where}: benchmarks[${i}] (${b.name}): its problems differ from those this experiment was evaluated on (${b.problems} problems, sha256 ${b.sha256.slice(0, 12)}…; now ${now.problems}, ${now.sha256.slice(0, 12)}…); run with --fresh to start over, or point it at the original data`);
          }
        });
        if (before?.train && inputs.train && before.train.sha256 !== inputs.train.sha256) {
          throw new UsageError(`${where}: tasks: the training pool differs from the one this experiment trained on (${before.train.problems} problems, sha256 ${before.train.sha256.slice(0, 12)}…; now ${inputs.train.problems}, ${inputs.train.sha256.slice(0, 12)}…); run with --fresh to start over, or point it at the original data`);
        }
        if (before?.policy && inputs.policy && before.policy.sha256 !== inputs.policy.sha256) {
          throw new UsageError(`${where}: policy.from: the checkpoint (its config, weights, tokenizer or prompt templates) differs from the one this experiment started from (sha256 ${before.policy.sha256.slice(0, 12)}…, now ${inputs.policy.sha256.slice(0, 12)}…); run with --fresh to start over, or point it at the original checkpoint`);
        }
      }
      mkdirSync(expDir, { recursive: true });
      writeJsonAtomic(configPath, exp);
      writeJsonAtomic(inputsPath, inputs);
      writeSweepFile(expDir, exp.name, runList(exp, ctx.objectives));
    },
    { log: ctx.log, lock: ctx.lockOpts },
  );
}

/** --fresh: removes the run folders (all, or the --only one), each under its lock; a run in use elsewhere stops it. */
function startOver(ctx: Context): void {
  const { expDir, opts } = ctx;
  if (!existsSync(expDir)) return;
  const doomed = opts.only !== undefined ? [opts.only] : [...new Set([...listRuns(expDir), ...ctx.runs.map((r) => r.run)])];
  const locks: Lock[] = [];
  try {
    for (const run of doomed) {
      const got = tryLock(runLockPath(expDir, run), { purpose: `run ${run} is being deleted (--fresh)`, ...ctx.lockOpts });
      if (!isLock(got)) throw new RunError(`cannot start ${run} over: ${describeHolder(got, ctx.lockOpts.staleMs)}`);
      locks.push(got);
    }
    for (const run of doomed) rmSync(join(expDir, run), { recursive: true, force: true });
    if (opts.only === undefined) for (const f of ['summary.csv', 'curves.csv', 'experiment.json', 'inputs.json']) rmSync(join(expDir, f), { force: true });
  } finally {
    for (const l of locks) l.release();
  }
}

// 3. ------------------------------------------------------------------------------------------

/**
 * Where every run starts: the SFT warm start (trained once and cached), or without SFT the
 * initial policy itself (a Hugging Face checkpoint's weights, or the GPT's seeded random
 * initialisation). Weights are held in memory only where they are needed again: the SFT weights
 * (cached anyway, and small), or the starting checkpoint when some objective needs the frozen
 * reference. Otherwise each run reads the checkpoint from disk, so a large model is held once.
 */
interface Start {
  /** The starting weights when held (the reference, when one is needed); null: read from disk at each use. */
  held: Float32Array | null;
  /** A fresh copy of the starting weights. */
  load(): Float32Array;
  /** Identifies the start in run.json (the SFT cache hash, or a digest of the initial policy). */
  hash: string;
  /** The SFT cache folder, or the starting checkpoint's folder (null for a random start). */
  dir: string | null;
  wallTime: number;
  /** The step-0 row's name in tables: the SFT warm start, or the initial policy. */
  title: string;
  reference: string;
}

async function startingPolicy(ctx: Context, policy: PolicyEngine): Promise<Start> {
  const { exp, source } = ctx;
  if (exp.sft !== null) {
    if (source.kind !== 'gpt' || isHfPolicy(exp.policy)) throw new Error('SFT applies to the built-in GPT only');
    const sft = await ensureSft(
      policy,
      { policyConfig: ctx.policyConfig, initSeed: exp.policy.initSeed, settings: exp.sft, pool: ctx.pool, dataKey: exp.tasks, version: RLBENCH_VERSION },
      defaultTokenizer,
      ctx.cacheRoot,
      ctx.log,
      { fresh: ctx.opts.freshSft, lock: ctx.lockOpts },
    );
    return { held: sft.params, load: () => sft.params.slice(), hash: sft.info.hash, dir: sft.dir, wallTime: sft.info.wallTime, title: 'SFT initialisation', reference: 'supervised warm start on the curriculum worked solutions' };
  }
  if (source.kind === 'hf') {
    const hf = source as HfPolicySource;
    const load = () => hf.loadParams();
    const held = ctx.needsRef ? load() : null;
    ctx.log(`start: ${hf.dir} (no SFT); ${held ? 'its weights are held as the frozen reference' : 'no objective needs a reference, so its weights are read from disk for each run'}`);
    return { held, load: () => (held ? held.slice() : load()), hash: `init-${ctx.policyDigest!.slice(0, 16)}`, dir: hf.dir, wallTime: 0, title: 'Initial policy', reference: `the starting checkpoint ${hf.dir} (no SFT)` };
  }
  const p = exp.policy as Extract<Experiment['policy'], { dModel: number }>;
  const init = policy.initParams(p.initSeed);
  return { held: init, load: () => init.slice(), hash: `init-${sha256(JSON.stringify({ policy: ctx.policyConfig, initSeed: p.initSeed })).slice(0, 16)}`, dir: null, wallTime: 0, title: 'Initial policy', reference: `the random initialisation (seed ${p.initSeed}), no SFT` };
}

type RunJsonBase = RunSpec['runJsonBase'];

function runJsonBase(ctx: Context, start: Start): RunJsonBase {
  const env = environment();
  return {
    experiment: ctx.exp.name,
    versions: env.versions,
    gitCommit: env.gitCommit,
    provider: ctx.exp.execution.provider,
    // The count used (execution.threads 0 takes the scheduler's CPUs); 0: ONNX Runtime's default.
    threads: ctx.threads ?? ctx.exp.execution.threads,
    cpu: env.cpu,
    isa: env.isa,
    sft: { hash: start.hash, dir: start.dir ?? '' },
    policy: ctx.source.info,
  };
}

// 4. ------------------------------------------------------------------------------------------

/**
 * The SFT rows: one per seed, each the step-0 evaluation every run of that seed starts from (the
 * SFT warm start, or the initial policy without SFT). Evaluation draws do not depend on the seed,
 * so one evaluation serves every row. Rows that are missing, damaged or from another start are
 * evaluated again (they are derived data).
 */
async function sftRows(ctx: Context, rollout: RolloutEngine, start: Start, base: RunJsonBase): Promise<Map<number, EvalRow[]>> {
  const { exp, expDir, benches, log } = ctx;
  const initialEval = new Map<number, EvalRow[]>();
  let fresh: EvalRow[] | null = null;
  for (const seed of exp.seeds) {
    const run = `sft-s${seed}`;
    const dir = join(expDir, run);
    const rows = await withLock(
      runLockPath(expDir, run),
      async () => {
        let rj: RunJson | null = null;
        let rows: EvalRow[] = [];
        try {
          rj = readRunJson(dir);
          rows = readJsonl<EvalRow>(join(dir, 'eval.jsonl'));
        } catch (e) {
          if (!(e instanceof CorruptFileError)) throw e;
          log(`${run}: ${e.detail} in ${e.file}${e.line ? `:${e.line}` : ''}; evaluating the SFT rows again`);
          rj = null;
        }
        if (rj?.status === 'finished' && rj.sft?.hash === start.hash && rows.length === benches.length) return rows;
        const started = new Date().toISOString();
        rows = fresh ??= await evaluate(rollout, start.held ?? start.load(), benches, ctx.evalPlan, exp.eval.seed, { step: 0, rollouts: 0, tokens: 0, wallTime: 0 });
        writeJsonl(join(dir, 'eval.jsonl'), rows);
        const now = new Date().toISOString();
        const sftJson: RunJson = {
          ...base,
          run,
          objective: { id: 'sft', title: start.title, reference: start.reference, config: exp.sft },
          seed,
          status: 'finished',
          step: 0,
          totalSteps: 0,
          rollouts: 0,
          tokens: 0,
          wallTime: start.wallTime,
          startedAt: started,
          updatedAt: now,
          finishedAt: now,
        };
        writeJsonAtomic(join(dir, 'run.json'), sftJson);
        log(`${run}: ${rows.map((r) => `${r.benchmark} avg@${r.k} ${r.avgAtK.toFixed(3)} greedy ${r.greedy?.toFixed(3) ?? '-'}`).join(', ')}`);
        return rows;
      },
      { purpose: `the SFT rows ${run} are being evaluated`, waitMs: Infinity, ...ctx.lockOpts, onWait: (h) => log(`${run}: waiting: ${describeHolder(h, ctx.lockOpts.staleMs)}`) },
    );
    initialEval.set(seed, rows);
  }
  return initialEval;
}

// 5. ------------------------------------------------------------------------------------------

/** What every run is trained with: the shared engines, the start and the per-seed step-0 rows. */
interface Trained {
  policy: PolicyEngine;
  rollout: RolloutEngine;
  start: Start;
  base: RunJsonBase;
  initialEval: Map<number, EvalRow[]>;
}

async function trainRuns(ctx: Context, t: Trained, tracker: RunTracker): Promise<ExperimentResult['runs']> {
  const streams = new Map<number, PromptStream>();
  const results: ExperimentResult['runs'] = [];
  for (const r of ctx.runs) {
    const lock = await lockRun(ctx, r.run);
    if (!isLock(lock)) {
      const message = describeHolder(lock, ctx.lockOpts.staleMs);
      ctx.log(`${r.run}: skipping: ${message}`);
      results.push({ run: r.run, status: 'busy', failure: message });
      continue;
    }
    try {
      tracker.run = r.run;
      tracker.step = undefined;
      // The curriculum keeps its original stream name, so its numbers stay those of earlier versions.
      if (!streams.has(r.seed)) streams.set(r.seed, new PromptStream(ctx.pool, r.seed, ctx.poolInfo?.streamName));
      results.push(await trainOne(ctx, r, lock, t, streams.get(r.seed)!, tracker));
    } finally {
      lock.release();
      tracker.run = undefined;
    }
  }
  return results;
}

/** The run's lock, or its holder when another process has it (with --wait: once it is free). */
async function lockRun(ctx: Context, run: string): Promise<Lock | LockHolder> {
  const opts: LockOptions = {
    purpose: `run ${run} is being trained`,
    ...ctx.lockOpts,
    onLost: (by) => ctx.log(`${run}: WARNING: lost its lock${by ? ` to ${describeHolder(by, ctx.lockOpts.staleMs)}` : ''}; stopping this run after the current step`),
    onTakeover: (h, why) => ctx.log(`${run}: taking over the lock of pid ${h.owner?.pid ?? '?'} on host ${h.owner?.host ?? '?'}: ${why}`),
  };
  if (!ctx.opts.wait) return tryLock(runLockPath(ctx.expDir, run), opts);
  return acquireLock(runLockPath(ctx.expDir, run), { ...opts, waitMs: Infinity, onWait: (h) => ctx.log(`${run}: waiting: ${describeHolder(h, ctx.lockOpts.staleMs)}`) });
}

/** One run, its lock held: skip it when done, else resume or start it; classify how it ended. */
async function trainOne(ctx: Context, { o, seed, run }: PlannedRun, lock: Lock, t: Trained, stream: PromptStream, tracker: RunTracker): Promise<ExperimentResult['runs'][number]> {
  const { exp, expDir, log } = ctx;
  const dir = join(expDir, run);
  try {
    for (const p of removeStaleTemps(dir)) log(`${run}: removed ${p} (left by a process that is gone)`);
    const rj = readRunJson(dir);
    if (rj?.status === 'finished' || rj?.status === 'failed') {
      log(`${run}: already ${rj.status}${rj.status === 'failed' ? ` (${rj.failure?.message ?? ''}); --fresh retries it` : ''}, skipping`);
      return { run, status: 'skipped' };
    }
    const entry = exp.objectives[ctx.objectives.indexOf(o)]!;
    const status = await trainRun({
      experiment: exp,
      dir,
      run,
      objective: o.objective,
      objectiveConfig: o.config,
      objectiveInfo: {
        id: o.objective.id, title: o.objective.title, reference: o.objective.reference, config: o.config, name: o.name,
        ...(entry.module ? { module: entry.module } : {}), ...(o.objective.metricLabels ? { metricLabels: o.objective.metricLabels } : {}),
      },
      seed,
      policy: t.policy,
      rollout: t.rollout,
      prompts: ctx.source.prompts,
      pad: ctx.source.pad,
      stream,
      trainGrader: getGrader(ctx.exp.tasks.grader ?? 'math'),
      initialParams: t.start.load,
      refParams: ctx.needsRef ? t.start.held : null,
      hfSource: ctx.source.kind === 'hf' ? (ctx.source as HfPolicySource).dir : null,
      exportPolicy: ctx.source.kind === 'hf' ? (params) => exportHfPolicy(join(dir, 'model'), (ctx.source as HfPolicySource).config, params, (ctx.source as HfPolicySource).dir) : undefined,
      benches: ctx.benches,
      evalPlan: ctx.evalPlan,
      initialEval: t.initialEval.get(seed)!,
      runJsonBase: t.base,
      checkpointEvery: exp.checkpointEvery,
      onProgress: (p) => {
        tracker.step = p.step;
        // A lock taken over (its heartbeat stalled past the stale limit) means another process
        // may be training this run now: stop before writing more.
        if (lock.lost) throw new LockLostError(`${run}: another process took over this run's lock at step ${p.step}; stopped`);
        ctx.opts.onProgress?.(p);
      },
      onLog: log,
      afterStep: ctx.opts.afterStep ? (step) => ctx.opts.afterStep!(run, step) : undefined,
    });
    return { run, status };
  } catch (e) {
    if (e instanceof RunFailure) {
      recordFailure(dir, e, readRunJson(dir));
      log(`${run}: FAILED: ${e.message} (last good checkpoint kept in ${join(dir, 'checkpoint')})`);
      return { run, status: 'failed', failure: e.message };
    }
    if (e instanceof CorruptFileError) {
      const message = (e.remedy ? e : e.withRemedy(runRemedy(run))).message;
      log(`${run}: DAMAGED: ${message}`);
      return { run, status: 'corrupt', failure: message };
    }
    if (e instanceof LockLostError) {
      log(e.message);
      return { run, status: 'busy', failure: e.message };
    }
    throw e;
  }
}

// 6. ------------------------------------------------------------------------------------------

async function rebuildSummaries(ctx: Context): Promise<SummaryRow[]> {
  return withExperimentLock(
    ctx.expDir,
    `the summaries of experiment ${ctx.exp.name} are being written`,
    () => {
      removeStaleTemps(ctx.expDir);
      const { rows, skipped } = writeSummaries(ctx.expDir);
      for (const s of skipped) ctx.log(`summaries: left out ${s.run}: ${s.message}`);
      return rows;
    },
    { log: ctx.log, lock: ctx.lockOpts },
  );
}

// ---------------------------------------------------------------------------------------------

/** One line on where an interrupted runner stopped and how it will resume. */
export function describeStop(t: RunTracker): string {
  switch (t.phase) {
    case 'setup':
      return 'stopped while setting up, before any training';
    case 'sft':
      return 'stopped while training the SFT warm start; it is cached only once complete, so it starts over';
    case 'sft-rows':
      return 'stopped while evaluating the SFT rows; they are evaluated again';
    case 'runs': {
      if (!t.run || !t.expDir) return 'stopped between runs';
      let ck: number | null = null;
      try {
        ck = readJsonFile<{ step: number }>(join(t.expDir, t.run, 'checkpoint', 'state.json'))?.step ?? null;
      } catch {
        ck = null;
      }
      const at = t.step !== undefined ? `after step ${t.step}` : 'before its first step of this session';
      return `${t.run} stopped ${at}; ${ck !== null ? `it resumes from its checkpoint at step ${ck}` : 'it has no checkpoint yet, so it starts over'}`;
    }
    case 'summaries':
      return 'stopped while writing summary.csv and curves.csv; they are rebuilt';
    case 'done':
      return 'stopped after the runs';
  }
}

/** A short description of the first field where two configs differ, or null when equal. */
export function firstDifference(a: unknown, b: unknown, path = ''): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (d !== null) return d;
    }
    return null;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d !== null) return d;
    }
  }
  return `${path || '(root)'}: was ${JSON.stringify(a)}, now ${JSON.stringify(b)}`;
}
