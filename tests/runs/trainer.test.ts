// The trainer's fairness and exactness guarantees, one by one: refills come from their own
// stream (every objective's step s starts from the same prompts); logpOld is computed at the
// rollout temperature and equals the log-probs the first update computes (ratios start at 1);
// the compute-matched evaluation schedule; and, end to end on a tiny experiment, a rollout
// budget, DAPO's cursors, and an objective's state surviving an interrupted run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import type { PolicyEngine } from '../../harness/engine/types.ts';
import { defaultTokenizer as tok } from '../../harness/tasks/tokenizer.ts';
import { trainingProblems } from '../../harness/tasks/curriculum.ts';
import { mathGrader } from '../../harness/tasks/grading/grader.ts';
import { PromptStream, encodePrompt } from '../../harness/runs/data.ts';
import { RolloutEngine, type GenerateRequest, type Generation } from '../../harness/runs/rollout.ts';
import { epochMinibatches, evalDue, sampleStep, scoreStep, type TrainRollout } from '../../harness/runs/trainer.ts';
import { curriculumPrompts } from '../../harness/runs/prompts.ts';
import { gatherResponse } from '../../harness/runs/batch.ts';
import { validateExperiment } from '../../harness/runs/experiment.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { readJsonl } from '../../harness/runs/results.ts';
import { Rng } from '../../harness/util/rng.ts';
import type { Objective } from '../../objectives/types.ts';

const pool = trainingProblems(0, 50);
const key = (p: Int32Array) => tok.decode(p.subarray(1));

/** A generator that records the prompts it was asked for and answers every one with EOS. */
function recordingEngine(): { engine: RolloutEngine; asked: string[][] } {
  const asked: string[][] = [];
  const engine = {
    async generate(req: GenerateRequest): Promise<Generation[]> {
      asked.push(req.prompts.map(key));
      return req.prompts.flatMap((prompt, promptIndex) => Array.from({ length: req.samples }, (_, sample) => ({ promptIndex, sample, prompt, tokens: Int32Array.of(tok.eos), sampleLogp: Float32Array.of(0), text: '', truncated: false })));
    },
  } as unknown as RolloutEngine;
  return { engine, asked };
}

const dropAll: Objective = { id: 'drop-all', title: 'drops every group', reference: 'test', schema: { type: 'object', additionalProperties: false }, needsReference: () => false, filter: () => [], loss: () => ({ loss: 0, grad: [], metrics: {} }) };
const keepAll: Objective = { ...dropAll, id: 'keep-all', filter: undefined };

test('refills come from the refill stream: every objective\'s step s starts from the same prompts', async () => {
  const exp = validateExperiment({ name: 'x', objectives: [{ id: 'grpo' }], rl: { promptsPerStep: 3, rolloutsPerPrompt: 2, maxTokens: 4, refillRounds: 2 } }, 'test');
  const stream = new PromptStream(pool, 5);
  const refills = stream.refills();
  const run = async (objective: Objective) => {
    const { engine, asked } = recordingEngine();
    let cursors = { cursor: 0, refillCursor: 0 };
    for (let step = 1; step <= 3; step++) {
      const s = await sampleStep({ experiment: exp, objective, rollout: engine, prompts: curriculumPrompts(tok), stream, trainGrader: mathGrader }, {}, new Float32Array(0), step, new Rng(1).fork(step), cursors, refills);
      cursors = { cursor: s.cursor, refillCursor: s.refillCursor };
    }
    return { asked, cursors };
  };
  const plain = await run(keepAll);
  const filtering = await run(dropAll);
  const main = (n: number) => stream.take(0, n).map((p) => key(encodePrompt(tok, p)));
  // The plain objective: one round of 3 prompts per step, straight down the main stream.
  assert.deepEqual(plain.asked, [main(3), main(6).slice(3), main(9).slice(6)]);
  assert.deepEqual(plain.cursors, { cursor: 9, refillCursor: 0 });
  // The filtering one: each step's first round is the same 3 main prompts; its two refill
  // rounds take 3 prompts each from the refill stream, which never moves the main cursor.
  assert.deepEqual(filtering.asked.filter((_, i) => i % 3 === 0), plain.asked);
  const refill = refills.take(0, 18).map((p) => key(encodePrompt(tok, p)));
  assert.deepEqual(filtering.asked.filter((_, i) => i % 3 !== 0), [0, 1, 2, 3, 4, 5].map((r) => refill.slice(3 * r, 3 * r + 3)));
  assert.deepEqual(filtering.cursors, { cursor: 9, refillCursor: 18 });
  assert.notDeepEqual(refill.slice(0, 9), main(9), 'the refill stream is its own order');
});

