// safetensors, the weight format of Hugging Face checkpoints: an 8-byte little-endian header
// length N, N bytes of JSON ({name: {dtype, shape, data_offsets: [begin, end]}} plus an optional
// "__metadata__" of strings), then the raw little-endian tensor bytes. We read F32, F16 and BF16
// into float32 (exact widening) and write any of the three (round-to-nearest-even narrowing),
// one file or shards with model.safetensors.index.json as transformers writes them. Files are
// read with positioned reads, so a multi-GB shard never has to fit in one Buffer.
import { closeSync, existsSync, fstatSync, openSync, readSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../util/errors.ts';
import { writeFileAtomicWith, writeJsonAtomic } from '../../util/fs.ts';

export type SafeDType = 'F32' | 'F16' | 'BF16';
export const SAFE_DTYPES: readonly SafeDType[] = ['F32', 'F16', 'BF16'];
const BYTES: Record<SafeDType, number> = { F32: 4, F16: 2, BF16: 2 };

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
  file: string;
}

export interface SafetensorsFile {
  path: string;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** Largest header we accept (the format's own reference implementation caps it at 100 MB). */
const MAX_HEADER = 100_000_000;

function readExactly(fd: number, buf: Uint8Array, pos: number, path: string): void {
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, pos + off);
    if (n === 0) throw new UsageError(`${path}: file ends at byte ${pos + off}, expected ${buf.length - off} more bytes (truncated download?)`);
    off += n;
  }
}

/** Reads and checks a safetensors header (every tensor's range must lie inside the file). */
export function readSafetensorsHeader(path: string): SafetensorsFile {
  if (!existsSync(path)) throw new UsageError(`${path}: file not found`);
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new UsageError(`${path}: ${size} bytes is too short for a safetensors file`);
    const lenBuf = Buffer.alloc(8);
    readExactly(fd, lenBuf, 0, path);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n > MAX_HEADER || 8 + n > size) throw new UsageError(`${path}: header length ${n} does not fit the file (${size} bytes); not a safetensors file?`);
    const hb = Buffer.alloc(n);
    readExactly(fd, hb, 8, path);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(hb.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`${path}: header is not valid JSON (${(e as Error).message})`);
    }
    const base = 8 + n;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const shape = t.shape, offs = t.data_offsets;
      if (typeof t.dtype !== 'string' || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0) || !Array.isArray(offs) || offs.length !== 2) {
        throw new UsageError(`${path}: tensor '${name}' has a malformed header entry ${JSON.stringify(v)}`);
      }
      const [b, e] = offs as number[];
      if (!(Number.isInteger(b) && Number.isInteger(e) && 0 <= b! && b! <= e! && base + e! <= size)) {
        throw new UsageError(`${path}: tensor '${name}' has data_offsets [${b}, ${e}] outside the ${size - base}-byte data section`);
      }
      const count = (shape as number[]).reduce((a, d) => a * d, 1);
      const bytes = BYTES[t.dtype as SafeDType];
      if (bytes !== undefined && count * bytes !== e! - b!) {
        throw new UsageError(`${path}: tensor '${name}' (${t.dtype} [${shape}]) should take ${count * bytes} bytes, its data_offsets give ${e! - b!}`);
      }
      tensors.set(name, { name, dtype: t.dtype, shape: shape as number[], begin: base + b!, end: base + e!, file: path });
    }
    return { path, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** BF16 bits to float32: the upper half of the float32's bits (exact). */
function bf16ToF32(src: Uint16Array, dst: Float32Array): void {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
}

/** IEEE half to float32 (exact, subnormals and infinities included). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 to BF16 bits, round to nearest even (NaN stays a quiet NaN). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 to IEEE half bits, round to nearest even, overflow to infinity. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** Reads one tensor into `dst` (float32, exact for F32/F16/BF16). */
export function readTensorInto(info: TensorInfo, dst: Float32Array): void {
  const count = info.shape.reduce((a, d) => a * d, 1);
  if (dst.length !== count) throw new Error(`readTensorInto: ${info.name} has ${count} values, destination ${dst.length}`);
  if (!(info.dtype in BYTES)) throw new UsageError(`${info.file}: tensor '${info.name}' has dtype ${info.dtype}; supported: F32, F16, BF16`);
  const fd = openSync(info.file, 'r');
  try {
    const CHUNK = 1 << 24; // 16 MiB per positioned read
    const bytes = BYTES[info.dtype as SafeDType];
    const per = Math.floor(CHUNK / bytes);
    const buf = Buffer.alloc(Math.min(count, per) * bytes);
    for (let i0 = 0; i0 < count; i0 += per) {
      const n = Math.min(per, count - i0);
      const view = buf.subarray(0, n * bytes);
      readExactly(fd, view, info.begin + i0 * bytes, info.file);
      const out = dst.subarray(i0, i0 + n);
      if (info.dtype === 'F32') new Uint8Array(out.buffer, out.byteOffset, n * 4).set(view);
      else {
        // Copy to an aligned array first: the Buffer's offset may be odd.
        const h = new Uint16Array(n);
        new Uint8Array(h.buffer).set(view);
        if (info.dtype === 'BF16') bf16ToF32(h, out);
        else for (let i = 0; i < n; i++) out[i] = f16ToF32(h[i]!);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The tensors of a checkpoint folder: `model.safetensors`, or the shards listed by
 * `model.safetensors.index.json`. A tensor that appears twice, or a shard that is missing, is an
 * error naming the file.
 */
export function readCheckpointIndex(dir: string): Map<string, TensorInfo> {
  const single = join(dir, 'model.safetensors');
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (existsSync(indexPath)) {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new UsageError(`${indexPath}: not valid JSON (${(e as Error).message})`);
    }
    if (!index.weight_map || typeof index.weight_map !== 'object') throw new UsageError(`${indexPath}: no "weight_map"`);
    const out = new Map<string, TensorInfo>();
    const files = [...new Set(Object.values(index.weight_map))];
    for (const f of files) {
      const path = join(dir, f);
      if (!existsSync(path)) throw new UsageError(`${path}: shard listed in ${indexPath} not found`);
      for (const [name, t] of readSafetensorsHeader(path).tensors) {
        if (out.has(name)) throw new UsageError(`${path}: tensor '${name}' also appears in ${out.get(name)!.file}`);
        out.set(name, t);
      }
    }
    for (const [name, f] of Object.entries(index.weight_map)) {
      if (out.get(name)?.file !== join(dir, f)) throw new UsageError(`${indexPath}: tensor '${name}' is mapped to ${f} but not found there`);
    }
    return out;
  }
  if (existsSync(single)) return readSafetensorsHeader(single).tensors;
  throw new UsageError(`${dir}: no model.safetensors or model.safetensors.index.json (is this a Hugging Face checkpoint folder?)`);
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The header of a safetensors file for these tensors in `dtype` (JSON padded to 8 bytes with spaces, as torch does). */
function encodeHeader(tensors: readonly TensorToWrite[], dtype: SafeDType, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (n !== t.data.length) throw new Error(`safetensors: ${t.name} has ${t.data.length} values for shape [${t.shape}]`);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + n * BYTES[dtype]] };
    off += n * BYTES[dtype];
  }
  let hj = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (hj.length % 8)) % 8;
  if (pad) hj = Buffer.concat([hj, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + hj.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hj.length), true);
  out.set(hj, 8);
  return out;
}

/** Streams the bytes of a safetensors file to `write`, converting at most 4M values at a time. */
function streamSafetensors(tensors: readonly TensorToWrite[], dtype: SafeDType, write: (chunk: Uint8Array) => void, metadata: Record<string, string> = { format: 'pt' }): void {
  write(encodeHeader(tensors, dtype, metadata));
  const CHUNK = 1 << 22;
  for (const t of tensors) {
    if (dtype === 'F32') {
      write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      continue;
    }
    const conv = dtype === 'BF16' ? f32ToBf16 : f32ToF16;
    const h = new Uint16Array(Math.min(CHUNK, t.data.length));
    for (let i0 = 0; i0 < t.data.length; i0 += CHUNK) {
      const n = Math.min(CHUNK, t.data.length - i0);
      for (let i = 0; i < n; i++) h[i] = conv(t.data[i0 + i]!);
      write(new Uint8Array(h.buffer, 0, n * 2));
    }
  }
}

/** One safetensors file in memory (small tensors: tests, fixtures). */
export function encodeSafetensors(tensors: readonly TensorToWrite[], dtype: SafeDType, metadata?: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  streamSafetensors(tensors, dtype, (c) => parts.push(Uint8Array.from(c)), metadata);
  return Buffer.concat(parts);
}

/** Writes one safetensors file atomically, streaming (no full copy of the weights in memory). */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], dtype: SafeDType, metadata?: Record<string, string>): void {
  writeFileAtomicWith(path, (write) => streamSafetensors(tensors, dtype, write, metadata));
}

