// A Hugging Face checkpoint folder as one object, in and out. Loading reads config.json,
// generation_config.json, the tokenizer, the chat templates and the safetensors weights of a
// local folder (never the network); saving writes the same layout back (config.json,
// generation_config.json, the tokenizer files, safetensors under the original tensor names), so
// transformers and vLLM read what rlbench trained, and load → save → load gives the same bits.
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../../util/errors.ts';
import { writeJsonAtomic } from '../../util/fs.ts';
import type { LlamaConfig } from '../models/llama-config.ts';
import type { ParamSpec } from '../types.ts';
import { hfConfigFromLlama, llamaConfigFromHf, readEosIds, readGenerationDefaults, readJsonFile, TORCH_DTYPES, type GenerationDefaults } from './config.ts';
import { readChatTemplates, resolveChatTemplate, type ChatTemplate, type CheckpointChatTemplates } from './chat-template.ts';
import { loadHfTokenizer, type HfTokenizer } from './tokenizer.ts';
import { checkHfTensors, saveHfWeights, type CheckedTensors } from './weights.ts';
import { readTensorInto, type SafeDType } from './safetensors.ts';

export interface HfCheckpointInfo {
  dir: string;
  config: LlamaConfig;
  /** config.json as stored (exported again by saveHfCheckpoint with sourceDir). */
  hfConfig: Record<string, unknown>;
  /** The storage dtype of the weights (the most common one, when mixed). */
  dtype: SafeDType;
  paramCount: number;
  /** The safetensors files (one, or the shards) and their tensor bytes. */
  weightFiles: string[];
  weightBytes: number;
  /** Ids that end generation: generation_config.json's eos_token_id, else config.json's, else the tokenizer's EOS. */
  eosIds: number[];
  tokenizer: HfTokenizer;
  /** The chat template in use: the one `opts.chatTemplate` chose, else the checkpoint's default, else null. */
  chatTemplate: ChatTemplate | null;
  /** Every template the folder ships. */
  chatTemplates: CheckpointChatTemplates;
  generation: GenerationDefaults;
}

export interface HfCheckpoint extends HfCheckpointInfo {
  /** All weights in one flat float32 buffer, laid out as `specs` (llamaParamLayout). */
  params: Float32Array;
  specs: ParamSpec[];
}

export interface LoadHfOptions {
  /** Accept sequences up to this many tokens (default max_position_embeddings; never more). */
  contextLength?: number;
  /** A chat template to use instead of the checkpoint's: a file, a checkpoint template's name, or a built-in. */
  chatTemplate?: string;
}

/** Everything about a checkpoint except the weight values (headers are checked, no tensor data is read). */
export function inspectHfCheckpoint(dir: string, opts: LoadHfOptions = {}): HfCheckpointInfo {
  return openHfCheckpoint(dir, opts).info;
}

/** A checkpoint folder with its weights in float32 (exact for F32, F16 and BF16 files). */
export function loadHfCheckpoint(dir: string, opts: LoadHfOptions = {}): HfCheckpoint {
  const { info, tensors } = openHfCheckpoint(dir, opts);
  const params = new Float32Array(tensors.paramCount);
  for (const { spec, info: t } of tensors.tensors) readTensorInto(t, params.subarray(spec.offset, spec.offset + spec.size));
  return { ...info, params, specs: tensors.specs };
}

function openHfCheckpoint(dir: string, opts: LoadHfOptions): { info: HfCheckpointInfo; tensors: CheckedTensors } {
  if (!existsSync(dir)) throw new UsageError(`${dir}: no such directory (a Hugging Face checkpoint folder; see README "Hugging Face checkpoints" for how to download one)`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${dir}: not a directory (--model takes a checkpoint folder)`);
  const cfgPath = join(dir, 'config.json');
  const hfConfig = readJsonFile(cfgPath);
  const config = llamaConfigFromHf(hfConfig, cfgPath, opts.contextLength === undefined ? {} : { contextLength: opts.contextLength });
  const tensors = checkHfTensors(dir, config);
  const tokenizer = loadHfTokenizer(dir);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new UsageError(`${join(dir, 'tokenizer.json')}: the tokenizer has ids up to ${tokenizer.vocabSize - 1}, but config.json's vocab_size is ${config.vocabSize}`);
  }
  let eosIds = readEosIds(dir);
  if (eosIds.length === 0 && tokenizer.eos !== undefined) eosIds = [tokenizer.eos];
  const bad = eosIds.find((id) => id >= config.vocabSize);
  if (bad !== undefined) throw new UsageError(`${dir}: eos_token_id ${bad} is outside the vocabulary (vocab_size ${config.vocabSize})`);
  const chatTemplates = readChatTemplates(dir);
  const chatTemplate = opts.chatTemplate !== undefined ? resolveChatTemplate(dir, opts.chatTemplate, chatTemplates) : chatTemplates.default;
  const info: HfCheckpointInfo = {
    dir,
    config,
    hfConfig,
    dtype: tensors.dtype,
    paramCount: tensors.paramCount,
    weightFiles: tensors.files.map((f) => basename(f)),
    weightBytes: tensors.bytes,
    eosIds,
    tokenizer,
    chatTemplate,
    chatTemplates,
    generation: readGenerationDefaults(dir),
  };
  return { info, tensors };
}

