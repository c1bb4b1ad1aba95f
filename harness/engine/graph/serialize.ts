// Serialises a builder Graph to an ONNX ModelProto (onnx-proto), bytes that
// InferenceSession.create() loads from memory. Constants become initialisers; graph inputs
// listed in `initializers` are frozen into initialisers too (how checkpoints embed weights).
import onnxProto from 'onnx-proto';
import { type ConstData, type Dim, type Graph, type Node, type Value, type AttrValue } from './builder.ts';
import { dtypeCode } from './ops.ts';

const { onnx } = onnxProto;
export const OPSET = 18;

function rawBytes(data: ConstData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function dataDtypeCode(data: ConstData): number {
  if (data instanceof Float32Array) return 1;
  if (data instanceof Float64Array) return 11;
  if (data instanceof Int32Array) return 6;
  if (data instanceof BigInt64Array) return 7;
  return 9;
}

function tensorProto(name: string, dataType: number, dims: number[], data: ConstData) {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: rawBytes(data) });
}

function valueInfo(v: Value) {
  const dim = v.shape.map((d: Dim) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: { tensorType: { elemType: dtypeCode(v.dtype), shape: { dim } } },
  });
}

function attribute(name: string, a: AttrValue) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof a === 'number') return { name, type: T.INT, i: a };
  if (typeof a === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(a) };
  if (Array.isArray(a)) return { name, type: T.INTS, ints: a };
  if ('float' in a) return { name, type: T.FLOAT, f: a.float };
  if ('floats' in a) return { name, type: T.FLOATS, floats: a.floats };
  return { name, type: T.TENSOR, t: tensorProto('', dataDtypeCode(a.tensor), [a.tensor.length], a.tensor) };
}

export interface SerializeOptions {
  /** Graph inputs to embed as initialisers (e.g. weights in a checkpoint). */
  initializers?: Map<Value, ConstData>;
  docString?: string;
}

/** Nodes some output depends on, in order (builders and autodiff may leave dead ones). */
function liveNodes(graph: Graph): Node[] {
  const need = new Set<Value>(graph.outputs);
  const keep: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i]!;
    if (!n.outputs.some((o) => need.has(o))) continue;
    keep.push(n);
    for (const x of n.inputs) if (x) need.add(x);
  }
  return keep.reverse();
}

export function serializeGraph(graph: Graph, opts: SerializeOptions = {}): Uint8Array {
  const frozen = opts.initializers ?? new Map<Value, ConstData>();
  const nodes = liveNodes(graph);
  const used = new Set<Value>(graph.outputs);
  for (const n of nodes) for (const x of n.inputs) if (x) used.add(x);
  const initializer = graph.constants.filter((c) => used.has(c.value)).map((c) => tensorProto(c.value.name, dtypeCode(c.value.dtype), c.value.shape as number[], c.data));
  for (const [v, data] of frozen) {
    if (!v.shape.every((d) => typeof d === 'number')) throw new Error(`serialize: initialiser ${v.name} needs a static shape`);
    initializer.push(tensorProto(v.name, dtypeCode(v.dtype), v.shape as number[], data));
  }
  const usesMs = nodes.some((n) => n.domain === 'com.microsoft');
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'rlbench',
    docString: opts.docString ?? '',
    opsetImport: [{ domain: '', version: OPSET }, ...(usesMs ? [{ domain: 'com.microsoft', version: 1 }] : [])],
    graph: {
      name: graph.name,
      input: graph.inputs.filter((v) => !frozen.has(v)).map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer,
      node: nodes.map((n, i) => ({
        name: `n${i}_${n.op}`,
        opType: n.op,
        domain: n.domain,
        input: n.inputs.map((x) => (x ? x.name : '')),
        output: n.outputs.map((x) => x.name),
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Reads the initialisers of a serialised model back, by name (checkpoint loading). */
export function readInitializers(bytes: Uint8Array): Map<string, { dataType: number; dims: number[]; data: Uint8Array }> {
  const model = onnx.ModelProto.decode(bytes);
  const out = new Map<string, { dataType: number; dims: number[]; data: Uint8Array }>();
  for (const t of model.graph?.initializer ?? []) {
    out.set(t.name ?? '', { dataType: t.dataType ?? 0, dims: (t.dims ?? []).map(Number), data: t.rawData ?? new Uint8Array() });
  }
  return out;
}
