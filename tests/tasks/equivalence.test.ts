// Answer equivalence, by category: hand-written cases of the kinds found in MATH-500,
// OlympiadBench, NuminaMath and real model outputs. Symmetric pairs are checked both ways;
// gold/prediction asymmetries (assignments, relation/set policy) have their own table; the
// non-equivalent table guards against false positives, the costliest grading error in RL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answersEquivalent, sameAnswer, normalizeAnswer, latexToMathjs } from '../../harness/tasks/grading/equivalence.ts';

const EQUIVALENT: Record<string, [string, string][]> = {
  integers: [['25', '025'], ['1450000', '1,450,000'], ['27', '27.0'], ['-1', '-1.0'], ['+7', '7'], ['1{,}000', '1000'], ['14{,}916', '14916'], ['11,\\! 111,\\! 100', '11111100'], ['1 000', '1000'], ['123456789012345678901234567890', '123456789012345678901234567890'], ['1e3', '1000']],
  'decimals and fractions': [['0.5', '\\frac12'], ['1/2', '\\dfrac{1}{2}'], ['\\tfrac{1}{2}', '.5'], ['\\cfrac{1}{3}', '1/3'], ['\\frac{3}{2}', '1.5'], ['\\frac43', '\\frac{4}{3}'], ['\\frac{14}{3}', '4.66667'], ['\\frac{-3}{4}', '-0.75'], ['\\frac{1}{12}', '0.0833333333333333'], ['16386.20', '16386.2'], ['\\frac3{3}', '1']],
  'radicals and expressions': [
    ['3\\sqrt{13}', '\\sqrt{117}'], ['11\\sqrt2', '11\\sqrt{2}'], ['\\frac{\\sqrt{2}}{2}', '\\frac{1}{\\sqrt{2}}'], ['\\frac{8}{\\sqrt[3]{7}}', '8\\cdot 7^{-1/3}'],
    ['-\\frac{\\pi}{6}', '-\\pi/6'], ['x^5 - x^4 + x^3 - x^2 + x - 1', '-1+x-x^2+x^3-x^4+x^5'], ['(a+5)(b+2)', '(b+2)(a+5)'],
    ['\\frac{n(n+1)(2 n+1)}{6}', '\\frac{2n^3+3n^2+n}{6}'], ['\\frac{x+2}{7}', '\\frac{x}{7}+\\frac{2}{7}'], ['\\binom{2n}{n}', '\\dbinom{2n}{n}'], ['\\binom{6}{2}', '15'],
    ['6 - 5i', '6-5i'], ['\\pi', '3.14159'], ['2 \\sin b \\cos a', '2\\cos a \\sin b'], ['\\frac{9}{4}\\pi', '\\frac94\\pi'], ['\\sqrt 2+\\sqrt 5', '\\sqrt{5}+\\sqrt{2}'],
    ['\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}', '\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}'], ['2^{64}', '18446744073709551616'], ['\\frac{100!}{2^{50}}', '\\frac{100!}{2^{50}}'],
    ['|x-2|', '|2-x|'], ['\\log_2 8', '3'], ['e^{i\\pi}', '-1'], ['\\alpha+\\beta', '\\beta+\\alpha'],
  ],
  'fractional powers (compared where both sides are real)': [['x^{2/3}', '\\sqrt[3]{x}^2'], ['\\frac{1}{3x^{2/3}}', '\\frac{1}{3\\sqrt[3]{x}^2}'], ['\\sqrt[3]{-8}', '-2']],
  'function powers and inverses': [['\\sec^2(y)', '\\tan^2(y)+1'], ['\\sin^2 x + \\cos^2 x', '1'], ['\\sin^{-1}(x)', '\\arcsin x'], ['\\cot x', '\\frac{\\cos x}{\\sin x}']],
  'text, units, degrees, percent, currency': [
    ['\\text{Evelyn}', 'Evelyn'], ['\\text{east}', 'East'], ['\\text{odd}', 'odd'], ['10\\text{ inches}', '10'], ['5 \\mathrm{~cm}', '5'], ['12 \\text{ cm}^2', '12'],
    ['15\\mbox{ cm}^2', '15'], ['125\\textnormal{ miles}', '125'], ['7 units', '7'], ['12 square units', '12'], ['0.06 \\text{ yuan}', '0.06'], ['\\frac{1}{3} \\text{meters}', '1/3'],
    ['8:34 \\text{ p.m.}', '8:34 \\text{pm}'], ['90^\\circ', '90'], ['145^{\\circ}', '145'], ['\\$18.90', '18.9'], ['62.5\\%', '62.5'], ['50\\%', '0.5'], ['28 percent', '28\\%'], ['28 pct', '0.28'], ['28 percentage', '28'],
  ],
  'multiple choice': [['\\text{(C)}', '(C)'], ['\\textbf{C}', 'C'], ['(C)', 'C'], ['\\text{C}', '\\mathrm{(C)}']],
  'tuples, intervals, sets, matrices': [
    ['\\left( 3, \\frac{\\pi}{2} \\right)', '(3,\\pi/2)'], ['(6,31,-1)', '(6, 31, -1)'], ['(3,4]', '\\left(3, 4\\right]'], ['(-\\infty,-5)', '(-\\infty, -5)'],
    ['(-\\infty, 0) \\cup\\{1\\}', '(-\\infty,0)\\cup\\{1\\}'], ['\\{1,2\\}', '\\{2,1\\}'], ['(1,2)', '1,2'], ['{1,3}', '(1,3)'], ['(1,\\frac{9}{2})', '(1,4.5)'],
    ['[-1, -\\tfrac12) \\cup (-\\tfrac12, 0) \\cup (0, 1)', '[-1,-\\frac{1}{2})\\cup(-\\frac{1}{2},0)\\cup(0,1)'], ['(0,1]\\cup(1,2)', '(0,2)'],
    ['\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}', '\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\end{pmatrix}'],
    ['\\left[\\begin{array}{cc}1 & 2 \\\\ 3 & 4\\end{array}\\right]', '\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}'], ['\\begin{bmatrix}0 & 0 \\\\ 0 & 0\\end{bmatrix}', '\\begin{pmatrix}0&0\\\\0&0\\end{pmatrix}'],
    ['\\begin{pmatrix}\\frac{1}{3\\sqrt[3]{x}^2}&0\\\\-\\sin(x)&1\\\\\\end{pmatrix}', '\\begin{pmatrix}\\frac{1}{3x^{2/3}}&0\\\\-\\sin(x)&1\\end{pmatrix}'], ['(\\begin{pmatrix}1\\\\2\\end{pmatrix})', '\\begin{pmatrix}1\\\\2\\end{pmatrix}'],
    ['(0;0;6),(4;-2;0)', '(4, -2, 0), (0, 0, 6)'],
  ],
  'several answers (a set)': [
    ['1,-2', '-2, 1'], ['3, 5, 7', '7,5,3'], ['1 \\pm \\sqrt{19}', '1-\\sqrt{19}, 1+\\sqrt{19}'], ['$69$,$84$', '84, 69'], ['(6,3),(9,3),(9,5)', '(9,5),(6,3),(9,3)'],
    ['6 \\text{ and } 8', '6,8'], ['12 \\text{ and } 13', '12 and 13'], ['19, 46, and 82', '19, 46, \\text{ and } 82'], ['(11,7)or(7,11)', '(7,11),\\ (11,7)'], ['21,16 or 11', '21,16,11'],
    ['-12;-11;-10', '\\{-12, -11, -10\\}'], ['\\pm 2021', '\\{-2021, 2021\\}'], ['(3,17),(3,17),(1,2)', '(1,2),(3,17)'], ['32, 349', '349, 32'],
  ],
  'relations': [
    ['x \\ge 5', 'x >= 5'], ['x \\geq 5', 'x\\geqslant 5'], ['x \\le 2', 'x <= 2'], ['x \\leq 2', 'x\\le2'], ['x \\lt 3', 'x < 3'], ['x \\gt 5', 'x > 5'], ['x \\neq 3', 'x != 3'], ['x \\ne 3', 'x \\neq 3'],
    ['x \\le 5', '5 \\ge x'], ['x < 1', '-x > -1'], ['x \\le 1', '-x \\ge -1'], ['2x > 4', 'x > 2'], ['1 < x \\le 2', '2 \\ge x > 1'],
    ['34x+45y-20z+100=0', '-34x-45y+20z-100=0'], ['2x+4y-3=0', 'y=-\\frac{1}{2}x+\\frac{3}{4}'], ['x^2/4 + y^2/3 = 1', 'x^2/16 + y^2/12 = 1/4'], ['y=2x+3', 'y=3+2x'],
    ['x = 11', 'x = 5+5+1 = 7 = 11'], ['z = 1 + 1 = 2', 'z = 3+3 = 2'], ['x = 1/3', 'x = 5+5+1 = 1/3 \\approx 0.3'], ['x + y < 1', '1 - x - y > 0'],
    ['a_3 = 2, a_{37} = 19', 'a_{37} = 19, a_3 = 2'], ['f(2) < f(1) < f(4)', 'f(2)<f(1)<f(4)'], ['k \\ge 2', 'k\\geq2'], ['x \\ne 3', 'x \\neq 3'],
  ],
};

