// The vector-Jacobian product rules, one per differentiable operator, all in this one table.
// A rule receives the forward node and the gradients of its outputs (dys; undefined for an
// output nothing depends on, except for Split, which gets zeros) and returns one gradient per input, or null for inputs
// that are not differentiable (indices, shapes) or that nobody asked about (needs[i] false).
// Rules are written with the builder's own ops, so the backward pass is an ordinary graph.
import { type Node, type Value } from '../graph/builder.ts';
import * as op from '../graph/ops.ts';

export type VjpRule = (node: Node, dys: (Value | undefined)[], needs: boolean[]) => (Value | null)[];

/** Sums dy over the axes along which `target` was broadcast, so the result has target's shape. */
export function unbroadcast(dy: Value, target: Value): Value {
  const lead = dy.rank - target.rank;
  let g = dy;
  if (lead > 0) g = op.reduceSum(g, [...Array(lead).keys()], false);
  const axes: number[] = [];
  target.shape.forEach((d, i) => {
    if (d === 1 && g.shape[i] !== 1) axes.push(i);
  });
  if (axes.length) g = op.reduceSum(g, axes, true);
  return g;
}

const inp = (n: Node, i: number): Value => n.inputs[i]!;
const out = (n: Node, i = 0): Value => n.outputs[i]!;
const scalarLike = (x: Value, v: number): Value => x.graph.scalar(x.dtype, v);

function constantValue(v: Value): number {
  const c = v.graph.constants.find((k) => k.value === v);
  if (!c || c.data.length !== 1) throw new Error(`autodiff: ${v} must be a scalar constant`);
  return Number(c.data[0]);
}

function constantInts(v: Value): number[] {
  const c = v.graph.constants.find((k) => k.value === v);
  if (!c) throw new Error(`autodiff: ${v} must be a constant`);
  return Array.from(c.data as ArrayLike<number | bigint>, Number);
}

/**
 * The gradient of Gather(data, idx) along axis 0: each looked-up row of dy added into its row of
 * data, repeats accumulating. The obvious ScatterND(reduction = add) is wrong on ORT's CPU
 * provider with two or more threads: it adds duplicate indices from several threads without
 * synchronisation, so updates are lost (a [8192, 256] scatter into 13 rows differed by up to 30
 * between runs). So the repeats are summed first, deterministically, and the scatter then writes
 * each row once: Unique gives the distinct ids and each position's slot, a one-hot [N, U] of the
 * slots times dy [N, width] sums each id's rows (a MatMul, exact in its order for a given thread
 * count), and ScatterND adds those U distinct rows. U is at most min(N, rows of data), so the
 * one-hot costs N·U floats: 8 MB for 8,192 positions over a 256-entry table.
 */
function embeddingGradient(data: Value, idx: Value, dy: Value): Value {
  const g = data.graph;
  const rowShape = data.shape.slice(1);
  if (!rowShape.every((d): d is number => typeof d === 'number')) throw new Error(`autodiff: Gather VJP needs static row dims, got ${data}`);
  const width = rowShape.reduce((a, b) => a * b, 1);
  // Each lookup gets its own symbolic sizes (the token and position lookups differ in both).
  const tag = `${g.nodes.filter((k) => k.op === 'Unique').length}`, N = `gather${tag}_n`, U = `gather${tag}_u`;
  const ids = op.reshape(op.cast(idx, 'int64'), [N]);
  const [unique, , slot] = g.node('Unique', [ids], [
    { dtype: 'int64', shape: [U] },
    { dtype: 'int64', shape: [U] },
    { dtype: 'int64', shape: [N] },
    { dtype: 'int64', shape: [U] },
  ], { sorted: 1 });
  const count = g.node('Shape', [unique!], [{ dtype: 'int64', shape: [1] }])[0]!;
  const zero = g.scalar('int64', 0), one = g.scalar('int64', 1);
  const slots = g.node('Range', [zero, op.squeeze(count, [0]), one], [{ dtype: 'int64', shape: [U] }])[0]!;
  const hit = g.node('Equal', [op.unsqueeze(slot!, [-1]), op.unsqueeze(slots, [0])], [{ dtype: 'bool', shape: [N, U] }])[0]!;
  const oneHot = op.cast(hit, data.dtype);
  const rows = op.reshape(dy, [N, width]);
  const summed = op.gemm(oneHot, rows, true); // [U, width]
  return op.scatterNDAdd(op.zerosLike(data), op.unsqueeze(unique!, [-1]), op.reshape(summed, [U, ...rowShape]));
}

