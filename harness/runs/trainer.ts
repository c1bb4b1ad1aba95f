// The RL trainer: one loop, the same for every objective. Per step:
//   1. take the next prompts of the seed's stream, sample K rollouts each, grade them;
//   2. apply the objective's filter (DAPO dynamic sampling), refilling with more prompts for up
//      to rl.refillRounds extra rounds; every generated rollout counts towards the budget;
//   3. logpOld (and logpRef when the objective asks) with the teacher-forced graph, packed
//      exactly as the first update will pack them, so ratios start at exactly 1;
//   4. for mu epochs over minibatches of whole groups: logprobs -> objective.loss ->
//      gradWeightedLogprob(weights = dL/dlogp at the response positions) -> clip -> AdamW.
// The objective only ever sees rollouts and log-probs. Each step's randomness comes from
// Rng(seed).fork(step), so a resumed run repeats an uninterrupted one exactly.
import { join } from 'node:path';
import type { Objective, Rollout } from '../../objectives/types.ts';
import type { PolicyEngine } from '../engine/types.ts';
import { AdamW, clipGradNorm, decayMask, learningRate } from '../engine/optim.ts';
import type { Grader, Problem } from '../tasks/types.ts';
import type { CharTokenizer } from '../tasks/tokenizer.ts';
import { appendJsonlAtomic, writeJsonAtomic } from '../util/fs.ts';
import { Rng } from '../util/rng.ts';
import { mean } from '../util/stats.ts';
import { packSequences, gatherResponse, scatterResponse, type PackedBatch } from './batch.ts';
import { encodePrompt, type PromptStream } from './data.ts';
import { evaluate, type EvalRow, type PreparedBenchmark } from './evaluate.ts';
import type { Budget, Experiment } from './experiment.ts';
import type { RolloutEngine } from './rollout.ts';
import { finiteOnly, loadRunCheckpoint, readJson, readJsonl, saveRunCheckpoint, writeJsonl, type RunJson, type TrainState } from './results.ts';

/** A graded rollout: the objective's Rollout plus what the trainer needs to score it again. */
export interface TrainRollout extends Rollout {
  prompt: Int32Array;
  tokens: Int32Array;
  text: string;
  correct: boolean;
  entropy?: Float32Array;
}

export interface RunProgress {
  run: string;
  step: number;
  totalSteps: number | null;
  /** Fraction of the budget consumed. */
  fraction: number;
  reward: number;
  accuracy: number;
  /** Training seconds this session (for the ETA). */
  elapsed: number;
  /** Budget fraction at the start of this session. */
  startFraction: number;
}

export interface RunSpec {
  experiment: Experiment;
  /** Run directory results/<experiment>/<run>/. */
  dir: string;
  run: string;
  objective: Objective;
  objectiveConfig: unknown;
  /** For run.json: the objective entry as configured. */
  objectiveInfo: RunJson['objective'];
  seed: number;
  policy: PolicyEngine;
  rollout: RolloutEngine;
  tokenizer: CharTokenizer;
  stream: PromptStream;
  trainGrader: Grader;
  /** The SFT weights: the initial policy and the frozen reference. */
  sftParams: Float32Array;
  benches: readonly PreparedBenchmark[];
  /** The SFT evaluation of this seed: becomes the run's step-0 evaluation. */
  initialEval: readonly EvalRow[];
  runJsonBase: Omit<RunJson, 'run' | 'objective' | 'seed' | 'status' | 'step' | 'totalSteps' | 'rollouts' | 'tokens' | 'wallTime' | 'updatedAt' | 'startedAt'>;
  checkpointEvery: number;
  onProgress?: (p: RunProgress) => void;
  onLog?: (msg: string) => void;
  /** Test hook: called after each completed step (after its checkpoint, if any). Throwing simulates a crash. */
  afterStep?: (step: number) => void;
}

