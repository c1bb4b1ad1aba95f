// The policy part of a run checkpoint, for both kinds of policy, and the final export of a
// Hugging Face policy.
// - The built-in GPT: policy.onnx + policy.json (engine/checkpoint.ts).
// - A Hugging Face policy: never a protobuf (2 GiB limit). The folder is itself a Hugging Face
//   checkpoint in float32 (model.safetensors under the original tensor names, exact for resuming;
//   config.json, generation_config.json, the tokenizer and chat template copied from the source
//   folder), plus policy.json (format rlbench-hf-policy/1: the engine config, including the
//   context length the run uses, and the files to checksum). `rlbench eval` and transformers read
//   it as it is.
// - The optimizer moments (both kinds): optimizer.bin, float32 m then v, written and read in
//   pieces so that no buffer of 2 × parameters bytes is ever made.
// - The final export (a Hugging Face policy at the end of its run): a Hugging Face folder in the
//   source's dtype (saveHfCheckpoint with sourceDir), for transformers and vLLM.
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isLlamaConfig, type LlamaConfig, type PolicyConfig } from '../engine/types.ts';
import { loadCheckpoint, saveCheckpoint } from '../engine/checkpoint.ts';
import { saveHfCheckpoint } from '../engine/hf/checkpoint.ts';
import { loadHfWeights } from '../engine/hf/weights.ts';
import { validatePolicyConfig } from '../engine/policy-graph.ts';
import { sha256OfFile, verifyChecksum, verifyFileChecksum } from '../util/checksums.ts';
import { CorruptFileError, readFileOrNull, writeFileAtomicWith, writeJsonAtomic } from '../util/fs.ts';
import { isReportable, printable } from '../util/errors.ts';

export const HF_POLICY_FORMAT = 'rlbench-hf-policy/1';

interface HfPolicyJson {
  format: typeof HF_POLICY_FORMAT;
  config: LlamaConfig;
  paramCount: number;
  /** The files of the folder that hold the policy (weights, config, tokenizer), all in SHA256SUMS. */
  files: string[];
  /** The Hugging Face folder the run started from. */
  source: string;
}

/**
 * Writes the policy into `dir` (a checkpoint folder being assembled); returns the sha256 of each
 * file, by name. A Hugging Face policy needs `hfSource`, the folder whose config and tokenizer
 * the checkpoint carries.
 */
export async function savePolicyFiles(dir: string, config: PolicyConfig, params: Float32Array, hfSource: string | null): Promise<Record<string, string>> {
  if (!isLlamaConfig(config)) return saveCheckpoint(dir, config, params);
  if (hfSource === null) throw new Error('savePolicyFiles: a Hugging Face policy needs the folder it came from');
  const written = saveHfCheckpoint(dir, { config, params, sourceDir: hfSource, dtype: 'F32', overwrite: true });
  // Folders (additional_chat_templates/) are carried for the chat template, not checksummed.
  const files = written.filter((f) => !f.endsWith('/'));
  const sums: Record<string, string> = {};
  for (const f of files) sums[f] = sha256OfFile(join(dir, f))!;
  const meta: HfPolicyJson = { format: HF_POLICY_FORMAT, config, paramCount: params.length, files, source: hfSource };
  sums['policy.json'] = writeJsonAtomic(join(dir, 'policy.json'), meta).sha256;
  return sums;
}

