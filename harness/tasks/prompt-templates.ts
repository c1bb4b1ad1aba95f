// Prompt templates: how a problem becomes the messages of a chat prompt for an instruct model
// (the chat template then turns the messages into tokens). Named, overridable and recorded in the
// results, so two evaluations that used different instructions can be told apart. The default,
// `boxed`, puts the instruction the math-RL community uses after the problem in the user turn, as
// the DeepSeek-R1 and Qwen3 model cards recommend for math; `boxed-system` puts it in a system turn,
// as Qwen2.5-Math's evaluation does; `plain` sends the problem alone.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { UsageError } from '../util/errors.ts';

/** The instruction the math-RL community appends to a problem (DeepSeek-R1, Qwen3, DAPO's evaluations). */
export const BOXED_INSTRUCTION = 'Please reason step by step, and put your final answer within \\boxed{}.';

/** `{problem}` in the user (and system) text is replaced by the problem statement. */
export const PROBLEM_PLACEHOLDER = '{problem}';

export interface PromptTemplate {
  /** How results record it: a built-in name or the file it came from. */
  name: string;
  /** A system message, or null for none. */
  system: string | null;
  /** The user message; must contain {problem}. */
  user: string;
}

export interface ChatMessageLike {
  role: string;
  content: string;
  [field: string]: unknown;
}

const BUILTINS: Record<string, Omit<PromptTemplate, 'name'> & { description: string }> = {
  boxed: { description: 'the problem, then on a new line the instruction, in the user turn (DeepSeek-R1 and Qwen3 model cards)', system: null, user: `${PROBLEM_PLACEHOLDER}\n${BOXED_INSTRUCTION}` },
  'boxed-system': { description: 'the instruction as a system message, the problem alone in the user turn (Qwen2.5-Math evaluation)', system: BOXED_INSTRUCTION, user: PROBLEM_PLACEHOLDER },
  plain: { description: 'the problem alone in the user turn', system: null, user: PROBLEM_PLACEHOLDER },
};

export const PROMPT_TEMPLATE_NAMES = Object.keys(BUILTINS);
export const DEFAULT_PROMPT_TEMPLATE = 'boxed';

export function describePromptTemplates(): string {
  return PROMPT_TEMPLATE_NAMES.map((n) => `${n}: ${BUILTINS[n]!.description}`).join('; ');
}

function checkTemplate(t: PromptTemplate, where: string): PromptTemplate {
  if (typeof t.user !== 'string' || !t.user.includes(PROBLEM_PLACEHOLDER)) throw new UsageError(`${where}: the user text must contain ${PROBLEM_PLACEHOLDER}`);
  if (t.system !== null && typeof t.system !== 'string') throw new UsageError(`${where}: "system" must be a string or null`);
  return t;
}

/**
 * A template by built-in name, or from a file: a JSON file `{"system"?: string|null, "user": string}`,
 * or any other file whose text is the user message. Either must contain {problem}.
 */
export function resolvePromptTemplate(spec: string = DEFAULT_PROMPT_TEMPLATE): PromptTemplate {
  const b = BUILTINS[spec];
  if (b) return { name: spec, system: b.system, user: b.user };
  if (existsSync(spec) && statSync(spec).isFile()) {
    const text = readFileSync(spec, 'utf8');
    if (!spec.endsWith('.json')) return checkTemplate({ name: spec, system: null, user: text }, spec);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`${spec}: not valid JSON (${(e as Error).message})`);
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${spec}: expected {"system"?: string, "user": string}`);
    const r = raw as Record<string, unknown>;
    const extra = Object.keys(r).filter((k) => k !== 'system' && k !== 'user');
    if (extra.length) throw new UsageError(`${spec}: unknown field "${extra[0]}" (a prompt template has "system" and "user")`);
    return checkTemplate({ name: spec, system: (r.system ?? null) as string | null, user: r.user as string }, spec);
  }
  const looksLikePath = spec.includes('/') || spec.includes('\\') || /\.(json|txt|md)$/.test(spec);
  throw new UsageError(looksLikePath ? `prompt template ${spec}: file not found` : `prompt template ${JSON.stringify(spec)}: not a file and not a built-in (${describePromptTemplates()})`);
}

/** The chat messages of one problem under a template. */
export function promptMessages(t: PromptTemplate, problem: string): ChatMessageLike[] {
  // split/join rather than String.replace, whose `$&` and `$1` patterns would rewrite problem text.
  const fill = (s: string) => s.split(PROBLEM_PLACEHOLDER).join(problem);
  return [...(t.system !== null ? [{ role: 'system', content: fill(t.system) }] : []), { role: 'user', content: fill(t.user) }];
}
