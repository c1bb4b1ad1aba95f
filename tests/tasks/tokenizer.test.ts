// Character tokenizer: exact round trips, specials, unknown-character errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CharTokenizer, defaultTokenizer as tok } from '../../harness/tasks/tokenizer.ts';
import { trainingProblems, builtinProblems, BUILTIN_BENCHMARKS, formatPrompt, formatTarget } from '../../harness/tasks/curriculum.ts';

test('default vocabulary: PAD/BOS/EOS, newline, printable ASCII', () => {
  assert.equal(tok.vocabSize, 99);
  assert.deepEqual([tok.pad, tok.bos, tok.eos], [0, 1, 2]);
  assert.equal(tok.tokenOf('\n'), 3);
  assert.equal(tok.tokenOf(' '), 4);
  assert.equal(tok.tokenOf('0'), 4 + 16);
  assert.equal(tok.tokenOf('~'), 98);
  assert.deepEqual([...tok.encode('1+2=')], [21, 15, 22, 33]);
});

test('round trips are exact for every printable string and every curriculum text', () => {
  const all = tok.chars.join('');
  assert.equal(tok.decode(tok.encode(all)), all);
  const texts = trainingProblems(3, 200).map((p) => formatPrompt(p) + formatTarget(p));
  for (const b of BUILTIN_BENCHMARKS) for (const p of builtinProblems(b, 20)) texts.push(formatPrompt(p) + formatTarget(p));
  for (const t of texts) assert.equal(tok.decode(tok.encode(t)), t);
  assert.equal(tok.encode('').length, 0);
});

test('decode skips PAD and BOS and stops at EOS', () => {
  const ids = [tok.bos, ...tok.encode('12'), tok.pad, ...tok.encode('3'), tok.eos, ...tok.encode('99')];
  assert.equal(tok.decode(ids), '123');
  assert.equal(tok.decode(Int32Array.from([tok.eos])), '');
  assert.throws(() => tok.decode([500]), /id 500 at position 0 is outside the vocabulary/);
});

test('unknown characters name the character, its code point and position', () => {
  assert.throws(() => tok.encode('12×3'), /unknown character "×" \(U\+00D7\) at position 2/);
  assert.throws(() => tok.encode('ab\tc'), /"\\t" \(U\+0009\) at position 2/);
  assert.throws(() => tok.encode('a😀'), /U\+1F600\) at position 1/);
  assert.throws(() => tok.tokenOf('é'), /unknown character "é" \(U\+00E9\)/);
});

test('custom vocabularies, including non-ASCII characters', () => {
  const t = new CharTokenizer(['a', 'é', '😀']);
  assert.equal(t.vocabSize, 6);
  assert.deepEqual([...t.encode('é😀a')], [4, 5, 3]);
  assert.equal(t.decode(t.encode('é😀a')), 'é😀a');
  assert.throws(() => new CharTokenizer(['a', 'a']), /duplicate/);
});
