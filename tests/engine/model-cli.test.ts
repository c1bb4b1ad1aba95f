// `rlbench model logprobs|generate` and `rlbench engine gradcheck --model` on the tiny Hugging
// Face fixtures: output against the float64 references, EOS handling, and errors that name the
// file and line. Each test runs its command lines through main() in one child process.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const QWEN2 = '../shared/fixtures/hf-tiny/qwen2';
const LLAMA = '../shared/fixtures/hf-tiny/llama';

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}
/** Runs the command lines in one child process (tests/engine/cli-runner.ts), in order. */
function cli(...commands: string[][]): Result[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'tests/engine/cli-runner.ts', JSON.stringify(commands)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Result[];
}
const tmp = mkdtempSync(join(tmpdir(), 'rlbench-model-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Reference {
  sequences: { ids: number[]; logp: number[] }[];
  greedy: { prompt: number[]; new: number[] };
}
const reference = (dir: string) => JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;

test('model logprobs: one output line per input line, within 5e-4 of the reference', () => {
  const ref = reference(LLAMA);
  const input = join(tmp, 'seqs.jsonl');
  writeFileSync(input, ref.sequences.map((s) => JSON.stringify({ ids: s.ids })).join('\n') + '\n');
  const [r] = cli(['model', 'logprobs', '--model', LLAMA, '--input', input, '--threads', '1']);
  assert.equal(r!.status, 0, r!.stderr);
  const lines = r!.stdout.trim().split('\n').map((l) => JSON.parse(l) as { logp: number[] });
  assert.equal(lines.length, ref.sequences.length);
  lines.forEach((l, i) => {
    assert.equal(l.logp.length, ref.sequences[i]!.ids.length - 1);
    l.logp.forEach((v, t) => assert.ok(Math.abs(v - ref.sequences[i]!.logp[t]!) < 5e-4, `line ${i + 1}, position ${t}: ${v} vs ${ref.sequences[i]!.logp[t]}`));
  });
});

test('model logprobs: a bad line is named with its file and line, and nothing is printed', () => {
  const cases: [string, string[], RegExp | string][] = [
    ['{"ids":[1,2,3]}\n{"ids":[1,301]}\n', [], ':2: ids[1] = 301 is not a token id in [0, 301)'],
    ['{"ids":[1,2,3]}\n{"ids":[1,2\n', [], /:2: malformed JSON/],
    ['{"tokens":[1,2]}\n', [], /:1: unknown field "tokens"/],
    ['{"ids":[]}\n', [], /:1: "ids" must be a non-empty array/],
    ['{"ids":[1]}\n', ['--temperature', '0'], /--temperature must be a number > 0, got '0'/],
  ];
  const files = cases.map(([text], i) => {
    const f = join(tmp, `bad${i}.jsonl`);
    writeFileSync(f, text);
    return f;
  });
  const results = cli(...cases.map(([, extra], i) => ['model', 'logprobs', '--model', QWEN2, '--input', files[i]!, ...extra]), ['model', 'logprobs', '--model', join(tmp, 'nope'), '--input', files[0]!]);
  cases.forEach(([, , want], i) => {
    const r = results[i]!;
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    if (typeof want === 'string') assert.ok(r.stderr.includes(`${files[i]}${want}`), r.stderr);
    else assert.match(r.stderr, want);
  });
  assert.match(results[cases.length]!.stderr, /nope\/config\.json: file not found/);
});

test('model generate --greedy gives the reference continuation and stops before the first EOS id; sampling is seeded', () => {
  const ref = reference(QWEN2);
  // Once through the real entry point (lazy command groups, exit code).
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli.ts', 'model', 'generate', '--model', QWEN2, '--ids', ref.greedy.prompt.join(','), '--max-tokens', '24', '--greedy', '--json', '--threads', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { ids: number[]; text: string };
  assert.deepEqual(out.ids, ref.greedy.new);
  assert.equal(typeof out.text, 'string');
  // The same checkpoint with a list of EOS ids, one of which the continuation reaches at index 4;
  // without do_sample in generation_config.json the default is greedy.
  const dir = join(tmp, 'qwen2-eos');
  mkdirSync(dir);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(QWEN2, f), join(dir, f));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [300, ref.greedy.new[4]] }));
  const sample = (seed: string) => ['model', 'generate', '--model', QWEN2, '--ids', '5,6,7', '--max-tokens', '8', '--temperature', '1', '--top-p', '0.9', '--seed', seed, '--json'];
  const [stopped, a, again, other] = cli(['model', 'generate', '--model', dir, '--ids', ref.greedy.prompt.join(','), '--max-tokens', '24'], sample('4'), sample('4'), sample('5'));
  assert.match(stopped!.stdout, new RegExp(`^ids: ${ref.greedy.new.slice(0, 4).join(',')}\ntext: `), 'the EOS id is left out');
  assert.equal(JSON.parse(a!.stdout).ids.length, 8);
  assert.equal(again!.stdout, a!.stdout);
  assert.notEqual(other!.stdout, a!.stdout);
});

