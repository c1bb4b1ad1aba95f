// Chat templates: the fixtures' template gives transformers' apply_chat_template text and ids
// exactly; where templates live (tokenizer_config.json string or list, chat_template.jinja,
// additional_chat_templates/), choosing one by file or name, the built-ins, and the errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinChatTemplate, BUILTIN_NAMES, readChatTemplates, resolveChatTemplate, type ChatMessage } from '../../../harness/engine/hf/chat-template.ts';
import { loadHfTokenizer } from '../../../harness/engine/hf/tokenizer.ts';
import { UsageError } from '../../../harness/util/errors.ts';
import { copyFixture, FIXTURES, readJson, SHARED_HF, tmp } from './helpers.ts';

const REF = readJson<{ messages: ChatMessage[]; add_generation_prompt: boolean; text: string; ids: number[] }[]>(join(SHARED_HF, 'chat-reference.json'));

test("the checkpoint's template gives transformers' text and ids on every fixture", () => {
  assert.ok(REF.length >= 2);
  for (const [name, dir] of Object.entries(FIXTURES)) {
    const tok = loadHfTokenizer(dir);
    const tpl = resolveChatTemplate(dir);
    assert.equal(tpl.name, 'default');
    for (const r of REF) {
      const { text, ids } = tpl.encode(r.messages, tok, { addGenerationPrompt: r.add_generation_prompt });
      assert.equal(text, r.text, name);
      assert.deepEqual([...ids], r.ids, name);
    }
    // Without the generation prompt the assistant header is left out.
    assert.equal(tpl.render(REF[0]!.messages, tok), REF[0]!.text.slice(0, -'<|im_start|>assistant\n'.length));
  }
});

test('the chatml built-in renders the same as the Qwen-style fixture template; llama3 and plain as specified', () => {
  const dir = FIXTURES.qwen2!;
  const tok = loadHfTokenizer(dir);
  const chatml = builtinChatTemplate('chatml');
  for (const r of REF) assert.equal(chatml.render(r.messages, tok, { addGenerationPrompt: true }), r.text);
  // The fixture vocabulary has no Llama 3 header tokens: refused rather than spelled out as text.
  assert.throws(() => builtinChatTemplate('llama3').render(REF[0]!.messages, tok), (e: Error) => e instanceof UsageError && /chat template "llama3" needs the token "<\|start_header_id\|>", which this tokenizer does not have; choose another with --chat-template FILE\|NAME/.test(e.message));
  const msgs = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '2+2?' }];
  assert.equal(builtinChatTemplate('plain').render(msgs, tok, { addGenerationPrompt: true }), 'Be brief.\n\nUser: 2+2?\n\nAssistant:');
  // With a tokenizer that has Llama 3's tokens (a stand-in object with exactly what render needs).
  const llamaTok = { specialTokens: { bos_token: '<|begin_of_text|>' }, tokenToId: (t: string) => (t.startsWith('<|') ? 1 : undefined), encode: () => new Int32Array(0) };
  assert.equal(
    builtinChatTemplate('llama3').render(msgs, llamaTok, { addGenerationPrompt: true }),
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  );
  assert.deepEqual(BUILTIN_NAMES, ['chatml', 'llama3', 'plain']);
  assert.throws(() => builtinChatTemplate('vicuna'), /no built-in chat template "vicuna"; built-ins: chatml, llama3, plain/);
});

test('template variables: special tokens, tools/documents as none, extra keywords; raise_exception becomes a UsageError', () => {
  const dir = copyFixture('qwen2');
  writeFileSync(
    join(dir, 'chat_template.jinja'),
    "{{ eos_token }}|{{ pad_token }}|{{ bos_token is defined }}|{{ tools is none }}|{{ enable_thinking | default('unset') }}|{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools here') }}{% endif %}{{ m.content }}{% endfor %}",
  );
  const tok = loadHfTokenizer(dir);
  const tpl = resolveChatTemplate(dir);
  assert.equal(tpl.render([{ role: 'user', content: 'x' }], tok), '<|im_end|>|<|endoftext|>|false|true|unset|x');
  assert.equal(tpl.render([{ role: 'user', content: 'x' }], tok, { extra: { enable_thinking: false } }), '<|im_end|>|<|endoftext|>|false|true|false|x');
  assert.throws(() => tpl.render([{ role: 'tool', content: 'x' }], tok), (e: Error) => e instanceof UsageError && /chat template "default" \(.*chat_template\.jinja\): no tools here/.test(e.message));
  assert.throws(() => tpl.render([{ role: 'user' } as ChatMessage], tok), /chat message 0: needs string "role" and "content"/);
  rmSync(dir, { recursive: true });
});

