// Grading throughput (`npm run bench:grading`): responses graded per second on one core, for the
// responses the RL loop actually grades: curriculum worked solutions (right and wrong), GSM8K
// `####` answers, and MATH-style reasoning ending in \boxed{} (right, wrong, and written in
// another but equivalent form, which takes the mathjs path). The compiled-expression cache is
// cleared before every round, so the figures are cold-cache. Target: >= 2,000 responses/s.
// Prints a table, or JSON with `--json`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { trainingProblems, formatTarget } from '../../harness/tasks/curriculum.ts';
import { getBenchmark } from '../../harness/tasks/registry.ts';
import { gradeResponse } from '../../harness/tasks/grading/grader.ts';
import { clearEquivalenceCache } from '../../harness/tasks/grading/equivalence.ts';
import { Rng } from '../../harness/util/rng.ts';

const TARGET = 2000;
const ROUNDS = 7;

interface Workload {
  name: string;
  items: { response: string; gold: string }[];
}

function curriculum(): Workload {
  const rng = new Rng(1);
  const items = trainingProblems(1, 2000).map((p) => {
    let response = formatTarget(p);
    // Half the responses end in a wrong answer (one digit of it off), as a half-trained policy's would.
    if (rng.int(2)) {
      const at = response.indexOf('#### ') + 5;
      const i = at + rng.int(response.length - at);
      response = response.slice(0, i) + String((Number(response[i]) + 1) % 10) + response.slice(i + 1);
    }
    return { response, gold: p.answer };
  });
  return { name: 'curriculum (#### n, half wrong)', items };
}

function standard(dataDir: string): Workload[] {
  const gsm = getBenchmark('gsm8k', { dataDir }).problems();
  const math = getBenchmark('math500', { dataDir }).problems();
  const rng = new Rng(2);
  const gsmItems = gsm.map((p, i) => ({ response: i % 2 ? p.solution! : p.solution!.replace(/#### .*$/, `#### ${Number(p.answer) + 3}`), gold: p.answer }));
  const right = math.map((p) => ({ response: p.solution!, gold: p.answer }));
  const wrong = math.map((p, i) => {
    let k = (i + 1 + rng.int(math.length - 1)) % math.length;
    while (math[k]!.answer === p.answer) k = (k + 1) % math.length;
    const other = math[k]!.answer;
    return { response: p.solution!.replace(/\\boxed\{[^]*$/, `\\boxed{${other}}$.`), gold: p.answer };
  });
  // Same answers in another form, e.g. 3\sqrt{13} vs \sqrt{117}, \frac{1}{2} vs 0.5.
  const forms: [string, string][] = [
    ['\\sqrt{117}', '3\\sqrt{13}'], ['0.5', '\\frac{1}{2}'], ['\\frac{\\sqrt{2}}{2}', '\\frac{1}{\\sqrt{2}}'],
    ['-1+x-x^2+x^3-x^4+x^5', 'x^5 - x^4 + x^3 - x^2 + x - 1'], ['(3,\\pi/2)', '\\left( 3, \\frac{\\pi}{2} \\right)'],
    ['1-\\sqrt{19},1+\\sqrt{19}', '1 \\pm \\sqrt{19}'], ['\\frac{2n^3+3n^2+n}{6}', '\\frac{n(n+1)(2n+1)}{6}'], ['8\\cdot 7^{-1/3}', '\\frac{8}{\\sqrt[3]{7}}'],
  ];
  const equiv = math.map((p, i) => {
    const [pred, gold] = forms[i % forms.length]!;
    return { response: p.solution!.replace(/\\boxed\{[^]*$/, `\\boxed{${pred}}$.`), gold };
  });
  return [
    { name: 'gsm8k solutions (#### n, half wrong)', items: gsmItems },
    { name: 'math500 solutions, boxed right', items: right },
    { name: 'math500 solutions, boxed wrong', items: wrong },
    { name: 'math500, equivalent other form', items: equiv },
    { name: 'typical RL mix (curr 50%, right 10%, wrong 30%, other form 10%)', items: [] },
  ];
}

function measure(w: Workload): { perSec: number; correct: number; usPerResponse: number } {
  let correct = 0;
  for (const it of w.items) if (gradeResponse(it.response, it.gold).correct) correct++;
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    clearEquivalenceCache();
    const t = performance.now();
    for (const it of w.items) gradeResponse(it.response, it.gold);
    rates.push(w.items.length / ((performance.now() - t) / 1000));
  }
  rates.sort((a, b) => a - b);
  const perSec = rates[Math.floor(ROUNDS / 2)]!;
  return { perSec, correct: correct / w.items.length, usPerResponse: 1e6 / perSec };
}

const json = process.argv.includes('--json');
const dataDir = process.env.RLBENCH_DATA_DIR ?? join(import.meta.dirname, '../../../shared/datasets');
const workloads: Workload[] = [curriculum()];
if (existsSync(join(dataDir, 'math500/test.jsonl'))) {
  const std = standard(dataDir);
  const mix = std.pop()!;
  const [, right, wrong, equiv] = std as [Workload, Workload, Workload, Workload];
  const take = (ws: Workload, n: number) => ws.items.slice(0, n);
  mix.items = [...take(workloads[0]!, 1000), ...take(right, 200), ...take(wrong, 600).concat(take(wrong, 600)).slice(0, 600), ...take(equiv, 200)];
  workloads.push(...std, mix);
} else if (!json) {
  process.stdout.write(`(standard datasets not found under ${dataDir}: curriculum only; set RLBENCH_DATA_DIR)\n`);
}

const rows = workloads.map((w) => ({ workload: w.name, responses: w.items.length, ...measure(w) }));
if (json) {
  process.stdout.write(JSON.stringify({ target: TARGET, rounds: ROUNDS, node: process.version, rows }, null, 2) + '\n');
} else {
  const wName = Math.max(...rows.map((r) => r.workload.length));
  process.stdout.write(`grading throughput, one core, median of ${ROUNDS} cold-cache rounds (target >= ${TARGET}/s)\n`);
  process.stdout.write(`${'workload'.padEnd(wName)}  ${'n'.padStart(5)}  ${'responses/s'.padStart(11)}  ${'us/resp'.padStart(8)}  ${'correct'.padStart(7)}  target\n`);
  for (const r of rows) {
    process.stdout.write(
      `${r.workload.padEnd(wName)}  ${String(r.responses).padStart(5)}  ${r.perSec.toFixed(0).padStart(11)}  ${r.usPerResponse.toFixed(1).padStart(8)}  ${(100 * r.correct).toFixed(0).padStart(6)}%  ${r.perSec >= TARGET ? 'met' : 'BELOW'}\n`,
    );
  }
}
