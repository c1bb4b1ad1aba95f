// pass@k, maj@k and avg@k against hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { passAtK, passAtKCurve, majorityCorrect, scoreSamples } from '../../harness/runs/pass-at-k.ts';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('passAtK: 1 - C(n-c,k)/C(n,k) by hand', () => {
  // n = 5, c = 2: C(3,k)/C(5,k) = 3/5, 3/10, 1/10, 0
  const curve = passAtKCurve(5, 2);
  [0.4, 0.7, 0.9, 1, 1].forEach((v, i) => close(curve[i]!, v));
  close(passAtK(10, 3, 5), 1 - 21 / 252);
  close(passAtK(4, 1, 2), 0.5);
  assert.equal(passAtK(4, 0, 4), 0);
  assert.equal(passAtK(4, 4, 1), 1);
  // large n stays exact where the binomials would overflow
  close(passAtK(2000, 1, 1), 1 / 2000);
  assert.throws(() => passAtK(3, 4, 1), /0 <= c <= n/);
  assert.throws(() => passAtK(3, 1, 4), /1 <= k <= n/);
});

test('majorityCorrect: votes over extracted answers, first-seen wins ties, null abstains', () => {
  const s = (extracted: string | null, correct: boolean) => ({ extracted, correct });
  assert.equal(majorityCorrect([s('4', true), s('5', false), s('4', true)]), true);
  assert.equal(majorityCorrect([s('5', false), s('4', true), s('5', false)]), false);
  assert.equal(majorityCorrect([s('5', false), s('4', true)]), false); // tie: first seen
  assert.equal(majorityCorrect([s('4', true), s('5', false)]), true);
  assert.equal(majorityCorrect([s(null, false), s(null, false), s('4', true)]), true);
  assert.equal(majorityCorrect([s(null, false)]), false);
});

test('scoreSamples: avg@k, pass@j and maj@k over problems', () => {
  const s = (extracted: string | null, correct: boolean) => ({ extracted, correct });
  const r = scoreSamples([
    [s('1', true), s('2', false)], // c = 1: pass@1 0.5, pass@2 1, maj correct (tie -> first)
    [s('3', false), s('3', false)], // c = 0
  ]);
  assert.equal(r.n, 2);
  assert.equal(r.k, 2);
  close(r.avgAtK, 0.25);
  close(r.passAtK[0]!, 0.25);
  close(r.passAtK[1]!, 0.5);
  close(r.majAtK, 0.5);
  assert.throws(() => scoreSamples([[s('1', true)], [s('1', true), s('1', true)]]), /problem 1 has 2 samples/);
});

test('gainsOverSft: paired by seed, passes only above both CIs', async () => {
  const { gainsOverSft, compactTable } = await import('../../harness/runs/console-table.ts');
  const row = (objective: string, seed: number, avgAtK: number) => ({ run: `${objective}-s${seed}`, objective, seed, status: 'finished' as const, step: 1, rollouts: 0, tokens: 0, wallTime: 0, benchmark: 'b', n: 10, k: 4, avgAtK, passAt1: avgAtK, passAtK: avgAtK, majAtK: avgAtK, greedy: avgAtK, meanLength: 5 });
  const rows = [row('sft', 1, 0.2), row('sft', 2, 0.3), row('sft', 3, 0.25), row('a', 1, 0.3), row('a', 2, 0.4), row('a', 3, 0.35), row('b', 1, 0.25), row('b', 2, 0.3), row('b', 3, 0.2)];
  const g = gainsOverSft(rows, 'b');
  const a = g.find((x) => x.objective === 'a')!;
  // gains 0.1, 0.1, 0.1: paired CI 0, but the CI of a's scores over seeds is t_{0.975,2} * 0.05 / sqrt(3) = 0.124 > 0.1
  close(a.gain, 0.1, 1e-12);
  close(a.gainCi, 0, 1e-12);
  close(a.ci, (4.302652729911275 * 0.05) / Math.sqrt(3), 1e-9); // exact t_{0.975,2}
  assert.equal(a.passes, false);
  const b = g.find((x) => x.objective === 'b')!;
  close(b.gain, (0.05 + 0 - 0.05) / 3, 1e-12);
  assert.equal(b.passes, false);
  const t = compactTable(rows);
  assert.match(t, /\| sft \| 3 \| 25\.0 ± 12\.4 \|/);
  assert.match(t, /\| a \| 3 \| 35\.0 ± 12\.4 \| \+10\.0 ± 0\.0 \|/);
  // The usual case: every seed's SFT row is the same evaluation, so it is shown once (n = 1).
  const same = [row('sft', 1, 0.25), row('sft', 2, 0.25), row('sft', 3, 0.25), row('a', 1, 0.3), row('a', 2, 0.4), row('a', 3, 0.35)];
  assert.match(compactTable(same), /\| sft \| 1 \| 25\.0 \|  \|/);
});

