// Grading throughput (`npm run bench:grading`): responses graded per second on one core, for the
// responses the RL loop grades (strict 'math' grader: curriculum worked solutions, GSM8K `####`,
// MATH-style reasoning ending in \boxed{} right, wrong, or in another equivalent form) and those
// evaluation grades ('math-verify': unboxed answers after a final-answer phrase, the last LaTeX
// expression of a solution without a box, harder answer kinds such as relations, intervals, sets
// and matrices), plus an adversarial workload: 20,000-character responses with no answer marker,
// full of LaTeX and numbers, which exercises every extraction stage to its bound. The compiled-
// expression cache is cleared before every round, so the figures are cold-cache. Each workload
// reports responses per second of wall time and per second of process CPU time (on a shared
// machine a descheduled process inflates wall time, not CPU time); the target (>= 2,000
// responses/s on one core) is judged on CPU time. Prints a table and the worst case, or JSON
// with `--json`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { trainingProblems, formatTarget } from '../../harness/tasks/curriculum.ts';
import { getBenchmark } from '../../harness/tasks/registry.ts';
import { getGrader } from '../../harness/tasks/grading/grader.ts';
import { clearEquivalenceCache } from '../../harness/tasks/grading/equivalence.ts';
import { Rng } from '../../harness/util/rng.ts';
import type { Grader } from '../../harness/tasks/types.ts';

const TARGET = 2000;
const ROUNDS = 7;

interface Workload {
  name: string;
  grader: Grader;
  items: { response: string; gold: string }[];
}

const strict = getGrader('math');
const full = getGrader('math-verify');

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
  return { name: 'curriculum (#### n, half wrong)', grader: strict, items };
}

/** Answers of the harder kinds, each with an equivalent form written differently. */
const HARD: [string, string][] = [
  ['-x > -1', 'x<1'], ['1 < x \\le 2', 'x \\in (1, 2]'], ['-34x-45y+20z-100=0', '34x+45y-20z+100=0'],
  ['\\sec^2(y)', '\\tan^2(y)+1'], ['(p,q)=(3,2)', '(3,2)'], ['x = \\frac{1}{2}, x = \\frac{-1 \\pm \\sqrt{13}}{4}', '\\frac12, \\frac{-1+\\sqrt{13}}{4}, \\frac{-1-\\sqrt{13}}{4}'],
  ['\\left[\\begin{array}{cc}1 & 2 \\\\ 3 & 4\\end{array}\\right]', '\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}'], ['\\frac{1}{3x^{2/3}}', '\\frac{1}{3\\sqrt[3]{x}^2}'],
  ['(3, 37, 3, 13), (3, 17, 3, 7), (3, 3, 2, 3), (17,3,3,7), (37,3,3,13)', '(37,3,3,13),(17,3,3,7),(3,37,3,13),(3,17,3,7),(3,3,2,3)'],
  ['[-1, -\\tfrac12) \\cup (-\\tfrac12, 0) \\cup (0, 1) \\cup (1, \\infty)', '[-1,-\\frac{1}{2})\\cup(-\\frac{1}{2},0)\\cup(0,1)\\cup(1,\\infty)'],
  ['z \\in \\left[-\\frac{3}{2}, -1\\right] \\cup \\left[1, \\frac{3}{2}\\right]', '1\\leq|z|\\leq \\frac{3}{2}'], ['2^{64}', '18446744073709551616'],
];

