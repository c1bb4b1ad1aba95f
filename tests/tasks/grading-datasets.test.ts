// Every record of every shared dataset grades its own gold answer as correct through the grader
// its benchmark evaluates with (math-verify), written the ways models write a final answer, and
// every gold is `equivalent` to itself (maj@k). The strict grader's check is in datasets.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { getBenchmark, listBenchmarks } from '../../harness/tasks/registry.ts';

const DATA = process.env.RLBENCH_DATA_DIR ?? join(import.meta.dirname, '../../../shared/datasets');

// Records whose gold cannot grade correct, with the reason (each is checked to still fail).
const EXCEPTIONS: Record<string, { forms: string[]; why: string }> = {
  'math_train:train/number_theory/7115.json': { forms: ['boxed', 'sentence', 'latex'], why: 'empty gold ("$\\boxed{}$" in the source): an empty gold matches nothing' },
  'math_train:train/number_theory/7117.json': { forms: ['boxed', 'sentence', 'latex'], why: 'empty gold, as above' },
  'minerva_math:minerva_math/72': { forms: ['sentence', 'latex'], why: 'the gold itself contains "$ $", so it cannot sit inside $…$ unboxed' },
};

test('every record grades its own gold as correct with its benchmark\'s grader (~18k records)', { timeout: 120000 }, () => {
  const failed: string[] = [];
  let n = 0;
  for (const b of listBenchmarks().filter((x) => x.kind === 'standard')) {
    const bench = getBenchmark(b.name, { dataDir: DATA });
    assert.equal(bench.grader.id, 'math-verify');
    for (const p of bench.problems()) {
      n++;
      const key = `${b.name}:${p.id}`;
      const forms: Record<string, string> = {
        boxed: `Reasoning ... so the answer is $\\boxed{${p.answer}}$.`,
        sentence: `Reasoning ... Final Answer: The final answer is $${p.answer}$. I hope it is correct.`,
        latex: `We compute it step by step, which gives $${p.answer}$`,
      };
      for (const [form, response] of Object.entries(forms)) {
        const ok = bench.grader.grade(response, p.answer).correct;
        if (ok === !!EXCEPTIONS[key]?.forms.includes(form)) failed.push(`${key} ${form} ${JSON.stringify(p.answer)} graded ${ok}`);
      }
      if (bench.grader.equivalent!(p.answer, p.answer) !== (p.answer.trim() !== '')) failed.push(`${key} not equivalent to itself`);
    }
  }
  assert.equal(n, 17839);
  assert.deepEqual(failed, []);
});