test('pass@1 is avg@k exactly (so reports show avg@k only)', () => {
  const s = (correct: boolean) => ({ extracted: correct ? '1' : '2', correct });
  const cases = [[3, 8], [0, 8], [8, 8], [1, 3], [2, 7]];
  const r = scoreSamples(cases.map(([c]) => Array.from({ length: 8 }, (_, j) => s(j < c!))));
  for (const [c, n] of cases) assert.equal(passAtK(n!, c!, 1), c! / n!);
  close(r.passAtK[0]!, r.avgAtK, 1e-15);
  assert.deepEqual(r.correct, [3, 0, 8, 1, 2]);
});

/** Numbers written as decimals or fractions; equivalent when equal as numbers. */
const num = (x: string) => (x.includes('/') ? Number(x.split('/')[0]) / Number(x.split('/')[1]) : Number(x));
const numericGrader = {
  id: 'numeric-test',
  grade: (response: string, gold: string) => ({ correct: num(response) === num(gold), extracted: response || null }),
  equivalent: (a: string, b: string) => num(a) === num(b),
};

test('maj@k votes by the grader\'s equivalence when it has one (1/2 and 0.5 are one answer), by text otherwise', () => {
  const graded = ['3', '1/2', '0.5'].map((x) => ({ extracted: x, correct: numericGrader.grade(x, '0.5').correct }));
  // By text: three answers of one vote each, the first seen ('3', wrong) wins the tie.
  assert.equal(majorityCorrect(graded), false);
  // By equivalence: {1/2, 0.5} has two votes and is correct.
  assert.equal(majorityCorrect(graded, numericGrader.equivalent), true);
  const r = scoreSamples([graded, graded.slice(0, 1).concat(graded.slice(0, 1), graded.slice(1, 2))], numericGrader.equivalent);
  assert.deepEqual(r.maj, [1, 0]);
  close(r.majAtK, 0.5);
});

test('evaluate() uses the benchmark grader\'s equivalence for maj@k and records the per-problem outcomes', async () => {
  const { evaluate } = await import('../../harness/runs/evaluate.ts');
  const texts: Record<string, string[]> = { sampled: ['3', '1/2', '0.5', '7', '7', '2'], greedy: ['0.5', '1'] };
  const engine = {
    async generate(req: { prompts: readonly Int32Array[]; samples: number; sampling: { temperature: number } }) {
      const pool = req.sampling.temperature === 0 ? texts.greedy! : texts.sampled!;
      return req.prompts.flatMap((prompt, p) => Array.from({ length: req.samples }, (_, j) => ({ promptIndex: p, sample: j, prompt, tokens: Int32Array.of(1), text: pool[p * req.samples + j]!, truncated: false })));
    },
  };
  const problems = [{ id: 'a', problem: 'a', answer: '0.5' }, { id: 'b', problem: 'b', answer: '2' }];
  const bench = { name: 'toy', benchmark: { name: 'toy', description: '', grader: numericGrader, problems: () => problems }, problems, prompts: [Int32Array.of(1), Int32Array.of(1)] };
  const [row] = await evaluate(engine as never, new Float32Array(0), [bench], { k: 3, temperature: 1, topP: 1, greedy: true, maxTokens: 4 }, 0, { step: 0, rollouts: 0, tokens: 0, wallTime: 0 });
  assert.deepEqual(row!.perProblem, { correct: [2, 1], maj: [1, 0], greedy: [1, 0] });
  close(row!.avgAtK, 0.5);
  close(row!.majAtK, 0.5);
  close(row!.greedy!, 0.5);
});

