// End to end: `rlbench objective list` and the conformance command `rlbench objective eval`
// run as a child process (bin/rlbench.js), from a file and from stdin, and its exit-2 messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../../harness/util/errors.ts';
import { evalObjective, listText, registerObjectiveCommands } from '../../harness/cli/objective.ts';
import { close } from './helpers.ts';

function rlbench(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['bin/rlbench.js', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin ?? '');
  });
}

const dir = mkdtempSync(join(tmpdir(), 'rlbench-objective-'));
const good = {
  objective: 'grpo',
  config: { klCoef: 0 },
  rollouts: [
    { group: 'p0', reward: 1, length: 1, truncated: false, logp: [-1], logpOld: [-1] },
    { group: 'p0', reward: 0, length: 1, truncated: false, logp: [-2], logpOld: [-2] },
  ],
};

test('objective eval: the GRPO [1, 0] example from a file (and the same in process)', async () => {
  const file = join(dir, 'good.json');
  writeFileSync(file, JSON.stringify(good));
  const fromFile = await rlbench(['objective', 'eval', '--input', file]);
  const inProcess = { code: 0, stderr: '', stdout: JSON.stringify(await evalObjective(JSON.stringify(good), 'test')) + '\n' };
  for (const r of [fromFile, inProcess]) {
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { loss: number; grad: number[][]; metrics: Record<string, number> };
    const A = 0.5 / (Math.sqrt(0.5) + 1e-6);
    close(out.loss, 0);
    assert.deepEqual(out.grad.map((g) => g.length), [1, 1]);
    close(out.grad[0]![0]!, -A / 2, 1e-15);
    close(out.grad[1]![0]!, A / 2, 1e-15);
    assert.equal(out.metrics.clipFrac, 0);
  }
  assert.equal(fromFile.stdout, inProcess.stdout);
});

test('objective eval: a plugin named by path, read from stdin', async () => {
  const doc = { ...good, objective: './objectives/examples/reinforce-baseline.ts', config: {} };
  const r = await rlbench(['objective', 'eval'], JSON.stringify(doc));
  assert.equal(r.code, 0, r.stderr);
  // rewards [1, 0]: A = ±0.5, loss = -(0.5 * -1 + -0.5 * -2) / 2, grad = -A / 2
  const out = JSON.parse(r.stdout) as { loss: number; grad: number[][] };
  close(out.loss, -0.25);
  assert.deepEqual(out.grad, [[-0.25], [0.25]]);
});