/** A long response with no answer marker: lines of prose, inline and display LaTeX and numbers, ~20,000 characters. */
function adversarial(rng: Rng): string {
  const parts: string[] = [];
  let len = 0;
  while (len < 20000) {
    const a = rng.int(1000), b = rng.int(1000);
    const piece = [`so we get $x_{${a}} = \\frac{${a}}{${b + 1}}$ and`, ` then ${a},${b} or ${a}/${b + 1} `, `\\( ${a} + ${b} \\) `, ` $ $ `, ` 10 000 `, '\n', `$$\n\\sum_{k=1}^{${a}} k = ${b}\n$$`][rng.int(7)]!;
    parts.push(piece);
    len += piece.length;
  }
  return parts.join('');
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
    return { response: p.solution!.replace(/\\boxed\{[^]*$/, `\\boxed{${math[k]!.answer}}$.`), gold: p.answer };
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
  // Evaluation: the same solutions without the box, ending in a final-answer sentence or in LaTeX.
  const unboxed = (sol: string) => sol.replace(/\\boxed\{/g, '{');
  const finalPhrase = math.map((p) => ({ response: `${unboxed(p.solution!)}\nFinal Answer: The final answer is $${p.answer}$. I hope it is correct.`, gold: p.answer }));
  const lastLatex = math.map((p) => ({ response: unboxed(p.solution!), gold: p.answer }));
  const hard = math.map((p, i) => {
    const [pred, gold] = HARD[i % HARD.length]!;
    return { response: `${unboxed(p.solution!)} Therefore the answer is $${pred}$.`, gold };
  });
  const adv = Array.from({ length: 100 }, (_, i) => ({ response: adversarial(rng), gold: math[i]!.answer }));
  return [
    { name: 'gsm8k solutions (#### n, half wrong)', grader: strict, items: gsmItems },
    { name: 'math500 solutions, boxed right', grader: strict, items: right },
    { name: 'math500 solutions, boxed wrong', grader: strict, items: wrong },
    { name: 'math500, equivalent other form', grader: strict, items: equiv },
    { name: 'typical RL mix (curr 50%, right 10%, wrong 30%, other form 10%)', grader: strict, items: [] },
    { name: 'math-verify: final-answer sentence, unboxed', grader: full, items: finalPhrase },
    { name: 'math-verify: last LaTeX of an unboxed solution', grader: full, items: lastLatex },
    { name: 'math-verify: relations, sets, matrices, forms', grader: full, items: hard },
    { name: 'math-verify: adversarial 20k chars, no marker', grader: full, items: adv },
  ];
}

function measure(w: Workload): { perSec: number; cpuPerSec: number; correct: number; usPerResponse: number } {
  let correct = 0;
  for (const it of w.items) if (w.grader.grade(it.response, it.gold).correct) correct++;
  const wall: number[] = [], cpu: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    clearEquivalenceCache();
    const c0 = process.cpuUsage();
    const t = performance.now();
    for (const it of w.items) w.grader.grade(it.response, it.gold);
    const c = process.cpuUsage(c0);
    wall.push(w.items.length / ((performance.now() - t) / 1000));
    cpu.push(w.items.length / ((c.user + c.system) / 1e6));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const cpuPerSec = median(cpu);
  return { perSec: median(wall), cpuPerSec, correct: correct / w.items.length, usPerResponse: 1e6 / cpuPerSec };
}

const json = process.argv.includes('--json');
const dataDir = process.env.RLBENCH_DATA_DIR ?? join(import.meta.dirname, '../../../shared/datasets');
const workloads: Workload[] = [curriculum()];
if (existsSync(join(dataDir, 'math500/test.jsonl'))) {
  const std = standard(dataDir);
  const mixAt = std.findIndex((w) => w.name.startsWith('typical RL mix'));
  const mix = std[mixAt]!;
  const [, right, wrong, equiv] = std as [Workload, Workload, Workload, Workload];
  const take = (ws: Workload, n: number) => ws.items.slice(0, n);
  mix.items = [...take(workloads[0]!, 1000), ...take(right, 200), ...take(wrong, 600).concat(take(wrong, 600)).slice(0, 600), ...take(equiv, 200)];
  workloads.push(...std);
} else if (!json) {
  process.stdout.write(`(standard datasets not found under ${dataDir}: curriculum only; set RLBENCH_DATA_DIR)\n`);
}

const rows = workloads.map((w) => ({ workload: w.name, grader: w.grader.id, responses: w.items.length, ...measure(w) }));
const worst = rows.reduce((a, b) => (b.cpuPerSec < a.cpuPerSec ? b : a));
const worstWall = rows.reduce((a, b) => (b.perSec < a.perSec ? b : a));
if (json) {
  process.stdout.write(JSON.stringify({ target: TARGET, rounds: ROUNDS, node: process.version, worst: { workload: worst.workload, cpuPerSec: worst.cpuPerSec, perSec: worst.perSec }, rows }, null, 2) + '\n');
} else {
  const wName = Math.max(...rows.map((r) => r.workload.length));
  process.stdout.write(`grading throughput, one core, median of ${ROUNDS} cold-cache rounds (target >= ${TARGET}/s of CPU time)\n`);
  process.stdout.write(`${'workload'.padEnd(wName)}  ${'grader'.padEnd(11)}  ${'n'.padStart(5)}  ${'resp/s CPU'.padStart(10)}  ${'resp/s wall'.padStart(11)}  ${'us CPU'.padStart(7)}  ${'correct'.padStart(7)}  target\n`);
  for (const r of rows) {
    process.stdout.write(
      `${r.workload.padEnd(wName)}  ${r.grader.padEnd(11)}  ${String(r.responses).padStart(5)}  ${r.cpuPerSec.toFixed(0).padStart(10)}  ${r.perSec.toFixed(0).padStart(11)}  ${r.usPerResponse.toFixed(1).padStart(7)}  ${(100 * r.correct).toFixed(0).padStart(6)}%  ${r.cpuPerSec >= TARGET ? 'met' : 'BELOW'}\n`,
    );
  }
  process.stdout.write(`worst case: ${worst.cpuPerSec.toFixed(0)} responses per CPU-second (${worst.workload}): target ${worst.cpuPerSec >= TARGET ? 'met' : 'NOT met'}; ` +
    `slowest in wall time: ${worstWall.perSec.toFixed(0)}/s (${worstWall.workload})\n`);
}
