// Shared helpers for the engine tests: run a builder graph in ONNX Runtime, and check an
// autodiff gradient against central finite differences in float64.
import { Graph, type Value } from '../../harness/engine/graph/builder.ts';
import * as op from '../../harness/engine/graph/ops.ts';
import { serializeGraph } from '../../harness/engine/graph/serialize.ts';
import { gradients } from '../../harness/engine/autodiff/gradients.ts';
import { ort } from '../../harness/engine/session.ts';
import { Rng } from '../../harness/util/rng.ts';

export type Feed = Record<string, ort.Tensor>;

export async function compile(g: Graph): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(serializeGraph(g), { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

export function f64(data: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor('float64', Float64Array.from(data), dims);
}

export function randn(rng: Rng, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal() * scale);
}

export interface FdResult {
  maxRelErr: number;
  worst: string;
}

/**
 * Builds loss = sum(f(inputs) * R) for a fixed random R, appends gradients by autodiff and
 * compares each float input's gradient with central differences, element by element.
 * `inputs` give name, shape and values (float64), or int32 data for index inputs.
 */
export async function fdCheck(
  inputs: { name: string; shape: number[]; data: ArrayLike<number>; dtype?: 'float64' | 'int32' | 'int64'; noGrad?: boolean }[],
  f: (...xs: Value[]) => Value,
  opts: { seed?: number; h?: number } = {},
): Promise<FdResult> {
  const rng = new Rng(opts.seed ?? 1);
  const g = new Graph('fd');
  const xs = inputs.map((i) => g.input(i.name, i.dtype ?? 'float64', i.shape));
  const y = f(...xs);
  const ySize = y.shape.reduce((a: number, b) => a * (b as number), 1);
  const r = g.constant('float64', y.shape as number[], randn(rng, ySize));
  const loss = op.reduceSum(op.mul(y, r), null, false);
  g.output(loss, 'loss');
  const wrt = xs.filter((x, k) => x.dtype === 'float64' && !inputs[k]!.noGrad);
  const grads = gradients(g, loss, wrt);
  grads.forEach((gr, k) => g.output(gr, `grad_${wrt[k]!.name}`));
  const sess = await compile(g);
  const feed = (vals: Float64Array[]): Feed => {
    const fd: Feed = {};
    inputs.forEach((i, k) => {
      const dt = i.dtype ?? 'float64';
      fd[i.name] =
        dt === 'float64' ? f64(vals[k]!, i.shape) : dt === 'int32' ? new ort.Tensor('int32', Int32Array.from(i.data), i.shape) : new ort.Tensor('int64', BigInt64Array.from(Array.from(i.data, (v) => BigInt(v))), i.shape);
    });
    return fd;
  };
  const base = inputs.map((i) => Float64Array.from(i.data));
  const out = await sess.run(feed(base));
  const h = opts.h ?? 1e-6;
  let maxRelErr = 0;
  let worst = '';
  for (const w of wrt) {
    const k = xs.indexOf(w);
    const ad = out[`grad_${w.name}`]!.data as Float64Array;
    for (let e = 0; e < base[k]!.length; e++) {
      const plus = base.map((b) => b.slice());
      const minus = base.map((b) => b.slice());
      plus[k]![e]! += h;
      minus[k]![e]! -= h;
      const lp = (await sess.run(feed(plus))).loss!.data[0] as number;
      const lm = (await sess.run(feed(minus))).loss!.data[0] as number;
      const fd = (lp - lm) / (2 * h);
      const rel = Math.abs(fd - ad[e]!) / Math.max(1e-3, Math.abs(fd) + Math.abs(ad[e]!));
      if (rel > maxRelErr) {
        maxRelErr = rel;
        worst = `${w.name}[${e}]: autodiff ${ad[e]} vs fd ${fd}`;
      }
    }
  }
  await sess.release();
  return { maxRelErr, worst };
}
