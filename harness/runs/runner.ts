// The experiment runner: validates the experiment, builds the one policy engine and rollout
// engine the whole process shares, trains (or reuses) the SFT warm start, evaluates it per seed
// (the sft-s<seed> rows), then trains every objective × seed run from it, resuming unfinished
// runs and skipping finished ones, and finally rebuilds summary.csv and curves.csv.
// Many such processes may share one results folder (a Slurm array, a Kubernetes Indexed Job):
// the SFT is trained under its cache lock, each run under its own lock, and the experiment-level
// files are written under the experiment lock (runs/locks.ts).
import { existsSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { PolicyConfig } from '../engine/types.ts';
import { createPolicyEngine } from '../engine/policy.ts';
import { defaultTokenizer } from '../tasks/tokenizer.ts';
import { trainingProblems } from '../tasks/curriculum.ts';
import { mathGrader } from '../tasks/grading/grader.ts';
import { UsageError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { readExperiment, resolveObjectives, runName, type Experiment, type ResolvedObjective } from './experiment.ts';
import { PromptStream, prepareBenchmarks } from './data.ts';
import { RolloutEngine } from './rollout.ts';
import { ensureSft, sftHash } from './sft.ts';
import { evaluate, type EvalRow } from './evaluate.ts';
import { trainRun, recordFailure, RunFailure, type RunProgress } from './trainer.ts';
import { claimRun, withExperimentLock, withSftLock } from './locks.ts';
import { effectiveThreads } from './sweep.ts';
import { environment, listRuns, readJson, readJsonl, writeJsonl, writeSummaries, RLBENCH_VERSION, type RunJson, type SummaryRow } from './results.ts';

export interface RunOptions {
  /** Delete this experiment's results (or the --only run's) and start over. */
  fresh?: boolean;
  /** Train only this run (e.g. "grpo-s1"); the SFT rows are always ensured. */
  only?: string;
  /** Ensure the SFT warm start and its evaluation rows, then stop (the first job of a sweep). */
  sftOnly?: boolean;
  log?: (msg: string) => void;
  /** Live progress per run (the CLI draws a line on a terminal). */
  onProgress?: (p: RunProgress) => void;
  /** Test hook passed to every run's trainer (throwing simulates a crash). */
  afterStep?: (run: string, step: number) => void;
  /** Overrides experiment.output (tests write to a temporary folder). */
  outputRoot?: string;
}

export interface ExperimentResult {
  dir: string;
  experiment: Experiment;
  runs: { run: string; status: 'finished' | 'failed' | 'skipped'; failure?: string }[];
  /** Objective run-name prefixes in experiment order. */
  objectives: string[];
  summary: SummaryRow[];
  sftDir: string;
  wallTime: number;
}

function policyConfigOf(exp: Experiment, vocabSize: number): PolicyConfig {
  const { dModel, nLayers, nHeads, mlpRatio, contextLength } = exp.policy;
  return { vocabSize, contextLength, dModel, nLayers, nHeads, mlpRatio };
}

/** Loads, validates and runs an experiment file. */
export async function runExperimentFile(path: string, opts: RunOptions = {}): Promise<ExperimentResult> {
  const experiment = readExperiment(path);
  const objectives = await resolveObjectives(experiment, dirname(resolve(path)), path);
  return runExperiment(experiment, objectives, path, opts);
}

export async function runExperiment(exp: Experiment, objectives: ResolvedObjective[], where: string, opts: RunOptions = {}): Promise<ExperimentResult> {
  const t0 = performance.now();
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const root = opts.outputRoot ?? exp.output;
  const expDir = join(root, exp.name);
  const tok = defaultTokenizer;
  const policyConfig = policyConfigOf(exp, tok.vocabSize);
  const evalMaxTokens = exp.eval.maxTokens ?? exp.rl.maxTokens;

  const runs = exp.seeds.flatMap((seed) => objectives.map((o) => ({ o, seed, run: runName(o.name, seed) })));
  if (opts.only !== undefined && !runs.some((r) => r.run === opts.only)) {
    throw new UsageError(`--only ${opts.only}: no such run in ${where} (runs: ${runs.map((r) => r.run).join(', ')})`);
  }

  // Inputs are checked before anything is written.
  const benches = prepareBenchmarks(exp.benchmarks, tok, policyConfig.contextLength, evalMaxTokens, where);
  const pool = trainingProblems(exp.tasks.dataSeed, exp.tasks.trainProblems);
  const longestPrompt = Math.max(...pool.map((p) => p.problem.length + 2));
  if (longestPrompt + exp.rl.maxTokens > policyConfig.contextLength) {
    throw new UsageError(`${where}: policy.contextLength ${policyConfig.contextLength} is too short for training prompts of up to ${longestPrompt} tokens + rl.maxTokens ${exp.rl.maxTokens}`);
  }

  const configPath = join(expDir, 'experiment.json');
  await withExperimentLock(expDir, () => {
    if (opts.fresh) {
      if (opts.only) rmSync(join(expDir, opts.only), { recursive: true, force: true });
      else if (existsSync(expDir)) {
        // Every run folder goes, including those of objectives or seeds the config no longer has.
        for (const r of listRuns(expDir)) rmSync(join(expDir, r), { recursive: true, force: true });
        for (const f of ['summary.csv', 'curves.csv', 'experiment.json']) rmSync(join(expDir, f), { force: true });
      }
    } else if (existsSync(configPath)) {
      // Resuming under a different config would mix results: refuse, naming the first difference.
      const old = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      const diff = firstDifference(old, exp as unknown as Record<string, unknown>);
      if (diff !== null) {
        throw new UsageError(`${where}: ${configPath} was written by a different configuration (${diff}); run with --fresh to start over, or change "name"`);
      }
    }
    mkdirSync(expDir, { recursive: true });
    writeJsonAtomic(configPath, exp);
  }, log);

  const env = environment();
  const threads = effectiveThreads(exp.execution.threads);
  const policy = await createPolicyEngine(policyConfig, { provider: exp.execution.provider, threads });
  try {
    const rollout = new RolloutEngine(policy, { eos: tok.eos, pad: tok.pad, detokenize: (ids) => tok.decode(ids), batchSize: exp.eval.batchSize });

    const sftJob = { policyConfig, initSeed: exp.policy.initSeed, settings: exp.sft, pool, dataKey: exp.tasks, version: RLBENCH_VERSION };
    const cacheRoot = join(root, '.cache');
    const sft = await withSftLock(cacheRoot, sftHash(sftJob, tok), () => ensureSft(policy, sftJob, tok, cacheRoot, log), log);
    const baseJson = {
      experiment: exp.name,
      versions: env.versions,
      gitCommit: env.gitCommit,
      provider: exp.execution.provider,
      threads: threads ?? exp.execution.threads,
      cpu: env.cpu,
      sft: { hash: sft.info.hash, dir: sft.dir },
    };
    const plan = { k: exp.eval.k, temperature: exp.eval.temperature, topP: exp.eval.topP, greedy: exp.eval.greedy, maxTokens: evalMaxTokens };

    // The SFT rows: one per seed, each the step-0 evaluation every run of that seed starts from.
    // Evaluation draws do not depend on the seed, so one evaluation serves every row.
    const initialEval = new Map<number, EvalRow[]>();
    let sftRows: EvalRow[] | null = null;
    await withExperimentLock(expDir, async () => {
      for (const seed of exp.seeds) {
        const dir = join(expDir, `sft-s${seed}`);
        const rj = readJson<RunJson>(join(dir, 'run.json'));
        let rows = readJsonl<EvalRow>(join(dir, 'eval.jsonl'));
        if (rj?.status !== 'finished' || rows.length !== benches.length) {
          const started = new Date().toISOString();
          rows = sftRows ??= await evaluate(rollout, sft.params, benches, plan, exp.eval.seed, { step: 0, rollouts: 0, tokens: 0, wallTime: 0 });
          writeJsonl(join(dir, 'eval.jsonl'), rows);
          const sftJson: RunJson = {
            ...baseJson,
            run: `sft-s${seed}`,
            objective: { id: 'sft', title: 'SFT initialisation', reference: 'supervised warm start on the curriculum worked solutions', config: exp.sft },
            seed,
            status: 'finished',
            step: 0,
            totalSteps: 0,
            rollouts: 0,
            tokens: 0,
            wallTime: sft.info.wallTime,
            startedAt: started,
            updatedAt: new Date().toISOString(),
            finishedAt: new Date().toISOString(),
          };
          writeJsonAtomic(join(dir, 'run.json'), sftJson);
          log(`sft-s${seed}: ${rows.map((r) => `${r.benchmark} avg@${r.k} ${r.avgAtK.toFixed(3)} greedy ${r.greedy?.toFixed(3) ?? '-'}`).join(', ')}`);
        }
        initialEval.set(seed, rows);
      }
    }, log);
    if (opts.sftOnly) {
      const { rows } = await withExperimentLock(expDir, () => writeSummaries(expDir), log);
      return { dir: expDir, experiment: exp, objectives: objectives.map((o) => o.name), runs: [], summary: rows, sftDir: sft.dir, wallTime: (performance.now() - t0) / 1000 };
    }

    const stream = new Map<number, PromptStream>();
    const results: ExperimentResult['runs'] = [];
    for (const { o, seed, run } of runs) {
      if (opts.only !== undefined && run !== opts.only) continue;
      const dir = join(expDir, run);
      // Another process may be training this run (a sweep sharing the folder): with --only it is
      // an error after a grace period for a stale lock, otherwise the run is left to it.
      const claim = await claimRun(expDir, run, { wait: opts.only !== undefined, log });
      if (!('release' in claim)) {
        log(`${run}: being trained by ${claim.holder.host} PID ${claim.holder.pid}, skipping`);
        results.push({ run, status: 'skipped' });
        continue;
      }
      try {
        const rj = readJson<RunJson>(join(dir, 'run.json'));
        if (rj?.status === 'finished' || rj?.status === 'failed') {
          log(`${run}: already ${rj.status}${rj.status === 'failed' ? ` (${rj.failure?.message ?? ''}); --fresh retries it` : ''}, skipping`);
          results.push({ run, status: 'skipped' });
          continue;
        }
        if (!stream.has(seed)) stream.set(seed, new PromptStream(pool, seed));
        const entry = exp.objectives[objectives.indexOf(o)]!;
        try {
          const status = await trainRun({
            experiment: exp,
            dir,
            run,
            objective: o.objective,
            objectiveConfig: o.config,
            objectiveInfo: { id: o.objective.id, title: o.objective.title, reference: o.objective.reference, config: o.config, name: o.name, ...(entry.module ? { module: entry.module } : {}) },
            seed,
            policy,
            rollout,
            tokenizer: tok,
            stream: stream.get(seed)!,
            trainGrader: mathGrader,
            sftParams: sft.params,
            benches,
            initialEval: initialEval.get(seed)!,
            runJsonBase: baseJson,
            checkpointEvery: exp.checkpointEvery,
            onProgress: opts.onProgress,
            onLog: log,
            afterStep: opts.afterStep ? (step) => opts.afterStep!(run, step) : undefined,
          });
          results.push({ run, status });
        } catch (e) {
          if (!(e instanceof RunFailure)) throw e;
          recordFailure(dir, e, readJson<RunJson>(join(dir, 'run.json')));
          log(`${run}: FAILED: ${e.message} (last good checkpoint kept in ${join(dir, 'checkpoint')})`);
          results.push({ run, status: 'failed', failure: e.message });
        }
      } finally {
        claim.release();
      }
    }
    const { rows } = await withExperimentLock(expDir, () => writeSummaries(expDir), log);
    return { dir: expDir, experiment: exp, objectives: objectives.map((o) => o.name), runs: results, summary: rows, sftDir: sft.dir, wallTime: (performance.now() - t0) / 1000 };
  } finally {
    await policy.release();
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
