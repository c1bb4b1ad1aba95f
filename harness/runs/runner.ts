// The experiment runner. runExperiment is its six numbered steps:
//   1. validate the inputs (runs, benchmarks, training pool, context length, the memory estimate)
//      before anything is written;
//   2. prepare the results folder under the experiment lock: --fresh, the config check against
//      experiment.json (location-only fields left out; the data compared by digest, inputs.json),
//      sweep.json (the runs in sweep order, runs/sweep.ts), stale temporary files;
//   3. the SFT warm start: cached, or trained once (its own lock: concurrent processes wait);
//   4. the SFT rows sft-s<seed>: the step-0 evaluation every run of that seed starts from;
//   5. the runs, each under its own lock: a run another process trains is skipped (or waited
//      for), others resume or start; a failed or damaged run is reported and the rest go on
//      (none with sftOnly, the first job of a sweep);
//   6. summary.csv and curves.csv, rebuilt from the run folders under the experiment lock.
// One policy engine and one rollout engine serve the whole process. Many such processes may share
// one results folder (a Slurm array, a Kubernetes Indexed Job): the locks (util/lock.ts) work
// across hosts on a network filesystem.
import { existsSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { GptConfig, PolicyEngine } from '../engine/types.ts';
import { createPolicyEngine, defaultMaxBatchTokens } from '../engine/policy.ts';
import { defaultTokenizer } from '../tasks/tokenizer.ts';
import { trainingProblems } from '../tasks/curriculum.ts';
import { mathGrader } from '../tasks/grading/grader.ts';
import type { Problem } from '../tasks/types.ts';
import { RunError, UsageError } from '../util/errors.ts';
import { CorruptFileError, readJsonFile, removeStaleTemps, sha256, writeJsonAtomic } from '../util/fs.ts';
import { acquireLock, describeHolder, isLock, tryLock, withLock, type Lock, type LockHolder, type LockOptions } from '../util/lock.ts';
import { readExperiment, resolveObjectives, runName, type Experiment, type ResolvedObjective } from './experiment.ts';
import { PromptStream, prepareBenchmarks } from './data.ts';
import { RolloutEngine } from './rollout.ts';
import { ensureSft, type SftResult } from './sft.ts';
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
 * Fields that only say where things are: moving or copying a results folder (`output`) or the
 * data (`benchmarks[].path`) must not stop a resume. What the data holds is compared instead,
 * by the digest of each benchmark's problems in inputs.json.
 */
function withoutLocation(config: object): Record<string, unknown> {
  const out = { ...(config as Record<string, unknown>) };
  delete out.output;
  if (Array.isArray(out.benchmarks)) out.benchmarks = out.benchmarks.map((b: Record<string, unknown>) => Object.fromEntries(Object.entries(b).filter(([k]) => k !== 'path')));
  return out;
}

interface InputsJson {
  format: 'rlbench-inputs/1';
  benchmarks: { name: string; problems: number; sha256: string }[];
}

/** What each benchmark holds: its problems' ids, texts and answers, digested. */
function inputDigests(benches: readonly PreparedBenchmark[]): InputsJson {
  return {
    format: 'rlbench-inputs/1',
    benchmarks: benches.map((b) => ({ name: b.name, problems: b.problems.length, sha256: sha256(JSON.stringify(b.problems.map((p) => [p.id, p.problem, p.answer]))) })),
  };
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
  policyConfig: GptConfig;
  runs: PlannedRun[];
  benches: PreparedBenchmark[];
  pool: Problem[];
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
    const rollout = new RolloutEngine(policy, { eos: defaultTokenizer.eos, pad: defaultTokenizer.pad, detokenize: (ids) => defaultTokenizer.decode(ids), batchSize: exp.eval.batchSize });
    tracker.phase = 'sft';
    const sft = await trainOrLoadSft(ctx, policy); // 3
    const base = runJsonBase(ctx, sft);
    tracker.phase = 'sft-rows';
    const initialEval = await sftRows(ctx, rollout, sft, base); // 4
    tracker.phase = 'runs';
    const runs = await trainRuns(ctx, { policy, rollout, sft, base, initialEval }, tracker); // 5
    tracker.phase = 'summaries';
    const summary = await rebuildSummaries(ctx); // 6
    tracker.phase = 'done';
    return { dir: ctx.expDir, experiment: exp, objectives: objectives.map((o) => o.name), runs, summary, sftDir: sft.dir, wallTime: (performance.now() - t0) / 1000 };
  } finally {
    await policy.release();
  }
}

