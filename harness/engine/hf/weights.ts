// Weights of a Hugging Face checkpoint ↔ the engine's flat float32 parameter buffer. The layout
// (names, shapes, order) is llamaParamLayout's; loading checks that the files hold exactly those
// tensors (a missing, extra or wrongly shaped tensor is named, with both shapes), saving writes
// them back under the same names, so transformers and vLLM read what we trained.
import { join } from 'node:path';
import { UsageError } from '../../util/errors.ts';
import { llamaParamLayout, type LlamaConfig } from '../models/llama-config.ts';
import type { ParamSpec } from '../types.ts';
import { readCheckpointIndex, readTensorInto, writeCheckpointTensors, SAFE_DTYPES, type SafeDType, type TensorInfo } from './safetensors.ts';

/** Names that transformers stores but the model recomputes (never trained): ignored on load. */
const DERIVED = /(^|\.)rotary_emb\.inv_freq$/;

export interface CheckedTensors {
  /** Each parameter of the layout with the stored tensor it is read from. */
  tensors: { spec: ParamSpec; info: TensorInfo }[];
  specs: ParamSpec[];
  paramCount: number;
  /** The storage dtype of the files (the most common one, when mixed). */
  dtype: SafeDType;
  /** The distinct files the tensors live in (one, or the shards). */
  files: string[];
  /** Bytes of tensor data on disk. */
  bytes: number;
}

/**
 * Matches the safetensors headers of `dir` against the layout `cfg` implies, reading no tensor
 * data: a missing, extra or wrongly shaped tensor, or an unsupported dtype, is an error naming
 * the tensor (and both shapes where there are two).
 */
export function checkHfTensors(dir: string, cfg: LlamaConfig): CheckedTensors {
  const index = readCheckpointIndex(dir);
  const specs = llamaParamLayout(cfg);
  const wanted = new Set(specs.map((s) => s.name));
  const extra = [...index.keys()].filter((n) => !wanted.has(n) && !DERIVED.test(n) && !(cfg.tieWordEmbeddings && n === 'lm_head.weight'));
  if (extra.length) {
    const t = index.get(extra[0]!)!;
    throw new UsageError(`${t.file}: unexpected tensor '${extra[0]}' [${t.shape}]${extra.length > 1 ? ` (and ${extra.length - 1} more: ${extra.slice(1, 4).join(', ')}${extra.length > 4 ? ', …' : ''})` : ''}; the ${cfg.modelType} config in ${join(dir, 'config.json')} has no such parameter`);
  }
  const dtypes = new Map<SafeDType, number>();
  const tensors: CheckedTensors['tensors'] = [];
  const files = new Set<string>();
  let bytes = 0;
  for (const s of specs) {
    const t = index.get(s.name);
    if (!t) throw new UsageError(`${dir}: missing tensor '${s.name}' (expected shape [${s.shape}]) in the safetensors files`);
    if (t.shape.join(',') !== s.shape.join(',')) throw new UsageError(`${t.file}: tensor '${s.name}' has shape [${t.shape}], config.json implies [${s.shape}]`);
    if (!SAFE_DTYPES.includes(t.dtype as SafeDType)) throw new UsageError(`${t.file}: tensor '${s.name}' has dtype ${t.dtype}; supported: ${SAFE_DTYPES.join(', ')}`);
    dtypes.set(t.dtype as SafeDType, (dtypes.get(t.dtype as SafeDType) ?? 0) + s.size);
    tensors.push({ spec: s, info: t });
    files.add(t.file);
    bytes += t.end - t.begin;
  }
  const dtype = [...dtypes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
  const last = specs[specs.length - 1]!;
  return { tensors, specs, paramCount: last.offset + last.size, dtype, files: [...files], bytes };
}

export interface LoadedWeights {
  params: Float32Array;
  specs: ParamSpec[];
  /** The storage dtype of the files (the most common one, when mixed). */
  dtype: SafeDType;
}

/** Reads the weights of `dir` into one flat float32 buffer laid out as llamaParamLayout(cfg). */
export function loadHfWeights(dir: string, cfg: LlamaConfig): LoadedWeights {
  const checked = checkHfTensors(dir, cfg);
  const params = new Float32Array(checked.paramCount);
  for (const { spec, info } of checked.tensors) readTensorInto(info, params.subarray(spec.offset, spec.offset + spec.size));
  return { params, specs: checked.specs, dtype: checked.dtype };
}

/** Writes `params` as safetensors under the Hugging Face names (sharded above maxShardBytes). */
export function saveHfWeights(dir: string, cfg: LlamaConfig, params: Float32Array, dtype: SafeDType, maxShardBytes?: number, metadata?: Record<string, string>): string[] {
  const specs = llamaParamLayout(cfg);
  const last = specs[specs.length - 1]!;
  if (params.length !== last.offset + last.size) throw new UsageError(`saveHfWeights: params has ${params.length} values, the config needs ${last.offset + last.size}`);
  const tensors = specs.map((s) => ({ name: s.name, shape: s.shape, data: params.subarray(s.offset, s.offset + s.size) }));
  return writeCheckpointTensors(dir, tensors, dtype, maxShardBytes, metadata);
}