// [gold, prediction]: equal in this direction (the other direction is checked where it differs).
const DIRECTIONAL: [string, string, boolean][] = [
  // A predicted equation is read as its value; a gold one only when its left side names the answer.
  ['5', 'x=5', true], ['x=5', '5', true], ['11', 'x\\approx11', true], ['1/3', 'x=1/3\\approx1.3', true],
  ['(p,q)=(3,2)', '(3,2)', true], ['(p,q,r)=(3,2,7)', '(3,2,7)', true], ['|AB| = 1', '1', true], ['A:B=1', '1', true], ['f(x)=1', '1', true],
  ['\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}', '\\frac{1}{\\sqrt{6}}', true], ['S_{MBCN}:S=7:32', '7:32', true], ['V_{1}:V_{2}=11:21', '11:21', true],
  ['AB=4,CD=5', '4, 5', true], ['x = -5,\\ p = \\frac{14}{3}', '-5, \\frac{14}{3}', true], ['a=4,\\,-8,\\,-10', '-10,-8,4', true], ['p=5,q=2;p=7,q=2', '(5,2),(7,2)', true],
  ['m_{\\max }=n^{2}-n-1', 'n^2-n-1', true], ['f(x)=2 x', '2x', true], ['(5, 8), (8, 5)', '(x, y) = (5, 8), (8, 5)', true],
  // One value written several ways ("\frac23 \approx 0.67"): any of its forms matches.
  ['\\$\\dfrac23 \\approx \\$0.67', '\\frac{2}{3}', true], ['\\$\\dfrac23 \\approx \\$0.67', '0.67', true], ['0.56 = 56\\%', '56\\%', true], ['2/3', '\\frac{2}{3} \\approx 0.67', true],
  ['\\$\\dfrac23 \\approx \\$0.67', '\\frac29', false], ['0.56 = 56\\%', '0.57', false], ['2/3', '\\frac{2}{3} \\approx 0.97', false],
  ['7 = 11a+c', '11a+c', false], ['a+3z = 0', '0', false], ['2x + z = 1', '1', false], ['a^2 + b = 0', '0', false], ['x = 1', 'y = 1', false],
  // Relation/set policy (Math-Verify's default): a gold inequality matches a predicted interval.
  ['1 < x \\le 2', 'x \\in (1, 2]', true], ['x \\in (1, 2]', '1 < x \\le 2', false], ['-793 < a < 10', '(-793, 10)', true], ['0<f(x)<1', '(0,1)', true],
  ['1\\leq|z|\\leq \\frac{3}{2}', 'z \\in \\left[-\\frac{3}{2}, -1\\right] \\cup \\left[1, \\frac{3}{2}\\right]', true], ['x \\ne 3', '(-\\infty,3)\\cup(3,\\infty)', true],
  ['x \\ge 5', '[5, \\infty)', true], ['x > 5', '[5, \\infty)', false],
];