test('model generate: --prompt (plain or --chat) is the same as its token ids; bad ids and flags are refused', () => {
  const g = (...args: string[]) => ['model', 'generate', '--model', QWEN2, ...args];
  const text = 'What is 17 * 23?';
  const [tokPlain, tokChat, plain, chat] = cli(
    ['model', 'tokenize', '--model', QWEN2, '--text', text, '--json'],
    ['model', 'tokenize', '--model', QWEN2, '--text', text, '--chat', '--json'],
    g('--prompt', text, '--max-tokens', '6', '--greedy', '--json'),
    g('--prompt', text, '--chat', '--max-tokens', '6', '--greedy', '--json'),
  );
  const idsPlain = (JSON.parse(tokPlain!.stdout) as { ids: number[] }).ids;
  const idsChat = (JSON.parse(tokChat!.stdout) as { ids: number[] }).ids;
  assert.notDeepEqual(idsPlain, idsChat);
  const [byIdsPlain, byIdsChat] = cli(g('--ids', idsPlain.join(','), '--max-tokens', '6', '--greedy', '--json'), g('--ids', idsChat.join(','), '--max-tokens', '6', '--greedy', '--json'));
  assert.equal(plain!.status, 0, plain!.stderr);
  assert.equal(chat!.status, 0, chat!.stderr);
  assert.deepEqual(JSON.parse(plain!.stdout), JSON.parse(byIdsPlain!.stdout));
  assert.deepEqual(JSON.parse(chat!.stdout), JSON.parse(byIdsChat!.stdout));
  const rs = cli(
    g('--ids', '1', '--prompt', 'x', '--max-tokens', '3'),
    g('--ids', '1,x', '--max-tokens', '3'),
    g('--ids', '1', '--max-tokens', '3', '--greedy', '--temperature', '1'),
    g('--ids', '1', '--max-tokens', '300'),
    g('--ids', '1', '--max-tokens', '3', '--top-p', '1.5'),
    g('--ids', '1', '--chat', '--max-tokens', '3'),
  );
  const want = [/exactly one of --ids 1,2,3 or --prompt TEXT/, /--ids: entry 1 'x' is not a token id in \[0, 301\)/, /--greedy cannot be combined/, /exceeds the context length 256/, /--top-p must be a number in \(0, 1\], got '1\.5'/, /--chat wraps --prompt/];
  rs.forEach((r, i) => {
    assert.equal(r.status, 2);
    assert.match(r.stderr, want[i]!);
  });
});

test("engine gradcheck --model checks that checkpoint's architecture in float64", () => {
  const [r] = cli(['engine', 'gradcheck', '--model', QWEN2, '--samples', '40']);
  assert.equal(r!.status, 0, r!.stderr);
  assert.match(r!.stdout, /policy: qwen2 \(llama family\): .*2 KV heads.*q\/k\/v biases, tied head/);
  assert.match(r!.stdout, /checked 40 parameters/);
  assert.match(r!.stdout, /tolerance 1\.0e-6: PASS/);
});
