// A Hugging Face checkpoint as a run's policy: the chat prompts, the run checkpoint in float32
// safetensors (a round trip that is bit-identical, checksummed files), the final export in the
// source's dtype, what `rlbench eval` opens, the experiment fields that select it, and the bad
// inputs a dataset experiment can have (each named, nothing written).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openHfPolicy, openModelDir } from '../../harness/runs/policy-source.ts';
import { curriculumPrompts } from '../../harness/runs/prompts.ts';
import { exportHfPolicy } from '../../harness/runs/policy-checkpoint.ts';
import { loadRunCheckpoint, saveRunCheckpoint } from '../../harness/runs/results.ts';
import { runExperimentFile } from '../../harness/runs/runner.ts';
import { validateExperiment } from '../../harness/runs/experiment.ts';
import { loadHfCheckpoint } from '../../harness/engine/hf/checkpoint.ts';
import { f32ToBf16 } from '../../harness/engine/hf/safetensors.ts';
import { resolvePromptTemplate, promptMessages } from '../../harness/tasks/prompt-templates.ts';
import { defaultTokenizer } from '../../harness/tasks/tokenizer.ts';
import { UsageError } from '../../harness/util/errors.ts';
import { copyFixture, FIXTURES, tmp } from '../engine/hf/helpers.ts';

const QWEN2 = FIXTURES.qwen2!;
const root = tmp('hf-policy');
after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the qwen2 fixture without a chat template. */
function withoutTemplate(): string {
  const dir = copyFixture('qwen2');
  const p = join(dir, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(p, 'utf8'));
  delete cfg.chat_template;
  writeFileSync(p, JSON.stringify(cfg));
  return dir;
}

test('chat prompts: the prompt template inside the checkpoint\'s chat template, as transformers would build them', () => {
  const src = openHfPolicy(QWEN2);
  const p = { id: 'p/0', problem: 'What is 17 * 23?', answer: '391' };
  const msgs = promptMessages(resolvePromptTemplate('boxed'), p.problem);
  const want = src.checkpoint.chatTemplate!.encode(msgs, src.checkpoint.tokenizer, { addGenerationPrompt: true });
  assert.deepEqual([...src.prompts.encode(p)], [...want.ids]);
  assert.equal(src.prompts.text(p), want.text);
  assert.match(want.text, /^<\|im_start\|>user\nWhat is 17 \* 23\?\nPlease reason step by step, and put your final answer within \\boxed\{\}\.<\|im_end\|>\n<\|im_start\|>assistant\n$/);
  assert.deepEqual(src.eos, [300, 298]);
  assert.equal(src.pad, 298, 'the tokenizer\'s pad token (<|endoftext|>)');
  assert.deepEqual(src.info.prompts, { kind: 'chat', chatTemplate: 'default', chatTemplateOrigin: join(QWEN2, 'tokenizer_config.json'), template: resolvePromptTemplate('boxed') });
  const sys = openHfPolicy(QWEN2, { promptTemplate: 'boxed-system', chatTemplate: 'chatml' });
  assert.match(sys.prompts.text(p), /^<\|im_start\|>system\nPlease reason step by step.*<\|im_end\|>\n<\|im_start\|>user\nWhat is 17 \* 23\?<\|im_end\|>\n<\|im_start\|>assistant\n$/s);
});

