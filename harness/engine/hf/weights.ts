// Weights of a Hugging Face checkpoint ↔ the engine's flat float32 parameter buffer. The layout
// (names, shapes, order) is llamaParamLayout's; loading checks that the files hold exactly those
// tensors (a missing, extra or wrongly shaped tensor is named, with both shapes), saving writes
// them back under the same names, so transformers and vLLM read what we trained.
import { join } from 'node:path';
import { UsageError } from '../../util/errors.ts';
import { llamaParamLayout, type LlamaConfig } from '../models/llama-config.ts';
import type { ParamSpec } from '../types.ts';
import { readCheckpointIndex, readTensorInto, writeCheckpointTensors, type SafeDType } from './safetensors.ts';

/** Names that transformers stores but the model recomputes (never trained): ignored on load. */
const DERIVED = /(^|\.)rotary_emb\.inv_freq$/;

export interface LoadedWeights {
  params: Float32Array;
  specs: ParamSpec[];
  /** The storage dtype of the files (the most common one, when mixed). */
  dtype: string;
}

export function loadHfWeights(dir: string, cfg: LlamaConfig): LoadedWeights {
  const index = readCheckpointIndex(dir);
  const specs = llamaParamLayout(cfg);
  const last = specs[specs.length - 1]!;
  const params = new Float32Array(last.offset + last.size);
  const wanted = new Set(specs.map((s) => s.name));
  const extra = [...index.keys()].filter((n) => !wanted.has(n) && !DERIVED.test(n) && !(cfg.tieWordEmbeddings && n === 'lm_head.weight'));
  if (extra.length) {
    const t = index.get(extra[0]!)!;
    throw new UsageError(`${t.file}: unexpected tensor '${extra[0]}' [${t.shape}]${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''}; the ${cfg.modelType} config in ${join(dir, 'config.json')} has no such parameter`);
  }
  const dtypes = new Map<string, number>();
  for (const s of specs) {
    const t = index.get(s.name);
    if (!t) throw new UsageError(`${dir}: missing tensor '${s.name}' (expected shape [${s.shape}]) in the safetensors files`);
    if (t.shape.join(',') !== s.shape.join(',')) throw new UsageError(`${t.file}: tensor '${s.name}' has shape [${t.shape}], config.json implies [${s.shape}]`);
    readTensorInto(t, params.subarray(s.offset, s.offset + s.size));
    dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + s.size);
  }
  const dtype = [...dtypes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
  return { params, specs, dtype };
}

/** Writes `params` as safetensors under the Hugging Face names (sharded above maxShardBytes). */
export function saveHfWeights(dir: string, cfg: LlamaConfig, params: Float32Array, dtype: SafeDType, maxShardBytes?: number): string[] {
  const specs = llamaParamLayout(cfg);
  const last = specs[specs.length - 1]!;
  if (params.length !== last.offset + last.size) throw new UsageError(`saveHfWeights: params has ${params.length} values, the config needs ${last.offset + last.size}`);
  const tensors = specs.map((s) => ({ name: s.name, shape: s.shape, data: params.subarray(s.offset, s.offset + s.size) }));
  return writeCheckpointTensors(dir, tensors, dtype, maxShardBytes);
}
