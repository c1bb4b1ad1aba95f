// The RL trainer: one loop, the same for every objective. Each step is four functions:
//   1. sampleStep: the next promptsPerStep prompts of the seed's stream, K rollouts each at the
//      rollout temperature, graded; the objective's filter (DAPO's dynamic sampling), refilled
//      for up to rl.refillRounds extra rounds from the seed's separate refill stream, so the
//      main stream (and every objective's step s) is the same; every generated rollout counts;
//   2. scoreStep: logpOld (and logpRef when the objective asks) with the teacher-forced graph
//      at the rollout temperature, packed exactly as the first update packs them, so ratios
//      start at exactly 1;
//   3. updateStep: mu epochs over minibatches of whole groups: logprobs -> objective.loss ->
//      gradWeightedLogprob(weights = dL/dlogp at the response positions) -> clip -> AdamW;
//   4. finishStep: the objective's state for the next step, the metrics line, evaluation (every
//      N steps or every N rollouts, and at the end) and the checkpoint.
// The objective only ever sees rollouts and log-probs, and the trainer only the PolicyEngine and
// the run's PromptFormat: the built-in GPT and a Hugging Face checkpoint train through the same
// code. Each step's randomness comes from Rng(seed).fork(step), and the checkpoint holds
// everything else (weights, AdamW moments, both stream cursors, the objective's state), so a
// resumed run repeats an uninterrupted one exactly. What a step holds per parameter: the weights,
// the frozen reference only when the objective needs logpRef (logpOld is computed from the
// behaviour weights before the first update, so it needs no copy), the gradient and AdamW's
// moments (runs/memory.ts, stepBytesPerParam).
import { join } from 'node:path';
import type { Objective, Rollout } from '../../objectives/types.ts';
import type { PolicyEngine } from '../engine/types.ts';
import { AdamW, clipGradNorm, decayMask, learningRate } from '../engine/optim.ts';
import type { Grader, Problem } from '../tasks/types.ts';
import { appendJsonlAtomic, writeJsonAtomic } from '../util/fs.ts';
import { Rng } from '../util/rng.ts';
import { mean } from '../util/stats.ts';
import { packSequences, gatherResponse, scatterResponse, type PackedBatch } from './batch.ts';
import type { PromptStream } from './data.ts';
import type { PromptFormat } from './prompts.ts';
import { evaluate, type EvalPlan, type EvalRow, type PreparedBenchmark } from './evaluate.ts';
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
  /** How problems become prompt ids (the curriculum's, or a chat template's: runs/prompts.ts). */
  prompts: PromptFormat;
  /** The id that pads minibatches (never attended to). */
  pad: number;
  /** The seed's main prompt stream; refills come from stream.refills(). */
  stream: PromptStream;
  trainGrader: Grader;
  /** The initial policy (the SFT weights, or the starting checkpoint): a fresh copy at each call. */
  initialParams: () => Float32Array;
  /** The frozen reference policy, for objectives that need logpRef (null when none does). */
  refParams: Float32Array | null;
  /** The Hugging Face folder whose config and tokenizer checkpoints carry (null for the GPT). */
  hfSource: string | null;
  /** Called once with the final weights when the run finishes (a Hugging Face policy's export). */
  exportPolicy?: (params: Float32Array) => void;
  benches: readonly PreparedBenchmark[];
  /** How the benchmarks are evaluated (each benchmark's own settings in its PreparedBenchmark.plan). */
  evalPlan: EvalPlan;
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

export function budgetFraction(budget: Budget, s: Pick<TrainState, 'step' | 'rollouts' | 'tokens'>): number {
  if ('steps' in budget) return Math.min(1, s.step / budget.steps);
  if ('rollouts' in budget) return Math.min(1, s.rollouts / budget.rollouts);
  return Math.min(1, s.tokens / budget.tokens);
}

/**
 * Whether a step that took the rollout count from `before` to `after` ends at an evaluation:
 * every `every` steps, each time the count crosses a multiple of `everyRollouts` (so runs of
 * every objective are evaluated at about the same compute), and at the end of the budget.
 */
