// The policy's model: a GPT-style decoder written with the graph builder. Owns the parameter
// layout (names, shapes, offsets in the flat buffer), GPT-2 initialisation, and the graphs the
// engine compiles: teacher-forced log-probs + entropy, their weighted-sum gradient, and a
// prefill/decode step with a KV cache. Parameters are graph inputs, so one compiled session
// serves any weights. Masks and positions are inputs too (built in TS from left-padding
// offsets), which keeps integer bookkeeping out of the graphs.
import { Graph, type DType, type Value } from '../graph/builder.ts';
import * as op from '../graph/ops.ts';
import { gradients } from '../autodiff/gradients.ts';
import { Rng } from '../../util/rng.ts';
import { UsageError } from '../../util/errors.ts';
import type { ParamSpec, PolicyConfig } from '../types.ts';

export type GraphKind = 'logprobs' | 'grad' | 'prefill' | 'decode';

/** Added to attention scores of masked keys: exp() of it is exactly 0, and it never makes NaN. */
export const MASKED = -1e9;

export function validateConfig(cfg: PolicyConfig): void {
  const fields: (keyof PolicyConfig)[] = ['vocabSize', 'contextLength', 'dModel', 'nLayers', 'nHeads', 'mlpRatio'];
  for (const f of fields) {
    const v = cfg[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`policy config: ${f} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (cfg.dModel % cfg.nHeads !== 0) throw new UsageError(`policy config: dModel (${cfg.dModel}) must be divisible by nHeads (${cfg.nHeads})`);
}

/** The flat parameter layout, in a fixed order (part of the checkpoint format). */
export function paramLayout(cfg: PolicyConfig): ParamSpec[] {
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
export function initParams(cfg: PolicyConfig, seed: number): Float32Array {
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

export interface PolicyGraph {
  graph: Graph;
  params: Value[];
  specs: ParamSpec[];
}

/**
 * Builds one of the policy graphs. Inputs (B, T symbolic; S = cache capacity in columns):
 *   params by name; ids, pos: int32 [B,T]; mask: additive [B,1,T,T] over the T fed columns;
 *   logprobs/grad: targets int32 [B,T]; grad: weights [B,T];
 *   decode: cache_k{l}, cache_v{l} [B,H,S,dh] and mask_past [B,1,T,S] over the cached columns.
 * Outputs: logprobs: logp, entropy [B,T]; grad: value [], grad [nParams];
 *   prefill/decode: logits [B,V] at the last column, and k{l}, v{l} [B,H,T,dh] of the fed
 *   columns only. The cache is read in place (ORT wraps the JS buffers) and never copied or
 *   returned: the engine writes the new columns into it, so a step moves O(new columns).
 * `portable` uses only standard ONNX ops (GELU from primitives instead of com.microsoft
 * FastGelu), for checkpoints that any ONNX tool can run.
 */
export function buildPolicyGraph(cfg: PolicyConfig, kind: GraphKind, dtype: DType = 'float32', portable = false): PolicyGraph {
  validateConfig(cfg);
  const { dModel: D, nLayers: L, nHeads: H } = cfg;
  const dh = D / H;
  const g = new Graph(`policy_${kind}`);
  const specs = paramLayout(cfg);
  const params = specs.map((s) => g.input(s.name, dtype, s.shape));
  const P = Object.fromEntries(specs.map((s, i) => [s.name, params[i]!])) as Record<string, Value>;
  const ids = g.input('ids', 'int32', ['B', 'T']);
  const pos = g.input('pos', 'int32', ['B', 'T']);
  const mask = g.input('mask', dtype, ['B', 1, 'T', 'T']);
  const maskPast = kind === 'decode' ? g.input('mask_past', dtype, ['B', 1, 'T', 'S']) : null;
  const scale = g.scalar(dtype, 1 / Math.sqrt(dh));

  let h = op.add(op.gather(P.wte!, ids), op.gather(P.wpe!, pos));
  const fresh: Value[] = []; // k, v of the fed columns per layer (prefill/decode outputs)
  for (let l = 0; l < L; l++) {
    const w = (n: string) => P[`h${l}.${n}`]!;
    const a = op.layerNorm(h, w('ln1.g'), w('ln1.b'));
    const qkv = op.add(op.matmul(a, w('attn.wqkv')), w('attn.bqkv'));
    const [q0, k0, v0] = op.split(qkv, [D, D, D], -1);
    const heads = (x: Value) => op.reshape(x, [0, 0, H, dh]);
    const q = op.mul(op.transpose(heads(q0!), [0, 2, 1, 3]), scale); // [B,H,T,dh]
    const v = op.transpose(heads(v0!), [0, 2, 1, 3]); // [B,H,T,dh]
    let o: Value; // attention output [B,H,T,dh]
    if (kind === 'prefill' || kind === 'decode') {
      const k = op.transpose(heads(k0!), [0, 2, 1, 3]); // [B,H,T,dh], the cache layout
      fresh.push(k, v);
      // MatMul(q, Transpose(k)) becomes one FusedMatMul (transB) in ORT: no transposed copy.
      const sNew = op.add(op.matmul(q, op.transposeLast2(k)), mask); // [B,H,T,T]
      if (maskPast) {
        // Softmax over [cached columns | fed columns] without concatenating the cache:
        // shared max, exponentials of both parts, one normaliser.
        const kc = g.input(`cache_k${l}`, dtype, ['B', H, 'S', dh]);
        const vc = g.input(`cache_v${l}`, dtype, ['B', H, 'S', dh]);
        const sPast = op.add(op.matmul(q, op.transposeLast2(kc)), maskPast); // [B,H,T,S]
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
    const f = op.gelu(op.add(op.matmul(m, w('mlp.wfc')), w('mlp.bfc')), !portable);
    h = op.add(h, op.add(op.matmul(f, w('mlp.wproj')), w('mlp.bproj')));
  }
  const headT = op.transpose(P.wte!, [1, 0]); // tied output head

  if (kind === 'prefill' || kind === 'decode') {
    const last = op.gather(h, g.constant('int64', [], [-1], 'last'), 1); // [B,D]
    g.output(op.matmul(op.layerNorm(last, P['lnf.g']!, P['lnf.b']!), headT), 'logits');
    fresh.forEach((x, i) => g.output(x, `${i % 2 === 0 ? 'k' : 'v'}${i >> 1}`));
    return { graph: g, params, specs };
  }

  const logits = op.matmul(op.layerNorm(h, P['lnf.g']!, P['lnf.b']!), headT); // [B,T,V]
  const ls = op.logSoftmax(logits, -1); // once, for logp and entropy
  const targets = g.input('targets', 'int32', ['B', 'T']);
  const logp = op.squeeze(op.gatherElements(ls, op.unsqueeze(op.cast(targets, 'int64'), [-1]), 2), [-1]);
  if (kind === 'logprobs') {
    g.output(logp, 'logp');
    g.output(op.neg(op.reduceSum(op.mul(op.exp(ls), ls), [-1], false)), 'entropy');
    return { graph: g, params, specs };
  }
  const weights = g.input('weights', dtype, ['B', 'T']);
  const value = op.reduceSum(op.mul(weights, logp), null, false);
  g.output(value, 'value');
  const grads = gradients(g, value, params);
  g.output(op.concat(grads.map((d) => op.reshape(d, [-1])), 0), 'grad');
  return { graph: g, params, specs };
}