// 1. ------------------------------------------------------------------------------------------

function validateInputs(exp: Experiment, objectives: ResolvedObjective[], where: string, opts: RunOptions): Context {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const root = opts.outputRoot ?? exp.output;
  const tok = defaultTokenizer;
  const { dModel, nLayers, nHeads, mlpRatio, contextLength } = exp.policy;
  const policyConfig: GptConfig = { vocabSize: tok.vocabSize, contextLength, dModel, nLayers, nHeads, mlpRatio };
  const evalMaxTokens = exp.eval.maxTokens ?? exp.rl.maxTokens;

  const runs = exp.seeds.flatMap((seed) => objectives.map((o) => ({ o, seed, run: runName(o.name, seed) })));
  if (opts.sftOnly && opts.only !== undefined) throw new UsageError(`${where}: --sft-only trains no run; give it without --only or --index`);
  if (opts.only !== undefined && !runs.some((r) => r.run === opts.only)) {
    throw new UsageError(`--only ${opts.only}: no such run in ${where} (runs: ${runs.map((r) => r.run).join(', ')})`);
  }
  const benches = prepareBenchmarks(exp.benchmarks, tok, contextLength, evalMaxTokens, where);
  const pool = trainingProblems(exp.tasks.dataSeed, exp.tasks.trainProblems);
  const longestPrompt = Math.max(...pool.map((p) => p.problem.length + 2));
  if (longestPrompt + exp.rl.maxTokens > contextLength) {
    throw new UsageError(`${where}: policy.contextLength ${contextLength} is too short for training prompts of up to ${longestPrompt} tokens + rl.maxTokens ${exp.rl.maxTokens}`);
  }
  const longestBench = Math.max(0, ...benches.flatMap((b) => b.prompts.map((p) => p.length)));
  const seqLen = Math.min(contextLength, Math.max(longestPrompt + exp.rl.maxTokens, longestBench + evalMaxTokens));
  checkMemory(exp, policyConfig, benches, seqLen, where, opts, log);

  return {
    exp,
    objectives,
    where,
    opts,
    log,
    expDir: join(root, exp.name),
    cacheRoot: join(root, '.cache'),
    policyConfig,
    runs: opts.sftOnly ? [] : runs.filter((r) => opts.only === undefined || r.run === opts.only),
    benches,
    pool,
    evalPlan: { k: exp.eval.k, temperature: exp.eval.temperature, topP: exp.eval.topP, greedy: exp.eval.greedy, maxTokens: evalMaxTokens },
    lockOpts: opts.lock ?? {},
    threads: effectiveThreads(exp.execution.threads),
  };
}

