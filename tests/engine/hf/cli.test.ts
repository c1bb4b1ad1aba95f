// `rlbench model info|tokenize` end to end, error paths included. The command lines of each step
// run in one child process (tests/util/commands.ts), in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommands, type CommandResult } from '../../util/commands.ts';
import { copyFixture, FIXTURES, readJson, SHARED_HF } from './helpers.ts';

/** `rlbench model <args>` for each argument list, in one process. */
const cli = (...commands: string[][]): CommandResult[] => runCommands(commands.map((args) => ['model', ...args]));

test('model info prints the architecture, size, dtype, vocabulary, context, shape, EOS ids and chat template', () => {
  const [r, j] = cli(['info', '--model', FIXTURES['qwen2-f16-sharded']!], ['info', '--model', FIXTURES.llama3!, '--json']) as [CommandResult, CommandResult];
  assert.equal(r.status, 0, r.stderr);
  for (const line of [
    /^architecture\s+Qwen2ForCausalLM \(model_type qwen2\)$/m,
    /^parameters\s+93,568 \(0\.09 M\)$/m,
    /^dtype\s+F16, 2 files, 187\.1 KB$/m,
    /^vocabulary\s+301$/m,
    /^context length\s+256$/m,
    /^shape\s+2 layers, hidden 64, 4 heads, 2 KV heads, head dim 16, MLP 128$/m,
    /^tied output head\s+yes$/m,
    /^EOS ids\s+300, 298$/m,
    /^chat template\s+yes \(tokenizer_config\.json\)$/m,
  ]) assert.match(r.stdout, line);
  assert.equal(j.status, 0, j.stderr);
  const info = JSON.parse(j.stdout) as Record<string, unknown>;
  assert.equal(info.architecture, 'LlamaForCausalLM');
  assert.equal(info.modelType, 'llama');
  assert.equal(info.paramCount, 89216);
  assert.equal(info.dtype, 'BF16');
  assert.equal(info.vocabSize, 301);
  assert.equal(info.contextLength, 256);
  assert.deepEqual([info.nLayers, info.nHeads, info.nKvHeads, info.headDim], [2, 8, 2, 8]);
  assert.equal(info.tiedHead, true);
  assert.deepEqual(info.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 });
  assert.deepEqual(info.eosIds, [300, 298]);
  assert.equal(info.chatTemplate, true);
});

test('model tokenize prints {"ids":[…]} identical to the references, plain and --chat', () => {
  const tokRef = readJson<{ text: string; ids: number[] }[]>(join(SHARED_HF, 'tokenizer-reference.json'));
  const chatRef = readJson<{ messages: { content: string }[]; ids: number[] }[]>(join(SHARED_HF, 'chat-reference.json'));
  const t = tokRef[1]!;
  const [r, c, h] = cli(
    ['tokenize', '--model', FIXTURES.qwen3!, '--text', t.text, '--json'],
    ['tokenize', '--model', FIXTURES.qwen2!, '--text', chatRef[0]!.messages[0]!.content, '--chat', '--json'],
    // Without --json the same line, plus the tokens on stderr.
    ['tokenize', '--model', FIXTURES.qwen2!, '--text', 'hi there', '--chat', '--chat-template', 'plain'],
  ) as [CommandResult, CommandResult, CommandResult];
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, JSON.stringify({ ids: t.ids }) + '\n');
  assert.equal(r.stderr, '');
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(JSON.parse(c.stdout), { ids: chatRef[0]!.ids });
  assert.equal(h.status, 0, h.stderr);
  const ids = (JSON.parse(h.stdout) as { ids: number[] }).ids;
  assert.match(h.stderr, new RegExp(`^${ids.length} tokens: "U" "s"`));
});

test('model errors: missing folder, unsupported model_type, no chat template, missing flags', () => {
  const dir = copyFixture('llama');
  const cfg = readJson<Record<string, unknown>>(join(dir, 'config.json'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'mistral' }));
  const [missing, noModel, bad] = cli(['info', '--model', '/nonexistent/ckpt'], ['info'], ['info', '--model', dir]) as [CommandResult, CommandResult, CommandResult];
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^rlbench: error: \/nonexistent\/ckpt: no such directory/);
  assert.match(noModel.stderr, /--model DIR is required/);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /config\.json: model_type "mistral" is not supported; supported: llama, qwen2, qwen3/);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  const tc = readJson<Record<string, unknown>>(join(dir, 'tokenizer_config.json'));
  delete tc.chat_template;
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tc));
  const [noTpl, info, ok, noText, tplAlone] = cli(
    ['tokenize', '--model', dir, '--text', 'x', '--chat'],
    ['info', '--model', dir],
    ['tokenize', '--model', dir, '--text', 'x', '--chat', '--chat-template', 'chatml', '--json'],
    ['tokenize', '--model', dir],
    ['tokenize', '--model', dir, '--text', 'x', '--chat-template', 'chatml'],
  ) as [CommandResult, CommandResult, CommandResult, CommandResult, CommandResult];
  assert.equal(noTpl.status, 2);
  assert.match(noTpl.stderr, /has no chat template .*pass one with --chat-template FILE\|NAME/);
  assert.match(info.stdout, /^chat template\s+no$/m);
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout), { ids: [299, 117, 115, 101, 114, 10, 120, 300, 10, 299, 97, 115, 115, 105, 115, 116, 97, 110, 116, 10] });
  assert.match(noText.stderr, /--text T is required/);
  assert.match(tplAlone.stderr, /--chat-template applies only with --chat/);
  rmSync(dir, { recursive: true });
});
