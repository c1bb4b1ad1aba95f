// The graphs the policy engine compiles, for any architecture: the inputs every graph shares,
// the architecture's trunk (models/), and the ends every architecture shares: teacher-forced
// log-probs + entropy at a temperature, the gradient of sum(w * logp), and the prefill/decode
// step that picks the next token inside the graph (sampler.ts). Parameters are graph inputs, so
// one compiled session serves any weights; masks and positions are inputs too (built in TS from
// left-padding offsets), which keeps integer bookkeeping out of the graphs.
import { Graph, type DType, type Value } from './graph/builder.ts';
import * as op from './graph/ops.ts';
import { gradients } from './autodiff/gradients.ts';
import { samplerInputs, sampleTokens, type SamplerMode } from './sampler.ts';
import { gpt } from './models/gpt.ts';
import { llama } from './models/llama.ts';
import type { Architecture, ConstantTable, GraphKind } from './models/architecture.ts';
import { UsageError } from '../util/errors.ts';
import { isLlamaConfig, type ParamSpec, type PolicyConfig, type PolicyShape } from './types.ts';

export type { GraphKind } from './models/architecture.ts';
export { MASKED } from './models/architecture.ts';

/** The model family that builds a config (absent arch = the GPT). */
export function architectureOf(cfg: PolicyConfig): Architecture<PolicyConfig> {
  return (isLlamaConfig(cfg) ? llama : gpt) as Architecture<PolicyConfig>;
}

export function validatePolicyConfig(cfg: PolicyConfig): void {
  if (cfg === null || typeof cfg !== 'object') throw new UsageError('policy config must be an object');
  const arch = (cfg as { arch?: unknown }).arch;
  if (arch !== undefined && arch !== 'gpt' && arch !== 'llama') throw new UsageError(`policy config: arch must be 'gpt' or 'llama', got ${JSON.stringify(arch)}`);
  architectureOf(cfg).validate(cfg);
}

export function policyParamLayout(cfg: PolicyConfig): ParamSpec[] {
  return architectureOf(cfg).layout(cfg);
}

export function policyShape(cfg: PolicyConfig): PolicyShape {
  return architectureOf(cfg).shape(cfg);
}

export function policyConstants(cfg: PolicyConfig): ConstantTable[] {
  return architectureOf(cfg).constants(cfg);
}

/** The grad graph's output holding d value / d param for the parameter of this name. */
export function gradOutputName(param: string): string {
  return `grad:${param}`;
}

export interface PolicyGraph {
  graph: Graph;
  params: Value[];
  specs: ParamSpec[];
}

/**
 * Builds one of the policy graphs. Inputs (B, T symbolic; S = cache capacity in columns):
 *   params by name; the architecture's constant tables (e.g. rope_cos, rope_sin);
 *   ids, pos: int32 [B,T]; mask: additive [B,1,T,T] over the T fed columns;
 *   logprobs/grad: targets int32 [B,T] and temperature [] (omitted when `portable`: T = 1);
 *   grad: weights [B,T];
 *   decode: cache_k{l}, cache_v{l} [B,KV,S,hd] and mask_past [B,1,T,S] over the cached columns;
 *   prefill/decode: the sampler's inputs (temperature [], top_p [], uniform [B], by mode).
 * Outputs: logprobs: logp, entropy [B,T]; grad: value [] and one gradient per parameter, named gradOutputName(param), in its shape;
 *   prefill/decode: token (int32) and logp [B] for the last column, logits [B,V] (fetched only
 *   for debugging), and k{l}, v{l} [B,KV,T,hd] of the fed columns only. The cache is read in
 *   place and never copied or returned: the engine writes the new columns into it.
 * `portable` (GPT checkpoints) uses only standard ONNX ops, so other tools can run the file.
 */
export function buildPolicyGraph(cfg: PolicyConfig, kind: GraphKind, dtype: DType = 'float32', portable = false, sampler: SamplerMode = 'greedy'): PolicyGraph {
  validatePolicyConfig(cfg);
  const arch = architectureOf(cfg);
  const shape = arch.shape(cfg);
  const g = new Graph(`policy_${kind}`);
  const specs = arch.layout(cfg);
  const params = specs.map((s) => g.input(s.name, dtype, s.shape));
  const P = Object.fromEntries(specs.map((s, i) => [s.name, params[i]!])) as Record<string, Value>;
  const consts = Object.fromEntries(arch.constants(cfg).map((c) => [c.name, g.input(c.name, dtype, c.shape)]));
  const ids = g.input('ids', 'int32', ['B', 'T']);
  const pos = g.input('pos', 'int32', ['B', 'T']);
  const mask = g.input('mask', dtype, ['B', 1, 'T', 'T']);
  let past = null;
  if (kind === 'decode') {
    const maskPast = g.input('mask_past', dtype, ['B', 1, 'T', 'S']);
    const caches: Value[] = [];
    for (let l = 0; l < shape.nLayers; l++) {
      for (const kv of ['k', 'v']) caches.push(g.input(`cache_${kv}${l}`, dtype, ['B', shape.kvHeads, 'S', shape.headDim]));
    }
    past = { mask: maskPast, caches };
  }
  const trunk = arch.trunk(cfg, { g, kind, dtype, P, ids, pos, mask, past, consts, portable });

  if (kind === 'prefill' || kind === 'decode') {
    const s = samplerInputs(g, dtype, sampler);
    const last = op.gather(trunk.hidden, g.constant('int64', [], [-1], 'last'), 1); // [B,D]
    const logits = trunk.logits(last, s.temperature); // [B,V], divided by T when sampling
    const { token, logp } = sampleTokens(logits, s, sampler);
    g.output(token, 'token');
    g.output(logp, 'logp');
    g.output(logits, 'logits');
    trunk.fresh.forEach((x, i) => g.output(x, `${i % 2 === 0 ? 'k' : 'v'}${i >> 1}`));
    return { graph: g, params, specs };
  }

  const temperature = portable ? null : g.input('temperature', dtype, []);
  const logits = trunk.logits(trunk.hidden, temperature); // [B,T,V]
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
  // One output per parameter, in its own shape: the engine fetches them into views of one flat
  // buffer it owns (no [nParams] concatenation inside the graph, no second copy of every gradient).
  gradients(g, value, params).forEach((d, i) => g.output(d, gradOutputName(specs[i]!.name)));
  return { graph: g, params, specs };
}
