// Hand-written equivalence and non-equivalence cases of the kinds found in MATH-500 and
// OlympiadBench answers, plus extraction cases. Each row: [predicted answer, gold, expected].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answersEquivalent, normalizeAnswer, latexToMathjs } from '../../harness/tasks/grading/equivalence.ts';
import { extractAnswer, lastBoxed, matchBraces } from '../../harness/tasks/grading/extract.ts';
import { gradeResponse, mathGrader, mathGraderLastNumber, getGrader, registerGrader } from '../../harness/tasks/grading/grader.ts';

const EQUIVALENT: [string, string][] = [
  // integers: zero padding, commas, trailing .0, signs
  ['25', '025'],
  ['1450000', '1,450,000'],
  ['27', '27.0'],
  ['-1', '-1.0'],
  ['+7', '7'],
  ['1{,}000', '1000'],
  ['123456789012345678901234567890', '123456789012345678901234567890'],
  // decimals vs fractions
  ['0.5', '\\frac12'],
  ['1/2', '\\dfrac{1}{2}'],
  ['\\tfrac{1}{2}', '.5'],
  ['\\frac{3}{2}', '1.5'],
  ['-\\frac{\\pi}{6}', '-\\pi/6'],
  ['\\frac43', '\\frac{4}{3}'],
  ['\\frac{14}{3}', '4.66667'],
  ['\\frac{-3}{4}', '-0.75'],
  // radicals and LaTeX expressions
  ['3\\sqrt{13}', '\\sqrt{117}'],
  ['11\\sqrt2', '11\\sqrt{2}'],
  ['70 \\sqrt{2}', '70\\sqrt{2}'],
  ['\\frac{3\\sqrt{3}}{4}', '\\frac{3}{4}\\sqrt{3}'],
  ['\\frac{8}{\\sqrt[3]{7}}', '8\\cdot 7^{-1/3}'],
  ['\\frac{\\sqrt{2}}{2}', '\\frac{1}{\\sqrt{2}}'],
  ['2^{1009}', '$2^{1009}$'],
  ['\\frac{100!}{2^{50}}', '\\frac{100!}{2^{50}}'],
  ['x^5 - x^4 + x^3 - x^2 + x - 1', '-1+x-x^2+x^3-x^4+x^5'],
  ['(a+5)(b+2)', '(b+2)(a+5)'],
  ['\\frac{1}{2 n+2}', '\\frac{1}{2(n+1)}'],
  ['\\frac{n(n+1)(2 n+1)}{6}', '\\frac{2n^3+3n^2+n}{6}'],
  ['2 n', '2n'],
  ['n^{2}-n+1', 'n^2 - n + 1'],
  ['\\binom{2n}{n}', '\\dbinom{2n}{n}'],
  ['6 - 5i', '6-5i'],
  ['\\cot x', '\\cot x'],
  ['\\pi', '3.14159'],
  // \left \right, \text{}, units, degrees, percent
  ['\\left( 3, \\frac{\\pi}{2} \\right)', '(3,\\pi/2)'],
  ['\\text{Evelyn}', 'Evelyn'],
  ['\\text{east}', 'East'],
  ['\\text{(C)}', '(C)'],
  ['10\\text{ inches}', '10'],
  ['5 \\mathrm{~cm}', '5'],
  ['12 \\text{ cm}^2', '12'],
  ['7 units', '7'],
  ['90^\\circ', '90'],
  ['145^{\\circ}', '145'],
  ['\\$18.90', '18.9'],
  ['62.5\\%', '62.5'],
  ['50\\%', '0.5'],
  // assignments
  ['x=5', '5'],
  ['k=1', '1'],
  ['f(x)=2 x', '2x'],
  ['m_{\\max }=n^{2}-n-1', 'n^2-n-1'],
  ['y=2x+3', 'y=3+2x'],
  // tuples, intervals, sets, multiple answers
  ['(6,31,-1)', '(6, 31, -1)'],
  ['(3,4]', '\\left(3, 4\\right]'],
  ['(-\\infty,-5)', '(-\\infty, -5)'],
  ['(-\\infty, 0) \\cup\\{1\\}', '(-\\infty,0)\\cup\\{1\\}'],
  ['1,-2', '-2, 1'],
  ['3, 5, 7', '7,5,3'],
  ['1 \\pm \\sqrt{19}', '1-\\sqrt{19}, 1+\\sqrt{19}'],
  ['\\{1,2\\}', '\\{2,1\\}'],
  ['$69$,$84$', '84, 69'],
  ['(6,3),(9,3),(9,5),(54,5)', '(9,5),(6,3),(54,5),(9,3)'],
  ['(1,2)', '1,2'],
  ['\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}', '\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\\\ \\frac53 \\end{pmatrix}'],
  ['\\frac{32}{9},\\frac{1}{2}', '0.5, 32/9'],
  ['x \\in [2, 5)', '[2,5)'],
  ['\\binom{6}{2}', '15'],
  ['1e3', '1000'],
  ['ab', 'ba'],
  ['k\\geqslant2', 'k \\geq 2'],
];

