// `rlbench eval --model DIR --benchmark NAME …`: evaluates one checkpoint (a Hugging Face folder,
// or an rlbench checkpoint or run folder) on benchmarks, each with its default protocol unless
// overridden, and prints per benchmark avg@k, pass@k, maj@k, greedy accuracy, mean response
// length and the truncated fraction; `--out` saves every response (JSONL, one line per problem),
// `--json` prints the summary as JSON. A live progress line on a terminal, log lines otherwise.
import type { Command } from 'commander';
import { UsageError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { DEFAULT_DATA_DIR } from '../tasks/registry.ts';
import { ANSWER_FORMATS, type AnswerFormat } from '../tasks/datasets.ts';
import { DEFAULT_EVAL_MAX_TOKENS, EVAL_DEFAULTS } from '../tasks/eval-protocol.ts';
import { DEFAULT_PROMPT_TEMPLATE, PROMPT_TEMPLATE_NAMES } from '../tasks/prompt-templates.ts';
import { CHAT_TEMPLATE_OPTION } from '../engine/hf/chat-template.ts';
import { evaluateModel, resolveBenchmark, type BenchmarkResult, type ModelEvaluation } from '../runs/eval-model.ts';

interface EvalFlags {
  model?: string;
  benchmark: string[];
  limit?: string;
  k?: string;
  temperature?: string;
  topP?: string;
  maxTokens?: string;
  seed: string;
  json?: boolean;
  out?: string;
  dataDir?: string;
  chatTemplate?: string;
  template?: string;
  batchTokens: string;
  batchSize: string;
  threads?: string;
  maxPromptTokens?: string;
  greedy: boolean;
  problemField: string;
  answerField: string;
  idField?: string;
  answerFormat: string;
}

function int(flag: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got '${raw}'`);
  return n;
}

function num(flag: string, raw: string | undefined, ok: (x: number) => boolean, range: string): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`--${flag} must be a number ${range}, got '${raw}'`);
  return x;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(Math.floor(s % 60)).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const pct = (x: number | null) => (x === null ? '–' : (100 * x).toFixed(1));

/** The table printed at the end: one row per benchmark. */
export function summaryTable(e: ModelEvaluation): string {
  const head = ['benchmark', 'n', 'k', 'T', 'top-p', 'max tok', 'avg@k', 'pass@k', 'maj@k', 'greedy', 'mean len', 'trunc %', 'left out'];
  const rows = e.results.map((r) => {
    const x = r.evaluation.row;
    return [r.name, String(x.n), String(x.k), String(x.temperature), String(x.topP ?? 1), String(r.plan.maxTokens), pct(x.avgAtK), pct(x.passAtK[x.passAtK.length - 1]!), pct(x.majAtK), pct(x.greedy), x.meanLength.toFixed(1), pct(x.truncated), String(x.leftOut ?? 0)];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** The JSON summary (--json): the model, the prompt formatting and every benchmark's numbers. */
export function summaryJson(e: ModelEvaluation) {
  return {
    model: e.model,
    weights: e.weights,
    policy: e.policy,
    seed: e.seed,
    benchmarks: e.results.map((r) => {
      const { perProblem: _perProblem, ...row } = r.evaluation.row;
      return { ...row, source: r.source, maxTokens: r.plan.maxTokens, greedyDecode: r.plan.greedy, passAtKFinal: row.passAtK[row.passAtK.length - 1] };
    }),
  };
}

/** --out: one JSON line per problem: its id, prompt, gold answer, every response graded, the greedy one. */
export function responseLines(e: ModelEvaluation): string {
  const template = e.policy.prompts.kind === 'chat' ? e.policy.prompts.template.name : 'curriculum';
  const out: string[] = [];
  for (const r of e.results) {
    r.problems.forEach((p, i) => {
      const samples = r.evaluation.samples[i]!;
      out.push(JSON.stringify({
        benchmark: r.name, id: p.id, prompt: r.prompts[i], answer: p.answer, template,
        correct: samples.filter((s) => s.correct).length, k: samples.length,
        responses: samples, greedy: r.evaluation.greedy?.[i] ?? null,
      }));
    });
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

function progressPrinter(): (p: { benchmark: string; done: number; total: number; tokens: number; index: number; of: number }) => void {
  const tty = Boolean(process.stderr.isTTY);
  let started = { key: '', t0: 0 };
  let lastBucket = -1;
  return (p) => {
    const key = `${p.index}:${p.benchmark}`;
    if (started.key !== key) {
      started = { key, t0: performance.now() };
      lastBucket = -1;
    }
    const secs = (performance.now() - started.t0) / 1000;
    const rate = secs > 0 ? p.tokens / secs : 0;
    const eta = p.done > 0 ? (secs * (p.total - p.done)) / p.done : NaN;
    const line = `[${p.index + 1}/${p.of}] ${p.benchmark}: ${p.done}/${p.total} responses, ${Math.round(rate).toLocaleString('en-US')} tokens/s, ETA ${fmtTime(eta)}`;
    if (tty) {
      process.stderr.write(`\r\x1b[K${line}`);
      if (p.done >= p.total) process.stderr.write('\n');
    } else {
      const bucket = Math.floor((10 * p.done) / p.total);
      if (bucket !== lastBucket) {
        lastBucket = bucket;
        process.stderr.write(line + '\n');
      }
    }
  };
}

export function registerEvalCommands(program: Command): void {
  const collect = (v: string, prev: string[]) => [...prev, v];
  program
    .command('eval')
    .description('evaluate a checkpoint (a Hugging Face folder, or an rlbench run checkpoint or run folder) on benchmarks: avg@k, pass@k, maj@k, greedy accuracy, mean length and the truncated fraction per benchmark')
    .option('--model <dir>', 'a Hugging Face checkpoint folder, an rlbench checkpoint folder (policy.json), or a run folder (its final model/, else its checkpoint/)')
    .option('--benchmark <name>', `a built-in benchmark (arith-*), a shared dataset by name (math500, aime24, aime25, amc23, minerva_math, olympiadbench, gsm8k), or a JSONL file path; repeat for several`, collect, [])
    .option('--data-dir <dir>', `folder of the shared datasets (default ${DEFAULT_DATA_DIR}, relative to the current directory)`)
    .option('--limit <n>', 'the first N problems of each benchmark')
    .option('--k <k>', `samples per problem (default per benchmark: ${Object.entries(EVAL_DEFAULTS).map(([n, d]) => `${n} ${d.k}`).join(', ')}; arith-* 8; others 4)`)
    .option('--temperature <t>', 'sampling temperature (default per benchmark: 0.6, arith-* 1); 0 decodes greedily (k = 1)')
    .option('--top-p <p>', 'nucleus mass in (0, 1] (default per benchmark: 0.95, arith-* 1)')
    .option('--max-tokens <n>', `most new tokens per response (default ${DEFAULT_EVAL_MAX_TOKENS}, or what the context leaves after the benchmark's longest prompt); a response that reaches it counts as truncated (and is graded as it stands)`)
    .option('--no-greedy', 'skip the greedy decode')
    .option('--seed <s>', 'seed of the sampling draws (the same seed gives every checkpoint the same draws)', '0')
    .option(CHAT_TEMPLATE_OPTION.flags, CHAT_TEMPLATE_OPTION.description)
    .option('--template <name|file>', `prompt template: ${PROMPT_TEMPLATE_NAMES.join(', ')}, or a file (JSON {"system"?, "user"} or text, with {problem}); default ${DEFAULT_PROMPT_TEMPLATE}: the problem, then "Please reason step by step, and put your final answer within \\boxed{}."`)
    .option('--max-prompt-tokens <n>', 'leave out (and count) problems whose prompt is longer; without it a prompt that does not fit the context is an error')
    .option('--batch-tokens <n>', 'token budget of one decode pass: rows × (prompt + max new tokens) stays within it, so memory stays bounded', '32768')
    .option('--batch-size <n>', 'most rows of one decode pass', '256')
    .option('--threads <n>', 'ONNX Runtime threads (default: all cores)')
    .option('--problem-field <name>', 'JSONL benchmarks: the problem field', 'problem')
    .option('--answer-field <name>', 'JSONL benchmarks: the answer field', 'answer')
    .option('--answer-format <f>', `JSONL benchmarks: ${ANSWER_FORMATS.join(', ')} (the field is the answer, the last \\boxed{} of a solution, or the text after ####)`, 'plain')
    .option('--id-field <name>', 'JSONL benchmarks: a field with stable ids (default: the line index)')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--out <file>', 'write every response, graded, as JSONL (one line per problem: id, prompt, answer, responses with the extracted answer, its stage and correctness, the greedy response)')
    .action(async (f: EvalFlags) => {
      if (!f.model) throw new UsageError('--model DIR is required');
      if (f.benchmark.length === 0) throw new UsageError('give at least one --benchmark NAME (e.g. --benchmark math500 --benchmark aime24)');
      const limit = int('limit', f.limit, 1);
      const overrides = {
        k: int('k', f.k, 1),
        temperature: num('temperature', f.temperature, (x) => x >= 0, '>= 0'),
        topP: num('top-p', f.topP, (x) => x > 0 && x <= 1, 'in (0, 1]'),
        maxTokens: int('max-tokens', f.maxTokens, 1),
        greedy: f.greedy === false ? false : undefined,
      };
      const seed = int('seed', f.seed, 0)!;
      const batchTokens = int('batch-tokens', f.batchTokens, 1)!;
      const batchSize = int('batch-size', f.batchSize, 1)!;
      const threads = int('threads', f.threads, 1);
      const maxPromptTokens = int('max-prompt-tokens', f.maxPromptTokens, 1);
      if (!ANSWER_FORMATS.includes(f.answerFormat as AnswerFormat)) throw new UsageError(`--answer-format must be one of ${ANSWER_FORMATS.join(', ')}, got '${f.answerFormat}'`);
      const names = new Set<string>();
      const benchmarks = f.benchmark.map((spec) => {
        const b = resolveBenchmark(spec, { dataDir: f.dataDir, limit, fields: { problemField: f.problemField, answerField: f.answerField, idField: f.idField, answerFormat: f.answerFormat as AnswerFormat } });
        if (names.has(b.name)) throw new UsageError(`--benchmark ${spec}: given twice`);
        names.add(b.name);
        return b;
      });
      const t0 = performance.now();
      const e = await evaluateModel({
        model: f.model, benchmarks, overrides, seed, chatTemplate: f.chatTemplate, promptTemplate: f.template, maxPromptTokens, batchTokens, batchSize, threads,
        onProgress: progressPrinter(),
        onBenchmark: (r: BenchmarkResult) => {
          const x = r.evaluation.row;
          if (!f.json) process.stderr.write(`${r.name}: avg@${x.k} ${pct(x.avgAtK)}  greedy ${pct(x.greedy)}  (${x.n} problems${x.leftOut ? `, ${x.leftOut} left out` : ''}, ${x.evalTime.toFixed(1)} s)\n`);
        },
      });
      if (f.out) writeFileAtomic(f.out, responseLines(e));
      if (f.json) {
        process.stdout.write(JSON.stringify(summaryJson(e)) + '\n');
        return;
      }
      const p = e.policy;
      const prompts = p.prompts.kind === 'chat' ? `chat template ${p.prompts.chatTemplate}, prompt template ${p.prompts.template.name}` : 'curriculum prompts';
      process.stdout.write(`model: ${e.weights} (${p.kind === 'hf' ? `${p.modelType}, ${p.paramCount.toLocaleString('en-US')} parameters, ${p.dtype}` : `rlbench GPT, ${p.paramCount.toLocaleString('en-US')} parameters`}, context ${p.contextLength}); ${prompts}; seed ${e.seed}; ${fmtTime((performance.now() - t0) / 1000)}\n\n`);
      process.stdout.write(summaryTable(e) + '\n');
      process.stdout.write('\naccuracies in %; pass@k is the unbiased estimator at the benchmark\'s k; a response that reaches max tok (trunc %) counts as wrong\n');
      if (f.out) process.stdout.write(`responses: ${f.out}\n`);
    });
}