test('chat_template.jinja and additional_chat_templates/ replace the tokenizer_config.json entry; named templates are chosen by name', () => {
  const dir = copyFixture('qwen2');
  assert.equal(readChatTemplates(dir).default!.origin, join(dir, 'tokenizer_config.json'));
  writeFileSync(join(dir, 'chat_template.jinja'), '{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}');
  mkdirSync(join(dir, 'additional_chat_templates'));
  writeFileSync(join(dir, 'additional_chat_templates', 'tool_use.jinja'), 'TOOLS {{ messages | length }}');
  const t = readChatTemplates(dir);
  assert.equal(t.default!.origin, join(dir, 'chat_template.jinja'));
  assert.deepEqual([...t.named.keys()].sort(), ['default', 'tool_use']);
  const tok = loadHfTokenizer(dir);
  const msgs = [{ role: 'user', content: 'hi' }];
  assert.equal(resolveChatTemplate(dir).render(msgs, tok), '[user] hi');
  assert.equal(resolveChatTemplate(dir, 'tool_use').render(msgs, tok), 'TOOLS 1');
  assert.equal(resolveChatTemplate(dir, 'chatml').name, 'chatml');
  rmSync(dir, { recursive: true });
});

test('a list-valued chat_template: "default" is the default, others by name; without a default the error lists the names', () => {
  const dir = copyFixture('qwen2');
  const cfgPath = join(dir, 'tokenizer_config.json');
  const cfg = readJson<Record<string, unknown>>(cfgPath);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, chat_template: [{ name: 'default', template: 'D{{ messages[0].content }}' }, { name: 'rag', template: 'R{{ messages[0].content }}' }] }));
  const tok = loadHfTokenizer(dir);
  const msgs = [{ role: 'user', content: '1' }];
  assert.equal(resolveChatTemplate(dir).render(msgs, tok), 'D1');
  assert.equal(resolveChatTemplate(dir, 'rag').render(msgs, tok), 'R1');
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, chat_template: [{ name: 'rag', template: 'R' }, { name: 'tool_use', template: 'T' }] }));
  assert.throws(() => resolveChatTemplate(dir), /has several chat templates and none named "default" \(rag, tool_use\); choose one with --chat-template NAME/);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, chat_template: [{ name: 'x' }] }));
  assert.throws(() => resolveChatTemplate(dir), /tokenizer_config\.json: chat_template\[0\] must be \{"name": string, "template": string\}/);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, chat_template: '{% for x in %}' }));
  assert.throws(() => resolveChatTemplate(dir), (e: Error) => e instanceof UsageError && /tokenizer_config\.json: chat template "default" does not parse/.test(e.message));
  rmSync(dir, { recursive: true });
});

test('no template: the error says how to pass one; a file (Jinja or JSON) or a built-in fills in', () => {
  const dir = copyFixture('llama');
  const cfgPath = join(dir, 'tokenizer_config.json');
  const cfg = readJson<Record<string, unknown>>(cfgPath);
  delete cfg.chat_template;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  assert.equal(readChatTemplates(dir).default, null);
  assert.throws(
    () => resolveChatTemplate(dir),
    (e: Error) => e instanceof UsageError && e.message.startsWith(`${dir} has no chat template`) && /pass one with --chat-template FILE\|NAME: a Jinja file, or a built-in name \(chatml: .*; llama3: .*; plain: .*\)/.test(e.message),
  );
  const tok = loadHfTokenizer(dir);
  const other = tmp('tpl');
  writeFileSync(join(other, 'mine.jinja'), '<<{{ messages[0].content }}>>');
  writeFileSync(join(other, 'tokenizer_config.json'), JSON.stringify({ chat_template: 'J{{ messages[0].content }}' }));
  const msgs = [{ role: 'user', content: 'q' }];
  const fromFile = resolveChatTemplate(dir, join(other, 'mine.jinja'));
  assert.equal(fromFile.name, join(other, 'mine.jinja'));
  assert.equal(fromFile.render(msgs, tok), '<<q>>');
  assert.equal(resolveChatTemplate(dir, join(other, 'tokenizer_config.json')).render(msgs, tok), 'Jq');
  assert.equal(resolveChatTemplate(dir, 'chatml').render(msgs, tok, { addGenerationPrompt: true }), REF[0]!.text.replace(REF[0]!.messages[0]!.content, 'q'));
  assert.throws(() => resolveChatTemplate(dir, join(other, 'missing.jinja')), /--chat-template .*missing\.jinja: file not found/);
  assert.throws(() => resolveChatTemplate(dir, 'zephyr'), /--chat-template "zephyr": not a file, not a template of .*, and not a built-in \(chatml, llama3, plain\)/);
  rmSync(dir, { recursive: true });
  rmSync(other, { recursive: true });
});
