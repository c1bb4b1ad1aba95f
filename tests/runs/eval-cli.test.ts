// `rlbench eval` on the tiny fixtures: the per-benchmark defaults, the summary (table and JSON),
// the per-problem responses (--out), greedy-only decoding, JSONL benchmarks, rlbench's own GPT
// checkpoints, and every bad input named (--k 0, an unknown benchmark, no chat template, a prompt
// longer than the context, a record without an answer), with nothing written. Command lines run
// in one child process each test (tests/util/commands.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommands } from '../util/commands.ts';
import { saveCheckpoint } from '../../harness/engine/checkpoint.ts';
import { createPolicyEngine } from '../../harness/engine/policy.ts';
import { defaultTokenizer } from '../../harness/tasks/tokenizer.ts';
import { copyFixture, tmp } from '../engine/hf/helpers.ts';

const QWEN2 = '../shared/fixtures/hf-tiny/qwen2';
const root = tmp('eval-cli');
after(() => rmSync(root, { recursive: true, force: true }));

interface Summary {
  policy: { kind: string; prompts: { kind: string; template?: { name: string } } };
  benchmarks: { benchmark: string; n: number; k: number; temperature: number; topP: number; maxTokens: number; avgAtK: number; greedy: number | null; greedyDecode: boolean; leftOut?: number; truncated: number; passAtK: number[] }[];
}

test('eval: per-benchmark defaults, the JSON summary and --out with every response graded', () => {
  const out = join(root, 'responses.jsonl');
  const [a, b, c] = runCommands([
    ['eval', '--model', QWEN2, '--benchmark', 'math500', '--benchmark', 'aime24', '--limit', '20', '--max-prompt-tokens', '200', '--max-tokens', '8', '--json', '--out', out, '--threads', '1'],
    ['eval', '--model', QWEN2, '--benchmark', 'math500', '--benchmark', 'aime24', '--limit', '20', '--max-prompt-tokens', '200', '--max-tokens', '8', '--json', '--threads', '1'],
    ['eval', '--model', QWEN2, '--benchmark', 'math500', '--limit', '6', '--max-prompt-tokens', '200', '--temperature', '0', '--template', 'boxed-system', '--threads', '1'],
  ]);
  assert.equal(a!.status, 0, a!.stderr);
  const s = JSON.parse(a!.stdout) as Summary;
  assert.equal(s.policy.kind, 'hf');
  assert.equal(s.policy.prompts.template!.name, 'boxed');
  const [m, aime] = s.benchmarks;
  // math500: avg@4 at T 0.6, top-p 0.95; aime24: avg@32 (the defaults table), both with a greedy decode.
  assert.deepEqual([m!.benchmark, m!.k, m!.temperature, m!.topP, m!.maxTokens, m!.greedyDecode], ['math500', 4, 0.6, 0.95, 8, true]);
  assert.deepEqual([aime!.benchmark, aime!.k, aime!.temperature, aime!.topP], ['aime24', 32, 0.6, 0.95]);
  assert.equal(m!.n + (m!.leftOut ?? 0), 20);
  assert.equal(aime!.n + (aime!.leftOut ?? 0), 20);
  assert.ok(m!.truncated > 0.5, 'a random policy rarely stops within 8 tokens');
  assert.equal(m!.passAtK.length, 4);
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, m!.n + aime!.n);
  const first = lines[0];
  assert.equal(first.benchmark, 'math500');
  assert.equal(first.template, 'boxed');
  assert.match(first.prompt, /^<\|im_start\|>user\n[\s\S]*\nPlease reason step by step, and put your final answer within \\boxed\{\}\.<\|im_end\|>\n<\|im_start\|>assistant\n$/);
  assert.equal(first.responses.length, 4);
  for (const r of first.responses) {
    assert.deepEqual(Object.keys(r).sort(), ['correct', 'extracted', 'stage', 'text', 'tokens', 'truncated']);
    if (r.truncated) assert.equal(r.correct, false, 'a truncated response counts as wrong');
  }
  assert.ok(first.greedy && typeof first.greedy.text === 'string');
  // The same seed gives the same numbers.
  const again = JSON.parse(b!.stdout) as Summary;
  const strip = (x: Summary) => x.benchmarks.map(({ evalTime: _t, ...rest }: Record<string, unknown>) => rest);
  assert.deepEqual(strip(again), strip(s));
  // --temperature 0: greedy decoding only, k = 1, the table printed with the prompt formatting.
  assert.equal(c!.status, 0, c!.stderr);
  assert.match(c!.stdout, /chat template default, prompt template boxed-system/);
  assert.match(c!.stdout, /^math500 +\d+ +1 +0 +/m);
});

