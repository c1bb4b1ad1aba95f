// The evaluation settings `rlbench eval` uses for each benchmark unless told otherwise, following
// common practice for reasoning models (the table and its sources are in the README, "Evaluating a
// checkpoint"):
// - AIME 2024/2025 and AMC 2023 (30-40 problems): avg@32 at temperature 0.6, top-p 0.95. DAPO
//   reports AIME 2024 as avg@32; DeepSeek-R1 samples at T = 0.6, top-p 0.95 (64 responses per
//   query); the Qwen3 model cards recommend T = 0.6, top-p 0.95 for thinking mode. A small set
//   needs many samples for a stable mean.
// - MATH-500, Minerva Math, OlympiadBench (272-675 problems): avg@4 at the same T and top-p.
// - GSM8K (1,319 problems): one sample.
// - The built-in arithmetic benchmarks: the suites' settings (avg@8 at T = 1).
// Every benchmark also gets one greedy decode. Responses are limited to 4,096 new tokens, or
// what the context leaves after the benchmark's longest prompt (the papers allow 32,768 for
// reasoning models; the truncated fraction says when the limit bites).

export interface EvalDefaults {
  k: number;
  temperature: number;
  topP: number;
  greedy: boolean;
}

const COMPETITION: EvalDefaults = { k: 32, temperature: 0.6, topP: 0.95, greedy: true };
const LARGER: EvalDefaults = { k: 4, temperature: 0.6, topP: 0.95, greedy: true };
const ARITH: EvalDefaults = { k: 8, temperature: 1, topP: 1, greedy: true };

export const EVAL_DEFAULTS: Readonly<Record<string, EvalDefaults>> = {
  aime24: COMPETITION,
  aime25: COMPETITION,
  amc23: COMPETITION,
  math500: LARGER,
  minerva_math: LARGER,
  olympiadbench: LARGER,
  gsm8k: { k: 1, temperature: 0.6, topP: 0.95, greedy: true },
};

/** The default for a benchmark name: the table above, the suites' settings for arith-*, else avg@4 at T = 0.6. */
export function evalDefaults(name: string): EvalDefaults {
  return EVAL_DEFAULTS[name] ?? (name.startsWith('arith-') ? ARITH : LARGER);
}

/** The default response limit before the context caps it. */
export const DEFAULT_EVAL_MAX_TOKENS = 4096;