/** Reads the policy of a checkpoint folder, checking every file against `sums` (the folder's SHA256SUMS). */
export async function loadPolicyFiles(dir: string, sums: Map<string, string> | null, remedy: string): Promise<{ config: PolicyConfig; params: Float32Array }> {
  const jsonPath = join(dir, 'policy.json');
  const bytes = readFileOrNull(jsonPath, remedy);
  if (bytes === null) throw new CorruptFileError(jsonPath, 'missing from the checkpoint folder', remedy);
  verifyChecksum(dir, 'policy.json', bytes, sums, remedy);
  let meta: { format?: unknown };
  try {
    meta = JSON.parse(bytes.toString('utf8')) as { format?: unknown };
  } catch (e) {
    throw new CorruptFileError(jsonPath, `truncated or not valid JSON (${printable((e as Error).message)})`, remedy);
  }
  try {
    if (meta?.format !== HF_POLICY_FORMAT) return await loadCheckpoint(dir);
    const hf = meta as HfPolicyJson;
    if (!Array.isArray(hf.files) || hf.files.some((f) => typeof f !== 'string' || f.includes('/') || f.includes('\\'))) throw new CorruptFileError(jsonPath, '"files" must be a list of file names', remedy);
    validatePolicyConfig(hf.config);
    if (!isLlamaConfig(hf.config)) throw new CorruptFileError(jsonPath, 'config is not a Llama-family config', remedy);
    for (const f of hf.files) verifyFileChecksum(dir, f, sums, remedy);
    const { params } = loadHfWeights(dir, hf.config);
    if (params.length !== hf.paramCount) throw new CorruptFileError(jsonPath, `paramCount is ${hf.paramCount}, the weights hold ${params.length}`, remedy);
    return { config: hf.config, params };
  } catch (e) {
    if (e instanceof CorruptFileError) throw e.withRemedy(remedy);
    if (isReportable(e)) throw new CorruptFileError(dir, (e as Error).message.replace(/^loadCheckpoint: /, ''), remedy);
    throw e;
  }
}

/** Writes AdamW's moments as optimizer.bin (float32 m then v), in pieces; returns its sha256. */
export function writeOptimizerFile(path: string, m: Float32Array, v: Float32Array): string {
  return writeFileAtomicWith(path, (write) => {
    for (const x of [m, v]) write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  }).sha256;
}

/**
 * Reads optimizer.bin into m and v of `n` values each, in pieces, checking its size and (when
 * `want` is given) its sha256; a damaged or missing file is named.
 */
export function readOptimizerFile(path: string, n: number, want: string | null, remedy: string): { m: Float32Array; v: Float32Array } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CorruptFileError(path, 'missing from the checkpoint folder', remedy);
    throw new CorruptFileError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, remedy);
  }
  try {
    const size = fstatSync(fd).size;
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    const h = createHash('sha256');
    if (size === 2 * n * 4) {
      let pos = 0;
      for (const x of [m, v]) {
        const bytes = new Uint8Array(x.buffer);
        for (let off = 0; off < bytes.length; ) {
          const got = readSync(fd, bytes, off, Math.min(1 << 24, bytes.length - off), pos);
          if (got === 0) throw new CorruptFileError(path, 'ended early', remedy);
          h.update(bytes.subarray(off, off + got));
          off += got;
          pos += got;
        }
      }
    }
    // The checksum first: a damaged file is reported as damaged, whatever its size.
    if (want !== null) {
      if (size !== 2 * n * 4) {
        // Hash what is there, to report a checksum mismatch rather than a size.
        const buf = Buffer.allocUnsafe(1 << 24);
        for (let pos = 0; pos < size; ) {
          const got = readSync(fd, buf, 0, buf.length, pos);
          if (got === 0) break;
          h.update(buf.subarray(0, got));
          pos += got;
        }
      }
      const got = h.digest('hex');
      if (got !== want) throw new CorruptFileError(path, `checksum mismatch: the file is damaged (sha256 ${got.slice(0, 12)}…, recorded ${want.slice(0, 12)}… when it was written)`, remedy);
    }
    if (size !== 2 * n * 4) throw new CorruptFileError(path, `holds ${size} bytes, expected ${2 * n * 4} (float32 m then v for ${n} parameters)`, remedy);
    return { m, v };
  } finally {
    closeSync(fd);
  }
}

/** The final export of a Hugging Face policy: a folder transformers and vLLM read, in the source's dtype. */
export function exportHfPolicy(outDir: string, config: LlamaConfig, params: Float32Array, sourceDir: string): void {
  saveHfCheckpoint(outDir, { config, params, sourceDir, overwrite: true });
}