test('the compute-matched schedule: an evaluation each time the rollouts cross a multiple, and at the end', () => {
  const sched = { every: 0, everyRollouts: 1000 };
  assert.equal(evalDue(3, 900, 1000, sched, false), true);
  assert.equal(evalDue(3, 1000, 1256, sched, false), false);
  assert.equal(evalDue(4, 1900, 2300, sched, false), true);
  assert.equal(evalDue(4, 100, 300, sched, true), true, 'the end of the budget');
  assert.equal(evalDue(10, 100, 300, { every: 5, everyRollouts: 0 }, false), true);
  assert.equal(evalDue(11, 100, 300, { every: 5, everyRollouts: 0 }, false), false);
});

let policy: PolicyEngine;
before(async () => {
  policy = await createPolicyEngine({ vocabSize: tok.vocabSize, contextLength: 32, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2 }, { threads: 1 });
});
after(async () => policy.release());

test('logpOld is computed at the rollout temperature and is exactly what the update then computes', async () => {
  const params = policy.initParams(2).map((x, i) => x + 0.05 * Math.sin(i));
  const rollout = new RolloutEngine(policy, { eos: tok.eos, pad: tok.pad, detokenize: (ids) => tok.decode(ids) });
  const T = 0.7;
  const gens = await rollout.generate({ params, prompts: pool.slice(0, 4).map((p) => encodePrompt(tok, p)), samples: 3, sampling: { temperature: T, topP: 1, maxTokens: 8 }, rng: new Rng(3), behaviourLogprobs: false });
  const groups: TrainRollout[][] = [0, 1, 2, 3].map(() => []);
  for (const g of gens) groups[g.promptIndex]!.push({ group: String(g.promptIndex), length: g.tokens.length, tokens: g.tokens, prompt: g.prompt, text: g.text, logpOld: new Float32Array(0), reward: 0, correct: false, truncated: g.truncated });
  const parts = epochMinibatches(groups, 2, new Rng(9), 0, tok.pad);
  const { firstLogp } = await scoreStep(policy, params, parts, T, params);
  for (const [i, mb] of parts.entries()) {
    // What updateStep computes for this minibatch at the same weights: bit for bit logpOld.
    const again = gatherResponse(mb.packed, (await policy.logprobs(params, mb.packed.batch, { temperature: T })).logp);
    mb.rollouts.forEach((r, j) => {
      assert.deepEqual(r.logpOld, again[j]);
      assert.deepEqual(r.logpRef, again[j], 'reference at the same weights and temperature');
      for (let t = 0; t < r.length; t++) assert.equal(Math.exp(again[j]![t]! - (r.logpOld as Float32Array)[t]!), 1, 'ratio exactly 1');
    });
    if (i === 0) assert.deepEqual(firstLogp, again);
    // And the temperature is applied: at T = 1 the log-probs differ.
    const atOne = gatherResponse(mb.packed, (await policy.logprobs(params, mb.packed.batch)).logp);
    assert.notDeepEqual(atOne, again);
  }
});

// ---- end to end -------------------------------------------------------------------------------

const root = mkdtempSync(join(tmpdir(), 'rlbench-trainer-'));
const plugin = join(process.cwd(), 'tests/runs/fixtures/push-objective.ts');