const NOT_EQUIVALENT: [string, string][] = [
  // Reported false positives: a comma followed by a space separates items; "\text{ and }" is a separator.
  ['32, 349', '32349'], ['3100', '3, 100'], ['68', '6 \\text{ and } 8'], ['12 13', '1213'],
  // Numbers beyond double range compare exactly, never as ±Infinity or 0.
  ['1e999999', '2e999999'], ['-1e999999', '-5e400'], ['1e-999999', '0'], ['1e400', '1e401'], ['10^{400}', '10^{400}+1'], ['2^{64}', '18446744073709551615'], ['1000!', '1000!+1'],
  // Written numbers are exact; a decimal is an approximation only of a non-terminating value.
  ['26', '025'], ['1450001', '1,450,000'], ['0.51', '\\frac12'], ['\\frac13', '0.33'], ['1000.01', '1000'], ['16386.20', '16386.17'], ['1000.99', '1000.9'], ['\\pi', '3.2'],
  ['\\frac{2}{3}', '\\frac{3}{2}'], ['2\\sqrt{13}', '\\sqrt{117}'], ['\\sqrt{2}', '2'], ['4', '4\\sqrt{2}'], ['1\\sqrt{19}', '1'], ['2', '\\frac{1+\\sqrt{5}}{2}'], ['4', '\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}'],
  // Expressions.
  ['2k+2', '2n+2'], ['x^5 - x^4 + x^3 - x^2 + x + 1', 'x^5 - x^4 + x^3 - x^2 + x - 1'], ['n^2', 'n^3'], ['\\frac{1}{n}', 'n'], ['(a+5)(b+2)', '(+5)(b+2)'], ['x+2n+1', 'x+1'],
  ['6 + 5i', '6-5i'], ['\\sqrt{x^2}', 'x'], ['f(x)', 'f(y)'], ['I(0)', '0'], ['1 - \\frac{1}{e}', '1 + \\frac{1}{e}'], ['\\sec^2(y)', '\\tan^2(y)'],
  // Percent: only the side with the sign may be divided by 100.
  ['60\\%', '0.5'], ['0.5\\%', '50'], ['28', '0.28'],
  // Structures.
  ['(3,4)', '(3,4]'], ['[3,4]', '(3,4)'], ['(4,3)', '(3,4)'], ['1,2', '1,2,3'], ['1 + \\sqrt{19}', '1 \\pm \\sqrt{19}'], ['\\pm 2021', '2021'],
  ['\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}', '\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}'], ['\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}', '\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}'],
  ['\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}', '\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}'], ['(-\\infty,0)\\cup\\{1\\}', '(-\\infty,0)\\cup\\{2\\}'], ['(3,1)', '{1,3}'],
  ['(37,3,3),(17,3,3,7)', '(37,3,3,13),(17,3,3,7)'], ['n=2, 3, 4', 'n=1, 2, 3'], ['D = (0, 1)', 'D = (0, 1.5)'], ['12:00', '1:00'],
  // Relations.
  ['x > 5', 'x < 5'], ['x \\ge 5', 'x \\le 5'], ['x < 1', 'x > -1'], ['x < 1', 'y < 1'], ['x \\le 2', 'x < 2'], ['x^2 > 4', 'x > 2'], ['x+y<1', 'x+y>1'],
  ['34x+45y-20z+100=0', '34x+45y-20z-100=0'], ['k \\ge 2', 'k \\le 2'],
  // Equations between constants are claims, never scaled into each other.
  ['\\frac23 = 0.67', '\\frac29 = 0.67'], ['0.56 = 56', '0.96 = 56'], ['1 = 2', '2 = 4'],
  // Words after a number that change it are never dropped as units.
  ['8:34 \\text{ p.m.}', '8:34 \\text{ a.m.}'], ['5 \\text{ million}', '5'], ['3 \\text{ dozen}', '3'],
  // Words and letters.
  ['\\text{Evelyn}', '\\text{Bob}'], ['east', 'teas'], ['(A)', '(B)'], ['d', '\\text{E}'], ['C', 'c'],
  ['', '5'], ['5', ''],
];