// Every bad-input message, checked in process (the same code the command runs)...
const BAD: [string, unknown, RegExp][] = [
  ['unknown objective', { ...good, objective: 'ppo' }, /^objective: unknown objective "ppo" \(known: rence, grpo, dapo, online-dpo/],
  ['missing plugin file', { ...good, objective: './nope/objective.ts' }, /^objective: objective plugin \.\/nope\/objective\.ts: file not found/],
  ['unknown setting', { ...good, config: { kl_coef: 0 } }, /^config\.kl_coef: unknown setting \(allowed: clipEps,/],
  ['bad enum', { ...good, config: { lossAgg: 'sum' } }, /^config\.lossAgg: must be one of "seq-mean-token-mean", "token-mean"$/],
  ['length vs logp', { ...good, rollouts: [good.rollouts[0], { ...good.rollouts[1], length: 2 }] }, /^rollouts\[1\]\.logp: has 1 numbers but rollouts\[1\]\.length is 2$/],
  ['logpOld length', { ...good, rollouts: [{ ...good.rollouts[0], logpOld: [-1, -1] }, good.rollouts[1]] }, /^rollouts\[0\]\.logpOld: has 2 numbers but rollouts\[0\]\.length is 1$/],
  ['logpRef length', { ...good, rollouts: [good.rollouts[0], { ...good.rollouts[1], logpRef: [] }] }, /^rollouts\[1\]\.logpRef: has 0 numbers but rollouts\[1\]\.length is 1$/],
  ['missing logpRef', { ...good, config: {} }, /^rollouts\[0\]\.logpRef: missing, but grpo with these settings needs reference log-probs$/],
  ['missing logpOld', { ...good, rollouts: [good.rollouts[0], { ...good.rollouts[1], logpOld: undefined }] }, /^rollouts\[1\]\.logpOld: missing/],
  ['overflow to Infinity', '{"objective":"grpo","config":{"klCoef":0},"rollouts":[{"group":"a","reward":1,"length":1,"logp":[-1],"logpOld":[-1]},{"group":"a","reward":0,"length":1,"logp":[1e999],"logpOld":[-1]}]}', /^rollouts\[1\]\.logp\[0\]: must be a finite number, got null/],
  ['null (NaN written by JSON.stringify)', { ...good, rollouts: [good.rollouts[0], { ...good.rollouts[1], logpOld: [NaN] }] }, /^rollouts\[1\]\.logpOld\[0\]: must be a finite number, got null$/],
  ['non-finite reward', '{"objective":"grpo","config":{"klCoef":0},"rollouts":[{"group":"a","reward":-1e999,"length":0,"logp":[],"logpOld":[]}]}', /^rollouts\[0\]\.reward: must be a finite number/],
  ['bad length', { ...good, rollouts: [{ ...good.rollouts[0], length: -1 }] }, /^rollouts\[0\]\.length: must be a non-negative integer, got -1$/],
  ['missing group', { ...good, rollouts: [good.rollouts[0], { ...good.rollouts[1], group: undefined }] }, /^rollouts\[1\]\.group: must be a string or a number$/],
  ['typo in a rollout field', { ...good, rollouts: [{ ...good.rollouts[0], logp_old: [-1] }] }, /^rollouts\[0\]\.logp_old: unknown field \(allowed: group, reward, length/],
  ['rollouts not an array', { ...good, rollouts: {} }, /^rollouts: must be an array/],
  ['invalid JSON', '{"objective": ', /^stdin: invalid JSON/],
];

test('objective eval: each kind of bad input gets a message naming the field and rollout index', async () => {
  for (const [what, doc, re] of BAD) {
    const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
    await assert.rejects(evalObjective(text, 'stdin'), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${what}: ${String(e)}`);
      assert.match(e.message, re, what);
      return true;
    });
  }
});

// ...and a few through the real command: exit 2, the message on stderr, nothing on stdout.
test('objective eval: bad input exits 2 through bin/rlbench.js', async () => {
  const picks = ['unknown setting', 'missing logpRef', 'overflow to Infinity'];
  const cases = BAD.filter(([what]) => picks.includes(what));
  const results = await Promise.all(cases.map(([, doc]) => rlbench(['objective', 'eval'], typeof doc === 'string' ? doc : JSON.stringify(doc))));
  cases.forEach(([what, , re], i) => {
    const r = results[i]!;
    assert.equal(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
    assert.equal(r.stdout, '', `${what}: nothing on stdout`);
    const msg = r.stderr.replace(/^rlbench: error: /, '');
    assert.notEqual(msg, r.stderr, `${what}: stderr starts with "rlbench: error: "`);
    assert.match(msg.trimEnd(), re, what);
  });
});

test('objective list --json through bin/rlbench.js; text list and eval --help in process', async () => {
  const json = await rlbench(['objective', 'list', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as { id: string; reference: string; defaults: Record<string, unknown> }[];
  assert.deepEqual(list.map((o) => o.id), ['rence', 'grpo', 'dapo', 'online-dpo']);
  assert.equal(list.find((o) => o.id === 'online-dpo')!.defaults.beta, 0.1);
  assert.match(list.find((o) => o.id === 'rence')!.reference, /2601\.22432/);
  const text = listText();
  for (const id of ['rence', 'grpo', 'dapo', 'online-dpo']) assert.match(text, new RegExp(`^${id} — `, 'm'));
  assert.match(text, /maxTokens\s+integer >= 1\s+derived/);
  assert.match(text, /online-dpo — Online DPO\n.*\n  pairs the best against the worst of the K rollouts by default, which is not TRL's OnlineDPOTrainer \(two samples per prompt: pairing "first-two"\)/);
  assert.match(text, /lossAgg\s+"seq-mean-token-mean" \| "token-mean"\s+default "seq-mean-token-mean"/);
  const program = new Command('rlbench');
  registerObjectiveCommands(program);
  const evalCmd = program.commands.find((c) => c.name() === 'objective')!.commands.find((c) => c.name() === 'eval')!;
  let help = '';
  evalCmd.configureOutput({ writeOut: (s) => (help += s) });
  evalCmd.outputHelp();
  assert.match(help, /--input <file>/);
  assert.match(help, /"logpRef"/);
  assert.match(help, /grad\[i\]\[t\] is\s+dLoss\/dlogp\[i\]\[t\]/);
});