/** A failure that ends one run while the experiment's other runs go on: at which step, and why. */
export class RunFailure extends Error {
  constructor(
    readonly step: number,
    message: string,
  ) {
    super(message);
    this.name = 'RunFailure';
  }
}

/** A non-finite number reached the update: which step, objective and tensor. */
export class NonFiniteError extends RunFailure {
  constructor(
    step: number,
    readonly tensor: string,
    message: string,
  ) {
    super(step, message);
    this.name = 'NonFiniteError';
  }
}

/** Runs an objective hook; an exception in it (a buggy plugin, say) fails this run only. */
function callObjective<T>(objective: Objective, step: number, hook: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RunFailure) throw e;
    throw new RunFailure(step, `step ${step}, objective ${objective.id}: ${hook} threw: ${(e as Error).message ?? String(e)}`);
  }
}

export function plannedSteps(budget: Budget, exp: Experiment): number | null {
  if ('steps' in budget) return budget.steps;
  if ('rollouts' in budget) return Math.ceil(budget.rollouts / (exp.rl.promptsPerStep * exp.rl.rolloutsPerPrompt));
  return null;
}

export function budgetFraction(budget: Budget, s: TrainState): number {
  if ('steps' in budget) return Math.min(1, s.step / budget.steps);
  if ('rollouts' in budget) return Math.min(1, s.rollouts / budget.rollouts);
  return Math.min(1, s.tokens / budget.tokens);
}

function firstNonFinite(xs: ArrayLike<number>): number {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i]!)) return i;
  return -1;
}

/** Splits groups into `m` minibatches of whole groups (sizes differ by at most one group). */
function partition<T>(groups: T[][], m: number): T[][][] {
  const parts: T[][][] = [];
  const per = Math.floor(groups.length / m);
  const extra = groups.length % m;
  let at = 0;
  for (let i = 0; i < m; i++) {
    const n = per + (i < extra ? 1 : 0);
    if (n > 0) parts.push(groups.slice(at, at + n));
    at += n;
  }
  return parts;
}

interface Minibatch {
  rollouts: TrainRollout[];
  packed: PackedBatch;
}

/**
 * Trains one run to its budget, resuming from its checkpoint when one exists. Returns its
 * final status; a non-finite loss or gradient ends the run as "failed" with a diagnostic in
 * run.json and leaves the last good checkpoint in place.
 */