for (const [category, pairs] of Object.entries(EQUIVALENT)) {
  test(`equivalent, ${category}: ${pairs.length} pairs, both directions`, () => {
    const failed = pairs.filter(([a, b]) => !answersEquivalent(a, b) || !answersEquivalent(b, a));
    assert.deepEqual(failed, []);
  });
}

test(`gold/prediction asymmetries: ${DIRECTIONAL.length} directed pairs`, () => {
  const failed = DIRECTIONAL.filter(([gold, pred, want]) => answersEquivalent(pred, gold) !== want);
  assert.deepEqual(failed, []);
});

test(`not equivalent: ${NOT_EQUIVALENT.length} pairs, both directions (false-positive guards)`, () => {
  const failed = NOT_EQUIVALENT.filter(([a, b]) => answersEquivalent(a, b) || answersEquivalent(b, a));
  assert.deepEqual(failed, []);
});

test('the relation/set policy is an option; sameAnswer (maj@k votes) is symmetric', () => {
  assert.equal(answersEquivalent('1 < x \\le 2', 'x \\in (1, 2]', { setRelation: 'both' }), true);
  assert.equal(answersEquivalent('-2 \\le x \\le 7', '[-2, 7]', { setRelation: 'both' }), true);
  for (const [a, b] of [['1/2', '0.5'], ['x \\in (1, 2]', '1 < x \\le 2'], ['x=5', '5'], ['\\{1,2\\}', '2, 1']]) {
    assert.equal(sameAnswer(a!, b!), true, `${a} ~ ${b}`);
    assert.equal(sameAnswer(b!, a!), true, `${b} ~ ${a}`);
  }
  assert.equal(sameAnswer('1/2', '0.51'), false);
  assert.throws(() => answersEquivalent('1', '1.0', { relTol: 0 }), /relTol must be in \(0, 0.1\)/);
  // A looser tolerance accepts a shorter decimal for a non-terminating value.
  assert.equal(answersEquivalent('0.33', '\\frac13', { relTol: 0.02 }), true);
});

