// Operators of the graph builder: one function per ONNX op the policy (forward and backward)
// needs, each inferring its output dtype and shape at build time. A mismatch throws a
// GraphError naming the op and the shapes, so a wrong model fails when it is built, not
// somewhere inside ONNX Runtime. Default domain at opset 18 (see serialize.ts).
import { Value, type DType, type Dim, type Shape, dimProduct, shapeStr, FLOAT_DTYPES, type AttrValue, toConstData } from './builder.ts';

export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}

function fail(op: string, msg: string, ...vals: Value[]): never {
  throw new GraphError(`${op}: ${msg} (${vals.map((v) => `${v.name} ${v.dtype}${shapeStr(v.shape)}`).join(', ')})`);
}

function sameDtype(op: string, ...vs: Value[]): DType {
  const d = vs[0]!.dtype;
  for (const v of vs) if (v.dtype !== d) fail(op, `dtype mismatch ${vs.map((x) => x.dtype).join(' vs ')}`, ...vs);
  return d;
}

function requireFloat(op: string, v: Value): void {
  if (!FLOAT_DTYPES.includes(v.dtype)) fail(op, `needs a float tensor, got ${v.dtype}`, v);
}

function normAxis(op: string, axis: number, rank: number, ...vs: Value[]): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(op, `axis ${axis} out of range for rank ${rank}`, ...vs);
  return a;
}

/** Numpy broadcasting of two shapes; symbols against symbols are trusted (ORT checks at run time). */
export function broadcastShapes(op: string, a: Value, b: Value, sa: Shape = a.shape, sb: Shape = b.shape): Shape {
  const ra = sa.length, rb = sb.length, r = Math.max(ra, rb);
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    const da = i - (r - ra) >= 0 ? sa[i - (r - ra)]! : 1;
    const db = i - (r - rb) >= 0 ? sb[i - (r - rb)]! : 1;
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (typeof da === 'number' && typeof db === 'number') fail(op, `shapes do not broadcast at dim ${i}: ${da} vs ${db}`, a, b);
    else out.push(typeof da === 'number' ? da : db);
  }
  return out;
}

function binary(op: string, a: Value, b: Value): Value {
  const dt = sameDtype(op, a, b);
  return a.graph.node(op, [a, b], [{ dtype: dt, shape: broadcastShapes(op, a, b) }])[0]!;
}

export const add = (a: Value, b: Value) => binary('Add', a, b);
export const sub = (a: Value, b: Value) => binary('Sub', a, b);
export const mul = (a: Value, b: Value) => binary('Mul', a, b);
export const div = (a: Value, b: Value) => binary('Div', a, b);
/** Elementwise maximum and minimum (forward-only graphs: no VJP rule). */
export const max = (a: Value, b: Value) => binary('Max', a, b);
export const min = (a: Value, b: Value) => binary('Min', a, b);

function compare(op: string, a: Value, b: Value): Value {
  sameDtype(op, a, b);
  return a.graph.node(op, [a, b], [{ dtype: 'bool', shape: broadcastShapes(op, a, b) }])[0]!;
}
/** Elementwise comparisons, giving bool tensors (forward-only). */
export const less = (a: Value, b: Value) => compare('Less', a, b);
export const greater = (a: Value, b: Value) => compare('Greater', a, b);

/** cond ? a : b elementwise, with broadcasting (forward-only). */
export function where(cond: Value, a: Value, b: Value): Value {
  if (cond.dtype !== 'bool') fail('Where', `condition must be bool, got ${cond.dtype}`, cond);
  const dt = sameDtype('Where', a, b);
  const shape = broadcastShapes('Where', cond, a, cond.shape, broadcastShapes('Where', a, b));
  return a.graph.node('Where', [cond, a, b], [{ dtype: dt, shape }])[0]!;
}

/** x ** p for a constant exponent p (its gradient needs no log of x). */
export function pow(x: Value, p: number): Value {
  requireFloat('Pow', x);
  return x.graph.node('Pow', [x, x.graph.scalar(x.dtype, p)], [{ dtype: x.dtype, shape: x.shape }])[0]!;
}