export function evalDue(step: number, before: number, after: number, sched: { every: number; everyRollouts: number }, finished: boolean): boolean {
  if (finished) return true;
  if (sched.every > 0 && step % sched.every === 0) return true;
  return sched.everyRollouts > 0 && Math.floor(before / sched.everyRollouts) < Math.floor(after / sched.everyRollouts);
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

export interface Minibatch {
  rollouts: TrainRollout[];
  packed: PackedBatch;
}

/** What one run carries from step to step (the checkpointed part is `state`, `params`, `opt`). */
interface RunContext {
  spec: RunSpec;
  cfg: unknown;
  params: Float32Array;
  opt: AdamW;
  state: TrainState;
  refills: PromptStream;
  needsRef: boolean;
  refParams: Float32Array | null;
  /** One gradient buffer for the whole run: a fresh one per update is 4 bytes per parameter of new pages each time (2 GB at 0.5B). */
  grad: Float32Array;
  schedule: { lr: number; warmupSteps: number; decay: 'constant' | 'cosine'; minLrRatio: number };
}

// ---- 1. sample, grade, filter, refill --------------------------------------------------------

export interface Sampled {
  /** The groups the objective trains on (at most promptsPerStep, after its filter). */
  kept: TrainRollout[][];
  /** Every rollout generated this step, refills included. */
  generated: TrainRollout[];
  rounds: number;
  /** The stream cursors after this step. */
  cursor: number;
  refillCursor: number;
}

/**
 * Round 0 takes the next promptsPerStep prompts of the main stream; refill rounds (only for an
 * objective with a filter that dropped groups) take theirs from the refill stream.
 */
export async function sampleStep(
  spec: Pick<RunSpec, 'experiment' | 'objective' | 'rollout' | 'prompts' | 'stream' | 'trainGrader'>,
  cfg: unknown, params: Float32Array, stepNo: number, rng: Rng, cursors: { cursor: number; refillCursor: number }, refills: PromptStream,
): Promise<Sampled> {
  const { objective, experiment: exp } = spec;
  const rl = exp.rl;
  const P = rl.promptsPerStep;
  const sampling = { temperature: rl.temperature, topP: rl.topP, maxTokens: rl.maxTokens };
  const kept: TrainRollout[][] = [];
  const generated: TrainRollout[] = [];
  let { cursor, refillCursor } = cursors;
  let rounds = 0;
  for (let r = 0; r <= (objective.filter ? rl.refillRounds : 0); r++) {
    const need = r === 0 ? P : P - kept.length;
    if (need <= 0) break;
    let problems: Problem[];
    if (r === 0) {
      problems = spec.stream.take(cursor, need);
      cursor += need;
    } else {
      problems = refills.take(refillCursor, need);
      refillCursor += need;
    }
    rounds = r + 1;
    const gens = await spec.rollout.generate({ params, prompts: problems.map((p) => spec.prompts.encode(p)), samples: rl.rolloutsPerPrompt, sampling, rng: rng.fork(`round:${r}`), behaviourLogprobs: false });
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
  return { kept: kept.slice(0, P), generated, rounds, cursor, refillCursor };
}

// ---- 2. score: logpOld, logpRef, entropy -------------------------------------------------------

/** Minibatch e of a step: the kept groups shuffled by (step, e) and split into whole groups. */
export function epochMinibatches(kept: TrainRollout[][], m: number, rng: Rng, epoch: number, pad: number): Minibatch[] {
  return partition(rng.fork(epoch).shuffle([...kept]), m).map((gs) => {
    const rollouts = gs.flat();
    return { rollouts, packed: packSequences(rollouts.map((x) => ({ prompt: x.prompt, response: x.tokens })), pad) };
  });
}

/**
 * Sets logpOld and entropy (and logpRef when asked) on every rollout of `parts`, at the
 * rollout temperature. Returns the first minibatch's log-probs, which are the first update's
 * log-probs exactly (same weights, same packing), and the entropies.
 */
export async function scoreStep(policy: PolicyEngine, params: Float32Array, parts: Minibatch[], temperature: number, refParams: Float32Array | null): Promise<{ firstLogp: Float32Array[] | null; entropies: number[] }> {
  let firstLogp: Float32Array[] | null = null;
  const entropies: number[] = [];
  for (const [i, mb] of parts.entries()) {
    const { logp, entropy } = await policy.logprobs(params, mb.packed.batch, { temperature });
    const lp = gatherResponse(mb.packed, logp);
    const en = gatherResponse(mb.packed, entropy);
    mb.rollouts.forEach((x, j) => {
      x.logpOld = lp[j]!;
      x.entropy = en[j]!;
      for (const v of en[j]!) entropies.push(v);
    });
    if (i === 0) firstLogp = lp;
    if (refParams) {
      const ref = await policy.logprobs(refParams, mb.packed.batch, { temperature });
      gatherResponse(mb.packed, ref.logp).forEach((v, j) => (mb.rollouts[j]!.logpRef = v));
    }
  }
  return { firstLogp, entropies };
}

// ---- 3. update: mu epochs of minibatch steps ----------------------------------------------------

interface Updated {
  losses: number[];
  gradNorms: number[];
  objMetrics: Map<string, number[]>;
  lr: number;
  skipped: number;
}

async function updateStep(ctx: RunContext, stepNo: number, kept: TrainRollout[][], firstParts: Minibatch[], firstLogp: Float32Array[] | null, groupsRng: Rng): Promise<Updated> {
  const { spec, cfg, opt, state } = ctx;
  const { objective, policy } = spec;
  const rl = spec.experiment.rl;
  const losses: number[] = [];
  const gradNorms: number[] = [];
  const objMetrics = new Map<string, number[]>();
  let lr = learningRate(ctx.schedule, opt.steps, budgetFraction(spec.experiment.budget, state));
  let skipped = 0;
  const fail = (tensor: string, message: string): never => {
    throw new NonFiniteError(stepNo, tensor, `step ${stepNo}, objective ${objective.id}: ${message}`);
  };
  for (let e = 0; e < rl.epochs; e++) {
    const parts = e === 0 ? firstParts : epochMinibatches(kept, rl.minibatches, groupsRng, e, spec.pad);
    for (const [i, mb] of parts.entries()) {
      // At the behaviour weights the first minibatch's log-probs are logpOld itself.
      let logp: readonly Float32Array[];
      if (e === 0 && i === 0 && firstLogp) logp = firstLogp;
      else logp = gatherResponse(mb.packed, (await policy.logprobs(ctx.params, mb.packed.batch, { temperature: rl.temperature })).logp);
      logp.forEach((l, j) => {
        const bad = firstNonFinite(l);
        if (bad >= 0) fail('logp', `non-finite policy log-prob (rollout ${j} of minibatch ${i}, token ${bad})`);
      });
      const res = callObjective(objective, stepNo, 'loss', () => objective.loss(mb.rollouts, logp, cfg, state.objectiveState));
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
      const { grad } = await policy.gradWeightedLogprob(ctx.params, mb.packed.batch, weights, { temperature: rl.temperature, into: ctx.grad });
      const clip = clipGradNorm(grad, rl.gradClip);
      if (!clip.finite) {
        const bad = firstNonFinite(grad);
        const ps = policy.params.find((p) => bad >= p.offset && bad < p.offset + p.size);
        fail(`param-grad:${ps?.name ?? bad}`, `non-finite parameter gradient in ${ps?.name ?? `entry ${bad}`} (epoch ${e}, minibatch ${i})`);
      }
      gradNorms.push(clip.norm);
      lr = learningRate(ctx.schedule, opt.steps, budgetFraction(spec.experiment.budget, state));
      opt.step(ctx.params, grad, lr);
      const badP = firstNonFinite(ctx.params);
      if (badP >= 0) fail('params', `non-finite parameters after the update (entry ${badP})`);
    }
  }
  return { losses, gradNorms, objMetrics, lr, skipped };
}

// ---- 4. finish: objective state, metrics line, evaluation, checkpoint -----------------------------

function metricsRow(ctx: RunContext, stepNo: number, s: Sampled, entropies: number[], u: Updated, objMeans: Record<string, number>, times: { sample: number; score: number; update: number }): Record<string, number> {
  const { generated, kept } = s;
  const K = ctx.spec.experiment.rl.rolloutsPerPrompt;
  const groupsSolved = new Set(generated.filter((g) => g.correct).map((g) => g.group)).size;
  const row: Record<string, number> = {
    step: stepNo,
    rollouts: ctx.state.rollouts,
    tokens: ctx.state.tokens,
    wallTime: ctx.state.wallTime,
    reward: mean(generated.map((g) => g.reward)),
    accuracy: mean(generated.map((g) => (g.correct ? 1 : 0))),
    responseLength: mean(generated.map((g) => g.length)),
    truncatedFrac: mean(generated.map((g) => (g.truncated ? 1 : 0))),
    solvedFrac: groupsSolved / (generated.length / K),
    entropy: mean(entropies),
    gradNorm: mean(u.gradNorms),
    lr: u.lr,
    loss: mean(u.losses),
    promptsSampled: generated.length / K,
    groupsKept: kept.length,
    samplingRounds: s.rounds,
    updates: u.gradNorms.length,
    skippedUpdates: u.skipped,
    'time/sample': times.sample,
    'time/score': times.score,
    'time/update': times.update,
  };
  for (const [k, v] of Object.entries(objMeans)) row[`obj/${k}`] = v;
  return row;
}

/** Opens a run: resumes from its checkpoint (dropping log lines past it) or starts from the SFT weights. */
async function openRun(spec: RunSpec): Promise<{ ctx: RunContext; startedAt: string }> {
  const { experiment: exp, dir, objective, objectiveConfig: cfg, policy } = spec;
  const rl = exp.rl;
  const metricsPath = join(dir, 'metrics.jsonl');
  const evalPath = join(dir, 'eval.jsonl');
  const opt = new AdamW(policy.paramCount, decayMask(policy.params, policy.paramCount), { beta1: rl.beta1, beta2: rl.beta2, weightDecay: rl.weightDecay });
  let params: Float32Array;
  let state: TrainState;
  let startedAt = new Date().toISOString();
  const resumed = await loadRunCheckpoint(dir);
  if (resumed) {
    params = resumed.params;
    opt.importState(resumed.opt, { adopt: true });
    state = resumed.state;
    // Logs may hold lines written after the checkpoint (a crash mid-interval): drop them, the
    // resumed run writes them again, identically.
    writeJsonl(metricsPath, readJsonl<{ step: number }>(metricsPath).filter((r) => r.step <= state.step));
    writeJsonl(evalPath, readJsonl<{ step: number }>(evalPath).filter((r) => r.step <= state.step));
    startedAt = readJson<RunJson>(join(dir, 'run.json'))?.startedAt ?? startedAt;
    spec.onLog?.(`${spec.run}: resuming from step ${state.step}`);
  } else {
    params = spec.initialParams();
    const objectiveState = objective.initialState ? callObjective(objective, 0, 'initialState', () => objective.initialState!(cfg)) : undefined;
    state = { step: 0, cursor: 0, refillCursor: 0, rollouts: 0, tokens: 0, wallTime: 0, ...(objectiveState ? { objectiveState } : {}) };
    writeJsonl(metricsPath, []);
    writeJsonl(evalPath, spec.initialEval.map((r) => ({ ...r })));
  }
  const needsRef = objective.needsReference(cfg);
  if (needsRef && spec.refParams === null) throw new Error(`${spec.run}: objective ${objective.id} needs the reference policy, but none was given`);
  const ctx: RunContext = {
    spec, cfg, params, opt, state,
    refills: spec.stream.refills(),
    needsRef,
    refParams: spec.refParams,
    grad: new Float32Array(params.length),
    schedule: { lr: rl.lr, warmupSteps: rl.warmupSteps, decay: rl.decay, minLrRatio: rl.minLrRatio },
  };
  return { ctx, startedAt };
}

/**
 * Trains one run to its budget, resuming from its checkpoint when one exists. Returns its
 * final status; a non-finite loss or gradient ends the run as "failed" with a diagnostic in
 * run.json and leaves the last good checkpoint in place.
 */
export async function trainRun(spec: RunSpec): Promise<'finished' | 'failed'> {
  const { experiment: exp, dir, objective, rollout } = spec;
  const rl = exp.rl;
  const totalSteps = plannedSteps(exp.budget, exp);
  const { ctx, startedAt } = await openRun(spec);
  const { state } = ctx;
  const writeRunJson = (status: RunJson['status'], extra: Partial<RunJson> = {}) => {
    writeJsonAtomic(join(dir, 'run.json'), {
      ...spec.runJsonBase,
      run: spec.run, objective: spec.objectiveInfo, seed: spec.seed, status,
      step: state.step, totalSteps, rollouts: state.rollouts, tokens: state.tokens, wallTime: state.wallTime,
      startedAt, updatedAt: new Date().toISOString(),
      ...extra,
    } satisfies RunJson);
  };
  writeRunJson('running');
  const startFraction = budgetFraction(exp.budget, state);
  const sessionStartStep = state.step;
  const sessionStart = performance.now();

  while (budgetFraction(exp.budget, state) < 1) {
    const stepNo = state.step + 1;
    const t0 = performance.now();
    const rng = new Rng(spec.seed).fork(`step:${stepNo}`);

    const sampled = await sampleStep(spec, ctx.cfg, ctx.params, stepNo, rng, state, ctx.refills);
    // Compute is counted as soon as it is spent (the learning-rate schedule of a rollout or
    // token budget sees this step's rollouts).
    const rolloutsBefore = state.rollouts;
    state.cursor = sampled.cursor;
    state.refillCursor = sampled.refillCursor;
    state.rollouts += sampled.generated.length;
    for (const g of sampled.generated) state.tokens += g.tokens.length;
    const tSampled = performance.now();
    const groupsRng = rng.fork('minibatches');
    const firstParts = epochMinibatches(sampled.kept, rl.minibatches, groupsRng, 0, spec.pad);
    const { firstLogp, entropies } = await scoreStep(spec.policy, ctx.params, firstParts, rl.temperature, ctx.needsRef ? ctx.refParams : null);
    const tScored = performance.now();
    const updated = await updateStep(ctx, stepNo, sampled.kept, firstParts, firstLogp, groupsRng);
    const tDone = performance.now();

    // The step is complete: advance the state, then log, evaluate and checkpoint.
    const objMeans: Record<string, number> = {};
    for (const [k, v] of updated.objMetrics) objMeans[k] = mean(v);
    state.step = stepNo;
    state.wallTime += (tDone - t0) / 1000;
    if (objective.nextState && state.objectiveState) {
      const prev = state.objectiveState;
      state.objectiveState = callObjective(objective, stepNo, 'nextState', () => objective.nextState!(prev, objMeans, ctx.cfg));
    }
    const row = metricsRow(ctx, stepNo, sampled, entropies, updated, objMeans, { sample: (tSampled - t0) / 1000, score: (tScored - tSampled) / 1000, update: (tDone - tScored) / 1000 });
    appendJsonlAtomic(join(dir, 'metrics.jsonl'), [finiteOnly(row)]);

    const finished = budgetFraction(exp.budget, state) >= 1;
    const due = evalDue(stepNo, rolloutsBefore, state.rollouts, { every: exp.eval.every, everyRollouts: exp.eval.everyRollouts }, finished);
    if (due) {
      const rows = await evaluate(rollout, ctx.params, spec.benches, spec.evalPlan, exp.eval.seed, {
        step: stepNo, rollouts: state.rollouts, tokens: state.tokens, wallTime: state.wallTime,
      });
      appendJsonlAtomic(join(dir, 'eval.jsonl'), rows);
      spec.onLog?.(`${spec.run}: eval at step ${stepNo}: ${rows.map((r) => `${r.benchmark} avg@${r.k} ${r.avgAtK.toFixed(3)} greedy ${r.greedy?.toFixed(3) ?? '-'}`).join(', ')}`);
    }
    if (due || stepNo % spec.checkpointEvery === 0) {
      await saveRunCheckpoint(dir, spec.policy.config, ctx.params, ctx.opt.stateView(), state, spec.hfSource);
      if (finished) spec.exportPolicy?.(ctx.params);
      writeRunJson(finished ? 'finished' : 'running', finished ? { finishedAt: new Date().toISOString() } : {});
    }
    spec.onProgress?.({ run: spec.run, step: stepNo, totalSteps, fraction: budgetFraction(exp.budget, state), reward: row.reward!, accuracy: row.accuracy!, elapsed: (performance.now() - sessionStart) / 1000, startFraction });
    spec.afterStep?.(stepNo);
  }
  if (state.step === sessionStartStep) {
    // Nothing to train this session: a run with no budget, or one killed after its final
    // checkpoint but before its final run.json. Finish it. Its final evaluation was written before
    // that checkpoint; evaluate only if those rows are missing.
    const evalPath = join(dir, 'eval.jsonl');
    if (state.step > 0 && !readJsonl<{ step: number }>(evalPath).some((r) => r.step === state.step)) {
      const at = { step: state.step, rollouts: state.rollouts, tokens: state.tokens, wallTime: state.wallTime };
      appendJsonlAtomic(evalPath, await evaluate(rollout, ctx.params, spec.benches, spec.evalPlan, exp.eval.seed, at));
    }
    // Killed after the final checkpoint but before the export: export now (it is replaced whole).
    if (state.step > 0) spec.exportPolicy?.(ctx.params);
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