test('evaluate(): truncated responses count as wrong and abstain from the vote; temperature 0 is greedy only; a benchmark\'s own k', async () => {
  const { evaluate, evaluateBenchmark } = await import('../../harness/runs/evaluate.ts');
  const calls: { samples: number; temperature: number }[] = [];
  // Problem a: '0.5' (truncated), '1/2', '7'; problem b: '2', '2' (truncated), '3'.
  const sampled = [['0.5', true], ['1/2', false], ['7', false], ['2', false], ['2', true], ['3', false]] as const;
  const engine = {
    async generate(req: { prompts: readonly Int32Array[]; samples: number; sampling: { temperature: number } }) {
      calls.push({ samples: req.samples, temperature: req.sampling.temperature });
      return req.prompts.flatMap((prompt, p) => Array.from({ length: req.samples }, (_, j) => {
        const [text, truncated] = req.sampling.temperature === 0 && req.samples === 1 && calls.length > 1 ? ['0.5', true] : sampled[(p * req.samples + j) % sampled.length]!;
        return { promptIndex: p, sample: j, prompt, tokens: Int32Array.of(1, 2), text, truncated };
      }));
    },
  };
  const problems = [{ id: 'a', problem: 'a', answer: '0.5' }, { id: 'b', problem: 'b', answer: '2' }];
  const bench = { name: 'toy', benchmark: { name: 'toy', description: '', grader: numericGrader, problems: () => problems }, problems, prompts: [Int32Array.of(1), Int32Array.of(1)] };
  const at = { step: 0, rollouts: 0, tokens: 0, wallTime: 0 };
  const plan = { k: 3, temperature: 1, topP: 1, greedy: true, maxTokens: 2 };
  const [graded] = await evaluate(engine as never, new Float32Array(0), [bench], plan, 0, at);
  assert.deepEqual(graded!.perProblem.correct, [2, 2], 'graded as they stand');
  const [strict] = await evaluate(engine as never, new Float32Array(0), [bench], { ...plan, truncatedWrong: true }, 0, at);
  // a: 0.5 (truncated: wrong, no vote), 1/2, 7 → 1 correct, the 1–1 vote to the first seen (1/2); b: 2, 2 (truncated), 3 → likewise.
  assert.deepEqual(strict!.perProblem, { correct: [1, 1], maj: [1, 1], greedy: [0, 0] });
  close(strict!.truncated, 2 / 6);
  assert.equal(strict!.greedyTruncated, 1);
  // Temperature 0: one greedy decode per problem, which is also the greedy column.
  calls.length = 0;
  const g = await evaluateBenchmark(engine as never, new Float32Array(0), { ...bench, plan: { temperature: 0, k: 1 } }, plan, 0);
  assert.deepEqual(calls, [{ samples: 1, temperature: 0 }]);
  assert.equal(g.row.k, 1);
  assert.deepEqual(g.row.perProblem.greedy, g.row.perProblem.correct.map((c) => (c > 0 ? 1 : 0)));
  assert.equal(g.greedy!.length, 2);
  await assert.rejects(evaluateBenchmark(engine as never, new Float32Array(0), { ...bench, plan: { temperature: 0 } }, plan, 0), /temperature 0 is greedy decoding: k must be 1, got 3/);
  // A benchmark's own k (avg@32 on AIME, say) overrides the evaluation's.
  calls.length = 0;
  const [own] = await evaluate(engine as never, new Float32Array(0), [{ ...bench, plan: { k: 2 } }], plan, 0, at);
  assert.equal(own!.k, 2);
  assert.deepEqual(calls.map((c) => c.samples), [2, 1]);
});