function unary(op: string, x: Value, attrs: Record<string, AttrValue> = {}): Value {
  requireFloat(op, x);
  return x.graph.node(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0]!;
}
export const neg = (x: Value) => unary('Neg', x);
export const exp = (x: Value) => unary('Exp', x);
export const log = (x: Value) => unary('Log', x);
export const sqrt = (x: Value) => unary('Sqrt', x);
export const tanh = (x: Value) => unary('Tanh', x);
export const sigmoid = (x: Value) => unary('Sigmoid', x);

/** sqrt(2/pi) and the cubic coefficient of GPT-2's tanh-approximated GELU. */
export const GELU_C = Math.sqrt(2 / Math.PI);
export const GELU_A = 0.044715;

/**
 * GPT-2's tanh GELU, 0.5 x (1 + tanh(c (x + a x^3))) = x * sigmoid(2c (x + a x^3)).
 * float32 with `fused` (the default): ORT's com.microsoft FastGelu, one kernel, whose VJP rule
 * recomputes what it needs. Otherwise (float64, which FastGelu lacks, or portable ONNX such as
 * checkpoints) the same function from standard ops.
 */
export function gelu(x: Value, fused = true): Value {
  requireFloat('Gelu', x);
  if (fused && x.dtype === 'float32') return x.graph.node('FastGelu', [x], [{ dtype: x.dtype, shape: x.shape }], {}, 'com.microsoft')[0]!;
  const k = (v: number) => x.graph.scalar(x.dtype, v);
  const arg = mul(x, add(k(2 * GELU_C), mul(mul(x, x), k(2 * GELU_C * GELU_A))));
  return mul(x, sigmoid(arg));
}
export const identity = (x: Value) => x.graph.node('Identity', [x], [{ dtype: x.dtype, shape: x.shape }])[0]!;

export function softmax(x: Value, axis = -1): Value {
  normAxis('Softmax', axis, x.rank, x);
  return unary('Softmax', x, { axis });
}
export function logSoftmax(x: Value, axis = -1): Value {
  normAxis('LogSoftmax', axis, x.rank, x);
  return unary('LogSoftmax', x, { axis });
}

/** Matrix product with numpy semantics for ranks >= 2 (batch dims broadcast). */
export function matmul(a: Value, b: Value): Value {
  const dt = sameDtype('MatMul', a, b);
  requireFloat('MatMul', a);
  if (a.rank < 2 || b.rank < 2) fail('MatMul', 'needs rank >= 2 operands', a, b);
  const k1 = a.shape[a.rank - 1]!, k2 = b.shape[b.rank - 2]!;
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) fail('MatMul', `inner dims differ: ${k1} vs ${k2}`, a, b);
  const batch = broadcastShapes('MatMul', a, b, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, a.shape[a.rank - 2]!, b.shape[b.rank - 1]!];
  return a.graph.node('MatMul', [a, b], [{ dtype: dt, shape }])[0]!;
}

/** Gemm for 2-D operands: alpha * op(A) @ op(B) (no C); used by backward passes for A^T @ B without a copy. */
export function gemm(a: Value, b: Value, transA = false, transB = false, alpha = 1): Value {
  const dt = sameDtype('Gemm', a, b);
  if (a.rank !== 2 || b.rank !== 2) fail('Gemm', 'needs rank-2 operands', a, b);
  const [m, ka] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) fail('Gemm', `inner dims differ: ${ka} vs ${kb}`, a, b);
  return a.graph.node('Gemm', [a, b], [{ dtype: dt, shape: [m, n] }], { transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha: { float: alpha } })[0]!;
}

export function transpose(x: Value, perm: number[]): Value {
  if (perm.length !== x.rank || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) fail('Transpose', `perm [${perm}] is not a permutation of rank ${x.rank}`, x);
  // A transpose that undoes the one producing x is x itself: no copy (backward passes of
  // MatMul(x, Transpose(W)) produce such pairs).
  const inner = x.producer?.op === 'Transpose' ? (x.producer.attrs.perm as number[]) : null;
  if (inner && perm.every((p, i) => inner[p] === i)) return x.producer!.inputs[0]!;
  return x.graph.node('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }], { perm })[0]!;
}

/** Swaps the last two axes. */
export function transposeLast2(x: Value): Value {
  const perm = [...Array(x.rank).keys()];
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1]!, perm[x.rank - 2]!];
  return transpose(x, perm);
}

/**
 * Reshape to `shape`: numbers are sizes, 0 copies the input dim at that index, -1 is inferred,
 * and a symbol names a dim (only valid as 0 or -1 at run time; we pass it as -1).
 */
