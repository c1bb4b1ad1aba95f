// Reverse-mode automatic differentiation over a builder Graph: gradients(graph, y, wrt) appends
// the backward pass of scalar y to the same graph and returns d y / d w for each w in wrt.
// Nodes are visited in reverse creation order (a reverse topological order); each node's
// input gradients come from its rule in vjp.ts; contributions to a value are summed.
import { type Graph, type Node, type Value } from '../graph/builder.ts';
import * as op from '../graph/ops.ts';
import { VJP, isScatterIntoZeros } from './vjp.ts';

const isFloat = (v: Value) => v.dtype === 'float32' || v.dtype === 'float64';

/** The same scatter-add with `base` as its data: base + (what it scattered into zeros). */
function rescatter(n: Node, base: Value): Value {
  const [, idx, upd] = n.inputs as Value[];
  return n.op === 'ScatterND' ? op.scatterNDAdd(base, idx!, upd!) : op.scatterElementsAdd(base, idx!, upd!, n.attrs.axis as number);
}

export function gradients(graph: Graph, y: Value, wrt: Value[]): Value[] {
  if (y.graph !== graph) throw new Error('gradients: y belongs to another graph');
  if (y.rank !== 0) throw new Error(`gradients: y must be a scalar, got shape [${y.shape}]`);
  const forwardNodes = graph.nodes.slice();

  // Values that depend on some w (only those carry gradients backwards).
  const live = new Set<Value>(wrt);
  for (const n of forwardNodes) {
    if (n.inputs.some((x) => x && live.has(x))) for (const o of n.outputs) if (isFloat(o)) live.add(o);
  }
  if (!live.has(y) && wrt.length) {
    // y does not depend on any w: every gradient is zero.
    return wrt.map((w) => op.zerosLike(w));
  }

  const contributions = new Map<Value, Value[]>();
  const addGrad = (v: Value, g: Value) => {
    const list = contributions.get(v);
    if (list) list.push(g);
    else contributions.set(v, [g]);
  };
  const total = (v: Value): Value | undefined => {
    const list = contributions.get(v);
    if (!list) return undefined;
    // A scatter-add into zeros (an embedding's gradient) beside other contributions (a tied
    // head's) scatters into their sum instead: no [vocab, width] zeros and no extra Add.
    const k = list.length > 1 ? list.findIndex(isScatterIntoZeros) : -1;
    const scatter = k >= 0 ? list.splice(k, 1)[0]!.producer! : null;
    let g = list[0]!;
    for (let i = 1; i < list.length; i++) g = op.add(g, list[i]!);
    if (scatter) g = rescatter(scatter, g);
    contributions.set(v, [g]);
    return g;
  };

  addGrad(y, graph.scalar(y.dtype, 1));
  for (let i = forwardNodes.length - 1; i >= 0; i--) {
    const n = forwardNodes[i]!;
    const needs = n.inputs.map((x) => !!x && live.has(x));
    if (!needs.some(Boolean)) continue;
    const outGrads = n.outputs.map(total);
    if (outGrads.every((g) => g === undefined)) continue;
    const rule = VJP[n.op];
    if (!rule) throw new Error(`autodiff: no VJP rule for ${n.op} (output ${n.outputs[0]})`);
    // Only Split needs every output's gradient; elsewhere a missing one is never read.
    const dys = outGrads.map((g, k) => g ?? (n.op === 'Split' ? op.zerosLike(n.outputs[k]!) : undefined));
    const dxs = rule(n, dys, needs);
    n.inputs.forEach((x, k) => {
      const dx = dxs[k];
      if (x && needs[k] && dx) addGrad(x, dx);
    });
  }
  return wrt.map((w) => total(w) ?? op.zerosLike(w));
}
