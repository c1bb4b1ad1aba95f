// Where a run's or an evaluation's policy comes from, as one object: its configuration, how
// problems become prompts (runs/prompts.ts), its EOS and PAD ids, how responses become text, and
// for a Hugging Face checkpoint its weights on disk. Two kinds exist: the built-in GPT (character
// tokenizer, curriculum prompts) and a Hugging Face folder (its tokenizer, chat template and
// prompt template). `openModelDir` also reads rlbench's own checkpoints (GPT run checkpoints and
// SFT caches, Hugging Face policies' run checkpoints and final exports), for `rlbench eval`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GptConfig, LlamaConfig, PolicyConfig } from '../engine/types.ts';
import { inspectHfCheckpoint, chatTemplateFor, type HfCheckpointInfo } from '../engine/hf/checkpoint.ts';
import { loadHfWeights } from '../engine/hf/weights.ts';
import { loadCheckpoint, CHECKPOINT_FORMAT } from '../engine/checkpoint.ts';
import { defaultTokenizer, type CharTokenizer } from '../tasks/tokenizer.ts';
import { resolvePromptTemplate } from '../tasks/prompt-templates.ts';
import { UsageError } from '../util/errors.ts';
import { readJsonFile } from '../util/fs.ts';
import { chatPrompts, curriculumPrompts, type PromptFormat, type PromptRecord } from './prompts.ts';
import { HF_POLICY_FORMAT } from './policy-checkpoint.ts';

/** What results record about a policy. */
export interface PolicyInfo {
  kind: 'gpt' | 'hf';
  /** The Hugging Face folder it was read from. */
  from?: string;
  modelType?: string;
  /** Storage dtype of the weights on disk (computation is float32). */
  dtype?: string;
  paramCount: number;
  contextLength: number;
  prompts: PromptRecord;
}

export interface PolicySource {
  readonly kind: 'gpt' | 'hf';
  readonly config: PolicyConfig;
  /** Ids that end a response (a Hugging Face generation config may list several). */
  readonly eos: readonly number[];
  /** Fills left padding; never attended to, so any id of the vocabulary works. */
  readonly pad: number;
  readonly prompts: PromptFormat;
  /** Response ids (EOS already removed) → text. */
  detokenize(ids: Int32Array): string;
  readonly info: PolicyInfo;
}

export interface HfPolicySource extends PolicySource {
  readonly kind: 'hf';
  readonly config: LlamaConfig;
  readonly dir: string;
  readonly checkpoint: HfCheckpointInfo;
  /** The checkpoint's weights in float32, read from disk: a fresh copy at every call. */
  loadParams(): Float32Array;
}

/** The built-in GPT with the character tokenizer and the curriculum's prompts. */
export function gptPolicySource(config: GptConfig, paramCount: number, tok: CharTokenizer = defaultTokenizer): PolicySource {
  const prompts = curriculumPrompts(tok);
  return {
    kind: 'gpt',
    config,
    eos: [tok.eos],
    pad: tok.pad,
    prompts,
    detokenize: (ids) => tok.decode(ids),
    info: { kind: 'gpt', paramCount, contextLength: config.contextLength, prompts: prompts.record },
  };
}

export interface HfPolicyOptions {
  /** Accept sequences up to this many tokens (default: the checkpoint's max_position_embeddings; never more). */
  contextLength?: number;
  /** A chat template instead of the checkpoint's (file, checkpoint template name, or built-in). */
  chatTemplate?: string;
  /** The prompt template (a built-in name or a file; default `boxed`). */
  promptTemplate?: string;
  /** How to name the settings in messages: 'flags' (--chat-template) or an experiment's 'policy.' fields. */
  settings?: 'flags' | 'experiment';
}

/**
 * A Hugging Face checkpoint folder as a policy: config, tokenizer, EOS ids and chat template are
 * read (and checked) now; the weights when `loadParams` is called. A checkpoint without a chat
 * template needs one given (`--chat-template`, or `policy.chatTemplate` in an experiment).
 */
