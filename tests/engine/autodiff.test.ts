// Every VJP rule in harness/engine/autodiff/vjp.ts against central finite differences in
// float64, including broadcast reductions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../../harness/engine/graph/ops.ts';
import { Graph } from '../../harness/engine/graph/builder.ts';
import { VJP } from '../../harness/engine/autodiff/vjp.ts';
import { Rng } from '../../harness/util/rng.ts';
import { fdCheck, randn, compile } from './helpers.ts';
import { gradients } from '../../harness/engine/autodiff/gradients.ts';
import { ort } from '../../harness/engine/session.ts';

const rng = new Rng(42);
const x = (name: string, shape: number[], scale = 1) => ({ name, shape, data: randn(rng, shape.reduce((a, b) => a * b, 1), scale) });
const pos = (name: string, shape: number[]) => ({ name, shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0.5 + rng.next()) });
const TOL = 1e-6;

const cases: [string, Parameters<typeof fdCheck>[0], Parameters<typeof fdCheck>[1]][] = [
  ['Add broadcast [2,3,4]+[4]', [x('a', [2, 3, 4]), x('b', [4])], (a, b) => op.add(a!, b!)],
  ['Add broadcast [2,1,4]+[3,1]', [x('a', [2, 1, 4]), x('b', [3, 1])], (a, b) => op.add(a!, b!)],
  ['Sub broadcast', [x('a', [3, 4]), x('b', [1, 4])], (a, b) => op.sub(a!, b!)],
  ['Mul broadcast', [x('a', [2, 3, 4]), x('b', [3, 1])], (a, b) => op.mul(a!, b!)],
  ['Div broadcast', [x('a', [3, 4]), pos('b', [4])], (a, b) => op.div(a!, b!)],
  ['Neg', [x('a', [5])], (a) => op.neg(a!)],
  ['Exp', [x('a', [5])], (a) => op.exp(a!)],
  ['Log', [pos('a', [5])], (a) => op.log(a!)],
  ['Sqrt', [pos('a', [5])], (a) => op.sqrt(a!)],
  ['Tanh', [x('a', [5])], (a) => op.tanh(a!)],
  ['Sigmoid', [x('a', [5])], (a) => op.sigmoid(a!)],
  ['GELU (float64 composite)', [x('a', [7], 2)], (a) => op.gelu(a!)],
  ['Pow 3', [x('a', [5])], (a) => op.pow(a!, 3)],
  ['Pow 2', [x('a', [5])], (a) => op.pow(a!, 2)],
  ['Pow -0.5', [pos('a', [5])], (a) => op.pow(a!, -0.5)],
  ['Softmax', [x('a', [2, 5])], (a) => op.softmax(a!, -1)],
  ['Softmax axis 0', [x('a', [3, 2])], (a) => op.softmax(a!, 0)],
  ['LogSoftmax', [x('a', [2, 5])], (a) => op.logSoftmax(a!, -1)],
  ['MatMul 2d', [x('a', [3, 4]), x('b', [4, 2])], (a, b) => op.matmul(a!, b!)],
  ['MatMul 3d x 2d (weight)', [x('a', [2, 3, 4]), x('b', [4, 2])], (a, b) => op.matmul(a!, b!)],
  ['MatMul batched 4d', [x('a', [2, 2, 3, 4]), x('b', [2, 2, 4, 3])], (a, b) => op.matmul(a!, b!)],
  ['MatMul batch broadcast', [x('a', [2, 3, 4]), x('b', [1, 4, 2])], (a, b) => op.matmul(a!, b!)],
  ['MatMul x Transpose(W), W in [out, in] layout', [x('a', [2, 3, 4]), x('w', [5, 4])], (a, w) => op.matmul(a!, op.transpose(w!, [1, 0]))],
  ['MatMul broadcast over grouped heads (GQA)', [x('q', [1, 2, 3, 2, 4]), x('k', [1, 2, 1, 4, 5])], (q, k) => op.matmul(q!, k!)],
  ['Transpose', [x('a', [2, 3, 4])], (a) => op.transpose(a!, [2, 0, 1])],
  ['Reshape', [x('a', [2, 3, 4])], (a) => op.reshape(a!, [0, -1])],
  ['Unsqueeze/Squeeze', [x('a', [2, 3])], (a) => op.squeeze(op.mul(op.unsqueeze(a!, [1]), op.unsqueeze(a!, [1])), [1])],
  ['Expand', [x('a', [3, 1])], (a) => op.expandLike(a!, op.reshape(op.concat([a!, a!, a!, a!], 1), [3, 4]))],
  ['ReduceSum keepdims', [x('a', [2, 3, 4])], (a) => op.reduceSum(a!, [1], true)],
  ['ReduceSum drop', [x('a', [2, 3, 4])], (a) => op.reduceSum(a!, [0, 2], false)],
  ['ReduceSum all', [x('a', [2, 3])], (a) => op.reduceSum(a!, null, false)],
  ['ReduceMean', [x('a', [2, 3, 4])], (a) => op.reduceMean(a!, [-1], true)],
  ['Concat', [x('a', [2, 3]), x('b', [2, 2])], (a, b) => op.concat([a!, b!], 1)],
  ['Split (one output unused)', [x('a', [2, 6])], (a) => { const [p, , r] = op.split(a!, [1, 2, 3], 1); return op.concat([r!, p!], 1); }],
  ['Identity', [x('a', [3])], (a) => op.identity(a!)],
  ['Cast f64->f64', [x('a', [3])], (a) => op.cast(op.mul(a!, a!), 'float64')],
  ['LayerNormalization', [x('a', [2, 3, 5]), x('s', [5]), x('b', [5])], (a, s, b) => op.layerNorm(a!, s!, b!)],
  ['SimplifiedLayerNormalization (RMSNorm)', [x('a', [2, 3, 5]), x('s', [5])], (a, s) => op.rmsNorm(a!, s!, 1e-6)],
  ['RMSNorm per head (4-d, large eps)', [x('a', [1, 2, 3, 4], 0.1), x('s', [4])], (a, s) => op.rmsNorm(a!, s!, 0.05)],
  [
    'Gather rows (repeated ids)',
    [x('w', [5, 3]), { name: 'ids', shape: [2, 3], data: [1, 4, 1, 0, 1, 2], dtype: 'int32' }],
    (w, ids) => op.gather(w!, ids!, 0),
  ],
  [
    'tied embedding: Gather rows and a head on the same table (the scatter adds into the head gradient)',
    [x('w', [5, 3]), { name: 'ids', shape: [2, 3], data: [1, 4, 1, 0, 1, 2], dtype: 'int32' }],
    (w, ids) => op.matmul(op.tanh(op.gather(w!, ids!, 0)), op.transpose(w!, [1, 0])),
  ],
  [
    'GatherElements',
    [x('a', [2, 3, 5]), { name: 'idx', shape: [2, 3, 1], data: [4, 0, 2, 2, 1, 3], dtype: 'int64' }],
    (a, idx) => op.gatherElements(a!, idx!, 2),
  ],
  [
    'GatherElements of LogSoftmax (log-probs: the gradient scatters into -softmax * row sum)',
    [x('a', [2, 3, 5]), { name: 'idx', shape: [2, 3, 1], data: [4, 0, 2, 2, 1, 3], dtype: 'int64' }],
    (a, idx) => op.gatherElements(op.logSoftmax(a!, -1), idx!, 2),
  ],
  [
    'GatherElements of LogSoftmax, two picks per row with a repeat',
    [x('a', [2, 5]), { name: 'idx', shape: [2, 2], data: [3, 3, 0, 4], dtype: 'int64' }],
    (a, idx) => op.gatherElements(op.logSoftmax(a!, 1), idx!, -1),
  ],
];