test('eval: a JSONL benchmark by path, and an rlbench GPT checkpoint on the built-in benchmarks', async () => {
  const data = join(root, 'mine.jsonl');
  writeFileSync(data, '{"q":"What is 1+2?","sol":"1+2 = \\\\boxed{3}"}\n{"q":"What is 2+2?","sol":"\\\\boxed{4}"}\n');
  const gpt = join(root, 'gpt');
  const cfg = { vocabSize: defaultTokenizer.vocabSize, contextLength: 48, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 2 };
  const engine = await createPolicyEngine(cfg, { threads: 1 });
  await saveCheckpoint(gpt, cfg, engine.initParams(3));
  await engine.release();
  const greek = join(root, 'greek.jsonl');
  writeFileSync(greek, '{"problem":"What is 2π/π?","answer":"2"}\n');
  const [a, b, c, d] = runCommands([
    ['eval', '--model', QWEN2, '--benchmark', data, '--problem-field', 'q', '--answer-field', 'sol', '--answer-format', 'boxed', '--k', '2', '--max-tokens', '4', '--json', '--threads', '1'],
    ['eval', '--model', gpt, '--benchmark', 'arith-id', '--limit', '5', '--json', '--threads', '1'],
    ['eval', '--model', gpt, '--benchmark', greek, '--threads', '1'],
    ['eval', '--model', gpt, '--benchmark', 'math500', '--limit', '2', '--threads', '1'],
  ]);
  assert.equal(a!.status, 0, a!.stderr);
  const s = JSON.parse(a!.stdout) as Summary;
  assert.deepEqual([s.benchmarks[0]!.benchmark, s.benchmarks[0]!.n, s.benchmarks[0]!.k], ['mine', 2, 2]);
  assert.equal(b!.status, 0, b!.stderr);
  const g = JSON.parse(b!.stdout) as Summary;
  assert.equal(g.policy.kind, 'gpt');
  assert.equal(g.policy.prompts.kind, 'curriculum');
  // arith-*: the suites' protocol (avg@8 at T 1), responses up to what the context leaves.
  assert.deepEqual([g.benchmarks[0]!.n, g.benchmarks[0]!.k, g.benchmarks[0]!.temperature, g.benchmarks[0]!.topP], [5, 8, 1, 1]);
  assert.ok(g.benchmarks[0]!.maxTokens > 30 && g.benchmarks[0]!.maxTokens < 48);
  assert.equal(c!.status, 2);
  assert.match(c!.stderr, /benchmark greek: problem greek\/0: the built-in GPT's character vocabulary cannot write this prompt \(tokenizer: unknown character "π"/);
  assert.equal(d!.status, 2);
  assert.match(d!.stderr, /benchmark math500: its longest prompt \(\d+ tokens\) leaves no room for a response in the context length 48/);
});

test('eval: bad inputs are named, exit 2, and --out is not written', () => {
  const noTemplate = copyFixture('qwen2');
  const cfgPath = join(noTemplate, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  delete cfg.chat_template;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const noAnswer = join(root, 'noanswer.jsonl');
  writeFileSync(noAnswer, '{"problem":"What is 1+1?","answer":"2"}\n{"problem":"What is 2+2?"}\n');
  const out = join(root, 'never.jsonl');
  const cases: [string[], RegExp][] = [
    [['--benchmark', 'math500', '--k', '0'], /--k must be an integer >= 1, got '0'/],
    [['--benchmark', 'math5000'], /--benchmark math5000: unknown benchmark; known: arith-id, .*math500, aime24, aime25, amc23, minerva_math, olympiadbench, gsm8k.*; or give a JSONL file path/],
    [['--benchmark', 'aime24', '--max-tokens', '16'], /benchmark aime24: problem aime24\/60: prompt of 545 tokens \+ 16 response tokens = 561 exceeds the context length 256; lower --max-tokens, or leave such problems out with --max-prompt-tokens N/],
    [['--benchmark', 'aime24'], /benchmark aime24: its longest prompt \(\d+ tokens\) leaves no room for a response in the context length 256; leave long prompts out with --max-prompt-tokens N/],
    [['--benchmark', noAnswer], /noanswer\.jsonl:2: missing field 'answer'/],
    [['--benchmark', 'math500', '--temperature', '0', '--k', '4'], /--temperature 0 decodes greedily: one response per problem, so --k must be 1 \(got 4\)/],
    [['--benchmark', 'math500', '--top-p', '1.5'], /--top-p must be a number in \(0, 1\], got '1\.5'/],
  ];
  const results = runCommands([
    ...cases.map(([args]) => ['eval', '--model', QWEN2, ...args, '--out', out]),
    ['eval', '--model', noTemplate, '--benchmark', 'math500', '--limit', '2', '--out', out],
    ['eval', '--model', noTemplate, '--benchmark', 'math500', '--limit', '10', '--max-prompt-tokens', '200', '--max-tokens', '4', '--chat-template', 'chatml', '--k', '1', '--json'],
  ]);
  cases.forEach(([args, re], i) => {
    assert.equal(results[i]!.status, 2, `${args.join(' ')}: ${results[i]!.stderr}`);
    assert.match(results[i]!.stderr, re, args.join(' '));
  });
  const nt = results[cases.length]!;
  assert.equal(nt.status, 2);
  assert.match(nt.stderr, /has no chat template .*; pass one with --chat-template FILE\|NAME: a Jinja file, or a built-in name \(chatml: /);
  assert.equal(results[cases.length + 1]!.status, 0, results[cases.length + 1]!.stderr);
  assert.equal(existsSync(out), false, '--out is written only when the evaluation completes');
});