/** Refuses, before anything is allocated, an experiment whose estimate exceeds the machine. */
function checkMemory(exp: Experiment, cfg: GptConfig, benches: PreparedBenchmark[], seqLen: number, where: string, opts: RunOptions, log: (m: string) => void): void {
  const rl = exp.rl;
  const rolloutsPerStep = rl.promptsPerStep * rl.rolloutsPerPrompt * (1 + rl.refillRounds);
  const evalSequences = Math.max(0, ...benches.map((b) => b.problems.length * exp.eval.k));
  const est = estimateRunMemory(
    modelShapeOf(cfg),
    {
      seqLen,
      chunkTokens: defaultMaxBatchTokens(cfg.vocabSize),
      decodeBatch: Math.min(exp.eval.batchSize, Math.max(rl.promptsPerStep * rl.rolloutsPerPrompt, evalSequences)),
      rolloutsPerStep,
      evalSequences,
      poolProblems: exp.tasks.trainProblems,
      sftBatch: exp.sft.batchSize,
    },
  );
  const machine = machineMemory();
  const { verdict, message } = compareWithMachine(est, machine);
  if (verdict === 'refuse' && opts.memoryCheck !== false) {
    throw new UsageError(`${where}: this experiment ${message}. Make the policy, rl.promptsPerStep × rl.rolloutsPerPrompt, eval.batchSize or eval.k smaller, or run with --no-memory-check to try anyway`);
  }
  log(verdict === 'fits' ? `memory: about ${formatBytes(est.bytes)} needed (estimate), ${formatBytes(Math.min(machine.limit, machine.available))} available` : `note: this experiment ${message}`);
}

// 2. ------------------------------------------------------------------------------------------

async function prepareResults(ctx: Context): Promise<void> {
  const { exp, expDir, opts, where } = ctx;
  const configPath = join(expDir, 'experiment.json');
  const inputsPath = join(expDir, 'inputs.json');
  const inputs = inputDigests(ctx.benches);
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

function trainOrLoadSft(ctx: Context, policy: PolicyEngine): Promise<SftResult> {
  const { exp } = ctx;
  return ensureSft(
    policy,
    { policyConfig: ctx.policyConfig, initSeed: exp.policy.initSeed, settings: exp.sft, pool: ctx.pool, dataKey: exp.tasks, version: RLBENCH_VERSION },
    defaultTokenizer,
    ctx.cacheRoot,
    ctx.log,
    { fresh: ctx.opts.freshSft, lock: ctx.lockOpts },
  );
}

type RunJsonBase = RunSpec['runJsonBase'];

function runJsonBase(ctx: Context, sft: SftResult): RunJsonBase {
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
    sft: { hash: sft.info.hash, dir: sft.dir },
  };
}

// 4. ------------------------------------------------------------------------------------------

/**
 * The SFT rows: one per seed, each the step-0 evaluation every run of that seed starts from.
 * Evaluation draws do not depend on the seed, so one evaluation serves every row. Rows that are
 * missing, damaged or from another SFT are evaluated again (they are derived data).
 */
async function sftRows(ctx: Context, rollout: RolloutEngine, sft: SftResult, base: RunJsonBase): Promise<Map<number, EvalRow[]>> {
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
        if (rj?.status === 'finished' && rj.sft?.hash === sft.info.hash && rows.length === benches.length) return rows;
        const started = new Date().toISOString();
        rows = fresh ??= await evaluate(rollout, sft.params, benches, ctx.evalPlan, exp.eval.seed, { step: 0, rollouts: 0, tokens: 0, wallTime: 0 });
        writeJsonl(join(dir, 'eval.jsonl'), rows);
        const now = new Date().toISOString();
        const sftJson: RunJson = {
          ...base,
          run,
          objective: { id: 'sft', title: 'SFT initialisation', reference: 'supervised warm start on the curriculum worked solutions', config: exp.sft },
          seed,
          status: 'finished',
          step: 0,
          totalSteps: 0,
          rollouts: 0,
          tokens: 0,
          wallTime: sft.info.wallTime,
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

/** What every run is trained with: the shared engines, the SFT start and the per-seed SFT rows. */
interface Trained {
  policy: PolicyEngine;
  rollout: RolloutEngine;
  sft: SftResult;
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
      if (!streams.has(r.seed)) streams.set(r.seed, new PromptStream(ctx.pool, r.seed));
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
      tokenizer: defaultTokenizer,
      stream,
      trainGrader: mathGrader,
      sftParams: t.sft.params,
      benches: ctx.benches,
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