export async function trainRun(spec: RunSpec): Promise<'finished' | 'failed'> {
  const { experiment: exp, dir, objective, objectiveConfig: cfg, policy, rollout, tokenizer: tok, seed } = spec;
  const rl = exp.rl;
  const log = spec.onLog ?? (() => {});
  const metricsPath = join(dir, 'metrics.jsonl');
  const evalPath = join(dir, 'eval.jsonl');
  const runJsonPath = join(dir, 'run.json');
  const totalSteps = plannedSteps(exp.budget, exp);

  const opt = new AdamW(policy.paramCount, decayMask(policy.params, policy.paramCount), { beta1: rl.beta1, beta2: rl.beta2, weightDecay: rl.weightDecay });
  let params: Float32Array;
  let state: TrainState;
  const resumed = await loadRunCheckpoint(dir);
  let startedAt = new Date().toISOString();
  if (resumed) {
    params = resumed.params;
    opt.importState(resumed.opt);
    state = resumed.state;
    // Logs may hold lines written after the checkpoint (a crash mid-interval): drop them, the
    // resumed run writes them again, identically.
    writeJsonl(metricsPath, readJsonl<{ step: number }>(metricsPath).filter((r) => r.step <= state.step));
    writeJsonl(evalPath, readJsonl<{ step: number }>(evalPath).filter((r) => r.step <= state.step));
    startedAt = readJson<RunJson>(runJsonPath)?.startedAt ?? startedAt;
    log(`${spec.run}: resuming from step ${state.step}`);
  } else {
    params = spec.sftParams.slice();
    state = { step: 0, cursor: 0, rollouts: 0, tokens: 0, wallTime: 0 };
    writeJsonl(metricsPath, []);
    writeJsonl(evalPath, spec.initialEval.map((r) => ({ ...r })));
  }

  const writeRunJson = (status: RunJson['status'], extra: Partial<RunJson> = {}) => {
    const rj: RunJson = {
      ...spec.runJsonBase,
      run: spec.run,
      objective: spec.objectiveInfo,
      seed,
      status,
      step: state.step,
      totalSteps,
      rollouts: state.rollouts,
      tokens: state.tokens,
      wallTime: state.wallTime,
      startedAt,
      updatedAt: new Date().toISOString(),
      ...extra,
    };
    writeJsonAtomic(runJsonPath, rj);
  };
  writeRunJson('running');

  const schedule = { lr: rl.lr, warmupSteps: rl.warmupSteps, decay: rl.decay, minLrRatio: rl.minLrRatio };
  const startFraction = budgetFraction(exp.budget, state);
  const sessionStartStep = state.step;
  const sessionStart = performance.now();
  const needsRef = objective.needsReference(cfg);
  const sampling = { temperature: rl.temperature, topP: rl.topP, maxTokens: rl.maxTokens };
  const P = rl.promptsPerStep;
  const K = rl.rolloutsPerPrompt;

  while (budgetFraction(exp.budget, state) < 1) {
    const stepNo = state.step + 1;
    const t0 = performance.now();
    const rng = new Rng(seed).fork(`step:${stepNo}`);

    // 1-2. sample, grade, filter, refill.
    let kept: TrainRollout[][] = [];
    const generated: TrainRollout[] = [];
    let rounds = 0;
    let cursor = state.cursor;
    for (let r = 0; r <= (objective.filter ? rl.refillRounds : 0); r++) {
      const need = r === 0 ? P : P - kept.length;
      if (need <= 0) break;
      const problems: Problem[] = spec.stream.take(cursor, need);
      cursor += need;
      rounds = r + 1;
      const gens = await rollout.generate({ params, prompts: problems.map((p) => encodePrompt(tok, p)), samples: K, sampling, rng: rng.fork(`round:${r}`), behaviourLogprobs: false });
      const groups: TrainRollout[][] = problems.map(() => []);
      for (const g of gens) {
        const correct = spec.trainGrader.grade(g.text, problems[g.promptIndex]!.answer).correct;
        const ro: TrainRollout = {
          group: `${stepNo}:${r}:${g.promptIndex}`,
          length: g.tokens.length,
          tokens: g.tokens,
          prompt: g.prompt,
          text: g.text,
          logpOld: new Float32Array(0),
          reward: correct ? 1 : 0,
          correct,
          truncated: g.truncated,
        };
        groups[g.promptIndex]!.push(ro);
        generated.push(ro);
      }
      const keep = objective.filter ? callObjective(objective, stepNo, 'filter', () => objective.filter!(groups, cfg) as TrainRollout[][]) : groups;
      kept.push(...keep);
    }
    kept = kept.slice(0, P);
    state.cursor = cursor;
    state.rollouts += generated.length;
    for (const g of generated) state.tokens += g.tokens.length;

    const tSampled = performance.now();
    // 3. logpOld / logpRef, packed as epoch 0 will pack them.
    const groupsRng = rng.fork('minibatches');
    const epochParts = (e: number): Minibatch[] =>
      partition(groupsRng.fork(e).shuffle([...kept]), rl.minibatches).map((gs) => {
        const rollouts = gs.flat();
        return { rollouts, packed: packSequences(rollouts.map((x) => ({ prompt: x.prompt, response: x.tokens })), tok.pad) };
      });
    let parts = epochParts(0);
    let firstLogp: Float32Array[] | null = null;
    const entropies: number[] = [];
    for (const [i, mb] of parts.entries()) {
      const { logp, entropy } = await policy.logprobs(params, mb.packed.batch);
      const lp = gatherResponse(mb.packed, logp);
      const en = gatherResponse(mb.packed, entropy);
      mb.rollouts.forEach((x, j) => {
        x.logpOld = lp[j]!;
        x.entropy = en[j]!;
        for (const v of en[j]!) entropies.push(v);
      });
      if (i === 0) firstLogp = lp;
      if (needsRef) {
        const ref = await policy.logprobs(spec.sftParams, mb.packed.batch);
        gatherResponse(mb.packed, ref.logp).forEach((v, j) => (mb.rollouts[j]!.logpRef = v));
      }
    }

    const tScored = performance.now();
    // 4. mu epochs of minibatch updates.
    const losses: number[] = [];
    const gradNorms: number[] = [];
    const objMetrics = new Map<string, number[]>();
    let lr = learningRate(schedule, opt.steps, budgetFraction(exp.budget, state));
    let skipped = 0;
    const fail = (tensor: string, message: string): never => {
      throw new NonFiniteError(stepNo, tensor, `step ${stepNo}, objective ${objective.id}: ${message}`);
    };
    for (let e = 0; e < rl.epochs; e++) {
      if (e > 0) parts = epochParts(e);
      for (const [i, mb] of parts.entries()) {
        // At the behaviour weights the first minibatch's log-probs are logpOld itself.
        let logp: readonly Float32Array[];
        if (e === 0 && i === 0 && firstLogp) logp = firstLogp;
        else logp = gatherResponse(mb.packed, (await policy.logprobs(params, mb.packed.batch)).logp);
        logp.forEach((l, j) => {
          const bad = firstNonFinite(l);
          if (bad >= 0) fail('logp', `non-finite policy log-prob (rollout ${j} of minibatch ${i}, token ${bad})`);
        });
        const res = callObjective(objective, stepNo, 'loss', () => objective.loss(mb.rollouts, logp, cfg));
        if (!Number.isFinite(res.loss)) fail('loss', `non-finite loss ${res.loss} (epoch ${e}, minibatch ${i})`);
        res.grad.forEach((g, j) => {
          const bad = firstNonFinite(g);
          if (bad >= 0) fail('grad', `non-finite dLoss/dlogp (rollout ${j} of minibatch ${i}, token ${bad})`);
        });
        losses.push(res.loss);
        for (const [k, v] of Object.entries(res.metrics)) {
          if (!objMetrics.has(k)) objMetrics.set(k, []);
          objMetrics.get(k)!.push(v);
        }
        const weights = scatterResponse(mb.packed, res.grad);
        if (firstNonFinite(weights) >= 0) fail('grad', 'dLoss/dlogp overflows float32');
        let any = false;
        for (let j = 0; j < weights.length && !any; j++) any = weights[j] !== 0;
        if (!any) {
          skipped++;
          continue;
        }
        const { grad } = await policy.gradWeightedLogprob(params, mb.packed.batch, weights);
        const clip = clipGradNorm(grad, rl.gradClip);
        if (!clip.finite) {
          const bad = firstNonFinite(grad);
          const ps = policy.params.find((p) => bad >= p.offset && bad < p.offset + p.size);
          fail(`param-grad:${ps?.name ?? bad}`, `non-finite parameter gradient in ${ps?.name ?? `entry ${bad}`} (epoch ${e}, minibatch ${i})`);
        }
        gradNorms.push(clip.norm);
        lr = learningRate(schedule, opt.steps, budgetFraction(exp.budget, state));
        opt.step(params, grad, lr);
        const badP = firstNonFinite(params);
        if (badP >= 0) fail('params', `non-finite parameters after the update (entry ${badP})`);
      }
    }

    state.step = stepNo;
    const tDone = performance.now();
    state.wallTime += (tDone - t0) / 1000;
    const accuracy = mean(generated.map((g) => (g.correct ? 1 : 0)));
    const reward = mean(generated.map((g) => g.reward));
    const groupsSolved = new Set(generated.filter((g) => g.correct).map((g) => g.group)).size;
    const row: Record<string, number> = {
      step: stepNo,
      rollouts: state.rollouts,
      tokens: state.tokens,
      wallTime: state.wallTime,
      reward,
      accuracy,
      responseLength: mean(generated.map((g) => g.length)),
      truncatedFrac: mean(generated.map((g) => (g.truncated ? 1 : 0))),
      solvedFrac: groupsSolved / (generated.length / K),
      entropy: mean(entropies),
      gradNorm: mean(gradNorms),
      lr,
      loss: mean(losses),
      promptsSampled: generated.length / K,
      groupsKept: kept.length,
      samplingRounds: rounds,
      updates: gradNorms.length,
      skippedUpdates: skipped,
      'time/sample': (tSampled - t0) / 1000,
      'time/score': (tScored - tSampled) / 1000,
      'time/update': (tDone - tScored) / 1000,
    };
    for (const [k, v] of objMetrics) row[`obj/${k}`] = mean(v);
    appendJsonlAtomic(metricsPath, [finiteOnly(row)]);

    const finished = budgetFraction(exp.budget, state) >= 1;
    const evalDue = finished || (exp.eval.every > 0 && stepNo % exp.eval.every === 0);
    if (evalDue) {
      const rows = await evaluate(rollout, params, spec.benches, { k: exp.eval.k, temperature: exp.eval.temperature, topP: exp.eval.topP, greedy: exp.eval.greedy, maxTokens: exp.eval.maxTokens ?? rl.maxTokens }, exp.eval.seed, {
        step: stepNo,
        rollouts: state.rollouts,
        tokens: state.tokens,
        wallTime: state.wallTime,
      });
      appendJsonlAtomic(evalPath, rows);
      log(`${spec.run}: eval at step ${stepNo}: ${rows.map((r) => `${r.benchmark} avg@${r.k} ${r.avgAtK.toFixed(3)} greedy ${r.greedy?.toFixed(3) ?? '-'}`).join(', ')}`);
    }
    if (evalDue || stepNo % spec.checkpointEvery === 0) {
      await saveRunCheckpoint(dir, policy.config, params, opt.exportState(), state);
      writeRunJson(finished ? 'finished' : 'running', finished ? { finishedAt: new Date().toISOString() } : {});
    }
    spec.onProgress?.({ run: spec.run, step: stepNo, totalSteps, fraction: budgetFraction(exp.budget, state), reward, accuracy, elapsed: (performance.now() - sessionStart) / 1000, startFraction });
    spec.afterStep?.(stepNo);
  }
  if (state.step === sessionStartStep) {
    // Nothing to train this session: a run with no budget, or one killed after its final
    // checkpoint but before its final run.json. Finish it. Its final evaluation was written before
    // that checkpoint; evaluate only if those rows are missing.
    if (state.step > 0 && !readJsonl<{ step: number }>(evalPath).some((r) => r.step === state.step)) {
      const at = { step: state.step, rollouts: state.rollouts, tokens: state.tokens, wallTime: state.wallTime };
      appendJsonlAtomic(evalPath, await evaluate(rollout, params, spec.benches, { k: exp.eval.k, temperature: exp.eval.temperature, topP: exp.eval.topP, greedy: exp.eval.greedy, maxTokens: exp.eval.maxTokens ?? rl.maxTokens }, exp.eval.seed, at));
    }
    writeRunJson('finished', { finishedAt: new Date().toISOString() });
  }
  return 'finished';
}

/** Marks a run failed in run.json, keeping its last good checkpoint and logs. */
export function recordFailure(dir: string, err: RunFailure, current: RunJson | null): void {
  if (!current) return;
  const failure = err instanceof NonFiniteError ? { step: err.step, message: err.message, tensor: err.tensor } : { step: err.step, message: err.message };
  writeJsonAtomic(join(dir, 'run.json'), { ...current, status: 'failed', failure, updatedAt: new Date().toISOString() });
}