for (const [name, inputs, f] of cases) {
  test(`VJP ${name} matches central differences (f64)`, async () => {
    const r = await fdCheck(inputs, f);
    assert.ok(r.maxRelErr < TOL, `max relative error ${r.maxRelErr} (${r.worst})`);
  });
}

test('every rule in the VJP table is exercised above', () => {
  const tested = new Set(['FastGelu', 'Sigmoid', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Exp', 'Log', 'Sqrt', 'Tanh', 'Pow', 'Softmax', 'LogSoftmax', 'MatMul', 'Transpose', 'Reshape', 'Unsqueeze', 'Squeeze', 'Expand', 'ReduceSum', 'ReduceMean', 'Concat', 'Split', 'Identity', 'Cast', 'LayerNormalization', 'SimplifiedLayerNormalization', 'Gather', 'GatherElements']);
  assert.deepEqual(Object.keys(VJP).filter((k) => !tested.has(k)), []);
});

test('VJP FastGelu (float32 only in ORT) matches the float64 GELU gradient and value', async () => {
  // FastGelu has no float64 kernel, so its rule is checked against the float64 composite,
  // whose own rule chain passed the finite-difference check above.
  const xs = Float64Array.from({ length: 41 }, (_, i) => -5 + i * 0.25);
  const run = async (dtype: 'float32' | 'float64') => {
    const g = new Graph('gelu');
    const a = g.input('a', dtype, [xs.length]);
    const y = op.gelu(a);
    g.output(y, 'y');
    const [da] = gradients(g, op.reduceSum(op.mul(y, a), null), [a]); // d/dx sum(x gelu(x)) = gelu + x gelu'
    g.output(da!, 'da');
    assert.equal(g.nodes.some((n) => n.op === 'FastGelu'), dtype === 'float32');
    const s = await compile(g);
    const out = await s.run({ a: new ort.Tensor(dtype, dtype === 'float32' ? Float32Array.from(xs) : xs, [xs.length]) });
    await s.release();
    return { y: Array.from(out.y!.data as Float32Array), da: Array.from(out.da!.data as Float32Array) };
  };
  const f32 = await run('float32'), ref = await run('float64');
  for (let i = 0; i < xs.length; i++) {
    assert.ok(Math.abs(f32.y[i]! - ref.y[i]!) < 1e-5 * (1 + Math.abs(ref.y[i]!)), `gelu(${xs[i]}) ${f32.y[i]} vs ${ref.y[i]}`);
    assert.ok(Math.abs(f32.da[i]! - ref.da[i]!) < 1e-5 * (1 + Math.abs(ref.da[i]!)), `grad at ${xs[i]}: ${f32.da[i]} vs ${ref.da[i]}`);
  }
  // And the value is GPT-2's formula.
  const gpt2 = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  xs.forEach((v, i) => assert.ok(Math.abs(ref.y[i]! - gpt2(v)) < 1e-12));
});

test('VJP RMSNorm in float32 (stashed inverse RMS) matches the float64 rule', async () => {
  const rng2 = new Rng(5);
  const xs = randn(rng2, 3 * 6), ws = randn(rng2, 6), rs = randn(rng2, 3 * 6);
  const run = async (dtype: 'float32' | 'float64') => {
    const g = new Graph('rms');
    const a = g.input('a', dtype, [3, 6]), w = g.input('w', dtype, [6]);
    const y = op.rmsNorm(a, w, 1e-6);
    const [da, dw] = gradients(g, op.reduceSum(op.mul(y, g.constant(dtype, [3, 6], rs)), null), [a, w]);
    g.output(y, 'y');
    g.output(da!, 'da');
    g.output(dw!, 'dw');
    const s = await compile(g);
    const A = dtype === 'float32' ? Float32Array : Float64Array;
    const out = await s.run({ a: new ort.Tensor(dtype, A.from(xs), [3, 6]), w: new ort.Tensor(dtype, A.from(ws), [6]) });
    await s.release();
    return ['y', 'da', 'dw'].map((k) => Array.from(out[k]!.data as Float32Array));
  };
  const f32 = await run('float32'), ref = await run('float64');
  ref.forEach((r, k) => r.forEach((v, i) => assert.ok(Math.abs(f32[k]![i]! - v) < 1e-5 * (1 + Math.abs(v)), `${['y', 'da', 'dw'][k]}[${i}]: ${f32[k]![i]} vs ${v}`)));
});

test('transposing back is free: Transpose(Transpose(x)) is x, so weight gradients are never transposed', () => {
  const g = new Graph('tt');
  const w = g.input('w', 'float32', [5, 4]);
  assert.equal(op.transpose(op.transpose(w, [1, 0]), [1, 0]), w);
  const a = g.input('a', 'float32', ['B', 3, 4]);
  const [dw] = gradients(g, op.reduceSum(op.matmul(a, op.transpose(w, [1, 0])), null), [w]);
  assert.equal(dw!.producer!.op, 'Gemm', 'dW = dy^T a straight from one Gemm');
  assert.deepEqual(dw!.shape, [5, 4]);
});

test('an embedding tied to the head scatters its rows into the head gradient: no [vocab, width] zeros, no extra Add', () => {
  const g = new Graph('tied');
  const w = g.input('w', 'float64', [50, 8]);
  const ids = g.input('ids', 'int32', [2, 3]);
  const y = op.reduceSum(op.matmul(op.tanh(op.gather(w, ids, 0)), op.transpose(w, [1, 0])), null, false);
  const [dw] = gradients(g, y, [w]);
  assert.equal(dw!.producer!.op, 'ScatterND');
  assert.notEqual(dw!.producer!.inputs[0]!.producer!.op, 'ConstantOfShape');
  // An untied embedding still scatters into zeros: it has nothing else to add to.
  const g2 = new Graph('untied');
  const e = g2.input('e', 'float64', [50, 8]);
  const [de] = gradients(g2, op.reduceSum(op.tanh(op.gather(e, g2.input('ids', 'int32', [4]), 0)), null, false), [e]);
  assert.equal(de!.producer!.inputs[0]!.producer!.op, 'ConstantOfShape');
});

test('a wrong rule is caught by the check (the check can fail)', async () => {
  const right = VJP.Tanh!;
  // d tanh = 1 - y, missing the square: must be flagged.
  VJP.Tanh = (n, [dy]) => [op.mul(dy!, op.sub(n.outputs[0]!.graph.scalar('float64', 1), n.outputs[0]!))];
  try {
    const bad = await fdCheck([x('a', [4])], (a) => op.tanh(a!));
    assert.ok(bad.maxRelErr > 1e-2, `wrong rule passed with error ${bad.maxRelErr}`);
  } finally {
    VJP.Tanh = right;
  }
});

test('shape errors name the op and the shapes', () => {
  const g = new Graph('errs');
  const a = g.input('a', 'float32', ['B', 3, 4]);
  const b = g.input('b', 'float32', [5, 2]);
  assert.throws(() => op.matmul(a, b), /MatMul: inner dims differ: 4 vs 5 \(a float32\[B,3,4\], b float32\[5,2\]\)/);
  assert.throws(() => op.add(a, g.input('c', 'float32', [3, 5])), /Add: shapes do not broadcast at dim 2: 4 vs 5/);
  assert.throws(() => op.add(a, g.input('d', 'float64', [4])), /Add: dtype mismatch float32 vs float64/);
  assert.throws(() => op.reshape(g.input('e', 'float32', [3, 4]), [5, 2]), /Reshape: cannot reshape 12 elements to \[5,2\]/);
  assert.throws(() => op.softmax(a, 3), /Softmax: axis 3 out of range for rank 3/);
  assert.throws(() => op.gather(b, a), /Gather: indices must be int32 or int64/);
  assert.throws(() => op.layerNorm(a, g.input('s', 'float32', [3]), g.input('t', 'float32', [3])), /LayerNormalization: scale and bias must be \[4\]/);
});

test('symbolic dims propagate through shape inference', () => {
  const g = new Graph('sym');
  const x = g.input('x', 'float32', ['B', 'T', 8]);
  const w = g.input('w', 'float32', [8, 6]);
  const y = op.matmul(x, w);
  assert.deepEqual(y.shape, ['B', 'T', 6]);
  assert.deepEqual(op.reshape(y, [-1, 6]).shape, ['B*T', 6]);
  assert.deepEqual(op.concat([x, x], 1).shape, ['B', 'T+T', 8]);
  assert.deepEqual(op.transpose(x, [0, 2, 1]).shape, ['B', 8, 'T']);
  assert.deepEqual(op.gather(w, g.input('ids', 'int32', ['B', 'T'])).shape, ['B', 'T', 6]);
});

// ORT's CPU ScatterND(reduction = add) loses updates when several threads add to the same row,
// so the embedding gradient must not hand it repeated ids (see embeddingGradient in vjp.ts).
// Two threads, a 256-wide table and 8,192 lookups into 13 rows: far past the sizes at which ORT
// splits the work. Every run must equal the float64 scatter-add, and every run the first.
test('Gather VJP: many repeated ids with two threads give the exact, repeatable sum', async () => {
  const V = 13, D = 256, N = 8192;
  const g = new Graph('embedding-grad');
  const table = g.input('table', 'float32', [V, D]);
  const ids = g.input('ids', 'int64', [N]);
  const w = g.input('w', 'float32', [N, D]);
  const loss = op.reduceSum(op.mul(op.gather(table, ids), w), [0, 1], false);
  const [dTable] = gradients(g, loss, [table]);
  g.output(dTable!, 'dtable');
  const { createSession } = await import('../../harness/engine/session.ts');
  const { serializeGraph } = await import('../../harness/engine/graph/serialize.ts');
  const session = await createSession(serializeGraph(g), { provider: 'cpu', threads: 2 });
  const idData = BigInt64Array.from({ length: N }, (_, i) => BigInt((i * 7) % V));
  const wData = Float32Array.from({ length: N * D }, (_, i) => Math.sin(i) * 1.7);
  const expected = new Float64Array(V * D);
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) expected[Number(idData[n]) * D + d]! += wData[n * D + d]!;
  let first: Float32Array | undefined;
  for (let run = 0; run < 6; run++) {
    const out = (await session.run({
      table: new ort.Tensor('float32', new Float32Array(V * D), [V, D]),
      ids: new ort.Tensor('int64', idData, [N]),
      w: new ort.Tensor('float32', wData, [N, D]),
    })).dtable!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i]! - expected[i]!));
    assert.ok(worst < 1e-3, `run ${run}: the summed gradient is off by ${worst}`);
    if (!first) first = out.slice();
    else assert.deepEqual(out, first, `run ${run} differs from the first`);
  }
});

