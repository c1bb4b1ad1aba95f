// What a run will need in memory, estimated before anything is allocated, and the machine's
// memory to compare it with (total, available now, and a cgroup limit when the process has one).
// The estimate is a function of the parameter count and the shapes only, so any architecture
// (the GPT policy here, a Llama-family model) plugs in by describing itself as a ModelShape.
// It is an estimate, itemised so a user can see what to shrink; it errs on the generous side.
import { freemem, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { isLlamaConfig, type PolicyConfig } from '../engine/types.ts';
import { policyParamLayout, policyShape } from '../engine/policy-graph.ts';

export interface ModelShape {
  paramCount: number;
  vocabSize: number;
  /** Hidden width. */
  dModel: number;
  nLayers: number;
  /** Query heads (attention scores are per query head). */
  nHeads: number;
  /** Width of the keys (and of the values) per layer and token: dModel, or nKvHeads × headDim. */
  kvDim: number;
  /** Inner width of the MLP (for SwiGLU, the width of each of its two input projections). */
  mlpHidden: number;
  /** Matrices of width mlpHidden per layer: 2 for a GELU MLP, 3 for SwiGLU. */
  mlpMatrices: number;
}

/** The ModelShape of any policy the engine builds (the GPT here, or a Llama-family model). */
export function modelShapeOf(cfg: PolicyConfig): ModelShape {
  const layout = policyParamLayout(cfg);
  const last = layout[layout.length - 1]!;
  const { vocabSize, nLayers, kvHeads, headDim } = policyShape(cfg);
  const common = { paramCount: last.offset + last.size, vocabSize, nLayers, kvDim: kvHeads * headDim };
  if (isLlamaConfig(cfg)) return { ...common, dModel: cfg.hiddenSize, nHeads: cfg.nHeads, mlpHidden: cfg.intermediateSize, mlpMatrices: 3 };
  return { ...common, dModel: cfg.dModel, nHeads: cfg.nHeads, mlpHidden: cfg.mlpRatio * cfg.dModel, mlpMatrices: 2 };
}

export interface WorkShape {
  /** Longest sequence (prompt + response) of training or evaluation. */
  seqLen: number;
  /** Tokens per teacher-forced graph call (rows are chunked to this; at least one row). */
  chunkTokens: number;
  /** Sequences decoded together by the rollout engine. */
  decodeBatch: number;
  /** Rollouts alive at once in one training step (P · K · (1 + refill rounds)). */
  rolloutsPerStep: number;
  /** Sequences sampled for the largest benchmark evaluation (n · (k + greedy)). */
  evalSequences: number;
  /** Problems in the training pool. */
  poolProblems: number;
  /** Sequences in one SFT batch. */
  sftBatch: number;
}

export interface MemoryPart {
  what: string;
  bytes: number;
}

export interface MemoryEstimate {
  bytes: number;
  parts: MemoryPart[];
}

const F32 = 4;
/**
 * ONNX Runtime's arenas hold more than the live tensors. Calibrated on peak RSS (2 threads, CPU):
 * a 5k-parameter policy measured 253 MB (estimate 319 MB), the quick suite's 110k-parameter
 * policy 447 MB (estimate 456 MB), a 3.2M-parameter one (width 256, 4 layers) 1,098 MB (estimate
 * 1.4 GB). The estimate stays above what was measured, by 2–30%.
 */
const ARENA_OVERHEAD = 1.25;
/** Node, tsx, ONNX Runtime and the compiled sessions, measured at about 250 MB for a tiny policy. */
export const RUNTIME_BYTES = 300e6;
/** A curriculum problem as JS objects (strings, metadata), measured at about 410 bytes. */
const BYTES_PER_PROBLEM = 500;
/** Per sequence held in JS: the objects, its text (UTF-16) and its random stream. */
const BYTES_PER_SEQUENCE = 600;

/** What a training step keeps per parameter besides the weights (see stepBytesPerParam). */
export interface StepHolds {
  /** A frozen reference copy (only when an objective needs logpRef: a KL term, DPO). */
  reference: boolean;
  /** How a checkpoint is written: the GPT's ONNX protobuf (one serialised copy), or streamed safetensors (no copy). */
  checkpoint: 'onnx' | 'streamed';
}

/**
 * Bytes per parameter a training step holds, itemised. logpOld needs no copy: it is computed from
 * the behaviour weights before the step's first update. The gradient was measured (a 42M-parameter
 * Llama-shaped policy, 2 threads): 17.5 bytes per parameter more resident after the first
 * gradient call, of which 4 are the gradient in JavaScript and the rest ONNX Runtime's arena,
 * which keeps the per-tensor gradients and the packed output between calls.
 */
export function stepBytesPerParam(h: StepHolds): MemoryPart[] {
  return [
    { what: 'weights', bytes: F32 },
    ...(h.reference ? [{ what: 'frozen reference', bytes: F32 }] : []),
    { what: 'gradient (JavaScript + ONNX Runtime arena)', bytes: 4 * F32 },
    { what: 'AdamW moments and decay mask', bytes: 2 * F32 + 1 },
    ...(h.checkpoint === 'onnx' ? [{ what: 'checkpoint serialisation', bytes: F32 }] : []),
  ];
}

/**
 * The estimate, itemised:
 * - per parameter, what a step holds (stepBytesPerParam): weights, the reference when needed,
 *   the gradient, AdamW's moments, and a GPT checkpoint's serialised copy;
 * - activations of the largest teacher-forced chunk: per token and layer the forward values
 *   (about 8·dModel + 2·kvDim + mlpMatrices·mlpHidden, plus 2·nHeads·seqLen for the attention
 *   scores and probabilities) and 3·vocab for logits and log-softmax; three times: the log-prob
 *   session's forward pass, and the gradient session's forward values kept for backward plus
 *   their gradients (each ONNX Runtime session keeps its own memory arena);
 * - KV cache: decodeBatch × seqLen × nLayers × 2 (K and V) × kvDim, twice (the cache fed in and
 *   the one returned by a decode step), plus the batch's logits;
 * - both graph terms × ARENA_OVERHEAD, for the arenas' rounding and fragmentation;
 * - rollouts of one step: token ids, behaviour/reference log-probs, entropies and the packed
 *   minibatch (about 28 bytes per token) plus per-sequence overhead; evaluation samples alike;
 * - the training pool and the runtime itself.
 */
export function estimateRunMemory(m: ModelShape, w: WorkShape, holds: StepHolds = { reference: true, checkpoint: 'onnx' }): MemoryEstimate {
  const T = w.seqLen;
  const rows = Math.max(1, Math.floor(w.chunkTokens / T));
  const chunk = rows * T;
  const perTokenLayer = 8 * m.dModel + 2 * m.kvDim + m.mlpMatrices * m.mlpHidden + 2 * m.nHeads * T;
  const forward = F32 * chunk * (m.nLayers * perTokenLayer + 3 * m.vocabSize);
  const activations = ARENA_OVERHEAD * 3 * forward;
  const kv = ARENA_OVERHEAD * F32 * (2 * w.decodeBatch * T * m.nLayers * 2 * m.kvDim + w.decodeBatch * m.vocabSize);
  const perSeq = (tokenBytes: number) => T * tokenBytes + BYTES_PER_SEQUENCE;
  const perParam = stepBytesPerParam(holds);
  const bpp = perParam.reduce((a, p) => a + p.bytes, 0);
  const parts: MemoryPart[] = [
    { what: `${perParam.map((p) => p.what).join(', ')} (${bpp} bytes × ${m.paramCount.toLocaleString('en-US')} parameters)`, bytes: bpp * m.paramCount },
    { what: `activations of a ${chunk.toLocaleString('en-US')}-token teacher-forced chunk`, bytes: activations },
    { what: `KV cache for ${w.decodeBatch.toLocaleString('en-US')} sequences × ${T} tokens`, bytes: kv },
    { what: `rollouts of one training step (${w.rolloutsPerStep.toLocaleString('en-US')}) and one SFT batch (${w.sftBatch.toLocaleString('en-US')})`, bytes: (w.rolloutsPerStep + w.sftBatch) * perSeq(28) },
    { what: `evaluation samples of the largest benchmark (${w.evalSequences.toLocaleString('en-US')})`, bytes: w.evalSequences * perSeq(6) },
    { what: `training pool (${w.poolProblems.toLocaleString('en-US')} problems)`, bytes: w.poolProblems * BYTES_PER_PROBLEM },
    { what: 'Node.js and ONNX Runtime', bytes: RUNTIME_BYTES },
  ];
  return { bytes: parts.reduce((a, p) => a + p.bytes, 0), parts };
}

export interface MachineMemory {
  total: number;
  /** Memory available now (MemAvailable on Linux, else free memory). */
  available: number;
  /** The process's cgroup memory limit, when it has one. */
  cgroupLimit: number | null;
  /** What a run may use at most: the smaller of total and the cgroup limit. */
  limit: number;
}

/** A cgroup memory limit file's value in bytes; null for "max" or the kernel's "no limit" (≥ 2^60). */
export function parseCgroupLimit(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const v = Number(t);
  return v >= 2 ** 60 ? null : v;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The memory limit of this process's cgroup (v2 memory.max, else v1 memory.limit_in_bytes), or null. */
export function cgroupMemoryLimit(): number | null {
  const self = readOrNull('/proc/self/cgroup') ?? '';
  const candidates: string[] = [];
  for (const line of self.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers === '') candidates.push(`/sys/fs/cgroup${path}/memory.max`);
    if (controllers!.split(',').includes('memory')) candidates.push(`/sys/fs/cgroup/memory${path}/memory.limit_in_bytes`);
  }
  candidates.push('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes');
  for (const c of candidates) {
    const text = readOrNull(c);
    if (text !== null) return parseCgroupLimit(text);
  }
  return null;
}

export function machineMemory(): MachineMemory {
  const total = totalmem();
  const avail = /MemAvailable:\s+(\d+) kB/.exec(readOrNull('/proc/meminfo') ?? '');
  const cgroupLimit = cgroupMemoryLimit();
  return { total, available: avail ? Number(avail[1]) * 1024 : freemem(), cgroupLimit, limit: Math.min(total, cgroupLimit ?? Infinity) };
}

export function formatBytes(b: number): string {
  if (b >= 1e12) return `${(b / 1e12).toFixed(1)} TB`;
  if (b >= 1e9) return `${(b / 1e9).toFixed(1)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(0)} MB`;
  return `${(b / 1e3).toFixed(0)} kB`;
}

/**
 * 'fits', or a message: the estimate does not fit the machine's limit ('refuse'), or only
 * exceeds what is available right now ('warn').
 */
export function compareWithMachine(est: MemoryEstimate, machine: MachineMemory): { verdict: 'fits' | 'warn' | 'refuse'; message: string } {
  const items = est.parts
    .filter((p) => p.bytes >= est.bytes / 100)
    .sort((a, b) => b.bytes - a.bytes)
    .map((p) => `${p.what}: ${formatBytes(p.bytes)}`)
    .join('; ');
  const has = `this machine has ${formatBytes(machine.total)}${machine.cgroupLimit !== null ? `, limited to ${formatBytes(machine.cgroupLimit)} by its cgroup` : ''}, ${formatBytes(machine.available)} available now`;
  const needs = `needs about ${formatBytes(est.bytes)} of memory (${items})`;
  if (est.bytes > machine.limit) return { verdict: 'refuse', message: `${needs}, but ${has}` };
  if (est.bytes > machine.available) return { verdict: 'warn', message: `${needs}; ${has}, so it may swap or be killed` };
  return { verdict: 'fits', message: `${needs}; ${has}` };
}
