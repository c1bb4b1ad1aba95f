// Final-answer extraction: the strict stages (training), the full Math-Verify-order stages
// (evaluation) with the stage each answer came from, the multiple-box policy, the final-answer
// sentence after a box, and the bounds on long and adversarial responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractAnswer, extractFinal, lastBoxed, matchBraces, MAX_SCAN_CHARS } from '../../harness/tasks/grading/extract.ts';

const full = (s: string) => extractFinal(s, { mode: 'full' });

test('brace matching and the last box', () => {
  assert.equal(lastBoxed('a \\boxed{1} b \\boxed{\\frac{1}{\\sqrt{2}}} c'), '\\frac{1}{\\sqrt{2}}');
  assert.equal(lastBoxed('\\boxed{\\{1,2\\}}'), '\\{1,2\\}');
  assert.equal(lastBoxed('\\boxed 5$'), '5');
  assert.equal(lastBoxed('\\boxed{unclosed'), null);
  assert.equal(lastBoxed('\\fbox{7}'), '7');
  assert.equal(lastBoxed('\\boxedsomething'), null);
  assert.deepEqual(matchBraces('{a{b}c}d', 0), { content: 'a{b}c', end: 7 });
  assert.equal(matchBraces('{a{b}c}d', 0, 5), null);
});

test('strict mode: \\boxed{}, ####, "the (final) answer is", and the last-number fallback', () => {
  assert.deepEqual(extractFinal('so $\\boxed{0.5}$.'), { answer: '0.5', stage: 'boxed' });
  assert.deepEqual(extractFinal('7+6+0=13,4+8+1=13 #### 433'), { answer: '433', stage: 'final-answer' });
  assert.equal(extractAnswer('so #### 1,450,000\nthanks'), '1,450,000');
  assert.equal(extractAnswer('Thus the answer is $\\frac{1}{2}$. Done.'), '\\frac{1}{2}');
  assert.equal(extractAnswer('The final answer is 3.5.'), '3.5');
  assert.equal(extractAnswer('The answer is (C).'), '(C)');
  // Strict mode does not guess: no marker, no answer.
  assert.equal(extractFinal('I think 12 and then $13$'), null);
  assert.equal(extractFinal('Final Answer: $13$'), null);
  assert.deepEqual(extractFinal('I think 12 and then 13', { lastNumberFallback: true }), { answer: '13', stage: 'number' });
  assert.equal(extractAnswer('total 1,234, done', { lastNumberFallback: true }), '1,234');
  assert.equal(extractAnswer('no digits here', { lastNumberFallback: true }), null);
});

test('full mode: each stage, reported', () => {
  // 'boxed'
  assert.deepEqual(full('Thus $(t,u) = \\boxed{\\left( \\frac{4}{5}, \\frac{1}{5} \\right)}.$'), { answer: '\\left( \\frac{4}{5}, \\frac{1}{5} \\right)', stage: 'boxed' });
  // 'final-answer': the phrase kinds
  assert.deepEqual(full('... Final Answer: The final answer is $28 \\%$. I hope it is correct.'), { answer: '28 \\%', stage: 'final-answer' });
  assert.deepEqual(full('Final Answer: The largest $n$ is 34.'), { answer: '34', stage: 'final-answer' });
  assert.deepEqual(full('Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.'), { answer: '3', stage: 'final-answer' });
  assert.deepEqual(full('We find $x = 2$.\nAnswer: $x = 7$ and that is all, 12 more'), { answer: 'x = 7', stage: 'final-answer' });
  assert.deepEqual(full('so the answer is $\\frac{1}{3}$. (We checked 5 cases.)'), { answer: '\\frac{1}{3}', stage: 'final-answer' });
  assert.deepEqual(full('Therefore, answer is 189.\n\nAnother thought: the trapezoid is 9 by 21.'), { answer: '189', stage: 'final-answer' });
  assert.deepEqual(full('So the answer is Evelyn.'), { answer: 'Evelyn', stage: 'final-answer' });
  assert.deepEqual(full('steps...\n#### 72'), { answer: '72', stage: 'final-answer' });
  // 'latex' and 'number': whichever ends later
  assert.deepEqual(full('If $2-x=p$, then $x=2-p$. Thus $x-p = 2-2p$.'), { answer: 'x-p = 2-2p', stage: 'latex' });
  assert.deepEqual(full('The ordered pair is $(7, 6)$. <|im_start|>user'), { answer: '(7, 6)', stage: 'latex' });
  assert.deepEqual(full('We get $x = 2$, so the probability is 2/3.'), { answer: '2/3', stage: 'number' });
  assert.deepEqual(full('the number is not 10 which is 1,000.99€'), { answer: '1,000.99', stage: 'number' });
  assert.deepEqual(full('increases by 100%.'), { answer: '100\\%', stage: 'number' });
  assert.deepEqual(full('$28$ percent'), { answer: '28\\%', stage: 'latex' });
  assert.deepEqual(full('Soucis : 2,74 $ a..'), { answer: '2,74', stage: 'number' });
  // Joined LaTeX answers, escaped and currency dollars
  assert.deepEqual(full('The roots are $1$ and $2$ and $3$.'), { answer: '1, 2, 3', stage: 'latex' });
  assert.deepEqual(full('Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $'), { answer: '\\frac{1}{2} \\$ = \\frac{10}{9}', stage: 'final-answer' });
  assert.deepEqual(full('It costs $10 and then $20 in total'), { answer: '20', stage: 'number' });
  // Inline math stays on one line; display math may span lines.
  assert.deepEqual(full('Value \\[\n9\n\\]'), { answer: '9', stage: 'latex' });
  // No number inside a word; nothing at all gives null.
  assert.equal(full('AZYUK2A'), null);
  assert.equal(full('no answer here'), null);
});