const NOT_EQUIVALENT: [string, string][] = [
  ['26', '025'],
  ['1450001', '1,450,000'],
  ['0.51', '\\frac12'],
  ['\\frac{2}{3}', '\\frac{3}{2}'],
  ['2\\sqrt{13}', '\\sqrt{117}'],
  ['\\sqrt{2}', '2'],
  ['2k+2', '2n+2'],
  ['x^5 - x^4 + x^3 - x^2 + x + 1', 'x^5 - x^4 + x^3 - x^2 + x - 1'],
  ['(3,4)', '(3,4]'],
  ['[3,4]', '(3,4)'],
  ['(4,3)', '(3,4)'],
  ['1,2', '1,2,3'],
  ['1 + \\sqrt{19}', '1 \\pm \\sqrt{19}'],
  ['\\text{Evelyn}', '\\text{Bob}'],
  ['6 + 5i', '6-5i'],
  ['90^\\circ', '45^\\circ'],
  ['60\\%', '0.5'],
  ['\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}', '\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}'],
  ['(-\\infty,0)\\cup\\{1\\}', '(-\\infty,0)\\cup\\{2\\}'],
  ['1000', '1001'],
  ['1000000', '1000001'],
  ['n^2', 'n^3'],
  ['\\frac{1}{n}', 'n'],
  ['', '5'],
  ['\\pi', '3.2'],
  ['east', 'teas'],
  ['(A)', '(B)'],
  ['k \\ge 2', 'k \\le 2'],
];

test(`${EQUIVALENT.length} equivalent pairs grade as equivalent (both directions)`, () => {
  const failed = EQUIVALENT.filter(([a, b]) => !answersEquivalent(a, b) || !answersEquivalent(b, a));
  assert.deepEqual(failed, []);
});

test(`${NOT_EQUIVALENT.length} non-equivalent pairs grade as different (both directions)`, () => {
  const failed = NOT_EQUIVALENT.filter(([a, b]) => answersEquivalent(a, b) || answersEquivalent(b, a));
  assert.deepEqual(failed, []);
});

test('normalisation removes surface LaTeX only', () => {
  assert.equal(normalizeAnswer('\\left( 3, \\dfrac{\\pi}{2} \\right)').s, '(3,\\frac{\\pi}{2})');
  assert.equal(normalizeAnswer('$\\boxed{1,000}$.').s, '1000');
  assert.deepEqual(normalizeAnswer('62.5\\%'), { s: '62.5', percent: true });
  assert.equal(normalizeAnswer('\\cot x').s, '\\cot x');
});

test('LaTeX → mathjs translation; unknown commands give null, never code', () => {
  assert.equal(latexToMathjs('\\frac{1}{2}'), '((1)/(2))');
  assert.equal(latexToMathjs('\\sqrt[3]{8}'), ' nthRoot(8,3)');
  assert.equal(latexToMathjs('\\unknowncommand{2}'), null);
  // Property access, assignment and function definitions are not in the whitelist.
  assert.equal(answersEquivalent('f(x)=import("fs")', 'f(x)=2'), false);
  assert.equal(answersEquivalent('a.constructor', 'a'), false);
  assert.equal(answersEquivalent('[1,2][1]', '2'), false);
});

