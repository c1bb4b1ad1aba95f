// The in-graph token sampler (harness/engine/sampler.ts) on explicit logits: inverse-CDF and
// nucleus sampling by hand, greedy ties, zero-probability tokens never drawn, the empirical
// distribution over a grid of uniforms, exact top-p against a float64 reference, and the
// log-prob it reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../harness/engine/graph/builder.ts';
import * as op from '../../harness/engine/graph/ops.ts';
import { samplerInputs, sampleTokens, type SamplerMode } from '../../harness/engine/sampler.ts';
import { ort } from '../../harness/engine/session.ts';
import { Rng } from '../../harness/util/rng.ts';
import { compile } from './helpers.ts';

/** Runs the sampler on rows of logits (float32), one uniform per row. */
async function sample(rows: number[][], mode: SamplerMode, temperature = 1, topP = 1, uniforms: number[] = []): Promise<{ token: number[]; logp: number[] }> {
  const B = rows.length, V = rows[0]!.length;
  const g = new Graph('sampler');
  const logits = g.input('logits', 'float32', ['B', V]);
  const s = samplerInputs(g, 'float32', mode);
  const { token, logp } = sampleTokens(s.temperature ? op.div(logits, s.temperature) : logits, s, mode);
  g.output(token, 'token');
  g.output(logp, 'logp');
  const sess = await compile(g);
  const feeds: Record<string, ort.Tensor> = { logits: new ort.Tensor('float32', Float32Array.from(rows.flat()), [B, V]) };
  if (mode !== 'greedy') {
    feeds.temperature = new ort.Tensor('float32', Float32Array.of(temperature), []);
    feeds.uniform = new ort.Tensor('float32', Float32Array.from(uniforms), [B]);
  }
  if (mode === 'nucleus') feeds.top_p = new ort.Tensor('float32', Float32Array.of(topP), []);
  const out = await sess.run(feeds);
  await sess.release();
  return { token: Array.from(out.token!.data as Int32Array), logp: Array.from(out.logp!.data as Float32Array) };
}

const L = [0, Math.log(2), Math.log(3)]; // p = 1/6, 2/6, 3/6

test('inverse CDF in id order, temperature, and greedy by hand', async () => {
  assert.deepEqual((await sample([L, L, L], 'sample', 1, 1, [0.1, 0.2, 0.6])).token, [0, 1, 2]);
  assert.deepEqual((await sample([L], 'greedy')).token, [2]);
  // logits [0, ln 4] at T = 2 -> p = 1/3, 2/3
  const l2 = [0, Math.log(4)];
  assert.deepEqual((await sample([l2, l2], 'sample', 2, 1, [0.3, 0.34])).token, [0, 1]);
});

test('top-p keeps the shortest most-likely prefix and samples inside it', async () => {
  // Sorted: 2 (3/6), 1 (2/6), 0 (1/6). top-p 0.45 keeps {2}; 0.6 keeps {2, 1} (mass 5/6).
  assert.deepEqual((await sample([L, L, L], 'nucleus', 1, 0.45, [0, 0.5, 0.99])).token, [2, 2, 2]);
  assert.deepEqual((await sample([L, L], 'nucleus', 1, 0.6, [0.5, 0.7])).token, [2, 1], 'u*5/6 = 0.417 < 1/2 -> 2; 0.583 > 1/2 -> 1');
  assert.deepEqual((await sample([L], 'nucleus', 1, 1, [0.1])).token, [2], 'top-p 1 over the sorted order: 0.1 < 1/2');
  // Equal probabilities are ordered by id, for the nucleus and for greedy.
  const tie = [Math.log(2), Math.log(2), 0]; // p = .4, .4, .2
  assert.deepEqual((await sample([tie, tie], 'nucleus', 1, 0.3, [0.2, 0.9])).token, [0, 0]);
  assert.deepEqual((await sample([tie, tie], 'nucleus', 1, 0.7, [0.2, 0.9])).token, [0, 1]);
  assert.deepEqual((await sample([tie], 'greedy')).token, [0], 'argmax: lowest id on ties');
});

test('a token of probability 0 is never drawn, at u = 0 or at u rounding up to 1', async () => {
  const z = [-1e30, 0, 0, -1e30]; // p = 0, 1/2, 1/2, 0
  const r = await sample([z, z, z], 'sample', 1, 1, [0, 0.99999999, 0.5]);
  assert.deepEqual(r.token, [1, 2, 1]);
  const n = await sample([z, z], 'nucleus', 1, 0.9, [0, 0.99999999]);
  assert.deepEqual(n.token, [1, 2]);
});

test('over a grid of uniforms, each token is drawn in proportion to its probability', async () => {
  const rng = new Rng(4);
  const V = 9, N = 2000, T = 0.7;
  const row = Array.from({ length: V }, () => 2 * rng.normal());
  const u = Array.from({ length: N }, (_, i) => (i + 0.5) / N);
  const p = row.map((x) => Math.exp(x / T));
  const z = p.reduce((a, b) => a + b, 0);
  for (const [mode, topP] of [['sample', 1], ['nucleus', 1]] as const) {
    const { token, logp } = await sample(u.map(() => row), mode, T, topP, u);
    const counts = new Array<number>(V).fill(0);
    token.forEach((t) => counts[t]!++);
    counts.forEach((c, v) => assert.ok(Math.abs(c - (N * p[v]!) / z) <= 1.01, `${mode}: token ${v} drawn ${c} times, expected ${(N * p[v]!) / z}`));
    token.forEach((t, i) => assert.ok(Math.abs(logp[i]! - Math.log(p[t]! / z)) < 1e-5, 'logp = log-softmax(logits / T) at the token'));
  }
});

test('top-p matches a float64 reference on random logits (nucleus by sorting, ties by id)', async () => {
  const rng = new Rng(7);
  const V = 40, rows: number[][] = [], us: number[] = [];
  for (let i = 0; i < 200; i++) {
    rows.push(Array.from({ length: V }, () => Math.fround(3 * rng.normal())));
    us.push(Math.fround(rng.next()));
  }
  const T = 0.9, topP = 0.8;
  const got = (await sample(rows, 'nucleus', T, topP, us)).token;
  const want = rows.map((row, i) => {
    const m = Math.max(...row);
    const p = row.map((x) => Math.exp((x - m) / T));
    const order = p.map((_, v) => v).sort((a, b) => p[b]! - p[a]! || a - b);
    const z = p.reduce((a, b) => a + b, 0);
    let kept = 0, mass = 0;
    while (kept < V && mass < topP * z) mass += p[order[kept++]!]!;
    let acc = 0;
    for (let k = 0; k < kept; k++) {
      acc += p[order[k]!]!;
      if (acc >= us[i]! * mass) return order[k]!;
    }
    return order[kept - 1]!;
  });
  assert.deepEqual(got, want);
});