test('normalisation removes surface LaTeX only', () => {
  assert.equal(normalizeAnswer('\\left( 3, \\dfrac{\\pi}{2} \\right)').s, '(3,\\frac{\\pi}{2})');
  assert.equal(normalizeAnswer('$\\boxed{1,000}$.').s, '1000');
  assert.deepEqual(normalizeAnswer('62.5\\%'), { s: '62.5', percent: true });
  assert.deepEqual(normalizeAnswer('28 percent'), { s: '28', percent: true });
  assert.equal(normalizeAnswer('\\cot x').s, '\\cot x');
  assert.equal(normalizeAnswer('x >= 5').s, normalizeAnswer('x \\geq 5').s);
  assert.equal(normalizeAnswer('\\textbf{(C)}').s, 'C');
  // A separator, never a dropped unit; a comma followed by a space is not a thousands separator.
  assert.notEqual(normalizeAnswer('6 \\text{ and } 8').s, '68');
  assert.notEqual(normalizeAnswer('32, 349').s, '32349');
  assert.equal(normalizeAnswer('32,349').s, '32349');
  assert.equal(normalizeAnswer('0,111').s, '0,111');
});

test('LaTeX → mathjs translation; unknown commands give null, never code', () => {
  assert.equal(latexToMathjs('\\frac{1}{2}'), '((1)/(2))');
  assert.equal(latexToMathjs('\\sqrt[3]{8}'), ' nthRoot(8,3)');
  assert.equal(latexToMathjs('\\sin^2 x'), ' (sin( x ))^(2)');
  assert.equal(latexToMathjs('f(x)'), ' f_x ');
  assert.equal(latexToMathjs('\\unknowncommand{2}'), null);
  assert.equal(latexToMathjs('|x'), null);
  // Property access, assignment, function definitions, strings and indexing are not in the whitelist.
  assert.equal(answersEquivalent('f(x)=import("fs")', 'f(x)=2'), false);
  assert.equal(answersEquivalent('a.constructor', 'a'), false);
  assert.equal(answersEquivalent('[1,2][1]', '2'), false);
  assert.equal(answersEquivalent('evaluate("1+1")', '2'), false);
  assert.equal(answersEquivalent('N__0', '1'), false);
});

