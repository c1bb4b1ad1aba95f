// Hugging Face config.json ↔ LlamaConfig, and the other small JSON files of a checkpoint
// (generation_config.json's EOS ids and sampling defaults). Only the decoder families the engine
// builds are accepted (llama, qwen2, qwen3); anything else is refused with the supported list, and
// every missing or malformed field is named with the file it came from. Per-family defaults follow
// transformers' configuration classes where config.json leaves a field out.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../util/errors.ts';
import { validateLlamaConfig, type LlamaConfig, type RopeScaling } from '../models/llama-config.ts';
import type { SafeDType } from './safetensors.ts';

export const SUPPORTED_MODEL_TYPES = ['llama', 'qwen2', 'qwen3'] as const;

export function readJsonFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new UsageError(`${path}: file not found`);
  try {
    const v = JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, ''));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

/** Maps a parsed config.json (from `path`, for messages) to the engine's LlamaConfig. */
export function llamaConfigFromHf(raw: Record<string, unknown>, path: string, opts: { contextLength?: number } = {}): LlamaConfig {
  const type = raw.model_type;
  if (!SUPPORTED_MODEL_TYPES.includes(type as never)) {
    throw new UsageError(`${path}: model_type ${JSON.stringify(type)} is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
  const modelType = type as LlamaConfig['modelType'];
  const num = (k: string, dflt?: number): number => {
    const v = raw[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${path}: "${k}" must be a number, got ${JSON.stringify(raw[k])}`);
    return v;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = raw[k] ?? dflt;
    if (typeof v !== 'boolean') throw new UsageError(`${path}: "${k}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new UsageError(`${path}: hidden_act ${JSON.stringify(act)} is not supported (only silu, the SwiGLU MLP)`);
  if (raw.use_sliding_window === true) throw new UsageError(`${path}: use_sliding_window is true; sliding-window attention is not supported`);

  const hiddenSize = num('hidden_size');
  const nHeads = num('num_attention_heads');
  const nKvHeads = num('num_key_value_heads', nHeads);
  const headDim = raw.head_dim == null ? hiddenSize / nHeads : num('head_dim');
  const maxPos = num('max_position_embeddings', modelType === 'llama' ? 2048 : 32768);
  const attentionBias = bool('attention_bias', false);

  let ropeScaling: RopeScaling | null = null;
  // transformers 5 may put rope settings under rope_parameters; older configs use rope_scaling.
  const rs = (raw.rope_scaling ?? null) as Record<string, unknown> | null;
  const rp = (raw.rope_parameters ?? null) as Record<string, unknown> | null;
  const scaling = rs ?? (rp && (rp.rope_type ?? rp.type) !== 'default' ? rp : null);
  if (scaling) {
    const kind = scaling.rope_type ?? scaling.type;
    const f = (k: string): number => {
      const v = scaling[k];
      if (typeof v !== 'number') throw new UsageError(`${path}: rope_scaling.${k} must be a number, got ${JSON.stringify(v)}`);
      return v;
    };
    if (kind === 'linear') ropeScaling = { type: 'linear', factor: f('factor') };
    else if (kind === 'llama3') {
      ropeScaling = { type: 'llama3', factor: f('factor'), lowFreqFactor: f('low_freq_factor'), highFreqFactor: f('high_freq_factor'), originalMaxPositionEmbeddings: f('original_max_position_embeddings') };
    } else if (kind !== 'default') {
      throw new UsageError(`${path}: rope_scaling type ${JSON.stringify(kind)} is not supported; supported: default, linear, llama3`);
    }
  }
  const ropeTheta = raw.rope_theta != null ? num('rope_theta') : rp && typeof rp.rope_theta === 'number' ? rp.rope_theta : 10000;

  const cfg: LlamaConfig = {
    arch: 'llama',
    modelType,
    vocabSize: num('vocab_size'),
    contextLength: opts.contextLength ?? maxPos,
    hiddenSize,
    nLayers: num('num_hidden_layers'),
    nHeads,
    nKvHeads,
    headDim,
    intermediateSize: num('intermediate_size'),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    qkvBias: modelType === 'qwen2' ? true : attentionBias,
    oBias: modelType === 'qwen2' ? false : attentionBias,
    mlpBias: modelType === 'llama' ? bool('mlp_bias', false) : false,
    qkNorm: modelType === 'qwen3',
    tieWordEmbeddings: bool('tie_word_embeddings', false),
  };
  if (opts.contextLength !== undefined && opts.contextLength > maxPos) {
    throw new UsageError(`${path}: contextLength ${opts.contextLength} exceeds max_position_embeddings ${maxPos}`);
  }
  validateLlamaConfig(cfg, path);
  return cfg;
}

/** Reads DIR/config.json. */
export function readHfConfig(dir: string, opts: { contextLength?: number } = {}): LlamaConfig {
  const path = join(dir, 'config.json');
  return llamaConfigFromHf(readJsonFile(path), path, opts);
}

/** The EOS ids of a checkpoint: generation_config.json's eos_token_id (an integer or a list), else config.json's. */
export function readEosIds(dir: string): number[] {
  const gen = join(dir, 'generation_config.json');
  for (const path of [gen, join(dir, 'config.json')]) {
    if (!existsSync(path)) continue;
    const v = readJsonFile(path).eos_token_id;
    if (v == null) continue;
    const ids = Array.isArray(v) ? v : [v];
    if (!ids.length || !ids.every((x) => Number.isInteger(x) && (x as number) >= 0)) throw new UsageError(`${path}: eos_token_id must be an integer or a list of integers, got ${JSON.stringify(v)}`);
    return ids as number[];
  }
  return [];
}

const ARCHITECTURES: Record<LlamaConfig['modelType'], string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };
export const TORCH_DTYPES: Record<SafeDType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/**
 * The inverse of llamaConfigFromHf: a config.json (transformers' field names, the long-standing
 * rope_theta/rope_scaling/torch_dtype forms that transformers 4 and 5 and vLLM all read) for a
 * LlamaConfig. A configuration its model_type cannot express (a Qwen2 without q/k/v biases, a
 * Llama with q/k norms, …) is refused; the result maps back to exactly `cfg`. Its
 * max_position_embeddings is cfg.contextLength (saveHfCheckpoint with a source keeps the source's).
 */
export function hfConfigFromLlama(cfg: LlamaConfig, dtype: SafeDType): Record<string, unknown> {
  validateLlamaConfig(cfg);
  const t = cfg.modelType;
  const cannot = (why: string) => new UsageError(`this configuration cannot be written as a ${t} config.json: ${why}`);
  if (t === 'qwen2' && !(cfg.qkvBias && !cfg.oBias)) throw cannot('Qwen2 always has q/k/v biases and no o_proj bias');
  if (t !== 'qwen2' && cfg.qkvBias !== cfg.oBias) throw cannot('attention_bias sets the q/k/v and o_proj biases together');
  if (t !== 'llama' && cfg.mlpBias) throw cannot('only Llama has mlp_bias');
  if (cfg.qkNorm !== (t === 'qwen3')) throw cannot(t === 'qwen3' ? 'Qwen3 always has q/k norms' : 'only Qwen3 has q/k norms');
  const s = cfg.ropeScaling;
  const out: Record<string, unknown> = {
    architectures: [ARCHITECTURES[t]],
    model_type: t,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.nLayers,
    num_attention_heads: cfg.nHeads,
    num_key_value_heads: cfg.nKvHeads,
    head_dim: cfg.headDim,
    hidden_act: 'silu',
    max_position_embeddings: cfg.contextLength,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling:
      s === null
        ? null
        : s.type === 'linear'
          ? { rope_type: 'linear', factor: s.factor }
          : { rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalMaxPositionEmbeddings },
    tie_word_embeddings: cfg.tieWordEmbeddings,
    torch_dtype: TORCH_DTYPES[dtype],
  };
  if (t !== 'qwen2') out.attention_bias = cfg.qkvBias;
  if (t === 'llama') out.mlp_bias = cfg.mlpBias;
  if (t !== 'llama') out.use_sliding_window = false;
  const back = llamaConfigFromHf(out, 'generated config.json');
  for (const k of Object.keys(cfg) as (keyof LlamaConfig)[]) {
    if (JSON.stringify(back[k]) !== JSON.stringify(cfg[k])) throw cannot(`${k} would read back as ${JSON.stringify(back[k])}, not ${JSON.stringify(cfg[k])}`);
  }
  return out;
}

/** Sampling defaults a checkpoint's generation_config.json suggests (absent fields stay absent). */
export interface GenerationDefaults {
  doSample?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  maxNewTokens?: number;
  repetitionPenalty?: number;
}

/** Reads DIR/generation_config.json (an empty object when the file is absent). */
export function readGenerationDefaults(dir: string): GenerationDefaults {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return {};
  const raw = readJsonFile(path);
  const out: GenerationDefaults = {};
  const num = (k: string, test: (v: number) => boolean, what: string): number | undefined => {
    const v = raw[k];
    if (v == null) return undefined;
    if (typeof v !== 'number' || !test(v)) throw new UsageError(`${path}: "${k}" must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  };
  if (raw.do_sample != null) {
    if (typeof raw.do_sample !== 'boolean') throw new UsageError(`${path}: "do_sample" must be true or false, got ${JSON.stringify(raw.do_sample)}`);
    out.doSample = raw.do_sample;
  }
  const set = <K extends keyof GenerationDefaults>(key: K, v: GenerationDefaults[K] | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  set('temperature', num('temperature', (v) => v >= 0 && Number.isFinite(v), 'a number >= 0'));
  set('topP', num('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]'));
  set('topK', num('top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0'));
  set('maxNewTokens', num('max_new_tokens', (v) => Number.isInteger(v) && v > 0, 'a positive integer'));
  set('repetitionPenalty', num('repetition_penalty', (v) => v > 0, 'a positive number'));
  return out;
}