test('the log-prob gradient never materialises zeros or a Sub over [rows, vocab]', () => {
  // d/dlogits of sum(w * logp[target]) is w (onehot - softmax): one scatter of w into
  // -softmax * w, not a scatter into zeros followed by dy - softmax * sum(dy).
  const g = new Graph('lp');
  const logits = g.input('logits', 'float32', ['N', 7]);
  const idx = g.input('idx', 'int64', ['N', 1]);
  const w = g.input('w', 'float32', ['N', 1]);
  const before = g.nodes.length;
  const lp = op.gatherElements(op.logSoftmax(logits, -1), idx, 1);
  const [d] = gradients(g, op.reduceSum(op.mul(lp, w), null), [logits]);
  g.output(d!, 'd');
  const live = new Set<(typeof g.nodes)[number]>();
  const visit = (v: typeof d) => {
    const n = v!.producer;
    if (!n || live.has(n)) return;
    live.add(n);
    n.inputs.forEach((i) => i && visit(i));
  };
  visit(d);
  const ops = g.nodes.slice(before).filter((n) => live.has(n)).map((n) => n.op);
  assert.equal(ops.filter((o) => o === 'ScatterElements').length, 1);
  assert.ok(!ops.includes('ConstantOfShape') && !ops.includes('Sub'), `backward ops: ${ops.join(', ')}`);
});