test('adversarial sizes are bounded', () => {
  const big = '(' .repeat(3000) + '1' + ')'.repeat(3000);
  const t = performance.now();
  assert.equal(answersEquivalent(big, '2'), false);
  assert.equal(answersEquivalent('9^{9^{9^{9}}}', '9^{9^{9^{9}}}+1'), false);
  assert.equal(answersEquivalent('10^{400}', '10^{400}'), true);
  // mathjs' own C(n, k) loops n times; the bounded one refuses huge n instead of taking seconds.
  assert.equal(answersEquivalent('\\binom{100000000}{50000000}', '\\binom{100000000}{50000000}+1'), false);
  assert.equal(answersEquivalent('1000!', '1000!+1'), false);
  // Quadratic-regex bait and many unbalanced \boxed{ are answered in linear time.
  const bait = '1' + 'a'.repeat(50000) + '1' + 'a'.repeat(50000);
  assert.equal(answersEquivalent(bait, bait + 'b'), false);
  assert.equal(gradeResponse('\\boxed{'.repeat(20000) + '1', '1').correct, false);
  assert.ok(performance.now() - t < 2000);
});

test('extraction: last \\boxed with nested braces, ####, "the answer is", fallback', () => {
  assert.equal(lastBoxed('a \\boxed{1} b \\boxed{\\frac{1}{\\sqrt{2}}} c'), '\\frac{1}{\\sqrt{2}}');
  assert.equal(lastBoxed('\\boxed{\\{1,2\\}}'), '\\{1,2\\}');
  assert.equal(lastBoxed('\\boxed 5$'), '5');
  assert.equal(lastBoxed('\\boxed{unclosed'), null);
  assert.equal(lastBoxed('\\fbox{7}'), '7');
  assert.deepEqual(matchBraces('{a{b}c}d', 0), { content: 'a{b}c', end: 7 });
  assert.equal(extractAnswer('7+6+0=13,4+8+1=13,3+0+1=4 #### 433'), '433');
  assert.equal(extractAnswer('so #### 1,450,000\nthanks'), '1,450,000');
  assert.equal(extractAnswer('Thus the answer is $\\frac{1}{2}$. Done.'), '\\frac{1}{2}');
  assert.equal(extractAnswer('The final answer is 3.5.'), '3.5');
  assert.equal(extractAnswer('I think 12 and then 13'), null);
  assert.equal(extractAnswer('I think 12 and then 13', { lastNumberFallback: true }), '13');
  assert.equal(extractAnswer('total 1,234, done', { lastNumberFallback: true }), '1,234');
  assert.equal(extractAnswer('no digits here', { lastNumberFallback: true }), null);
});

test('graders: strict vs last-number fallback, registry', () => {
  assert.deepEqual(gradeResponse('so \\boxed{0.5}', '\\frac{1}{2}'), { correct: true, extracted: '0.5' });
  assert.deepEqual(gradeResponse('7*6+0=42 #### 42', '42'), { correct: true, extracted: '42' });
  assert.deepEqual(gradeResponse('7*6+0=42 #### 41', '42'), { correct: false, extracted: '41' });
  assert.deepEqual(mathGrader.grade('it is 42', '42'), { correct: false, extracted: null });
  assert.deepEqual(mathGraderLastNumber.grade('it is 42', '42'), { correct: true, extracted: '42' });
  assert.equal(getGrader('math'), mathGrader);
  const exact = { id: 'exact-test', grade: (r: string, g: string) => ({ correct: r === g, extracted: r }) };
  registerGrader(exact);
  assert.equal(getGrader('exact-test'), exact);
  assert.throws(() => registerGrader({ ...exact }), /already registered/);
  assert.throws(() => getGrader('nope'), /unknown grader 'nope'/);
});
