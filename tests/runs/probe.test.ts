// The same-rollout gradient probe on a tiny real policy: one shared batch, every objective's
// per-rollout weights and parameter gradient. Checks what can be checked by hand: the cosine
// of a gradient with itself (and with a copy of the same objective) is 1; GRPO's weights are
// positive on correct and negative on incorrect rollouts of mixed groups and 0 on uniform
// ones; ReNCE and online DPO push the correct rollouts up; the weights are −Σ_t dL/dlogp; and
// the CLI writes probe.json that the report turns into a section.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { saveCheckpoint } from '../../harness/engine/checkpoint.ts';
import type { PolicyConfig, PolicyEngine } from '../../harness/engine/types.ts';
import { defaultTokenizer as tok } from '../../harness/tasks/tokenizer.ts';
import { trainingProblems } from '../../harness/tasks/curriculum.ts';
import { RolloutEngine } from '../../harness/runs/rollout.ts';
import { cosine, probeObjectives } from '../../harness/runs/probe.ts';
import { getObjective, resolveObjectiveConfig } from '../../objectives/registry.ts';
import type { ResolvedObjective } from '../../harness/runs/experiment.ts';
import { spawnSync } from 'node:child_process';
import { generateReport } from '../../harness/report/generate.ts';

const cfg: PolicyConfig = { vocabSize: tok.vocabSize, contextLength: 32, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2 };
let policy: PolicyEngine;
before(async () => { policy = await createPolicyEngine(cfg, { threads: 1 }); });
after(async () => policy.release());

/** Correct when the response (EOS excluded) has an even number of characters: mixed groups on any policy. */
const evenGrader = { id: 'even-length', grade: (response: string) => ({ correct: response.length % 2 === 0, extracted: response }) };

const resolve = (name: string, id: string, raw: Record<string, unknown> = {}): ResolvedObjective => {
  const objective = getObjective(id);
  return { name, objective, config: resolveObjectiveConfig(objective, raw, name, { maxTokens: 8 }) };
};

test('one batch, every objective: weights by correctness, gradient norms and cosines', async () => {
  const params = policy.initParams(4).map((x, i) => x + 0.1 * Math.cos(i));
  const objectives = [resolve('grpo', 'grpo', { klCoef: 0 }), resolve('grpo-copy', 'grpo', { klCoef: 0 }), resolve('rence', 'rence'), resolve('dapo', 'dapo'), resolve('online-dpo', 'online-dpo')];
  const r = await probeObjectives({
    policy, rollout: new RolloutEngine(policy, { eos: tok.eos, pad: tok.pad, detokenize: (ids) => tok.decode(ids) }), tokenizer: tok, grader: evenGrader,
    params, refParams: params, problems: trainingProblems(0, 40).slice(0, 6), objectives,
    sampling: { rolloutsPerPrompt: 4, temperature: 1, topP: 1, maxTokens: 8 }, seed: 3, checkpoint: 'test', experiment: 'probe-test',
  });
  assert.equal(r.rollouts.length, 24);
  const nCorrect = r.rollouts.filter((x) => x.correct).length;
  assert.ok(nCorrect > 0 && nCorrect < 24, `mixed rewards (${nCorrect} of 24 correct)`);
  // Cosines: 1 on the diagonal and between two copies of one objective.
  r.cosine.forEach((row, i) => assert.ok(Math.abs(row[i]! - 1) < 1e-6, `cos(${i}, ${i}) = ${row[i]}`));
  assert.ok(Math.abs(r.cosine[0]![1]! - 1) < 1e-6);
  assert.deepEqual(r.cosine.map((row, i) => row.map((c, j) => c === r.cosine[j]![i])), r.cosine.map((row) => row.map(() => true)), 'symmetric');
  // GRPO: in a mixed group the correct rollouts get A > 0 (weight > 0), incorrect A < 0; uniform groups 0.
  const grpo = r.objectives[0]!;
  const mixed = new Set(r.rollouts.map((x) => x.prompt).filter((p) => { const g = r.rollouts.filter((x) => x.prompt === p); return g.some((x) => x.correct) && g.some((x) => !x.correct); }));
  assert.ok(mixed.size > 0, 'some mixed group');
  r.rollouts.forEach((x, i) => {
    const w = grpo.weights[i]!;
    if (!mixed.has(x.prompt)) assert.equal(w, 0, `uniform group: rollout ${i}`);
    else if (x.correct) assert.ok(w > 0, `GRPO weight of correct rollout ${i} is ${w}`);
    else assert.ok(w < 0, `GRPO weight of incorrect rollout ${i} is ${w}`);
  });
  assert.equal(grpo.contrast, 1);
  assert.ok(grpo.correct.mean > 0 && grpo.incorrect.mean < 0);
  // ReNCE, DAPO and online DPO also push correct rollouts up and incorrect ones down.
  for (const o of r.objectives.slice(2)) {
    assert.ok(o.correct.mean > 0, `${o.name}: mean weight on correct rollouts ${o.correct.mean}`);
    assert.ok(o.incorrect.mean < 0, `${o.name}: mean weight on incorrect rollouts ${o.incorrect.mean}`);
    assert.ok(o.gradNorm > 0);
  }
  // The weights are −Σ_t dL/dlogp of the objective's own loss on the same batch.
  assert.ok(Math.abs(grpo.gradNorm - r.objectives[1]!.gradNorm) < 1e-9);
});

test('cosine: null when a gradient is zero', () => {
  assert.equal(cosine(new Float32Array([0, 0]), new Float32Array([1, 0])), null);
  assert.ok(Math.abs(cosine(new Float32Array([1, 2]), new Float32Array([-2, -4]))! + 1) < 1e-12);
});

test('rlbench probe writes probe.json beside the results, and the report shows it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'rlbench-probe-'));
  const ck = join(root, 'ck');
  mkdirSync(ck);
  await saveCheckpoint(ck, cfg, policy.initParams(1));
  const expPath = join(root, 'exp.json');
  writeFileSync(expPath, JSON.stringify({
    name: 'probe-cli', output: join(root, 'results'), policy: { dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2, contextLength: 32 },
    objectives: [{ id: 'grpo' }, { id: 'rence' }], tasks: { trainProblems: 40 }, rl: { promptsPerStep: 4, rolloutsPerPrompt: 2, maxTokens: 6 }, execution: { threads: 1 },
  }));
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'probe', ...args], { encoding: 'utf8' });
  const ok = cli('--checkpoint', ck, '--experiment', expPath, '--prompts', '3');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /probe: 3 prompts × 2 rollouts/);
  assert.match(ok.stdout, /gradient cosines:/);
  const probe = JSON.parse(readFileSync(join(root, 'results', 'probe-cli', 'probe.json'), 'utf8'));
  assert.equal(probe.format, 'rlbench-probe/1');
  assert.deepEqual(probe.objectives.map((o: { name: string }) => o.name), ['grpo', 'rence']);
  // A results folder with a run and the probe gets the probe section.
  const run = join(root, 'results', 'probe-cli', 'grpo-s1');
  mkdirSync(run);
  writeFileSync(join(run, 'eval.jsonl'), '{"step":0,"benchmark":"b","avgAtK":0.5}\n');
  const rep = await generateReport(join(root, 'results', 'probe-cli'), { outDir: join(root, 'report') });
  assert.match(readFileSync(join(rep.outDir, 'index.html'), 'utf8'), /Same-rollout gradient probe/);
  const bad = cli('--checkpoint', join(root, 'nope'), '--experiment', expPath);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /loadCheckpoint: .*nope\/policy\.json not found/);
});
