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
});
