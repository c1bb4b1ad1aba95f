// The graph builder: typed values (dtype + shape, with symbolic dims such as 'B' and 'T'),
// nodes in creation order (which is always a topological order), graph inputs, outputs and
// constants. Operators with shape inference live in ops.ts; serialisation in serialize.ts.

export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool';
export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64'];

/** A dimension: a known size, or a symbol named after what it counts ('B', 'T', 'B*T'). */
export type Dim = number | string;
export type Shape = Dim[];

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: ConstData };

export type ConstData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface Node {
  op: string;
  domain: string;
  inputs: (Value | null)[];
  outputs: Value[];
  attrs: Record<string, AttrValue>;
}

export class Value {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    /** Renamed (only) when a computed value becomes a named graph output. */
    public name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** The node that produced it; null for inputs and constants. */
    readonly producer: Node | null,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
  toString(): string {
    return `${this.name}:${this.dtype}[${this.shape.join(',')}]`;
  }
}

export interface Constant {
  value: Value;
  data: ConstData;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly constants: Constant[] = [];
  private nextId = 0;
  private names = new Set<string>();

  constructor(readonly name = 'graph') {}

  private fresh(hint: string): string {
    let name = hint;
    while (this.names.has(name)) name = `${hint}_${this.nextId++}`;
    this.names.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: duplicate input name '${name}'`);
    const v = new Value(this, this.nextId++, this.fresh(name), dtype, [...shape], null);
    this.inputs.push(v);
    return v;
  }

  /** A constant tensor, serialised as an initialiser. */
  constant(dtype: DType, shape: number[], values: ArrayLike<number> | ArrayLike<bigint>, hint = 'const'): Value {
    const size = shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) throw new Error(`graph ${this.name}: constant of shape [${shape}] needs ${size} values, got ${values.length}`);
    const data = toConstData(dtype, values);
    const v = new Value(this, this.nextId++, this.fresh(hint), dtype, [...shape], null);
    this.constants.push({ value: v, data });
    return v;
  }

  /** Scalar constants and int64 vectors (axes, shapes) are shared: one initialiser per value. */
  private shared = new Map<string, Value>();

  scalar(dtype: DType, x: number): Value {
    const key = `${dtype}:${Object.is(x, -0) ? '-0' : x}`;
    let v = this.shared.get(key);
    if (!v) this.shared.set(key, (v = this.constant(dtype, [], [x], 'scalar')));
    return v;
  }

  ints(values: number[]): Value {
    const key = `ints:${values.join(',')}`;
    let v = this.shared.get(key);
    if (!v) this.shared.set(key, (v = this.constant('int64', [values.length], values.map((x) => BigInt(x)), 'ints')));
    return v;
  }

  /** Appends a node. `outs` gives each output's dtype and shape (inferred by the op in ops.ts). */
  node(op: string, inputs: (Value | null)[], outs: { dtype: DType; shape: Shape }[], attrs: Record<string, AttrValue> = {}, domain = ''): Value[] {
    for (const x of inputs) {
      if (x && x.graph !== this) throw new Error(`${op}: input ${x} belongs to another graph`);
    }
    const node: Node = { op, domain, inputs, outputs: [], attrs };
    for (const o of outs) node.outputs.push(new Value(this, this.nextId++, this.fresh(`${op.toLowerCase()}${this.nextId}`), o.dtype, [...o.shape], node));
    this.nodes.push(node);
    return node.outputs;
  }

  output(v: Value, name?: string): Value {
    if (name && name !== v.name) {
      if (this.names.has(name)) throw new Error(`graph ${this.name}: output name '${name}' already used`);
      this.names.add(name);
      if (v.producer && !this.outputs.includes(v)) {
        // Rename in place: an Identity would copy the tensor (a whole KV cache, say).
        v.name = name;
      } else {
        const node: Node = { op: 'Identity', domain: '', inputs: [v], outputs: [], attrs: {} };
        const out = new Value(this, this.nextId++, name, v.dtype, [...v.shape], node);
        node.outputs.push(out);
        this.nodes.push(node);
        v = out;
      }
    }
    this.outputs.push(v);
    return v;
  }
}

export function toConstData(dtype: DType, values: ArrayLike<number> | ArrayLike<bigint>): ConstData {
  const n = values.length;
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values as ArrayLike<number>);
    case 'float64':
      return Float64Array.from(values as ArrayLike<number>);
    case 'int32':
      return Int32Array.from(values as ArrayLike<number>);
    case 'bool':
      return Uint8Array.from(values as ArrayLike<number>);
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(values[i] as number | bigint);
      return out;
    }
  }
}

export function shapeStr(s: Shape): string {
  return `[${s.join(',')}]`;
}

/** Product of dims; symbolic when any factor is. */
export function dimProduct(dims: Shape): Dim {
  let n = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return n;
  if (n === 1) return syms.join('*');
  return [String(n), ...syms].join('*');
}