test('a checkpoint without a chat template: the error says how to pass one, on the command line and in an experiment', () => {
  const dir = withoutTemplate();
  assert.throws(() => openHfPolicy(dir), (e: unknown) => e instanceof UsageError && /has no chat template/.test(e.message) && /pass one with --chat-template FILE\|NAME/.test(e.message));
  assert.throws(() => openHfPolicy(dir, { settings: 'experiment' }), (e: unknown) => e instanceof UsageError && /has no chat template/.test(e.message) && /"policy": \{ "chatTemplate": FILE\|NAME \}/.test(e.message));
  assert.doesNotThrow(() => openHfPolicy(dir, { chatTemplate: 'chatml' }));
  assert.throws(() => curriculumPrompts(defaultTokenizer).encode({ id: 'm/1', problem: 'Let $x$ be…', answer: '1' }), /problem m\/1: the built-in GPT's character vocabulary cannot write this prompt .*datasets need a Hugging Face policy/);
});

test('run checkpoints of a Hugging Face policy: float32 safetensors, bit-identical round trip, every file checksummed', async () => {
  const src = openHfPolicy(QWEN2);
  const params = src.loadParams();
  for (let i = 0; i < params.length; i += 7) params[i] = params[i]! + 1e-3 * Math.sin(i); // not representable in BF16
  const m = Float32Array.from(params, (_, i) => i * 1e-7), v = Float32Array.from(params, (_, i) => (i % 13) * 1e-9);
  const run = join(root, 'run');
  const state = { step: 3, cursor: 24, refillCursor: 8, rollouts: 192, tokens: 3000, wallTime: 1.5 };
  await saveRunCheckpoint(run, src.config, params, { t: 3, m, v }, state, QWEN2);
  const ck = join(run, 'checkpoint');
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'policy.json', 'optimizer.bin', 'state.json', 'SHA256SUMS']) assert.ok(existsSync(join(ck, f)), f);
  assert.ok(!existsSync(join(ck, 'policy.onnx')), 'no protobuf');
  assert.match(readFileSync(join(ck, 'config.json'), 'utf8'), /"torch_dtype": "float32"/);
  const sums = readFileSync(join(ck, 'SHA256SUMS'), 'utf8');
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'policy.json', 'optimizer.bin', 'state.json']) assert.match(sums, new RegExp(`  ${f.replace('.', '\\.')}\\n`));
  const back = await loadRunCheckpoint(run);
  assert.ok(back);
  assert.deepEqual(Buffer.from(back.params.buffer), Buffer.from(params.buffer), 'weights bit-identical');
  assert.deepEqual(Buffer.from(back.opt.m.buffer), Buffer.from(m.buffer));
  assert.deepEqual(Buffer.from(back.opt.v.buffer), Buffer.from(v.buffer));
  assert.deepEqual(back.state, state);
  // The checkpoint is a Hugging Face folder in itself (what rlbench eval and transformers read).
  assert.deepEqual(Buffer.from(loadHfCheckpoint(ck).params.buffer), Buffer.from(params.buffer));
  // A damaged weight file is named, with the way out.
  const w = join(ck, 'model.safetensors');
  const bytes = readFileSync(w);
  bytes[bytes.length - 5] ^= 0xff;
  writeFileSync(w, bytes);
  await assert.rejects(loadRunCheckpoint(run), /checkpoint\/model\.safetensors: checksum mismatch: the file is damaged .*--fresh --only run/);
});

test('the final export: a Hugging Face folder in the source dtype (BF16 here), the tokenizer and config carried over', () => {
  const src = openHfPolicy(QWEN2);
  const params = src.loadParams();
  for (let i = 0; i < params.length; i++) params[i] = params[i]! * 1.5;
  const out = join(root, 'model');
  exportHfPolicy(out, src.config, params, QWEN2);
  const back = loadHfCheckpoint(out);
  assert.equal(back.dtype, 'BF16');
  const widen = (x: number) => new Float32Array(new Uint32Array([f32ToBf16(x) << 16]).buffer)[0]!;
  for (let i = 0; i < params.length; i += 97) assert.equal(back.params[i], widen(params[i]!), `entry ${i}`);
  assert.deepEqual(back.eosIds, src.eos);
  assert.equal(back.chatTemplate!.source, src.checkpoint.chatTemplate!.source);
});

test('rlbench eval opens Hugging Face folders, Hugging Face run checkpoints (their context length) and run folders', async () => {
  const a = await openModelDir(QWEN2);
  assert.equal(a.source.kind, 'hf');
  assert.equal(a.source.config.contextLength, 256);
  const src = openHfPolicy(QWEN2, { contextLength: 128 });
  const run = join(root, 'run-ctx');
  await saveRunCheckpoint(run, src.config, src.loadParams(), { t: 0, m: new Float32Array(src.checkpoint.paramCount), v: new Float32Array(src.checkpoint.paramCount) }, { step: 0, cursor: 0, refillCursor: 0, rollouts: 0, tokens: 0, wallTime: 0 }, QWEN2);
  writeFileSync(join(run, 'run.json'), '{}');
  const b = await openModelDir(run);
  assert.equal(b.dir, join(run, 'checkpoint'));
  assert.equal(b.source.config.contextLength, 128, 'the context the run trained with');
  await assert.rejects(openModelDir(join(root, 'nowhere')), /--model .*nowhere: no such directory/);
  mkdirSync(join(root, 'empty'));
  await assert.rejects(openModelDir(join(root, 'empty')), /not a Hugging Face checkpoint folder \(no config\.json\) and not an rlbench checkpoint \(no policy\.json\)/);
});