/** The chat template for `ckpt`: `spec` when given, else the one it loaded with; a clear error when there is none. */
export function chatTemplateFor(ckpt: HfCheckpointInfo, spec?: string): ChatTemplate {
  if (spec !== undefined) return resolveChatTemplate(ckpt.dir, spec, ckpt.chatTemplates);
  return ckpt.chatTemplate ?? resolveChatTemplate(ckpt.dir, undefined, ckpt.chatTemplates);
}

/** Tokenizer and template files copied from the source folder when present. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'chat_template.jinja', 'chat_template.json'];

export interface SaveHfOptions {
  config: LlamaConfig;
  params: Float32Array;
  /** Storage dtype; default the source's (sourceDir), else F32. F32 is exact: use it for resumable checkpoints. */
  dtype?: SafeDType;
  /** The checkpoint these weights came from: its config.json, generation_config.json and tokenizer files are carried over. */
  sourceDir?: string;
  extra?: {
    /** Fields merged into config.json. */
    config?: Record<string, unknown>;
    /** Fields merged into generation_config.json (eos_token_id, temperature, …). */
    generation?: Record<string, unknown>;
    /** Strings added to the safetensors header metadata (besides format: pt). */
    metadata?: Record<string, string>;
  };
  /** Shard the weights above this many bytes per file (default 5 GiB). */
  maxShardBytes?: number;
  /** Replace `outDir` when it exists and is not empty (default: refuse). */
  overwrite?: boolean;
}

/**
 * Writes a checkpoint folder. Everything is written into a temporary sibling folder first, which
 * then takes `outDir`'s place, so a crash never leaves a half-written checkpoint under `outDir`.
 * Returns the file names written.
 */
export function saveHfCheckpoint(outDir: string, opts: SaveHfOptions): string[] {
  const { config, params, sourceDir } = opts;
  const out = resolve(outDir);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new UsageError(`${outDir}: exists and is not a directory`);
    if (readdirSync(out).length > 0 && !opts.overwrite) throw new UsageError(`${outDir}: exists and is not empty; choose a new folder or allow overwriting`);
  }
  let hfConfig: Record<string, unknown>;
  let dtype = opts.dtype;
  if (sourceDir !== undefined) {
    const src = inspectHfCheckpoint(sourceDir);
    const same = { ...src.config, contextLength: config.contextLength };
    for (const k of Object.keys(config) as (keyof LlamaConfig)[]) {
      if (JSON.stringify(same[k]) !== JSON.stringify(config[k])) throw new UsageError(`saveHfCheckpoint: the config differs from ${join(sourceDir, 'config.json')} in ${k} (${JSON.stringify(config[k])} vs ${JSON.stringify(same[k])}); save without sourceDir to write a new config.json`);
    }
    dtype ??= src.dtype;
    hfConfig = { ...src.hfConfig };
    // transformers 5 writes "dtype", older versions "torch_dtype": keep whichever the source has.
    const key = 'dtype' in hfConfig ? 'dtype' : 'torch_dtype';
    hfConfig[key] = TORCH_DTYPES[dtype];
  } else {
    dtype ??= 'F32';
    hfConfig = hfConfigFromLlama(config, dtype);
  }
  Object.assign(hfConfig, opts.extra?.config);

  mkdirSync(dirname(out), { recursive: true });
  const stage = mkdtempSync(join(dirname(out), `.${basename(out)}.partial-`));
  try {
    const files = saveHfWeights(stage, config, params, dtype, opts.maxShardBytes, { format: 'pt', ...opts.extra?.metadata });
    writeJsonAtomic(join(stage, 'config.json'), hfConfig);
    files.push('config.json');
    const srcGen = sourceDir !== undefined && existsSync(join(sourceDir, 'generation_config.json')) ? readJsonFile(join(sourceDir, 'generation_config.json')) : null;
    const fromConfig = Object.fromEntries(['bos_token_id', 'eos_token_id', 'pad_token_id'].filter((k) => hfConfig[k] != null).map((k) => [k, hfConfig[k]]));
    const gen = { ...(srcGen ?? fromConfig), ...opts.extra?.generation };
    if (srcGen || Object.keys(gen).length) {
      writeJsonAtomic(join(stage, 'generation_config.json'), gen);
      files.push('generation_config.json');
    }
    if (sourceDir !== undefined) {
      for (const f of TOKENIZER_FILES) {
        if (!existsSync(join(sourceDir, f))) continue;
        copyFileSync(join(sourceDir, f), join(stage, f));
        files.push(f);
      }
      const extraTemplates = join(sourceDir, 'additional_chat_templates');
      if (existsSync(extraTemplates)) {
        cpSync(extraTemplates, join(stage, 'additional_chat_templates'), { recursive: true });
        files.push('additional_chat_templates/');
      }
    }
    if (existsSync(out)) {
      const old = `${stage}.old`;
      renameSync(out, old);
      renameSync(stage, out);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(stage, out);
    }
    return files;
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    throw e;
  }
}
