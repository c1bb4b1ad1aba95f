// Next-token selection inside the decode graphs, so that [batch, vocab] logits never cross into
// JavaScript. Three modes, each its own compiled graph (the engine picks one per call):
// - greedy: argmax (lowest id on ties); logp is log-softmax(logits) there;
// - sample: inverse CDF over the vocabulary in id order: the first token whose running sum of
//   exp(log-softmax(logits / T)) reaches u * total. One pass each for LogSoftmax, Exp and CumSum;
//   no sort;
// - nucleus (top-p < 1): the same over the probabilities sorted in descending order (TopK over
//   the whole vocabulary, ties by id), restricted to the shortest prefix whose mass reaches
//   top_p * total. Exact, and the sort is its cost: O(V log V) per row (measured in the README).
// Every row reads only its own logits and its own uniform u, so a sequence samples the same
// token whatever rows share its batch; the same inputs give the same token (no hidden state).
import type { DType, Graph, Value } from './graph/builder.ts';
import * as op from './graph/ops.ts';

export type SamplerMode = 'greedy' | 'sample' | 'nucleus';

export interface SamplerInputs {
  /** The temperature T > 0 ([]); null for greedy. */
  temperature: Value | null;
  /** Nucleus mass ([], in (0, 1]); nucleus mode only. */
  topP: Value | null;
  /** One uniform in [0, 1) per row, [B]; null for greedy. */
  uniform: Value | null;
}

/** Declares the graph inputs a mode reads: temperature [], top_p [], uniform [B]. */
export function samplerInputs(g: Graph, dtype: DType, mode: SamplerMode): SamplerInputs {
  if (mode === 'greedy') return { temperature: null, topP: null, uniform: null };
  return {
    temperature: g.input('temperature', dtype, []),
    topP: mode === 'nucleus' ? g.input('top_p', dtype, []) : null,
    uniform: g.input('uniform', dtype, ['B']),
  };
}

/**
 * Picks one token per row from logits [B,V] (already divided by the temperature) and returns it
 * (int32 [B]) with its log-prob under log-softmax(logits) ([B]).
 */
export function sampleTokens(logits: Value, s: SamplerInputs, mode: SamplerMode): { token: Value; logp: Value } {
  const g = logits.graph;
  const V = logits.shape[1];
  if (logits.rank !== 2 || typeof V !== 'number') throw new Error(`sampleTokens: logits must be [B, V] with a known V, got [${logits.shape}]`);
  const ls = op.logSoftmax(logits, -1);
  let idx: Value; // int64 [B,1]
  if (mode === 'greedy') {
    idx = op.argMax(logits, -1, true);
  } else {
    const p = op.exp(ls);
    const u = op.unsqueeze(s.uniform!, [1]); // [B,1]
    const count = (x: Value) => op.reduceSum(op.cast(x, 'int64'), [-1], true); // [B,1]
    const last = g.ints([V - 1]);
    // u * total is floored at the smallest positive float, so that u = 0 picks the first
    // token of positive probability (never one of probability 0).
    const floor = g.scalar(logits.dtype, logits.dtype === 'float32' ? 1.401298464324817e-45 : 5e-324);
    if (mode === 'sample') {
      const cdf = op.cumSum(p, -1);
      const target = op.max(op.mul(u, op.gather(cdf, last, 1)), floor);
      // The first index whose running sum reaches the target = how many stay below it.
      idx = op.min(count(op.less(cdf, target)), g.constant('int64', [], [V - 1]));
    } else {
      const [sorted, order] = op.topK(p, V, -1);
      const csum = op.cumSum(sorted, -1);
      const total = op.gather(csum, last, 1);
      // Keep the shortest prefix whose mass reaches top_p * total: one past the entries below it.
      const kept = op.min(op.add(count(op.less(csum, op.mul(s.topP!, total))), g.constant('int64', [], [1])), g.constant('int64', [], [V]));
      const lastKept = op.sub(kept, g.constant('int64', [], [1]));
      const mass = op.gatherElements(csum, lastKept, 1);
      const target = op.max(op.mul(u, mass), floor);
      idx = op.gatherElements(order, op.min(count(op.less(csum, target)), lastKept), 1);
    }
  }
  const logp = op.squeeze(op.gatherElements(ls, idx, 1), [1]);
  return { token: op.cast(op.squeeze(idx, [1]), 'int32'), logp };
}
