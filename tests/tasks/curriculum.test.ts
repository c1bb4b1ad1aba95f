// Built-in curriculum: worked solutions are right, generation is deterministic, benchmarks are
// disjoint from training by construction, difficulty shows up as length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  trainingProblems, builtinProblems, BUILTIN_BENCHMARKS, formatPrompt, formatTarget, isHeldOut, LEVELS, arithProblem,
} from '../../harness/tasks/curriculum.ts';
import { getBenchmark } from '../../harness/tasks/registry.ts';
import { gradeResponse } from '../../harness/tasks/grading/grader.ts';

/** Evaluates `a op b op c …` left to right (the curriculum's chains have no precedence issue: * only comes first). */
function evalPrompt(text: string): number {
  const toks = text.match(/\d+|[+\-*]/g)!;
  let acc = Number(toks[0]);
  for (let i = 1; i < toks.length; i += 2) {
    const v = Number(toks[i + 1]);
    acc = toks[i] === '+' ? acc + v : toks[i] === '-' ? acc - v : acc * v;
  }
  return acc;
}

/** Recomputes the answer from the written steps alone (the rule stated in curriculum.ts). */
function answerFromSteps(target: string, chain: boolean): string {
  const steps = target.split(' #### ')[0]!.split(',').map((s) => s.split('=')[1]!);
  if (chain) return steps[steps.length - 1]!;
  const last = steps[steps.length - 1]!;
  const units = steps.slice(0, -1).map((s) => s[s.length - 1]).reverse().join('');
  return String(Number(last + units));
}

test('hand-checked worked solutions', () => {
  const t = (text: string) => formatTarget(arithProblem(text));
  assert.equal(t('347+86'), '7+6+0=13,4+8+1=13,3+0+1=4 #### 433');
  assert.equal(t('947+86'), '7+6+0=13,4+8+1=13,9+0+1=10 #### 1033');
  assert.equal(t('5+4'), '5+4+0=9 #### 9');
  assert.equal(t('347-86'), '7-6-0=1,14-8-0=6,3-0-1=2 #### 261');
  assert.equal(t('305-298'), '15-8-0=7,10-9-1=0,3-2-1=0 #### 7');
  assert.equal(t('347*6'), '7*6+0=42,4*6+4=28,3*6+2=20 #### 2082');
  assert.equal(t('7+5-3+8'), '7+5=12,12-3=9,9+8=17 #### 17');
  assert.equal(t('7*3+5-8'), '7*3=21,21+5=26,26-8=18 #### 18');
  assert.equal(formatPrompt(arithProblem('347+86')), '347+86=');
  assert.deepEqual(arithProblem('347-86').meta, { source: 'arith', family: 'sub3x2', level: null, steps: 3, carries: 1 });
  assert.throws(() => arithProblem('3-5'), /negative/);
  assert.throws(() => arithProblem('34*12'), /single digit/);
  assert.throws(() => arithProblem('3+x'), /not of the form/);
});

test('every problem: answer = value of the prompt = answer rebuilt from its steps; target grades correct', () => {
  const all = [...trainingProblems(7, 3000)];
  for (const b of BUILTIN_BENCHMARKS) all.push(...builtinProblems(b));
  for (const p of all) {
    assert.equal(p.answer, String(evalPrompt(p.problem)), p.problem);
    const target = formatTarget(p);
    const chain = String(p.meta!.family).includes('chain');
    assert.equal(answerFromSteps(target, chain), p.answer, `${p.problem}: ${target}`);
    assert.ok(target.endsWith(` #### ${p.answer}`));
    assert.equal(formatPrompt(p), `${p.problem}=`);
    assert.ok(gradeResponse(target, p.answer).correct);
    assert.ok(Number(p.answer) >= 0);
  }
});