/** ScatterND / ScatterElements with reduction add whose data is ConstantOfShape (zeros). */
export function isScatterIntoZeros(v: Value): boolean {
  const n = v.producer;
  if (!n || (n.op !== 'ScatterND' && n.op !== 'ScatterElements') || n.attrs.reduction !== 'add') return false;
  const data = n.inputs[0]?.producer;
  const fill = data?.attrs.value as { tensor: ArrayLike<number | bigint> } | undefined;
  return !!data && data.op === 'ConstantOfShape' && !!fill && Number(fill.tensor[0]) === 0;
}

/** The ScatterElements node that made v by adding updates into zeros along `axis`, if it did. */
function scatterIntoZerosAlong(v: Value, axis: number): Node | null {
  const n = v.producer;
  if (!n || n.op !== 'ScatterElements' || !isScatterIntoZeros(v)) return null;
  const norm = (a: number) => (a < 0 ? a + v.rank : a);
  return norm(n.attrs.axis as number) === norm(axis) ? n : null;
}

/** Gradient of a reduction: put the reduced axes back, then broadcast to x. */
function unreduce(node: Node, dy: Value): Value {
  const x = inp(node, 0);
  const axes = node.inputs[1] ? constantInts(inp(node, 1)) : [...Array(x.rank).keys()];
  const keep = node.attrs.keepdims !== 0;
  const g = keep ? dy : op.unsqueeze(dy, axes);
  return op.expandLike(g, x);
}

/** 1 / sqrt(mean(x^2) + eps) of an RMSNorm node: its float32 output, or recomputed in float64. */
function rmsNormInvStd(node: Node): Value {
  const x = inp(node, 0);
  if (x.dtype === 'float32') return out(node, 1);
  const eps = (node.attrs.epsilon as { float: number }).float;
  return op.pow(op.add(op.reduceMean(op.mul(x, x), [-1], true), scalarLike(x, eps)), -0.5);
}

function layerNormStats(node: Node): { mean: Value; invStd: Value } {
  const x = inp(node, 0);
  if (x.dtype === 'float32') return { mean: out(node, 1), invStd: out(node, 2) };
  // Stats are stashed in float32 only; a float64 graph recomputes them to keep full precision.
  const eps = (node.attrs.epsilon as { float: number }).float;
  const mean = op.reduceMean(x, [-1], true);
  const xc = op.sub(x, mean);
  const variance = op.reduceMean(op.mul(xc, xc), [-1], true);
  return { mean, invStd: op.pow(op.add(variance, scalarLike(x, eps)), -0.5) };
}