export function openHfPolicy(dir: string, opts: HfPolicyOptions = {}): HfPolicySource {
  const checkpoint = inspectHfCheckpoint(dir, { contextLength: opts.contextLength });
  let chat;
  try {
    chat = chatTemplateFor(checkpoint, opts.chatTemplate);
  } catch (e) {
    if (opts.settings === 'experiment' && e instanceof UsageError) {
      throw new UsageError(`${e.message.replace(/--chat-template FILE\|NAME/g, '"policy": { "chatTemplate": FILE|NAME }').replace(/--chat-template/g, 'policy.chatTemplate')} (in the experiment: "policy": { "from": …, "chatTemplate": "chatml" })`);
    }
    throw e;
  }
  const template = resolvePromptTemplate(opts.promptTemplate);
  const prompts = chatPrompts(chat, checkpoint.tokenizer, template);
  const tok = checkpoint.tokenizer;
  const eos = checkpoint.eosIds;
  if (eos.length === 0) throw new UsageError(`${dir}: no EOS id (generation_config.json, config.json and the tokenizer name none), so a response could never end`);
  const config = checkpoint.config;
  return {
    kind: 'hf',
    config,
    dir,
    checkpoint,
    eos,
    pad: tok.pad ?? eos[0]!,
    prompts,
    detokenize: (ids) => tok.decode(ids, { skipSpecialTokens: true }),
    info: { kind: 'hf', from: dir, modelType: config.modelType, dtype: checkpoint.dtype, paramCount: checkpoint.paramCount, contextLength: config.contextLength, prompts: prompts.record },
    loadParams: () => loadHfWeights(dir, config).params,
  };
}

/** A policy and its weights, from any folder rlbench can evaluate. */
export interface OpenedModel {
  source: PolicySource;
  params: Float32Array;
  /** The folder the weights were read from (a run folder resolves to its model/ or checkpoint/). */
  dir: string;
}

/**
 * Opens DIR for evaluation: a Hugging Face checkpoint folder (config.json), a run folder
 * (its final export `model/`, else its `checkpoint/`), a Hugging Face policy's run checkpoint
 * (config.json + policy.json: the context length it trained with), or a GPT checkpoint
 * (policy.json + policy.onnx: a run checkpoint or an SFT cache entry).
 */
export async function openModelDir(dir: string, opts: HfPolicyOptions = {}): Promise<OpenedModel> {
  if (!existsSync(dir)) throw new UsageError(`--model ${dir}: no such directory`);
  if (existsSync(join(dir, 'run.json'))) {
    const inner = existsSync(join(dir, 'model', 'config.json')) ? join(dir, 'model') : join(dir, 'checkpoint');
    if (!existsSync(inner)) throw new UsageError(`--model ${dir}: a run folder without a final model/ or a checkpoint/ yet`);
    return openModelDir(inner, opts);
  }
  const meta = readJsonFile<{ format?: string; config?: PolicyConfig }>(join(dir, 'policy.json'));
  if (existsSync(join(dir, 'config.json'))) {
    const trained = meta?.format === HF_POLICY_FORMAT ? (meta.config as LlamaConfig | undefined) : undefined;
    const source = openHfPolicy(dir, { ...opts, contextLength: opts.contextLength ?? trained?.contextLength });
    return { source, params: source.loadParams(), dir };
  }
  if (meta?.format === CHECKPOINT_FORMAT) {
    if (opts.chatTemplate !== undefined || (opts.promptTemplate !== undefined && opts.promptTemplate !== 'curriculum')) {
      throw new UsageError(`--model ${dir}: an rlbench GPT checkpoint reads the curriculum's prompts; --chat-template and --template apply to Hugging Face checkpoints`);
    }
    const ck = await loadCheckpoint(dir);
    return { source: gptPolicySource(ck.config, ck.params.length), params: ck.params, dir };
  }
  throw new UsageError(`--model ${dir}: not a Hugging Face checkpoint folder (no config.json) and not an rlbench checkpoint (no policy.json)`);
}
