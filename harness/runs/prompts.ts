// How a problem becomes a prompt, chosen in one place for a policy: the built-in GPT with its
// character tokenizer reads the curriculum's own template ([BOS] + "347+86="); a Hugging Face
// policy reads the chat template of its checkpoint around the messages of a prompt template
// (the community's "Please reason step by step, and put your final answer within \boxed{}." by
// default). The trainer, the rollout engine and evaluation see only `PromptFormat.encode`.
import type { Problem } from '../tasks/types.ts';
import type { CharTokenizer } from '../tasks/tokenizer.ts';
import { formatPrompt } from '../tasks/curriculum.ts';
import { promptMessages, type PromptTemplate } from '../tasks/prompt-templates.ts';
import type { ChatTemplate } from '../engine/hf/chat-template.ts';
import type { HfTokenizer } from '../engine/hf/tokenizer.ts';
import { UsageError } from '../util/errors.ts';

/** What the results record about the prompts: which formatting, and the exact templates. */
export type PromptRecord =
  | { kind: 'curriculum' }
  | { kind: 'chat'; chatTemplate: string; chatTemplateOrigin: string; template: PromptTemplate };

export interface PromptFormat {
  readonly record: PromptRecord;
  /** One line for logs: "curriculum" or "chat template default, prompt template boxed". */
  readonly label: string;
  /** The prompt's token ids (what the policy is fed). */
  encode(p: Problem): Int32Array;
  /** The prompt as text (what --out records). */
  text(p: Problem): string;
}

/** A curriculum prompt for the character-level GPT: [BOS] + "347+86=". */
export function encodePrompt(tok: CharTokenizer, p: Problem): Int32Array {
  const body = tok.encode(formatPrompt(p));
  const out = new Int32Array(body.length + 1);
  out[0] = tok.bos;
  out.set(body, 1);
  return out;
}

/** The curriculum's prompts for the character-level GPT. */
export function curriculumPrompts(tok: CharTokenizer): PromptFormat {
  return {
    record: { kind: 'curriculum' },
    label: 'curriculum',
    encode: (p) => {
      try {
        return encodePrompt(tok, p);
      } catch (e) {
        throw new UsageError(`problem ${p.id}: the built-in GPT's character vocabulary cannot write this prompt (${(e as Error).message}); datasets need a Hugging Face policy ("policy": { "from": DIR })`);
      }
    },
    text: (p) => formatPrompt(p),
  };
}

/**
 * Chat prompts: the prompt template's messages rendered by the checkpoint's chat template with the
 * generation prompt, tokenized as transformers' apply_chat_template does. Encodings are kept per
 * problem object (a training pool is encoded once, when it is checked against the context).
 */
export function chatPrompts(chat: ChatTemplate, tok: HfTokenizer, template: PromptTemplate): PromptFormat {
  const memo = new WeakMap<Problem, { text: string; ids: Int32Array }>();
  const render = (p: Problem) => {
    let r = memo.get(p);
    if (!r) {
      r = chat.encode(promptMessages(template, p.problem), tok, { addGenerationPrompt: true });
      if (r.ids.length === 0) throw new UsageError(`problem ${p.id}: the chat template renders an empty prompt`);
      memo.set(p, r);
    }
    return r;
  };
  return {
    record: { kind: 'chat', chatTemplate: chat.name, chatTemplateOrigin: chat.origin, template },
    label: `chat template ${chat.name}, prompt template ${template.name}`,
    encode: (p) => render(p).ids,
    text: (p) => render(p).text,
  };
}