test('experiment fields: policy.from excludes the GPT fields and SFT; datasets need it and exclude the curriculum', () => {
  const base = { name: 'x', objectives: [{ id: 'grpo' }] };
  const ok = validateExperiment({ ...base, policy: { from: 'm', chatTemplate: 'chatml' }, tasks: { datasets: [{ name: 'math_train' }] }, sft: { steps: 0 } }, 'exp.json');
  assert.deepEqual(ok.policy, { from: 'm', chatTemplate: 'chatml' });
  assert.equal(ok.sft, null);
  assert.deepEqual(ok.tasks, { datasets: [{ name: 'math_train' }], dataSeed: 0 });
  assert.equal(validateExperiment({ ...base, policy: { from: 'm', contextLength: 512 }, sft: null }, 'e').policy.contextLength, 512);
  assert.equal(validateExperiment({ ...base, sft: null }, 'e').sft, null, 'a GPT without SFT starts from its random initialisation');
  const fails = (raw: unknown, re: RegExp) => assert.throws(() => validateExperiment(raw, 'exp.json'), (e: unknown) => e instanceof UsageError && re.test(e.message));
  fails({ ...base, policy: { from: 'm', dModel: 64 } }, /exp\.json: policy\.dModel: not allowed with policy\.from/);
  fails({ ...base, policy: { from: 'm' }, sft: { steps: 100 } }, /exp\.json: sft: a Hugging Face policy \(policy\.from\) starts from its own weights and takes no SFT here; leave "sft" out, or set it to null or \{ "steps": 0 \}/);
  fails({ ...base, policy: { chatTemplate: 'chatml' } }, /policy\.chatTemplate: applies to a Hugging Face policy/);
  fails({ ...base, tasks: { datasets: [{ name: 'math_train' }] } }, /tasks\.datasets: needs a Hugging Face policy/);
  fails({ ...base, policy: { from: 'm' }, tasks: { datasets: [{ name: 'math_train' }], trainProblems: 10 } }, /tasks\.trainProblems: not allowed with tasks\.datasets/);
  fails({ ...base, policy: { from: 'm' }, tasks: { datasets: [{ path: 'x.jsonl', problemField: 'q' }] } }, /tasks\.datasets\[0\]: a "path" source needs "problemField" and "answerField"/);
  fails({ ...base, policy: { from: 'm' }, tasks: { datasets: [{ limit: 3 }] } }, /tasks\.datasets\[0\]: give "name" \(a shared dataset\) or "path"/);
  fails({ ...base, tasks: { grader: 'lenient' } }, /tasks\.grader: must be one of "math", "math-last-number", "math-verify"/);
});

/** A tiny dataset experiment on the qwen2 fixture, written to a file. */
function hfExperiment(name: string, over: Record<string, unknown>): string {
  const exp = {
    name,
    policy: { from: QWEN2 },
    tasks: { datasets: [{ name: 'math_train', limit: 200, integerAnswers: true }], maxPromptTokens: 200 },
    benchmarks: [{ name: 'math500', limit: 10, maxPromptTokens: 230 }],
    objectives: [{ id: 'grpo' }],
    rl: { promptsPerStep: 2, rolloutsPerPrompt: 2, maxTokens: 8 },
    budget: { steps: 1 },
    eval: { k: 1, maxTokens: 8 },
    execution: { threads: 1 },
    ...over,
  };
  const p = join(root, `${name}.json`);
  writeFileSync(p, JSON.stringify(exp));
  return p;
}

test('bad inputs of a dataset experiment are named, and nothing is written', async () => {
  const data = join(root, 'noanswer.jsonl');
  writeFileSync(data, '{"q":"What is 1+1?","a":"2"}\n{"q":"What is 2+2?"}\n');
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['no-answer', { tasks: { datasets: [{ path: data, problemField: 'q', answerField: 'a' }] } }, /noanswer\.jsonl:2: missing field 'a'/],
    ['long-train', { tasks: { datasets: [{ name: 'math_train', limit: 50 }] } }, /tasks: training problem .* prompt of \d+ tokens \+ rl\.maxTokens 8 = \d+ exceeds the context length 256; leave long prompts out with tasks\.maxPromptTokens \(at most 248 here\)/],
    ['long-bench', { benchmarks: [{ name: 'aime24' }] }, /benchmarks\[0\] \(aime24\): problem aime24\/60: prompt of 545 tokens \+ 8 response tokens = 553 exceeds the context length 256; .*benchmarks\[0\]\.maxPromptTokens/],
    ['no-template', { policy: { from: withoutTemplate() } }, /policy\.from: .*has no chat template.*"chatTemplate"/],
    ['bad-dataset', { tasks: { datasets: [{ name: 'dapo_math' }] } }, /tasks\.datasets\[0\]\.name: unknown dataset "dapo_math" \(shared datasets: .*\)/],
    ['bad-bench', { benchmarks: [{ name: 'math5000' }] }, /benchmarks\[0\]\.name: unknown benchmark 'math5000' \(known: .*math500, aime24, aime25, amc23, minerva_math, olympiadbench/],
    ['k-0', { eval: { k: 0, maxTokens: 8 } }, /invalid experiment:\n  eval\.k: must be >= 1, got 0/],
    ['all-left-out', { tasks: { datasets: [{ name: 'math_train', limit: 20 }], maxPromptTokens: 5 } }, /the training pool is empty \(all 20 prompts are longer than tasks\.maxPromptTokens 5\)/],
  ];
  for (const [name, over, re] of cases) {
    const out = join(root, `out-${name}`);
    await assert.rejects(runExperimentFile(hfExperiment(name, over), { outputRoot: out, log: () => {} }), (e: unknown) => e instanceof UsageError && re.test(e.message), name);
    assert.equal(existsSync(out), false, `${name}: nothing written`);
  }
});
