// The contract between tasks and the rest of the harness: problems with gold answers, the
// benchmarks that group them, and the graders that turn a response into a reward.

export interface Problem {
  /** Stable id, unique within its benchmark (e.g. 'gsm8k/test/17', 'arith-id/42'). */
  id: string;
  /** The question as shown to the model (before any prompt template). */
  problem: string;
  /** The gold final answer, normalised to a string. */
  answer: string;
  /** A worked solution, when the source has one (the curriculum's is the SFT target). */
  solution?: string;
  meta?: Record<string, unknown>;
}

/** Which extraction stage found the answer: a \boxed{}, a final-answer phrase (`####`, "the
 * final answer is"), the last LaTeX expression, or the last number. */
export type ExtractionStage = 'boxed' | 'final-answer' | 'latex' | 'number';

export interface GradeResult {
  correct: boolean;
  /** The final answer found in the response, or null when none was found. */
  extracted: string | null;
  /** The stage that found `extracted` (null when nothing was found); plugin graders may omit it. */
  stage?: ExtractionStage | null;
}

/** A grader is a plugin point: a task may bring its own. */
export interface Grader {
  id: string;
  grade(response: string, gold: string): GradeResult;
  /** Whether two extracted answers are the same answer (maj@k votes by this). */
  equivalent?(a: string, b: string): boolean;
}

export interface Benchmark {
  /** Name used in configs and reports, e.g. 'arith-id', 'math500'. */
  name: string;
  description: string;
  /** The grader its answers are checked with. */
  grader: Grader;
  problems(): Problem[];
}