test('adversarial sizes are bounded (a hang fails the test by its timeout)', { timeout: 30000 }, () => {
  const big = '('.repeat(3000) + '1' + ')'.repeat(3000);
  assert.equal(answersEquivalent(big, '2'), false);
  assert.equal(answersEquivalent('(((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))', '1'), false);
  assert.equal(answersEquivalent('9^{9^{9^{9}}}', '9^{9^{9^{9}}}+1'), false);
  assert.equal(answersEquivalent('10^{400}', '10^{400}'), true);
  assert.equal(answersEquivalent('2^{100000000}', '2^{100000000}+1'), false);
  // mathjs' own C(n, k) loops n times; the bounded one refuses huge n instead of taking seconds.
  assert.equal(answersEquivalent('\\binom{100000000}{50000000}', '\\binom{100000000}{50000000}+1'), false);
  assert.equal(answersEquivalent('1000!', '1000!+1'), false);
  // Quadratic-regex bait, long lists and deep structures.
  const bait = '1' + 'a'.repeat(50000) + '1' + 'a'.repeat(50000);
  assert.equal(answersEquivalent(bait, bait + 'b'), false);
  const list = Array.from({ length: 60 }, (_, k) => `(${k},x_{${k}})`).join(',');
  assert.equal(answersEquivalent(list, list.replace('(0,x_{0})', '(0,x_{1})')), false);
  // 60 items in another order and form still match: cheap pairs do not use up the budget.
  const other = Array.from({ length: 60 }, (_, k) => `(${59 - k},x_{${59 - k}}+0)`).join(', ');
  assert.equal(answersEquivalent(other, list), true);
  assert.equal(answersEquivalent('\\{'.repeat(500) + '1' + '\\}'.repeat(500), '1'), false);
});

test('the work budget is deterministic: exhausted work answers "not equal", whatever the clock', () => {
  const a = '\\frac{n(n+1)(2 n+1)}{6}', b = '\\frac{2n^3+3n^2+n}{6}';
  assert.equal(answersEquivalent(a, b, { maxWork: 1 }), false);
  assert.equal(answersEquivalent('(1,2),(3,4)', '(3,4),(1,2)', { maxSteps: 2 }), false);
  assert.equal(answersEquivalent(a, b, { maxWork: 5000, budgetMs: 60000 }), true);
  // The default wall-clock net is far above what ordinary answers take: the same verdict at 1 ms or 60 s.
  for (const [x, y] of [['x^{2/3}', '\\sqrt[3]{x}^2'], ['-x>-1', 'x<1'], ['(1,2)', '(1,2]']]) {
    assert.equal(answersEquivalent(x!, y!, { budgetMs: 60000 }), answersEquivalent(x!, y!));
  }
});
