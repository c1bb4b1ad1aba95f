// The graders: registry, strict vs full extraction with the stage reported, gold answers
// written as responses, the `equivalent` member every math grader has (maj@k votes by it), and
// which grader training and evaluation use by default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradeResponse, goldAnswer, mathGrader, mathGraderLastNumber, mathVerifyGrader, getGrader, listGraders, registerGrader, makeMathGrader } from '../../harness/tasks/grading/grader.ts';
import { getBenchmark } from '../../harness/tasks/registry.ts';

test('registry: math, math-last-number, math-verify; plugin graders register by id', () => {
  assert.deepEqual(listGraders().slice(0, 3), ['math', 'math-last-number', 'math-verify']);
  assert.equal(getGrader('math'), mathGrader);
  assert.equal(getGrader('math-last-number'), mathGraderLastNumber);
  assert.equal(getGrader('math-verify'), mathVerifyGrader);
  const exact = { id: 'exact-test', grade: (r: string, g: string) => ({ correct: r === g, extracted: r }) };
  registerGrader(exact);
  assert.equal(getGrader('exact-test'), exact);
  assert.throws(() => registerGrader({ ...exact }), /already registered/);
  assert.throws(() => registerGrader({ ...exact, id: 'Bad Id' }), /lower-case letters, digits and dashes/);
  assert.throws(() => getGrader('nope'), /unknown grader 'nope'/);
});

test('strict vs full: the same response, with the stage that found the answer', () => {
  const unboxed = 'We solve it and get $x = \\frac{1}{2}$.';
  assert.deepEqual(mathGrader.grade(unboxed, '0.5'), { correct: false, extracted: null, stage: null });
  assert.deepEqual(mathGraderLastNumber.grade(unboxed, '0.5'), { correct: false, extracted: '2', stage: 'number' });
  assert.deepEqual(mathVerifyGrader.grade(unboxed, '0.5'), { correct: true, extracted: 'x = \\frac{1}{2}', stage: 'latex' });
  assert.deepEqual(mathGrader.grade('so \\boxed{0.5}', '\\frac{1}{2}'), { correct: true, extracted: '0.5', stage: 'boxed' });
  assert.deepEqual(mathGrader.grade('7*6+0=42 #### 41', '42'), { correct: false, extracted: '41', stage: 'final-answer' });
  assert.deepEqual(mathVerifyGrader.grade('Final Answer: The final answer is $14 {, }916$. I hope it is correct.', '14916'), { correct: true, extracted: '14 {, }916', stage: 'final-answer' });
  // Numbers beyond double range through the whole grader (issue 13).
  assert.equal(gradeResponse('\\boxed{1e999999}', '2e999999').correct, false);
  assert.equal(gradeResponse('\\boxed{-1e999999}', '-5e400').correct, false);
  assert.equal(gradeResponse('\\boxed{1e-999999}', '0').correct, false);
  assert.equal(gradeResponse('\\boxed{1e999999}', '10e999998').correct, true);
  // The reported false positives, through the whole grader.
  assert.equal(gradeResponse('is $\\boxed{32, 349}$', '32349').correct, false);
  assert.equal(gradeResponse('is $\\boxed{32,\\! 349}$', '32349').correct, true);
  assert.equal(gradeResponse('\\boxed{3100}', '3, 100').correct, false);
  assert.equal(gradeResponse('\\boxed{68}', '6 \\text{ and } 8').correct, false);
  assert.equal(gradeResponse('\\boxed{12 and 13}', '12 \\text{ and } 13').correct, true);
});

test('a gold written as a response is read with the full extraction, as Math-Verify reads gold', () => {
  assert.equal(goldAnswer('\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).'), '1, -2');
  assert.equal(goldAnswer('$125$ miles'), '125');
  assert.equal(goldAnswer('$1$ and $2$ and $3$'), '1, 2, 3');
  assert.equal(goldAnswer(' So the answer is: \\[ \\boxed{32349} \\]'), '32349');
  // Answer strings stay as they are, including LaTeX with a stray "$ $" and escaped dollars.
  for (const g of ['\\frac{1}{2}', '$28\\%$', 'x_{0} \\cos (\\omega t)+$ $\\dot{x}_{0}', '\\$18.90', '$$f(y) = y$$']) assert.equal(goldAnswer(g), g);
  assert.equal(mathVerifyGrader.grade('$\\boxed{1,2,3}$', '$1$ and $2$ and $3$').correct, true);
  assert.equal(mathVerifyGrader.grade('$\\boxed{1,2}$', '\\boxed{1} no no no no no \\boxed{2}').correct, false);
});

test('every math grader has `equivalent` (maj@k votes by grader equivalence, not by string)', () => {
  for (const g of [mathGrader, mathGraderLastNumber, mathVerifyGrader]) {
    assert.ok(g.equivalent, g.id);
    assert.equal(g.equivalent('1/2', '0.5'), true);
    assert.equal(g.equivalent('\\frac{1}{2}', '\\dfrac12'), true);
    assert.equal(g.equivalent('x \\in (1, 2]', '1 < x \\le 2'), true);
    assert.equal(g.equivalent('1/2', '0.6'), false);
  }
  const custom = makeMathGrader({ mode: 'full', relTol: 0.01 }, 'custom-loose');
  assert.equal(custom.equivalent!('0.333', '\\frac13'), true);
  assert.equal(mathVerifyGrader.equivalent!('0.333', '\\frac13'), false);
});

test('defaults: training rewards use the strict grader, evaluation of standard benchmarks math-verify', () => {
  assert.equal(getBenchmark('arith-id').grader.id, 'math');
  assert.equal(getBenchmark('math500').grader.id, 'math-verify');
  assert.equal(getBenchmark('gsm8k').grader.id, 'math-verify');
});