test('specific formats: addition, subtraction with borrow, multiplication, chain', () => {
  const find = (fam: string) => trainingProblems(11, 5000).find((p) => p.meta!.family === fam)!;
  const add = find('add2x1');
  const [x, y] = add.problem.split('+').map(Number) as [number, number];
  const u = (x % 10) + y;
  assert.ok(formatTarget(add).startsWith(`${x % 10}+${y}+0=${u},${Math.floor(x / 10)}+0+${u >= 10 ? 1 : 0}=`));
  const sub = trainingProblems(11, 5000).find((p) => p.meta!.family === 'sub2x2' && (p.meta!.carries as number) === 1)!;
  const [s1, s2] = sub.problem.split('-').map(Number) as [number, number];
  assert.equal(formatTarget(sub), `1${s1 % 10}-${s2 % 10}-0=${10 + (s1 % 10) - (s2 % 10)},${Math.floor(s1 / 10)}-${Math.floor(s2 / 10)}-1=${Math.floor(s1 / 10) - Math.floor(s2 / 10) - 1} #### ${s1 - s2}`);
  const mul = find('mul2x1');
  const [m, d] = mul.problem.split('*').map(Number) as [number, number];
  const lo = (m % 10) * d;
  assert.equal(formatTarget(mul), `${m % 10}*${d}+0=${lo},${Math.floor(m / 10)}*${d}+${Math.floor(lo / 10)}=${Math.floor(m / 10) * d + Math.floor(lo / 10)} #### ${m * d}`);
  assert.match(formatTarget(find('chain4')), /^\d+[+-]\d=\d+,\d+[+-]\d=\d+,\d+[+-]\d=\d+ #### \d+$/);
});

test('deterministic for a seed; different seeds differ', () => {
  assert.deepEqual(trainingProblems(42, 300), trainingProblems(42, 300));
  assert.notDeepEqual(trainingProblems(42, 50).map((p) => p.problem), trainingProblems(43, 50).map((p) => p.problem));
  for (const b of BUILTIN_BENCHMARKS) {
    assert.deepEqual(builtinProblems(b, 50), builtinProblems(b, 50));
    // A smaller benchmark is a prefix of a larger one.
    assert.deepEqual(builtinProblems(b, 20), builtinProblems(b, 50).slice(0, 20));
  }
  assert.notDeepEqual(builtinProblems('arith-id', 20, 1).map((p) => p.problem), builtinProblems('arith-id', 20).map((p) => p.problem));
});

test('splits are disjoint: no benchmark prompt appears in training (any seed), ids unique', () => {
  const train = new Set<string>();
  for (const seed of [0, 1, 2, 3, 4]) for (const p of trainingProblems(seed, 4000)) train.add(p.problem);
  let benchTotal = 0;
  for (const b of BUILTIN_BENCHMARKS) {
    const ps = builtinProblems(b);
    assert.equal(ps.length, 200);
    assert.equal(new Set(ps.map((p) => p.id)).size, ps.length);
    assert.equal(new Set(ps.map((p) => p.problem)).size, ps.length, `${b}: duplicate prompts`);
    for (const p of ps) {
      assert.ok(!train.has(p.problem), `${b}: ${p.problem} is in training`);
      assert.ok(isHeldOut(p.problem));
    }
    benchTotal += ps.length;
  }
  for (const t of train) assert.ok(!isHeldOut(t));
  assert.equal(benchTotal, 1200);
  // The partition holds out about one in five prompts.
  const small = [...Array(100).keys()].flatMap((a) => [...Array(10).keys()].map((b) => `${a}+${b}`));
  const frac = small.filter(isHeldOut).length / small.length;
  assert.ok(frac > 0.15 && frac < 0.25, `held-out fraction ${frac}`);
});

test('difficulty: harder levels and OOD benchmarks need more steps', () => {
  const meanSteps = (ps: { meta?: Record<string, unknown> }[]) => ps.reduce((s, p) => s + (p.meta!.steps as number), 0) / ps.length;
  const train = trainingProblems(5, 3000);
  const byLevel = [1, 2, 3].map((l) => meanSteps(train.filter((p) => p.meta!.level === l)));
  assert.ok(byLevel[0]! < byLevel[1]! && byLevel[1]! < byLevel[2]!, `steps by level ${byLevel}`);
  const id = meanSteps(builtinProblems('arith-id'));
  assert.ok(meanSteps(builtinProblems('arith-long')) > id + 1.5);
  assert.ok(meanSteps(builtinProblems('arith-chain')) > id + 1.5);
  // Levels are all present in training with their default weights (0.2 / 0.4 / 0.4).
  const frac1 = train.filter((p) => p.meta!.level === 1).length / train.length;
  assert.ok(frac1 > 0.16 && frac1 < 0.24, `level-1 share ${frac1}`);
  assert.deepEqual(Object.keys(LEVELS), ['1', '2', '3']);
  // Every built-in fits a 128-character context with room to spare.
  for (const b of BUILTIN_BENCHMARKS) for (const p of builtinProblems(b)) assert.ok((formatPrompt(p) + formatTarget(p)).length <= 80);
  const idLen = builtinProblems('arith-id').map((p) => formatTarget(p).length);
  assert.ok(Math.max(...idLen) <= 60);
  // Every target plus EOS fits a 64-token response budget (the runs' default maxTokens).
  for (const b of BUILTIN_BENCHMARKS) for (const p of builtinProblems(b)) assert.ok(formatTarget(p).length + 1 <= 64, `${b}: ${formatTarget(p)}`);
});

test('level weights are configurable and validated; registry serves built-ins with limit and seed', () => {
  const only1 = trainingProblems(1, 100, { levelWeights: { 1: 1 } });
  assert.ok(only1.every((p) => p.meta!.level === 1));
  assert.throws(() => trainingProblems(1, 10, { levelWeights: { 9: 1 } }), /unknown level 9/);
  assert.throws(() => trainingProblems(1, 10, { levelWeights: { 1: 0 } }), /all level weights are zero/);
  assert.throws(() => trainingProblems(1, -1), /count must be/);
  const b = getBenchmark('arith-carry', { limit: 30 });
  assert.equal(b.problems().length, 30);
  assert.equal(b.grader.id, 'math');
  assert.deepEqual(getBenchmark('arith-carry', { limit: 10, seed: 5 }).problems(), builtinProblems('arith-carry', 10, 5));
  // arith-carry: every column but the last carries or borrows.
  for (const p of b.problems()) assert.ok((p.meta!.carries as number) >= (p.meta!.steps as number) - 1);
});
