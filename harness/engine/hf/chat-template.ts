// Chat templates: the Jinja program a checkpoint ships to turn a conversation into prompt text,
// rendered with @huggingface/jinja (which trims blocks as transformers' environment does) with
// the variables transformers 5 passes: messages, add_generation_prompt, tools, documents, the
// tokenizer's named special tokens (bos_token, eos_token, unk_token, sep_token, pad_token,
// cls_token, mask_token, where defined) and any extra keyword (enable_thinking, …).
//
// Where a checkpoint keeps its templates, as transformers 5 reads them: the files
// chat_template.jinja (the default) and additional_chat_templates/NAME.jinja (named ones) when
// there are any; otherwise tokenizer_config.json's "chat_template" (a string, or a list of
// {name, template} whose "default" entry is the default); chat_template.json (processors) last. A
// user can always choose one with `--chat-template FILE|NAME` (a Jinja file, a template of the
// checkpoint by name, or a built-in).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { UsageError } from '../../util/errors.ts';
import { readJsonFile } from './config.ts';
import type { HfTokenizer } from './tokenizer.ts';

export interface ChatMessage {
  role: string;
  content: string;
  [field: string]: unknown;
}

export interface RenderOptions {
  /** End with the opening of an assistant turn (the prompt for generation). */
  addGenerationPrompt?: boolean;
  /** More template variables (enable_thinking, tools, documents, …). */
  extra?: Record<string, unknown>;
}

/** What the chat template needs from a tokenizer (HfTokenizer has all of it). */
export type TemplateTokenizer = Pick<HfTokenizer, 'specialTokens' | 'tokenToId' | 'encode'>;

export class ChatTemplate {
  private readonly compiled: Template;

  /**
   * @param name how to ask for it again and how results record it: 'default' or a checkpoint
   *   template's name, a built-in name, or the file path it came from.
   * @param origin where the text came from (a file path, or 'built-in').
   * @param requiredTokens tokens the text spells out and the vocabulary must have as single tokens.
   */
  constructor(
    readonly name: string,
    readonly source: string,
    readonly origin: string,
    readonly requiredTokens: readonly string[] = [],
  ) {
    try {
      this.compiled = new Template(source);
    } catch (e) {
      throw new UsageError(`${origin}: chat template ${JSON.stringify(name)} does not parse: ${(e as Error).message}`);
    }
  }

  /** The prompt text of `messages`, with `tok`'s special tokens as template variables. */
  render(messages: readonly ChatMessage[], tok: TemplateTokenizer, opts: RenderOptions = {}): string {
    for (const t of this.requiredTokens) {
      if (tok.tokenToId(t) === undefined) {
        throw new UsageError(`chat template ${JSON.stringify(this.name)} needs the token ${JSON.stringify(t)}, which this tokenizer does not have; choose another with --chat-template FILE|NAME (built-ins: ${BUILTIN_NAMES.join(', ')})`);
      }
    }
    messages.forEach((m, i) => {
      if (!m || typeof m.role !== 'string' || typeof m.content !== 'string') throw new UsageError(`chat message ${i}: needs string "role" and "content", got ${JSON.stringify(m)}`);
    });
    const vars: Record<string, unknown> = {
      ...tok.specialTokens,
      tools: null,
      documents: null,
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    };
    try {
      return this.compiled.render(vars);
    } catch (e) {
      throw new UsageError(`chat template ${JSON.stringify(this.name)} (${this.origin}): ${(e as Error).message}`);
    }
  }

  /**
   * Prompt ids of `messages`: the rendered text tokenized without adding special tokens (the
   * template writes its own), as transformers' apply_chat_template(tokenize=True) does.
   */
  encode(messages: readonly ChatMessage[], tok: TemplateTokenizer, opts: RenderOptions = {}): { text: string; ids: Int32Array } {
    const text = this.render(messages, tok, opts);
    return { text, ids: tok.encode(text, { addSpecialTokens: false }) };
  }
}

// Built-in templates for checkpoints that ship none (base models) or for overriding one. Each
// names the tokens it spells out, so a vocabulary without them is refused, not silently split.
const BUILTINS: Record<string, { description: string; source: string; requiredTokens: string[] }> = {
  chatml: {
    description: 'ChatML, as Qwen2/Qwen2.5/Qwen3 instruct models use it (no default system prompt)',
    source:
      "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}",
    requiredTokens: ['<|im_start|>', '<|im_end|>'],
  },
  llama3: {
    description: 'Llama 3 instruct headers (BOS, <|start_header_id|>role<|end_header_id|>, <|eot_id|>)',
    source:
      "{{- bos_token if bos_token is defined else '' }}{%- for message in messages %}" +
      "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (message['content'] | trim) + '<|eot_id|>' }}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
    requiredTokens: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
  },
  plain: {
    description: 'no special tokens beyond BOS: "System text\\n\\nUser: …\\n\\nAssistant:" for base models',
    source:
      "{{- bos_token if bos_token is defined else '' }}{%- for message in messages %}" +
      "{%- if message['role'] == 'system' %}{{- message['content'] + '\\n\\n' }}" +
      "{%- else %}{{- (message['role'] | capitalize) + ': ' + message['content'] + '\\n\\n' }}{%- endif %}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{- 'Assistant:' }}{%- endif %}",
    requiredTokens: [],
  },
};
export const BUILTIN_NAMES = Object.keys(BUILTINS);

/** A built-in template by name (chatml, llama3, plain). */
export function builtinChatTemplate(name: string): ChatTemplate {
  const b = BUILTINS[name];
  if (!b) throw new UsageError(`no built-in chat template ${JSON.stringify(name)}; built-ins: ${BUILTIN_NAMES.join(', ')}`);
  return new ChatTemplate(name, b.source, 'built-in', b.requiredTokens);
}