/**
 * Writes tensors into `dir` as transformers does: one `model.safetensors` when the total is at
 * most `maxShardBytes`, else `model-0000i-of-0000n.safetensors` shards plus
 * `model.safetensors.index.json` (written last, so its presence means complete shards).
 */
export function writeCheckpointTensors(dir: string, tensors: readonly TensorToWrite[], dtype: SafeDType, maxShardBytes = 5 * 2 ** 30, metadata: Record<string, string> = { format: 'pt' }): string[] {
  const size = (t: TensorToWrite) => t.data.length * BYTES[dtype];
  const shards: TensorToWrite[][] = [[]];
  let cur = 0;
  for (const t of tensors) {
    if (cur > 0 && cur + size(t) > maxShardBytes) {
      shards.push([]);
      cur = 0;
    }
    shards[shards.length - 1]!.push(t);
    cur += size(t);
  }
  if (shards.length === 1) {
    writeSafetensors(join(dir, 'model.safetensors'), tensors, dtype, metadata);
    return ['model.safetensors'];
  }
  const names = shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    writeSafetensors(join(dir, names[i]!), s, dtype, metadata);
    for (const t of s) weightMap[t.name] = names[i]!;
  });
  const total = tensors.reduce((a, t) => a + size(t), 0);
  writeJsonAtomic(join(dir, 'model.safetensors.index.json'), { metadata: { total_size: total }, weight_map: weightMap });
  return [...names, 'model.safetensors.index.json'];
}