export const VJP: Record<string, VjpRule> = {
  Identity: (_n, [dy]) => [dy!],
  Add: (n, [dy], needs) => [needs[0] ? unbroadcast(dy!, inp(n, 0)) : null, needs[1] ? unbroadcast(dy!, inp(n, 1)) : null],
  Sub: (n, [dy], needs) => [needs[0] ? unbroadcast(dy!, inp(n, 0)) : null, needs[1] ? unbroadcast(op.neg(dy!), inp(n, 1)) : null],
  Mul: (n, [dy], needs) => [
    needs[0] ? unbroadcast(op.mul(dy!, inp(n, 1)), inp(n, 0)) : null,
    needs[1] ? unbroadcast(op.mul(dy!, inp(n, 0)), inp(n, 1)) : null,
  ],
  Div: (n, [dy], needs) => [
    needs[0] ? unbroadcast(op.div(dy!, inp(n, 1)), inp(n, 0)) : null,
    needs[1] ? unbroadcast(op.neg(op.div(op.mul(dy!, out(n)), inp(n, 1))), inp(n, 1)) : null,
  ],
  Neg: (_n, [dy]) => [op.neg(dy!)],
  Exp: (n, [dy]) => [op.mul(dy!, out(n))],
  Log: (n, [dy]) => [op.div(dy!, inp(n, 0))],
  Sqrt: (n, [dy]) => [op.div(op.mul(dy!, scalarLike(dy!, 0.5)), out(n))],
  Tanh: (n, [dy]) => {
    const y = out(n);
    return [op.mul(dy!, op.sub(scalarLike(y, 1), op.mul(y, y)))];
  },
  Pow: (n, [dy]) => {
    const x = inp(n, 0);
    const p = constantValue(inp(n, 1));
    const dxp = p === 2 ? op.mul(x, scalarLike(x, 2)) : op.mul(op.pow(x, p - 1), scalarLike(x, p));
    return [op.mul(dy!, dxp), null];
  },
  Sigmoid: (n, [dy]) => {
    const y = out(n);
    return [op.mul(dy!, op.mul(y, op.sub(scalarLike(y, 1), y)))];
  },
  FastGelu: (n, [dy]) => {
    // gelu(x) = x s, s = sigmoid(x (2c + 2ca x^2));  gelu'(x) = s + x s (1 - s) (2c + 6ca x^2).
    // FastGelu keeps no intermediates, so s is recomputed: 13 elementwise ops in all, against
    // ~20 for differentiating the forward formula op by op.
    const x = inp(n, 0);
    const k = (v: number) => scalarLike(x, v);
    const c2 = 2 * op.GELU_C, a = op.GELU_A;
    const x2 = op.mul(x, x);
    const s = op.sigmoid(op.mul(x, op.add(k(c2), op.mul(x2, k(c2 * a)))));
    const slope = op.add(k(c2), op.mul(x2, k(3 * c2 * a)));
    const d = op.add(s, op.mul(op.mul(op.mul(x, s), op.sub(k(1), s)), slope));
    return [op.mul(dy!, d)];
  },
  Softmax: (n, [dy]) => {
    const y = out(n);
    const axis = n.attrs.axis as number;
    return [op.mul(y, op.sub(dy!, op.reduceSum(op.mul(dy!, y), [axis], true)))];
  },
  LogSoftmax: (n, [dy]) => {
    const axis = n.attrs.axis as number;
    const y = out(n);
    const scatter = scatterIntoZerosAlong(dy!, axis);
    if (scatter) {
      // dy is a few entries per row scattered into zeros (log-probs picked by GatherElements,
      // the policy gradient's case with [tokens, vocab] rows): the row sums are the updates'
      // sums, and the scatter adds them into -exp(y) s directly. No zeros, no Sub over the
      // whole row: two [tokens, vocab] passes fewer, and the same floats (a + (-b) is a - b).
      const [, idx, upd] = scatter.inputs as Value[];
      const s = op.reduceSum(upd!, [axis], true);
      return [op.scatterElementsAdd(op.mul(op.exp(y), op.neg(s)), idx!, upd!, axis)];
    }
    return [op.sub(dy!, op.mul(op.exp(y), op.reduceSum(dy!, [axis], true)))];
  },
  MatMul: (n, [dy], needs) => {
    const a = inp(n, 0), b = inp(n, 1);
    let da: Value | null = null, db: Value | null = null;
    if (needs[0]) da = unbroadcast(op.matmul(dy!, op.transposeLast2(b)), a);
    if (needs[1]) {
      const bt = b.producer?.op === 'Transpose' && b.rank === 2 ? b.producer : null;
      if (bt) {
        // b = Transpose(W), a weight kept in [out, in] layout (Hugging Face's): dW = dy^T a comes
        // out of one Gemm already in W's layout; the transpose returned here cancels against
        // the one Transpose's rule applies (ops.transpose), so no gradient is ever transposed.
        const k = a.shape[a.rank - 1]!, nn = dy!.shape[dy!.rank - 1]!;
        db = op.transpose(op.gemm(op.reshape(dy!, [-1, nn]), op.reshape(a, [-1, k]), true, false), [1, 0]);
      } else if (b.rank === 2 && a.rank > 2) {
        // A weight applied to every row: one large [K, rows] x [rows, N] product, no batch sum.
        const k = a.shape[a.rank - 1]!, nn = dy!.shape[dy!.rank - 1]!;
        db = op.gemm(op.reshape(a, [-1, k]), op.reshape(dy!, [-1, nn]), true, false);
      } else {
        db = unbroadcast(op.matmul(op.transposeLast2(a), dy!), b);
      }
    }
    return [da, db];
  },
  Transpose: (n, [dy]) => {
    const perm = n.attrs.perm as number[];
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [op.transpose(dy!, inv)];
  },
  Reshape: (n, [dy]) => [op.reshapeLike(dy!, inp(n, 0)), null],
  Unsqueeze: (n, [dy]) => [op.reshapeLike(dy!, inp(n, 0)), null],
  Squeeze: (n, [dy]) => [op.reshapeLike(dy!, inp(n, 0)), null],
  Expand: (n, [dy]) => [unbroadcast(dy!, inp(n, 0)), null],
  Cast: (n, [dy]) => {
    const x = inp(n, 0);
    return [x.dtype === 'float32' || x.dtype === 'float64' ? op.cast(dy!, x.dtype) : null];
  },
  ReduceSum: (n, [dy]) => [unreduce(n, dy!), null],
  ReduceMean: (n, [dy]) => {
    const x = inp(n, 0), y = out(n);
    const g = x.graph;
    // count = size(x) / size(y), at run time so symbolic dims work too.
    const size = (v: Value) => op.cast(g.node('Size', [v], [{ dtype: 'int64', shape: [] }])[0]!, x.dtype);
    return [op.div(unreduce(n, dy!), op.div(size(x), size(y))), null];
  },
  Concat: (n, [dy]) => {
    const axis = n.attrs.axis as number;
    const sizes = n.inputs.map((x) => x!.shape[axis]!);
    if (!sizes.every((s) => typeof s === 'number')) throw new Error(`autodiff: Concat VJP needs static sizes along axis ${axis}, got [${sizes}]`);
    return op.split(dy!, sizes as number[], axis);
  },
  Split: (n, dys) => [op.concat(dys as Value[], n.attrs.axis as number), null],
  Gather: (n, [dy], needs) => {
    const data = inp(n, 0), idx = inp(n, 1);
    if ((n.attrs.axis as number) !== 0) throw new Error('autodiff: Gather VJP supports axis 0 only');
    if (!needs[0]) return [null, null];
    return [embeddingGradient(data, idx, dy!), null];
  },
  GatherElements: (n, [dy], needs) => {
    const data = inp(n, 0);
    if (!needs[0]) return [null, null];
    return [op.scatterElementsAdd(op.zerosLike(data), op.cast(inp(n, 1), 'int64'), dy!, n.attrs.axis as number), null];
  },
  LayerNormalization: (n, [dy], needs) => {
    const x = inp(n, 0), scale = inp(n, 1), bias = inp(n, 2);
    const { mean, invStd } = layerNormStats(n);
    const m = op.cast(mean, x.dtype), r = op.cast(invStd, x.dtype);
    const xhat = op.mul(op.sub(x, m), r);
    let dx: Value | null = null;
    if (needs[0]) {
      // dx = invStd * (g - mean(g) - xhat * mean(g * xhat)),  g = dy * scale
      const gsc = op.mul(dy!, scale);
      const t = op.add(op.reduceMean(gsc, [-1], true), op.mul(xhat, op.reduceMean(op.mul(gsc, xhat), [-1], true)));
      dx = op.mul(r, op.sub(gsc, t));
    }
    return [dx, needs[1] ? unbroadcast(op.mul(dy!, xhat), scale) : null, needs[2] ? unbroadcast(dy!, bias) : null];
  },
  SimplifiedLayerNormalization: (n, [dy], needs) => {
    // RMSNorm y = scale * x r, r = (mean(x^2) + eps)^-1/2:
    // dx = r (g - xhat mean(g xhat)), g = dy * scale, xhat = x r;  dscale = sum(dy xhat).
    const x = inp(n, 0), scale = inp(n, 1);
    const r = op.cast(rmsNormInvStd(n), x.dtype);
    const xhat = op.mul(x, r);
    let dx: Value | null = null;
    if (needs[0]) {
      const gsc = op.mul(dy!, scale);
      dx = op.mul(r, op.sub(gsc, op.mul(xhat, op.reduceMean(op.mul(gsc, xhat), [-1], true))));
    }
    return [dx, needs[1] ? unbroadcast(op.mul(dy!, xhat), scale) : null];
  },
};