function experiment(over: Record<string, unknown>): string {
  const exp = {
    name: 'compute',
    policy: { dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2, contextLength: 48 },
    tasks: { trainProblems: 64 },
    benchmarks: [{ name: 'arith-id', limit: 3 }],
    seeds: [1],
    sft: { steps: 2, batchSize: 4, warmupSteps: 1 },
    rl: { promptsPerStep: 2, rolloutsPerPrompt: 2, maxTokens: 10, epochs: 1, minibatches: 2, lr: 0.01, refillRounds: 1, temperature: 0.9 },
    eval: { every: 0, k: 2, greedy: false },
    checkpointEvery: 1,
    execution: { threads: 1 },
    ...over,
  };
  const path = join(root, `exp-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(exp));
  return path;
}

test('a rollout budget with the compute-matched schedule: DAPO refills from its own stream, evaluations at the crossings', async () => {
  // The tiny random policy never answers correctly, so DAPO drops every group and refills once per step.
  const path = experiment({ objectives: [{ id: 'grpo' }, { id: 'dapo' }], budget: { rollouts: 24 }, eval: { every: 0, everyRollouts: 12, k: 2, greedy: false } });
  await runExperimentFile(path, { outputRoot: root, log: () => {} });
  const dir = join(root, 'compute');
  const state = (run: string) => JSON.parse(readFileSync(join(dir, run, 'checkpoint', 'state.json'), 'utf8'));
  const grpo = state('grpo-s1');
  const dapo = state('dapo-s1');
  assert.deepEqual([grpo.step, grpo.rollouts, grpo.cursor, grpo.refillCursor], [6, 24, 12, 0]);
  // DAPO: 4 + 4 rollouts a step, so 3 steps reach 24; its main cursor moved 2 prompts a step.
  assert.deepEqual([dapo.step, dapo.rollouts, dapo.cursor, dapo.refillCursor], [3, 24, 6, 6]);
  const evals = (run: string) => readJsonl<{ step: number; rollouts: number }>(join(dir, run, 'eval.jsonl')).map((e) => e.rollouts);
  assert.deepEqual(evals('grpo-s1'), [0, 12, 24]);
  assert.deepEqual(evals('dapo-s1'), [0, 16, 24]);
  const rj = JSON.parse(readFileSync(join(dir, 'dapo-s1', 'run.json'), 'utf8'));
  assert.equal(rj.objective.config.maxTokens, 10, 'DAPO\'s maxTokens comes from rl.maxTokens');
  assert.equal(rj.objective.metricLabels.groupsFiltered, 'groups filtered (all correct or all wrong)');
  assert.match(rj.isa, /^x86_64: |^arm64: |: /);
});

test('an objective\'s state is checkpointed: an interrupted run resumes to exactly the uninterrupted numbers', async () => {
  const path = experiment({ name: 'stateful', objectives: [{ module: plugin, name: 'push', config: { stateful: true } }], budget: { steps: 4 }, checkpointEvery: 2 });
  const clean = join(root, 'clean');
  await runExperimentFile(path, { outputRoot: clean, log: () => {} });
  const crashed = join(root, 'crashed');
  await assert.rejects(runExperimentFile(path, { outputRoot: crashed, log: () => {}, afterStep: (_run, step) => { if (step === 3) throw new Error('crash'); } }), /crash/);
  const mid = JSON.parse(readFileSync(join(crashed, 'stateful', 'push-s1', 'checkpoint', 'state.json'), 'utf8'));
  assert.deepEqual([mid.step, mid.objectiveState], [2, { s: 2 }]);
  await runExperimentFile(path, { outputRoot: crashed, log: () => {} });
  const strip = (d: string) => readJsonl<Record<string, unknown>>(join(d, 'stateful', 'push-s1', 'metrics.jsonl')).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'wallTime' && !k.startsWith('time/'))));
  const a = strip(clean);
  assert.deepEqual(a.map((r) => r['obj/stateS']), [0, 1, 2, 3]);
  assert.deepEqual(strip(crashed), a);
  const final = JSON.parse(readFileSync(join(clean, 'stateful', 'push-s1', 'checkpoint', 'state.json'), 'utf8'));
  assert.deepEqual(final.objectiveState, { s: 4 });
});