export function reshape(x: Value, shape: Dim[]): Value {
  const g = x.graph;
  let inferAt = -1;
  const spec: number[] = [];
  const out: Shape = [];
  shape.forEach((d, i) => {
    if (d === -1 || typeof d === 'string') {
      if (inferAt >= 0) fail('Reshape', `more than one inferred dim in [${shape}]`, x);
      inferAt = i;
      spec.push(-1);
      out.push(d);
    } else if (d === 0) {
      if (i >= x.rank) fail('Reshape', `0 at index ${i} but input has rank ${x.rank}`, x);
      spec.push(0);
      out.push(x.shape[i]!);
    } else {
      spec.push(d);
      out.push(d);
    }
  });
  const total = dimProduct(x.shape);
  if (inferAt >= 0 && out[inferAt] === -1) {
    const known = out.filter((_, i) => i !== inferAt);
    if (typeof total === 'number' && known.every((d) => typeof d === 'number')) {
      const k = (known as number[]).reduce((a, b) => a * b, 1);
      if (total % k !== 0) fail('Reshape', `cannot reshape ${total} elements to [${shape}]`, x);
      out[inferAt] = total / k;
    } else {
      // Symbolic: name it by what it is when the rest are plain copies of input dims.
      const known = dimProduct(out.filter((_, i) => i !== inferAt));
      out[inferAt] = typeof known === 'number' && known === 1 ? total : `${total}/${known}`;
      if (typeof total === 'string' && typeof known === 'number') {
        // e.g. [B,T,D] -> [-1, D] gives 'B*T' (with D=known static factor divided out when possible)
        const staticPart = x.shape.filter((d) => typeof d === 'number').reduce((a: number, b) => a * (b as number), 1);
        if (staticPart === known) out[inferAt] = dimProduct(x.shape.filter((d) => typeof d === 'string'));
      }
    }
  } else if (typeof total === 'number' && out.every((d) => typeof d === 'number')) {
    const n = (out as number[]).reduce((a, b) => a * b, 1);
    if (n !== total) fail('Reshape', `cannot reshape ${total} elements to [${shape}]`, x);
  }
  return g.node('Reshape', [x, g.ints(spec)], [{ dtype: x.dtype, shape: out }])[0]!;
}

/** Reshape to the (run-time) shape of `like`. */
export function reshapeLike(x: Value, like: Value): Value {
  return x.graph.node('Reshape', [x, shapeOf(like)], [{ dtype: x.dtype, shape: like.shape }])[0]!;
}

export function shapeOf(x: Value): Value {
  return x.graph.node('Shape', [x], [{ dtype: 'int64', shape: [x.rank] }])[0]!;
}

/** Zeros shaped like x (run-time shape), of x's dtype or `dtype`. */
export function zerosLike(x: Value, dtype: DType = x.dtype): Value {
  const g = x.graph;
  const value = { tensor: toConstData(dtype, [0]) };
  return g.node('ConstantOfShape', [shapeOf(x)], [{ dtype, shape: x.shape }], { value })[0]!;
}

/** Broadcast x to the run-time shape of `like`. */
export function expandLike(x: Value, like: Value): Value {
  return x.graph.node('Expand', [x, shapeOf(like)], [{ dtype: x.dtype, shape: broadcastShapes('Expand', x, like) }])[0]!;
}

