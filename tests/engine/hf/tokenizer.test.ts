// The Hugging Face tokenizer: ids identical to the Rust `tokenizers` library on the reference
// texts, exact round trips, special tokens from tokenizer_config.json, the generic Tokenizer
// contract (shared with the CharTokenizer), and clear errors for missing or inconsistent files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HfTokenizer, loadHfTokenizer } from '../../../harness/engine/hf/tokenizer.ts';
import { defaultTokenizer, CharTokenizer } from '../../../harness/tasks/tokenizer.ts';
import type { Tokenizer } from '../../../harness/tasks/tokenizer-types.ts';
import { UsageError } from '../../../harness/util/errors.ts';
import { copyFixture, FIXTURES, readJson, SHARED_HF } from './helpers.ts';

const REF = readJson<{ text: string; ids: number[] }[]>(join(SHARED_HF, 'tokenizer-reference.json'));

test('ids are identical to the Rust tokenizers reference for every fixture, and decode restores the text', () => {
  assert.ok(REF.length >= 5);
  for (const [name, dir] of Object.entries(FIXTURES)) {
    const tok = loadHfTokenizer(dir);
    for (const r of REF) {
      const ids = tok.encode(r.text);
      assert.ok(ids instanceof Int32Array);
      assert.deepEqual([...ids], r.ids, `${name}: ${JSON.stringify(r.text)}`);
      assert.equal(tok.decode(ids), r.text, `${name}: decode`);
    }
  }
});

test('special tokens come from tokenizer_config.json; decode can skip them; unknown ids decode to nothing', () => {
  const tok = loadHfTokenizer(FIXTURES.qwen2!);
  assert.equal(tok.vocabSize, 301);
  assert.equal(tok.eos, 300); // <|im_end|>
  assert.equal(tok.pad, 298); // <|endoftext|>
  assert.equal(tok.bos, undefined); // bos_token null
  assert.deepEqual(tok.specialTokens, { eos_token: '<|im_end|>', pad_token: '<|endoftext|>' });
  assert.deepEqual([...tok.specialIds].sort(), [298, 299, 300]);
  assert.equal(tok.tokenToId('<|im_start|>'), 299);
  assert.equal(tok.tokenToId('no such token'), undefined);
  const ids = [299, ...tok.encode('user\nhi'), 300];
  assert.equal(tok.decode(ids), '<|im_start|>user\nhi<|im_end|>');
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'user\nhi');
  // A model's padded vocabulary can produce ids the tokenizer lacks: transformers drops them.
  assert.equal(tok.decode([104, 5000, 105]), 'hi');
  assert.equal(tok.decode([]), '');
  assert.throws(() => tok.decode([104, -1]), /id -1 at position 1 is not a non-negative integer/);
  // A special token inside text is one token, as in the reference.
  assert.deepEqual([...tok.encode('<|im_end|>x')], [300, 120]);
  assert.deepEqual(tok.pieces([299, 256, 10]), ['<|im_start|>', tok.decode([256]), '\n']);
});

test('addSpecialTokens applies the post-processor (a Llama-style BOS) only when asked', () => {
  const dir = copyFixture('qwen2');
  const tj = readJson<Record<string, unknown>>(join(dir, 'tokenizer.json'));
  tj.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [298], tokens: ['<|endoftext|>'] } },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  const cfg = readJson<Record<string, unknown>>(join(dir, 'tokenizer_config.json'));
  cfg.bos_token = { __type: 'AddedToken', content: '<|endoftext|>', lstrip: false }; // the older object form
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  const tok = loadHfTokenizer(dir);
  assert.equal(tok.bos, 298);
  assert.deepEqual([...tok.encode('hi')], [104, 105]);
  assert.deepEqual([...tok.encode('hi', { addSpecialTokens: true })], [298, 104, 105]);
  rmSync(dir, { recursive: true });
});

test('special_tokens_map.json overrides tokenizer_config.json, as in transformers', () => {
  const dir = copyFixture('qwen2');
  writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify({ eos_token: { content: '<|endoftext|>' } }));
  const tok = loadHfTokenizer(dir);
  assert.equal(tok.eos, 298);
  assert.ok(tok.files.includes('special_tokens_map.json'));
  rmSync(dir, { recursive: true });
});

test('missing and inconsistent tokenizer files are named', () => {
  const dir = copyFixture('qwen2');
  const cfg = readJson<Record<string, unknown>>(join(dir, 'tokenizer_config.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, eos_token: '</s>' }));
  assert.throws(() => loadHfTokenizer(dir), (e: Error) => e instanceof UsageError && /tokenizer_config\.json: eos_token "<\/s>" is not in the vocabulary of .*tokenizer\.json/.test(e.message));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, pad_token: 7 }));
  assert.throws(() => loadHfTokenizer(dir), /"pad_token" must be a string, a \{"content": …\} token or null, got 7/);
  writeFileSync(join(dir, 'tokenizer.json'), '{"version": "1.0"}');
  assert.throws(() => loadHfTokenizer(dir), /tokenizer\.json: no "model" section/);
  rmSync(join(dir, 'tokenizer.json'));
  assert.throws(() => loadHfTokenizer(dir), /tokenizer\.json: file not found; rlbench reads the fast-tokenizer file tokenizer\.json$/);
  writeFileSync(join(dir, 'tokenizer.model'), 'sentencepiece');
  assert.throws(() => loadHfTokenizer(dir), /this folder has only tokenizer\.model: write tokenizer\.json with transformers/);
  rmSync(dir, { recursive: true });
});

// The runs layer holds either tokenizer through the generic contract.
function roundTrip(tok: Tokenizer, text: string): string {
  return tok.decode(tok.encode(text, { addSpecialTokens: false }), { skipSpecialTokens: true });
}

test('HfTokenizer and CharTokenizer both satisfy the generic Tokenizer contract', () => {
  const hf: Tokenizer = loadHfTokenizer(FIXTURES.llama!);
  const ch: Tokenizer = defaultTokenizer;
  for (const text of ['12+7=19', 'What is 3 * 4?\nAnswer: 12']) {
    assert.equal(roundTrip(hf, text), text);
    assert.equal(roundTrip(ch, text), text);
  }
  assert.equal(ch.tokenToId('0'), defaultTokenizer.tokenOf('0'));
  assert.equal(ch.tokenToId('é'), undefined);
  assert.deepEqual([ch.pad, ch.bos, ch.eos, ch.vocabSize], [0, 1, 2, 99]);
  assert.equal(hf.eos, 300);
  assert.ok(hf instanceof HfTokenizer && ch instanceof CharTokenizer);
});
