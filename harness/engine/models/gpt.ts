// The built-in policy: a GPT-style decoder (token + learned position embeddings, pre-norm
// blocks with LayerNorm, causal multi-head attention, tanh-GELU MLP, final LayerNorm, head tied
// to the token embedding) written with the graph builder. Owns the parameter layout (names,
// shapes, offsets in the flat buffer), GPT-2 initialisation and the trunk of the graphs; the
// graph ends (log-probs, gradient, sampling) are shared with every family (policy-graph.ts).
import type { Value } from '../graph/builder.ts';
import * as op from '../graph/ops.ts';
import { Rng } from '../../util/rng.ts';
import { UsageError } from '../../util/errors.ts';
import type { GptConfig, ParamSpec } from '../types.ts';
import type { Architecture, Trunk, TrunkInputs } from './architecture.ts';

export function validateConfig(cfg: GptConfig): void {
  if (cfg.arch !== undefined && cfg.arch !== 'gpt') throw new UsageError(`policy config: arch must be 'gpt' (or absent) for this config, got ${JSON.stringify(cfg.arch)}`);
  const fields: (keyof GptConfig)[] = ['vocabSize', 'contextLength', 'dModel', 'nLayers', 'nHeads', 'mlpRatio'];
  for (const f of fields) {
    const v = cfg[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`policy config: ${f} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (cfg.dModel % cfg.nHeads !== 0) throw new UsageError(`policy config: dModel (${cfg.dModel}) must be divisible by nHeads (${cfg.nHeads})`);
}

/** The flat parameter layout, in a fixed order (part of the checkpoint format). */
export function paramLayout(cfg: GptConfig): ParamSpec[] {
  const { vocabSize: V, contextLength: C, dModel: D, nLayers: L, mlpRatio } = cfg;
  const F = mlpRatio * D;
  const specs: ParamSpec[] = [];
  let offset = 0;
  const p = (name: string, shape: number[], decay: boolean) => {
    const size = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, offset, size, decay });
    offset += size;
  };
  p('wte', [V, D], true);
  p('wpe', [C, D], false);
  for (let l = 0; l < L; l++) {
    p(`h${l}.ln1.g`, [D], false);
    p(`h${l}.ln1.b`, [D], false);
    p(`h${l}.attn.wqkv`, [D, 3 * D], true);
    p(`h${l}.attn.bqkv`, [3 * D], false);
    p(`h${l}.attn.wo`, [D, D], true);
    p(`h${l}.attn.bo`, [D], false);
    p(`h${l}.ln2.g`, [D], false);
    p(`h${l}.ln2.b`, [D], false);
    p(`h${l}.mlp.wfc`, [D, F], true);
    p(`h${l}.mlp.bfc`, [F], false);
    p(`h${l}.mlp.wproj`, [F, D], true);
    p(`h${l}.mlp.bproj`, [D], false);
  }
  p('lnf.g', [D], false);
  p('lnf.b', [D], false);
  return specs;
}

/**
 * GPT-2 initialisation: weights N(0, 0.02), residual output projections N(0, 0.02/sqrt(2L)),
 * biases 0, norm gains 1. Deterministic for a seed (one Rng stream in layout order).
 */
export function initParams(cfg: GptConfig, seed: number): Float32Array {
  const specs = paramLayout(cfg);
  const last = specs[specs.length - 1]!;
  const out = new Float32Array(last.offset + last.size);
  const rng = new Rng(seed).fork('policy-init');
  const residualStd = 0.02 / Math.sqrt(2 * cfg.nLayers);
  for (const s of specs) {
    const view = out.subarray(s.offset, s.offset + s.size);
    if (/\.g$/.test(s.name)) view.fill(1);
    else if (/\.b$|\.b\w+$/.test(s.name)) view.fill(0);
    else {
      const std = /\.(wo|wproj)$/.test(s.name) ? residualStd : 0.02;
      for (let i = 0; i < view.length; i++) view[i] = rng.normal() * std;
    }
  }
  return out;
}

/**
 * The GPT trunk. Teacher-forced kinds attend with one softmax over the fed columns; prefill and
 * decode also return the fed columns' keys and values ([B,H,T,dh], the cache layout), and decode
 * attends to the cache without concatenating it: one shared max, exponentials of both parts,
 * one normaliser. The cache is read in place (ORT wraps the JS buffers) and never copied.
 */
export function gptTrunk(cfg: GptConfig, x: TrunkInputs): Trunk {
  const { g, P, ids, pos, mask, past, dtype } = x;
  const { dModel: D, nLayers: L, nHeads: H } = cfg;
  const dh = D / H;
  const cached = x.kind === 'prefill' || x.kind === 'decode';
  const scale = g.scalar(dtype, 1 / Math.sqrt(dh));

  let h = op.add(op.gather(P.wte!, ids), op.gather(P.wpe!, pos));
  const fresh: Value[] = [];
  for (let l = 0; l < L; l++) {
    const w = (n: string) => P[`h${l}.${n}`]!;
    const a = op.layerNorm(h, w('ln1.g'), w('ln1.b'));
    const qkv = op.add(op.matmul(a, w('attn.wqkv')), w('attn.bqkv'));
    const [q0, k0, v0] = op.split(qkv, [D, D, D], -1);
    const heads = (t: Value) => op.reshape(t, [0, 0, H, dh]);
    const q = op.mul(op.transpose(heads(q0!), [0, 2, 1, 3]), scale); // [B,H,T,dh]
    const v = op.transpose(heads(v0!), [0, 2, 1, 3]); // [B,H,T,dh]
    let o: Value; // attention output [B,H,T,dh]
    if (cached) {
      const k = op.transpose(heads(k0!), [0, 2, 1, 3]); // [B,H,T,dh], the cache layout
      fresh.push(k, v);
      // MatMul(q, Transpose(k)) becomes one FusedMatMul (transB) in ORT: no transposed copy.
      const sNew = op.add(op.matmul(q, op.transposeLast2(k)), mask); // [B,H,T,T]
      if (past) {
        const kc = past.caches[2 * l]!, vc = past.caches[2 * l + 1]!;
        const sPast = op.add(op.matmul(q, op.transposeLast2(kc)), past.mask); // [B,H,T,S]
        const m = op.max(op.reduceMax(sPast, [-1], true), op.reduceMax(sNew, [-1], true));
        const ePast = op.exp(op.sub(sPast, m)), eNew = op.exp(op.sub(sNew, m));
        const denom = op.add(op.reduceSum(ePast, [-1], true), op.reduceSum(eNew, [-1], true));
        o = op.div(op.add(op.matmul(ePast, vc), op.matmul(eNew, v)), denom);
      } else {
        o = op.matmul(op.softmax(sNew, -1), v);
      }
    } else {
      const kT = op.transpose(heads(k0!), [0, 2, 3, 1]); // [B,H,dh,T]
      o = op.matmul(op.softmax(op.add(op.matmul(q, kT), mask), -1), v);
    }
    o = op.reshape(op.transpose(o, [0, 2, 1, 3]), [0, 0, D]);
    h = op.add(h, op.add(op.matmul(o, w('attn.wo')), w('attn.bo')));
    const m = op.layerNorm(h, w('ln2.g'), w('ln2.b'));
    const f = op.gelu(op.add(op.matmul(m, w('mlp.wfc')), w('mlp.bfc')), !x.portable);
    h = op.add(h, op.add(op.matmul(f, w('mlp.wproj')), w('mlp.bproj')));
  }
  const logits = (hh: Value, temperature: Value | null) => {
    const n = op.layerNorm(hh, P['lnf.g']!, P['lnf.b']!);
    return op.matmul(temperature ? op.div(n, temperature) : n, op.transpose(P.wte!, [1, 0])); // tied head
  };
  return { hidden: h, logits, fresh };
}

export const gpt: Architecture<GptConfig> = {
  validate: validateConfig,
  layout: paramLayout,
  init: initParams,
  shape: (cfg) => ({ arch: 'gpt', vocabSize: cfg.vocabSize, contextLength: cfg.contextLength, nLayers: cfg.nLayers, kvHeads: cfg.nHeads, headDim: cfg.dModel / cfg.nHeads }),
  constants: () => [],
  trunk: gptTrunk,
};
