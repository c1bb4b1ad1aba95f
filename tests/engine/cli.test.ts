// `rlbench engine gradcheck|info` end to end, and the execution-provider errors. The command
// lines of each test run in one child process (tests/util/commands.ts), in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { runCommands, type CommandResult } from '../util/commands.ts';

/** `rlbench engine <args>` for each argument list, in one process. */
const cli = (...commands: string[][]) => runCommands(commands.map((args) => ['engine', ...args])) as [CommandResult, CommandResult];

test('engine gradcheck prints the max relative error and tolerance and exits 0 when within it', () => {
  const [r, j] = cli(['gradcheck', '--seed', '2', '--samples', '32'], ['gradcheck', '--seed', '2', '--samples', '32', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /checked 32 parameters/);
  assert.match(r.stdout, /max relative error \d\.\d+e-\d+ at \S+\[\d+\]/);
  assert.match(r.stdout, /tolerance 1\.0e-6: PASS/);
  const res = JSON.parse(j.stdout) as { maxRelErr: number; tolerance: number; ok: boolean; checked: number };
  assert.ok(res.ok && res.maxRelErr < res.tolerance && res.checked === 32);
});

test('engine gradcheck rejects a bad seed with exit 2; engine info lists providers', () => {
  const [bad, info] = cli(['gradcheck', '--seed', 'abc'], ['info', '--json']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /rlbench: error: --seed must be an integer >= 0, got 'abc'/);
  assert.equal(info.status, 0);
  const j = JSON.parse(info.stdout) as { onnxruntime: string; providers: { name: string }[] };
  assert.match(j.onnxruntime, /^\d+\.\d+\.\d+/);
  assert.ok(j.providers.some((p) => p.name === 'cpu'));
});

test('an unavailable execution provider fails with a message saying so and how to install it', async () => {
  const cfg = { vocabSize: 5, contextLength: 4, dModel: 4, nLayers: 1, nHeads: 1, mlpRatio: 1 };
  for (const provider of ['cuda', 'webgpu'] as const) {
    try {
      const e = await createPolicyEngine(cfg, { provider });
      await e.release(); // this machine has it: nothing to report
    } catch (err) {
      assert.ok(err instanceof UsageError, `${provider}: ${(err as Error).message}`);
      assert.match(err.message, new RegExp(`execution provider '${provider}'`));
      assert.match(err.message, provider === 'cuda' ? /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install.js/ : /GPU/);
    }
  }
  await assert.rejects(createPolicyEngine(cfg, { provider: 'tpu' as 'cpu' }), /unknown execution provider 'tpu'/);
  await assert.rejects(createPolicyEngine(cfg, { threads: 0 }), /threads must be a positive integer/);
});