export function describeBuiltins(): string {
  return BUILTIN_NAMES.map((n) => `${n}: ${BUILTINS[n]!.description}`).join('; ');
}

/** The option every command that builds chat prompts offers, with one wording. */
export const CHAT_TEMPLATE_OPTION = {
  flags: '--chat-template <file|name>',
  description: `chat template: a Jinja file, a template of the checkpoint by name, or a built-in (${BUILTIN_NAMES.join(', ')}); default: the checkpoint's own`,
} as const;

/** The templates a checkpoint folder ships: its default one (or null) and any named ones. */
export interface CheckpointChatTemplates {
  default: ChatTemplate | null;
  named: ReadonlyMap<string, ChatTemplate>;
}

/** A "chat_template" value (string or [{name, template}]) from `path` into default + named. */
function parseTemplateField(v: unknown, path: string, named: Map<string, ChatTemplate>): ChatTemplate | null {
  if (v == null) return null;
  if (typeof v === 'string') return new ChatTemplate('default', v, path);
  if (Array.isArray(v)) {
    let dflt: ChatTemplate | null = null;
    v.forEach((e, i) => {
      const { name, template } = (e ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== 'string' || typeof template !== 'string') throw new UsageError(`${path}: chat_template[${i}] must be {"name": string, "template": string}`);
      const t = new ChatTemplate(name, template, `${path} (chat_template "${name}")`);
      named.set(name, t);
      if (name === 'default') dflt = t;
    });
    return dflt;
  }
  throw new UsageError(`${path}: "chat_template" must be a string or a list of {name, template}, got ${typeof v}`);
}

export function readChatTemplates(dir: string): CheckpointChatTemplates {
  const named = new Map<string, ChatTemplate>();
  let dflt: ChatTemplate | null = null;
  // Template files, when there are any, replace the tokenizer_config.json entry (as in transformers 5).
  const jinjaPath = join(dir, 'chat_template.jinja');
  if (existsSync(jinjaPath)) dflt = new ChatTemplate('default', readFileSync(jinjaPath, 'utf8'), jinjaPath);
  const extraDir = join(dir, 'additional_chat_templates');
  if (existsSync(extraDir) && statSync(extraDir).isDirectory()) {
    for (const f of readdirSync(extraDir).sort()) {
      if (!f.endsWith('.jinja')) continue;
      const name = f.slice(0, -'.jinja'.length);
      const p = join(extraDir, f);
      const t = new ChatTemplate(name, readFileSync(p, 'utf8'), p);
      named.set(name, t);
      if (name === 'default' && !dflt) dflt = t;
    }
  }
  if (!dflt && named.size === 0) {
    // tokenizer_config.json's entry; chat_template.json (where processors keep it) as a last resort.
    for (const f of ['tokenizer_config.json', 'chat_template.json']) {
      const path = join(dir, f);
      if (!existsSync(path)) continue;
      dflt = parseTemplateField(readJsonFile(path).chat_template, path, named);
      if (dflt || named.size) break;
    }
  }
  if (dflt && !named.has('default')) named.set('default', dflt);
  return { default: dflt, named };
}

/** The message when a chat prompt is needed and the checkpoint has no template. */
export function missingChatTemplateMessage(dir: string): string {
  return (
    `${dir} has no chat template (none in tokenizer_config.json, chat_template.jinja or chat_template.json); ` +
    `pass one with --chat-template FILE|NAME: a Jinja file, or a built-in name (${describeBuiltins()})`
  );
}

/**
 * The template to use for checkpoint `dir`: without `spec`, its default one (a clear error when it
 * has none); with `spec`, a file (Jinja text, or a JSON file with a "chat_template" field), else
 * a template of the checkpoint by that name, else a built-in by that name.
 */
export function resolveChatTemplate(dir: string, spec?: string, available: CheckpointChatTemplates = readChatTemplates(dir)): ChatTemplate {
  if (spec === undefined || spec === '') {
    if (available.default) return available.default;
    if (available.named.size) {
      throw new UsageError(`${dir} has several chat templates and none named "default" (${[...available.named.keys()].join(', ')}); choose one with --chat-template NAME`);
    }
    throw new UsageError(missingChatTemplateMessage(dir));
  }
  if (existsSync(spec) && statSync(spec).isFile()) {
    if (spec.endsWith('.json')) {
      const named = new Map<string, ChatTemplate>();
      const t = parseTemplateField(readJsonFile(spec).chat_template, spec, named);
      if (!t) throw new UsageError(`${spec}: no "chat_template" string (or list with a "default" entry) in this JSON file`);
      return new ChatTemplate(spec, t.source, spec);
    }
    return new ChatTemplate(spec, readFileSync(spec, 'utf8'), spec);
  }
  const own = available.named.get(spec);
  if (own) return own;
  if (BUILTINS[spec]) return builtinChatTemplate(spec);
  const looksLikePath = spec.includes('/') || spec.includes('\\') || /\.(jinja2?|json|txt)$/.test(spec);
  throw new UsageError(
    looksLikePath
      ? `--chat-template ${spec}: file not found`
      : `--chat-template ${JSON.stringify(spec)}: not a file, not a template of ${dir}${available.named.size ? ` (it has: ${[...available.named.keys()].join(', ')})` : ''}, and not a built-in (${BUILTIN_NAMES.join(', ')})`,
  );
}

/** Short label of where a template came from (for `model info`). */
export function templateLabel(t: ChatTemplate): string {
  return t.origin === 'built-in' ? `built-in ${t.name}` : basename(t.origin.split(' (')[0]!);
}