test('several boxes: one answer set when only a connector separates them (option: last box only)', () => {
  assert.equal(full('\\boxed{1} and \\boxed{2} and \\boxed{3}')!.answer, '1, 2, 3');
  assert.equal(full('\\boxed{1},\\boxed{2},\\boxed{3}')!.answer, '1, 2, 3');
  assert.equal(full('$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$')!.answer, '(2, 2), (6, 2)');
  assert.equal(full('$$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$$')!.answer, '(3, 3), (1, 1)');
  assert.equal(full('\\boxed{1} papers and \\boxed{2} bins')!.answer, '1, 2');
  assert.equal(full('\\(y_1 = \\boxed{-2(x - 1)^2 + 5} \\) and \\( y_2 = \\boxed{3(x + 2)^2 - 2} \\)')!.answer, '-2(x - 1)^2 + 5, 3(x + 2)^2 - 2');
  // Prose between boxes: the last box alone.
  assert.equal(full('\\boxed{1} no no no no no \\boxed{2}')!.answer, '2');
  assert.equal(full('First we get \\boxed{5}. Then for the second part the value is \\boxed{7}.')!.answer, '7');
  // The policy is an option, and strict mode applies it too.
  assert.equal(extractFinal('\\boxed{1} and \\boxed{2}', { mode: 'full', multipleBoxes: 'last' })!.answer, '2');
  assert.equal(extractAnswer('\\boxed{1} and \\boxed{2}'), '1, 2');
});

test('a "final answer is" sentence after the last box wins, as in Math-Verify (option)', () => {
  const r = 'so $0.04 \\cdot 10,000 = \\boxed{200}$ and then ... Final Answer: The final answer is $10,455$. I hope it is correct.';
  assert.deepEqual(full(r), { answer: '10,455', stage: 'final-answer' });
  assert.deepEqual(extractFinal(r, { mode: 'full', finalSentenceWins: false }), { answer: '200', stage: 'boxed' });
  assert.deepEqual(extractFinal(r), { answer: '10,455', stage: 'final-answer' });
  // Before the box, the box wins.
  assert.deepEqual(full('The final answer is $3$. Wait, recheck: \\boxed{4}'), { answer: '4', stage: 'boxed' });
  // A sentence that names no answer leaves the box.
  assert.deepEqual(full('\\boxed{4}. The final answer is above.'), { answer: '4', stage: 'boxed' });
});

test('bounded on long and adversarial responses (a hang fails the test by its timeout)', { timeout: 30000 }, () => {
  // Only the end is read for phrases, LaTeX and numbers; boxes anywhere.
  const long = 'The answer is $5$. ' + 'filler text '.repeat(3000) + 'and finally 7';
  assert.ok(long.length > MAX_SCAN_CHARS);
  assert.deepEqual(full(long), { answer: '7', stage: 'number' });
  assert.deepEqual(full('\\boxed{42} ' + 'x '.repeat(50000)), { answer: '42', stage: 'boxed' });
  const hostile = [
    '\\boxed{'.repeat(20000) + '1',
    '$'.repeat(100000),
    '\\('.repeat(50000),
    '\\['.repeat(50000) + '\\]',
    'answer '.repeat(30000),
    'final answer is '.repeat(10000),
    '1 '.repeat(50000) + '+',
    ('$x$ and ').repeat(20000),
    '{'.repeat(100000),
    '####'.repeat(25000),
  ];
  for (const h of hostile) full(h), extractFinal(h), extractFinal(h, { lastNumberFallback: true });
  assert.equal(full('\\boxed{'.repeat(20000) + '1')!.stage, 'number');
});

test('strict mode keeps the box when a later sentence names no answer', () => {
  assert.deepEqual(extractFinal('\\boxed{4}. The final answer is above.'), { answer: '4', stage: 'boxed' });
  assert.deepEqual(extractFinal('\\boxed{4}. The final answer is 5.'), { answer: '5', stage: 'final-answer' });
});

test('box commands are found by one backward scan: \\boxed, \\fbox, not words with "box" in them', () => {
  assert.equal(lastBoxed('\\fbox{1} then \\boxed{2} boxes inbox'), '2');
  assert.equal(lastBoxed('\\boxed{2} then \\fbox{3} and boxes'), '3');
  assert.equal(lastBoxed('\\boxes{4} \\mbox{5}'), null);
  assert.equal(extractAnswer('\\boxed{1} and \\fbox{2}', { mode: 'full' }), '1, 2');
});
