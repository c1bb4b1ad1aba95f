// Checkpoints: a folder with policy.onnx (the teacher-forced log-prob graph with the weights as
// initialisers, so any ONNX tool can load and run it) and policy.json (config + parameter
// layout + the sha256 of policy.onnx). Both written atomically; loading verifies the checksum and
// returns the exact bytes that were saved.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { paramLayout, validateConfig } from './models/gpt.ts';
import { buildPolicyGraph } from './policy-graph.ts';
import { serializeGraph, readInitializers } from './graph/serialize.ts';
import { CorruptFileError, sha256, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { UsageError } from '../util/errors.ts';
import type { ConstData } from './graph/builder.ts';
import { isLlamaConfig, type GptConfig, type ParamSpec, type PolicyConfig } from './types.ts';

export const CHECKPOINT_FORMAT = 'rlbench-policy/1';

interface CheckpointJson {
  format: string;
  config: GptConfig;
  paramCount: number;
  params: ParamSpec[];
  onnx: string;
  /** sha256 of the ONNX file (hex); absent in checkpoints written before checksums existed. */
  sha256?: string;
}

/** Writes the checkpoint; returns the sha256 of each file written, by name (for a folder manifest). */
export async function saveCheckpoint(dir: string, config: PolicyConfig, params: Float32Array): Promise<Record<string, string>> {
  // This format holds the built-in GPT; Llama-family policies are saved as Hugging Face safetensors.
  if (isLlamaConfig(config)) throw new UsageError('saveCheckpoint: rlbench-policy checkpoints hold GPT policies only; save Llama-family (llama, qwen2, qwen3) policies as Hugging Face safetensors');
  validateConfig(config);
  const specs = paramLayout(config);
  const count = specs[specs.length - 1]!.offset + specs[specs.length - 1]!.size;
  if (params.length !== count) throw new UsageError(`saveCheckpoint: params has ${params.length} values, the config needs ${count}`);
  const pg = buildPolicyGraph(config, 'logprobs', 'float32', true);
  const init = new Map<(typeof pg.params)[number], ConstData>();
  pg.params.forEach((v, i) => init.set(v, params.subarray(specs[i]!.offset, specs[i]!.offset + specs[i]!.size)));
  const bytes = serializeGraph(pg.graph, { initializers: init, docString: `rlbench policy ${JSON.stringify(config)}` });
  // The ONNX file first: policy.json is written last, so its presence means a complete checkpoint.
  const onnx = writeFileAtomic(join(dir, 'policy.onnx'), bytes);
  const meta: CheckpointJson = { format: CHECKPOINT_FORMAT, config, paramCount: count, params: specs, onnx: 'policy.onnx', sha256: onnx.sha256 };
  const json = writeJsonAtomic(join(dir, 'policy.json'), meta);
  return { 'policy.onnx': onnx.sha256, 'policy.json': json.sha256 };
}

export async function loadCheckpoint(dir: string): Promise<{ config: GptConfig; params: Float32Array }> {
  const jsonPath = join(dir, 'policy.json');
  if (!existsSync(jsonPath)) throw new UsageError(`loadCheckpoint: ${jsonPath} not found (not a checkpoint folder)`);
  let meta: CheckpointJson;
  try {
    meta = JSON.parse(readFileSync(jsonPath, 'utf8')) as CheckpointJson;
  } catch (e) {
    throw new UsageError(`loadCheckpoint: ${jsonPath}: ${(e as Error).message}`);
  }
  if (meta.format !== CHECKPOINT_FORMAT) throw new UsageError(`loadCheckpoint: ${jsonPath}: format is ${JSON.stringify(meta.format)}, expected ${CHECKPOINT_FORMAT}`);
  try {
    validateConfig(meta.config);
  } catch (e) {
    throw new UsageError(`loadCheckpoint: ${jsonPath}: ${(e as Error).message}`);
  }
  const specs = paramLayout(meta.config);
  const onnxPath = join(dir, meta.onnx ?? 'policy.onnx');
  if (!existsSync(onnxPath)) throw new UsageError(`loadCheckpoint: ${onnxPath} not found`);
  const bytes = readFileSync(onnxPath);
  if (meta.sha256 !== undefined && sha256(bytes) !== meta.sha256) {
    throw new CorruptFileError(onnxPath, `checksum mismatch: the file is damaged (its sha256 differs from the one recorded in ${jsonPath})`);
  }
  let inits: ReturnType<typeof readInitializers>;
  try {
    inits = readInitializers(bytes);
  } catch (e) {
    throw new CorruptFileError(onnxPath, `truncated or not a valid ONNX file (${(e as Error).message})`);
  }
  const count = specs[specs.length - 1]!.offset + specs[specs.length - 1]!.size;
  const params = new Float32Array(count);
  for (const s of specs) {
    const t = inits.get(s.name);
    if (!t) throw new UsageError(`loadCheckpoint: ${onnxPath} has no initialiser '${s.name}'`);
    if (t.dataType !== 1 || t.dims.join(',') !== s.shape.join(',') || t.data.byteLength !== s.size * 4) {
      throw new UsageError(`loadCheckpoint: ${onnxPath}: initialiser '${s.name}' is type ${t.dataType} [${t.dims}], expected float32 [${s.shape}]`);
    }
    // Copy through bytes: the protobuf buffer may not be 4-byte aligned.
    new Uint8Array(params.buffer, s.offset * 4, s.size * 4).set(t.data);
  }
  return { config: meta.config, params };
}
