// `rlbench grade …` (grade responses against gold answers, one or a JSONL file of them) and
// `rlbench data …` (list the benchmarks, show a benchmark's problems).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { UsageError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { getBenchmark, listBenchmarks, DEFAULT_DATA_DIR } from '../tasks/registry.ts';
import { getGrader, listGraders } from '../tasks/grading/grader.ts';
import { formatPrompt, formatTarget } from '../tasks/curriculum.ts';
import type { Grader } from '../tasks/types.ts';

function parseCount(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a non-negative integer, got '${v}'`);
  return Number(v);
}

interface GradeOpts {
  pred?: string;
  gold?: string;
  input?: string;
  output?: string;
  grader?: string;
  lastNumber?: boolean;
}

function chooseGrader(opts: GradeOpts): Grader {
  if (opts.grader && opts.lastNumber) throw new UsageError('give either --grader or --last-number, not both');
  if (opts.lastNumber) return getGrader('math-last-number');
  return getGrader(opts.grader ?? 'math');
}

/** Grades every {"pred","gold"} line of a JSONL file; all lines are checked before any output. */
export function gradeJsonl(path: string, grader: Grader): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const pairs = lines.map((raw, k) => {
    const where = `${path}:${k + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new UsageError(`${where}: malformed JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`${where}: expected an object {"pred", "gold"}`);
    const o = v as Record<string, unknown>;
    for (const f of ['pred', 'gold']) {
      if (!(f in o)) throw new UsageError(`${where}: missing field '${f}'`);
      if (typeof o[f] !== 'string' && !(f === 'gold' && typeof o[f] === 'number')) throw new UsageError(`${where}: field '${f}' must be a string`);
    }
    return { pred: o.pred as string, gold: String(o.gold) };
  });
  return pairs.map((p) => JSON.stringify(grader.grade(p.pred, p.gold)) + '\n').join('');
}

export function registerTaskCommands(program: Command): void {
  program.command('grade')
    .description('grade model responses against gold answers: prints {"correct": bool, "extracted": "...", "stage": "boxed|final-answer|latex|number"}')
    .option('--pred <response>', 'one model response')
    .option('--gold <answer>', 'its gold answer')
    .option('-i, --input <file>', 'JSONL file of {"pred", "gold"} lines: one result line per input line')
    .option('-o, --output <file>', 'with --input: write the results here (atomically) instead of stdout')
    .option('--grader <id>', `registered grader (${listGraders().join(', ')}; default math: strict, math-verify: full extraction)`, undefined)
    .option('--last-number', 'same as --grader math-last-number: fall back to the last number when the response has no answer marker')
    .action((opts: GradeOpts) => {
      const grader = chooseGrader(opts);
      if (opts.input !== undefined) {
        if (opts.pred !== undefined || opts.gold !== undefined) throw new UsageError('give either --input or --pred/--gold, not both');
        const out = gradeJsonl(opts.input, grader);
        if (opts.output) writeFileAtomic(opts.output, out);
        else process.stdout.write(out);
        return;
      }
      if (opts.output) throw new UsageError('--output needs --input');
      if (opts.pred === undefined || opts.gold === undefined) throw new UsageError('give --pred and --gold, or --input <file.jsonl>');
      process.stdout.write(JSON.stringify(grader.grade(opts.pred, opts.gold)) + '\n');
    });

  const data = program.command('data').description('the benchmarks: built-in arithmetic and standard math datasets');

  data.command('list')
    .description('list the benchmarks with a description of each')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const all = listBenchmarks();
      if (opts.json) {
        process.stdout.write(JSON.stringify(all, null, 2) + '\n');
        return;
      }
      const w = Math.max(...all.map((b) => b.name.length));
      const rows = all.map((b) => `${b.name.padEnd(w)}  ${b.kind.padEnd(8)}  ${b.description}${b.file ? ` [${DEFAULT_DATA_DIR}/${b.file}]` : ''}`);
      process.stdout.write(rows.join('\n') + '\n');
    });

  data.command('show <benchmark>')
    .description('print problems of a benchmark as JSON lines (built-ins include the prompt and SFT target)')
    .option('--limit <n>', 'at most n problems (default 10; 0 = all)', '10')
    .option('--data-dir <dir>', `folder of the standard dataset files (default ${DEFAULT_DATA_DIR})`)
    .option('--seed <n>', 'built-ins: generation seed (default: the benchmark\'s fixed seed)')
    .action((name: string, opts: { limit: string; dataDir?: string; seed?: string }) => {
      const limit = parseCount(opts.limit, '--limit');
      const seed = opts.seed === undefined ? undefined : parseCount(opts.seed, '--seed');
      const b = getBenchmark(name, { dataDir: opts.dataDir, seed });
      let problems = b.problems();
      if (limit > 0) problems = problems.slice(0, limit);
      const lines = problems.map((p) => {
        const row: Record<string, unknown> = { id: p.id, problem: p.problem, answer: p.answer };
        if ((p.meta as { source?: string } | undefined)?.source === 'arith') {
          row.prompt = formatPrompt(p);
          row.target = formatTarget(p);
        }
        row.meta = p.meta;
        return JSON.stringify(row) + '\n';
      });
      process.stdout.write(lines.join(''));
    });
}
