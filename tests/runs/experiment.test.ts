// Experiment validation: defaults filled, and every bad config fails with a message that names
// the field path and the allowed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateExperiment, resolveObjectives, readExperiment, fieldPath } from '../../harness/runs/experiment.ts';
import { UsageError } from '../../harness/util/errors.ts';

const base = { name: 'x', objectives: [{ id: 'grpo' }] };

function fails(raw: unknown, ...patterns: RegExp[]): void {
  assert.throws(
    () => validateExperiment(raw, 'exp.json'),
    (e: unknown) => {
      assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

test('defaults are filled and the input is not modified', () => {
  const raw = structuredClone(base);
  const e = validateExperiment(raw, 'exp.json');
  assert.deepEqual(raw, base);
  assert.equal(e.rl.rolloutsPerPrompt, 8);
  assert.equal(e.execution.provider, 'cpu');
  assert.deepEqual(e.seeds, [1]);
  assert.deepEqual(e.budget, { steps: 40 });
  assert.equal(e.eval.maxTokens, e.rl.maxTokens);
  assert.deepEqual(e.objectives[0]!.config, {});
});

test('field-level messages: unknown key, enum, range, budget, id/module, required', () => {
  fails({ ...base, rl: { lrr: 1 } }, /exp\.json/, /rl\.lrr: unknown setting; allowed: promptsPerStep, rolloutsPerPrompt/);
  fails({ ...base, execution: { provider: 'tpu' } }, /execution\.provider: must be one of "cpu", "cuda", "webgpu", got "tpu"/);
  fails({ ...base, rl: { lr: -1 } }, /rl\.lr: must be > 0, got -1/);
  fails({ ...base, budget: { steps: 3, tokens: 4 } }, /budget: give exactly one of steps, rollouts, tokens/);
  fails({ ...base, budget: {} }, /budget: give exactly one of steps, rollouts, tokens/);
  fails({ ...base, benchmarks: [{ name: 'arith-id', limt: 3 }] }, /benchmarks\[0\]\.limt: unknown setting; allowed: name, limit, path/);
  fails({ ...base, objectives: [{ id: 'grpo', module: 'a.ts' }] }, /objectives\[0\]: give exactly one of "id"/);
  fails({ objectives: [] }, /name: required/, /objectives: must NOT have fewer than 1 items/);
  fails({ ...base, policy: { dModel: 30, nHeads: 4 } }, /policy\.dModel \(30\) must be divisible by policy\.nHeads \(4\)/);
  fails({ ...base, seeds: [1, 1] }, /seeds: must NOT have duplicate items/);
});

test('objective settings are checked by the objective\'s own schema, with the field path', async () => {
  const bad = validateExperiment({ name: 'x', objectives: [{ id: 'grpo' }, { id: 'dapo', config: { epsLow: 'a' } }] }, 'exp.json');
  await assert.rejects(resolveObjectives(bad, '.', 'exp.json'), /exp\.json: objectives\[1\]\.config\.epsLow: must be number/);
  const unknown = validateExperiment({ name: 'x', objectives: [{ id: 'nope' }] }, 'exp.json');
  await assert.rejects(resolveObjectives(unknown, '.', 'exp.json'), /objectives\[0\]\.id: unknown objective "nope" \(known: rence, grpo, dapo, online-dpo/);
  const dup = validateExperiment({ name: 'x', objectives: [{ id: 'grpo' }, { id: 'grpo', config: { klCoef: 0 } }] }, 'exp.json');
  await assert.rejects(resolveObjectives(dup, '.', 'exp.json'), /objectives\[1\]: run name "grpo" is already used by objectives\[0\]/);
  const named = validateExperiment({ name: 'x', objectives: [{ id: 'grpo' }, { id: 'grpo', name: 'grpo-nokl', config: { klCoef: 0 } }] }, 'exp.json');
  const r = await resolveObjectives(named, '.', 'exp.json');
  assert.deepEqual(r.map((o) => o.name), ['grpo', 'grpo-nokl']);
  assert.equal((named.objectives[1]!.config as { klCoef: number }).klCoef, 0);
  assert.equal((named.objectives[0]!.config as { epsHigh: number }).epsHigh, 0.2, 'resolved settings (derived defaults) replace the raw ones');
});

test('plugins load by module path relative to the experiment file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rlbench-exp-'));
  const path = join(dir, 'e.json');
  const plugin = join(process.cwd(), 'objectives/examples/reinforce-baseline.ts');
  writeFileSync(path, JSON.stringify({ name: 'x', objectives: [{ module: plugin, config: { leaveOneOut: true } }, { id: plugin, name: 'rb2' }] }));
  const e = readExperiment(path);
  const r = await resolveObjectives(e, dir, path);
  assert.deepEqual(r.map((o) => [o.name, o.objective.id]), [['reinforce-baseline', 'reinforce-baseline'], ['rb2', 'reinforce-baseline']]);
  const missing = validateExperiment({ name: 'x', objectives: [{ module: './nowhere.ts' }] }, path);
  await assert.rejects(resolveObjectives(missing, dir, path), /objectives\[0\]\.module: .*file not found/);
  writeFileSync(path, '{ "name": ');
  assert.throws(() => readExperiment(path), /e\.json: not valid JSON/);
  writeFileSync(path, '{\n  "name": "x",\n  "seeds": [1 2]\n}\n');
  assert.throws(() => readExperiment(path), /e\.json:3:15: not valid JSON/);
  assert.throws(() => readExperiment(join(dir, 'none.json')), /cannot read experiment file \(ENOENT\)/);
});

test('fieldPath formats ajv instance paths', () => {
  assert.equal(fieldPath('/objectives/2/config'), 'objectives[2].config');
  assert.equal(fieldPath('', 'name'), 'name');
  assert.equal(fieldPath(''), '(root)');
});
