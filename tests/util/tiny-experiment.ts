// The tiny experiment that the runner, reliability, sweep and cluster tests train for real: a
// 16-wide one-layer GPT, a few SFT steps, GRPO beside the fixture objective that always updates
// (a random policy earns no reward, so GRPO alone would leave the numbers still). Tests override
// top-level fields; a nested field is replaced whole, so spread TINY_EXPERIMENT's to change one key.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PUSH_PLUGIN = join(process.cwd(), 'tests/runs/fixtures/push-objective.ts');

export const TINY_EXPERIMENT = {
  name: 'tiny',
  policy: { dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2, contextLength: 48 },
  tasks: { trainProblems: 64 },
  benchmarks: [{ name: 'arith-id', limit: 4 }],
  objectives: [{ id: 'grpo' }, { module: PUSH_PLUGIN, name: 'push' }] as Record<string, unknown>[],
  seeds: [1],
  sft: { steps: 3, batchSize: 4, warmupSteps: 1 },
  rl: { promptsPerStep: 2, rolloutsPerPrompt: 3, maxTokens: 12, epochs: 2, minibatches: 2, lr: 0.01 },
  budget: { steps: 4 },
  eval: { every: 2, k: 2 },
  checkpointEvery: 2,
  execution: { threads: 1 },
};

/** Writes TINY_EXPERIMENT with `over` applied to `path` and returns the path. */
export function writeTinyExperiment(path: string, over: Record<string, unknown> = {}): string {
  writeFileSync(path, JSON.stringify({ ...TINY_EXPERIMENT, ...over }));
  return path;
}
