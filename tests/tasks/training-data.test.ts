// Training pools from datasets: shared datasets by name (limit, integer answers), any JSONL file
// with field names and answer conventions (plain, \boxed{}, ####, dotted fields), records without
// an answer named by file and line, benchmark problems taken out of the pool, and prompt templates.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkUniqueIds, isIntegerAnswer, loadSource, normalizeProblemText, removeBenchmarkOverlap } from '../../harness/tasks/training-data.ts';
import { getBenchmark } from '../../harness/tasks/registry.ts';
import { BOXED_INSTRUCTION, promptMessages, resolvePromptTemplate } from '../../harness/tasks/prompt-templates.ts';

const DATA = '../shared/datasets';
const tmp = mkdtempSync(join(tmpdir(), 'rlbench-train-data-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function jsonl(name: string, rows: unknown[]): string {
  const p = join(tmp, name);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
}

test('integer answers: signs and thousands commas count, decimals and expressions do not', () => {
  for (const a of ['5', '-12', ' 007 ', '1,000', '12,345,678']) assert.equal(isIntegerAnswer(a), true, a);
  for (const a of ['3.0', '1/2', '\\frac{1}{2}', '1,00', 'x', '', '2\\sqrt{3}', '1e3']) assert.equal(isIntegerAnswer(a), false, a);
});

test('shared datasets by name: the first N records, then the integer filter, counted', () => {
  const s = loadSource({ name: 'math_train', limit: 200, integerAnswers: true }, DATA, 'exp.json: tasks.datasets[0]');
  assert.equal(s.records, 7500);
  assert.equal(s.label, 'math_train');
  assert.equal(s.problems.length + s.nonInteger, 200);
  assert.ok(s.nonInteger > 0 && s.problems.length > 100, `${s.problems.length} kept, ${s.nonInteger} left out`);
  assert.ok(s.problems.every((p) => /^-?\d+$/.test(p.answer.replace(/,/g, ''))));
  const g = loadSource({ name: 'gsm8k_train', limit: 3 }, DATA, 'w');
  assert.deepEqual(g.problems.map((p) => p.id), ['gsm8k/train/0', 'gsm8k/train/1', 'gsm8k/train/2']);
  assert.throws(() => loadSource({ name: 'math_trian' }, DATA, 'exp.json: tasks.datasets[1]'), /exp\.json: tasks\.datasets\[1\]\.name: unknown dataset "math_trian" \(shared datasets: math500, .*math_train; or give "path" to a JSONL file\)/);
  assert.throws(() => loadSource({ name: 'gsm8k_train', problemField: 'q' }, DATA, 'w'), /w\.problemField: applies to a "path" source/);
});

test('JSONL files: field names, the three answer formats, dotted fields, ids', () => {
  const plain = jsonl('plain.jsonl', [{ q: 'What is 2+3?', a: 5, key: 'x' }, { q: 'What is 1/2 of 4?', a: '2', key: 'y' }]);
  const s = loadSource({ path: plain, problemField: 'q', answerField: 'a', idField: 'key' }, DATA, 'w');
  assert.deepEqual(s.problems.map((p) => [p.id, p.problem, p.answer]), [['plain/x', 'What is 2+3?', '5'], ['plain/y', 'What is 1/2 of 4?', '2']]);
  const boxed = jsonl('boxed.jsonl', [{ problem: 'P', solution: 'so $\\boxed{\\frac{1}{2}}$.' }]);
  assert.equal(loadSource({ path: boxed, problemField: 'problem', answerField: 'solution', answerFormat: 'boxed', name: 'mine' }, DATA, 'w').problems[0]!.answer, '\\frac{1}{2}');
  const hashes = jsonl('hashes.jsonl', [{ question: 'Q', answer: 'steps\n#### 1,234' }]);
  assert.equal(loadSource({ path: hashes, problemField: 'question', answerField: 'answer', answerFormat: '####' }, DATA, 'w').problems[0]!.answer, '1234');
  const nested = jsonl('nested.jsonl', [{ prompt: 'P1', reward_model: { ground_truth: '34' } }]);
  assert.equal(loadSource({ path: nested, problemField: 'prompt', answerField: 'reward_model.ground_truth' }, DATA, 'w').problems[0]!.answer, '34');
  assert.throws(() => loadSource({ path: plain, problemField: 'q' }, DATA, 'exp.json: tasks.datasets[2]'), /exp\.json: tasks\.datasets\[2\]: a dataset file needs "problemField" and "answerField"/);
});

test('a record without an answer is named by file and line, whatever the format', () => {
  const missing = jsonl('missing.jsonl', [{ q: 'a', a: '1' }, { q: 'b' }]);
  assert.throws(() => loadSource({ path: missing, problemField: 'q', answerField: 'a' }, DATA, 'w'), /missing\.jsonl:2: missing field 'a'/);
  const empty = jsonl('empty.jsonl', [{ q: 'a', a: '  ' }]);
  assert.throws(() => loadSource({ path: empty, problemField: 'q', answerField: 'a' }, DATA, 'w'), /empty\.jsonl:1: field 'a' is empty \(no answer\)/);
  const noBox = jsonl('nobox.jsonl', [{ q: 'a', s: 'the answer is 4' }]);
  assert.throws(() => loadSource({ path: noBox, problemField: 'q', answerField: 's', answerFormat: 'boxed' }, DATA, 'w'), /nobox\.jsonl:1: field 's' has no \\boxed\{…\} answer/);
  const noHash = jsonl('nohash.jsonl', [{ q: 'a', s: 'x' }, { q: 'b', s: '#### ' }]);
  assert.throws(() => loadSource({ path: noHash, problemField: 'q', answerField: 's', answerFormat: '####' }, DATA, 'w'), /nohash\.jsonl:1: field 's' has no '#### <answer>' line/);
  const noProblem = jsonl('noproblem.jsonl', [{ q: '', a: '1' }]);
  assert.throws(() => loadSource({ path: noProblem, problemField: 'q', answerField: 'a' }, DATA, 'w'), /noproblem\.jsonl:1: field 'q' is empty \(no problem\)/);
});

test('benchmark problems are taken out of the pool, by normalised text or by id', () => {
  const math500 = getBenchmark('math500', { dataDir: DATA }).problems();
  const pool = [
    { id: 'mine/0', problem: 'Not a benchmark problem.', answer: '1' },
    { id: 'mine/1', problem: `  ${math500[3]!.problem.toUpperCase().replace(/ /g, '\n ')}  `, answer: '2' },
    { id: math500[7]!.id, problem: 'a different text under a benchmark id', answer: '3' },
  ];
  const { kept, removed } = removeBenchmarkOverlap(pool, [{ name: 'math500', problems: math500 }]);
  assert.deepEqual(kept.map((p) => p.id), ['mine/0']);
  assert.deepEqual(removed, [
    { id: 'mine/1', benchmark: 'math500', benchmarkId: math500[3]!.id },
    { id: math500[7]!.id, benchmark: 'math500', benchmarkId: math500[7]!.id },
  ]);
  assert.equal(normalizeProblemText(' A\n\tb  C '), 'a b c');
  // MATH's train split and MATH-500 (drawn from its test split) share no text: nothing is taken out.
  const train = loadSource({ name: 'math_train' }, DATA, 'w').problems;
  assert.equal(removeBenchmarkOverlap(train, [{ name: 'math500', problems: math500 }]).removed.length, 0);
});

test('two sources that give the same problem id are refused', () => {
  const a = loadSource({ name: 'gsm8k_train', limit: 2 }, DATA, 'w');
  const b = loadSource({ name: 'gsm8k_train', limit: 3 }, DATA, 'w');
  assert.throws(() => checkUniqueIds([a, b], 'exp.json: tasks.datasets'), /exp\.json: tasks\.datasets\[1\] \(gsm8k_train\): problem id 'gsm8k\/train\/0' is also in tasks\.datasets\[0\]/);
  assert.doesNotThrow(() => checkUniqueIds([a, loadSource({ name: 'math_train', limit: 2 }, DATA, 'w')], 'w'));
});

test('prompt templates: built-ins, files, and problem text kept literally', () => {
  const boxed = resolvePromptTemplate();
  assert.equal(boxed.name, 'boxed');
  assert.deepEqual(promptMessages(boxed, 'What is $x$ if $& = 2$?'), [{ role: 'user', content: `What is $x$ if $& = 2$?\n${BOXED_INSTRUCTION}` }]);
  assert.equal(BOXED_INSTRUCTION, 'Please reason step by step, and put your final answer within \\boxed{}.');
  assert.deepEqual(promptMessages(resolvePromptTemplate('boxed-system'), 'P'), [{ role: 'system', content: BOXED_INSTRUCTION }, { role: 'user', content: 'P' }]);
  assert.deepEqual(promptMessages(resolvePromptTemplate('plain'), 'P'), [{ role: 'user', content: 'P' }]);
  const json = join(tmp, 'tpl.json');
  writeFileSync(json, JSON.stringify({ system: 'Be brief.', user: 'Solve: {problem}' }));
  assert.deepEqual(promptMessages(resolvePromptTemplate(json), 'P'), [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Solve: P' }]);
  const txt = join(tmp, 'tpl.txt');
  writeFileSync(txt, 'Q: {problem}\nA:');
  assert.deepEqual(resolvePromptTemplate(txt), { name: txt, system: null, user: 'Q: {problem}\nA:' });
  const bad = join(tmp, 'bad.txt');
  writeFileSync(bad, 'no placeholder');
  assert.throws(() => resolvePromptTemplate(bad), /bad\.txt: the user text must contain \{problem\}/);
  assert.throws(() => resolvePromptTemplate('boxd'), /prompt template "boxd": not a file and not a built-in \(boxed: .*; boxed-system: .*; plain: /);
  assert.throws(() => resolvePromptTemplate('nope/x.json'), /prompt template nope\/x\.json: file not found/);
});