function reduce(op: string, x: Value, axes: number[] | null, keepdims: boolean): Value {
  const ax = axes === null ? [...Array(x.rank).keys()] : axes.map((a) => normAxis(op, a, x.rank, x));
  const shape: Shape = [];
  x.shape.forEach((d, i) => {
    if (!ax.includes(i)) shape.push(d);
    else if (keepdims) shape.push(1);
  });
  const inputs = axes === null ? [x] : [x, x.graph.ints(ax)];
  return x.graph.node(op, inputs, [{ dtype: x.dtype, shape }], { keepdims: keepdims ? 1 : 0 })[0]!;
}
/** Sum over `axes` (all when null). */
export const reduceSum = (x: Value, axes: number[] | null, keepdims = false) => reduce('ReduceSum', x, axes, keepdims);
export const reduceMean = (x: Value, axes: number[] | null, keepdims = false) => reduce('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Value, axes: number[] | null, keepdims = false) => reduce('ReduceMax', x, axes, keepdims);

/** Index of the largest entry along `axis` (the lowest index on ties), int64 (forward-only). */
export function argMax(x: Value, axis: number, keepdims = true): Value {
  const a = normAxis('ArgMax', axis, x.rank, x);
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.graph.node('ArgMax', [x], [{ dtype: 'int64', shape }], { axis: a, keepdims: keepdims ? 1 : 0, select_last_index: 0 })[0]!;
}

/** Running sum along `axis` (inclusive unless `exclusive`), forward-only. */
export function cumSum(x: Value, axis: number, exclusive = false): Value {
  requireFloat('CumSum', x);
  const a = normAxis('CumSum', axis, x.rank, x);
  return x.graph.node('CumSum', [x, x.graph.constant('int64', [], [a], 'axis')], [{ dtype: x.dtype, shape: x.shape }], exclusive ? { exclusive: 1 } : {})[0]!;
}

/**
 * The k largest entries along `axis`, sorted in descending order (equal values: lower index
 * first, as ONNX specifies), and their int64 indices. Forward-only.
 */
export function topK(x: Value, k: number, axis = -1): [Value, Value] {
  const a = normAxis('TopK', axis, x.rank, x);
  const d = x.shape[a]!;
  if (typeof d === 'number' && k > d) fail('TopK', `k = ${k} exceeds dim ${a} (${d})`, x);
  const shape = x.shape.map((dd, i) => (i === a ? k : dd));
  const [v, i] = x.graph.node('TopK', [x, x.graph.ints([k])], [{ dtype: x.dtype, shape }, { dtype: 'int64', shape }], { axis: a, largest: 1, sorted: 1 });
  return [v!, i!];
}

export function concat(xs: Value[], axis: number): Value {
  if (xs.length === 0) throw new GraphError('Concat: no inputs');
  const dt = sameDtype('Concat', ...xs);
  const r = xs[0]!.rank;
  const a = normAxis('Concat', axis, r, ...xs);
  for (const x of xs) {
    if (x.rank !== r) fail('Concat', 'ranks differ', ...xs);
    x.shape.forEach((d, i) => {
      const d0 = xs[0]!.shape[i]!;
      if (i !== a && typeof d === 'number' && typeof d0 === 'number' && d !== d0) fail('Concat', `dim ${i} differs`, ...xs);
    });
  }
  const shape = [...xs[0]!.shape];
  const parts = xs.map((x) => x.shape[a]!);
  shape[a] = parts.every((d) => typeof d === 'number') ? (parts as number[]).reduce((p, q) => p + q, 0) : parts.join('+');
  return xs[0]!.graph.node('Concat', xs, [{ dtype: dt, shape }], { axis: a })[0]!;
}

/** Splits along `axis` into pieces of the given static sizes. */
export function split(x: Value, sizes: number[], axis: number): Value[] {
  const a = normAxis('Split', axis, x.rank, x);
  const d = x.shape[a]!;
  const total = sizes.reduce((p, q) => p + q, 0);
  if (typeof d === 'number' && d !== total) fail('Split', `sizes [${sizes}] sum to ${total}, dim ${a} is ${d}`, x);
  const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((dd, i) => (i === a ? s : dd)) }));
  return x.graph.node('Split', [x, x.graph.ints(sizes)], outs, { axis: a });
}

function requireIndex(op: string, idx: Value, ...vs: Value[]): void {
  if (idx.dtype !== 'int32' && idx.dtype !== 'int64') fail(op, `indices must be int32 or int64, got ${idx.dtype}`, idx, ...vs);
}

/** Gather along `axis`: out shape = data[:axis] + indices + data[axis+1:]. */
export function gather(data: Value, indices: Value, axis = 0): Value {
  requireIndex('Gather', indices, data);
  const a = normAxis('Gather', axis, data.rank, data);
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  return data.graph.node('Gather', [data, indices], [{ dtype: data.dtype, shape }], { axis: a })[0]!;
}

export function gatherElements(data: Value, indices: Value, axis: number): Value {
  requireIndex('GatherElements', indices, data);
  const a = normAxis('GatherElements', axis, data.rank, data);
  if (indices.rank !== data.rank) fail('GatherElements', 'indices rank must equal data rank', data, indices);
  return data.graph.node('GatherElements', [data, indices], [{ dtype: data.dtype, shape: indices.shape }], { axis: a })[0]!;
}

export function scatterElementsAdd(data: Value, indices: Value, updates: Value, axis: number): Value {
  requireIndex('ScatterElements', indices, data);
  sameDtype('ScatterElements', data, updates);
  const a = normAxis('ScatterElements', axis, data.rank, data);
  return data.graph.node('ScatterElements', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], { axis: a, reduction: 'add' })[0]!;
}

/** ScatterND with reduction 'add'; indices int64 [..., k]. */
export function scatterNDAdd(data: Value, indices: Value, updates: Value): Value {
  if (indices.dtype !== 'int64') fail('ScatterND', 'indices must be int64', indices);
  sameDtype('ScatterND', data, updates);
  return data.graph.node('ScatterND', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], { reduction: 'add' })[0]!;
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.node('Cast', [x], [{ dtype: to, shape: x.shape }], { to: dtypeCode(to) })[0]!;
}

export function unsqueeze(x: Value, axes: number[]): Value {
  const r = x.rank + axes.length;
  const ax = axes.map((a) => (a < 0 ? a + r : a)).sort((p, q) => p - q);
  const shape: Shape = [];
  let j = 0;
  for (let i = 0; i < r; i++) shape.push(ax.includes(i) ? 1 : x.shape[j++]!);
  return x.graph.node('Unsqueeze', [x, x.graph.ints(ax)], [{ dtype: x.dtype, shape }])[0]!;
}

export function squeeze(x: Value, axes: number[]): Value {
  const ax = axes.map((a) => normAxis('Squeeze', a, x.rank, x));
  for (const a of ax) if (x.shape[a] !== 1) fail('Squeeze', `dim ${a} is not 1`, x);
  return x.graph.node('Squeeze', [x, x.graph.ints(ax)], [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !ax.includes(i)) }])[0]!;
}

/**
 * LayerNormalization over the last axis (opset 17). The node also outputs Mean and InvStdDev
 * (float32) so the float32 backward pass reuses them instead of recomputing.
 */
export function layerNorm(x: Value, scale: Value, bias: Value, epsilon = 1e-5): Value {
  requireFloat('LayerNormalization', x);
  sameDtype('LayerNormalization', x, scale, bias);
  const d = x.shape[x.rank - 1]!;
  for (const p of [scale, bias]) {
    if (p.rank !== 1 || (typeof d === 'number' && p.shape[0] !== d)) fail('LayerNormalization', `scale and bias must be [${d}]`, x, scale, bias);
  }
  // ORT has kernels only for float32 stats (stash_type 1); the f64 backward recomputes them.
  const stat = { dtype: 'float32' as DType, shape: [...x.shape.slice(0, -1), 1] };
  const [y] = x.graph.node('LayerNormalization', [x, scale, bias], [{ dtype: x.dtype, shape: x.shape }, stat, stat], {
    axis: -1,
    epsilon: { float: epsilon },
    stash_type: 1,
  });
  return y!;
}

/**
 * RMSNorm over the last axis, x / sqrt(mean(x^2) + eps) * scale, as ORT's
 * SimplifiedLayerNormalization kernel (float32 and float64). The node also outputs the
 * float32 inverse RMS, which the float32 backward pass reuses.
 */
export function rmsNorm(x: Value, scale: Value, epsilon: number): Value {
  requireFloat('SimplifiedLayerNormalization', x);
  sameDtype('SimplifiedLayerNormalization', x, scale);
  const d = x.shape[x.rank - 1]!;
  if (scale.rank !== 1 || (typeof d === 'number' && scale.shape[0] !== d)) fail('SimplifiedLayerNormalization', `scale must be [${d}]`, x, scale);
  const stat = { dtype: 'float32' as DType, shape: [...x.shape.slice(0, -1), 1] };
  const [y] = x.graph.node('SimplifiedLayerNormalization', [x, scale], [{ dtype: x.dtype, shape: x.shape }, stat], { axis: -1, epsilon: { float: epsilon }, stash_type: 1 });
  return y!;
}

/** ONNX TensorProto.DataType codes. */
export function dtypeCode(d: DType): number {
  return { float32: 1, bool: 9, int32: 6, int64: 7, float64: 11 }[d];
}
