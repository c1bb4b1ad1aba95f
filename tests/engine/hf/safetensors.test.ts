// safetensors: every F16 and BF16 bit pattern survives widening to float32 and narrowing back
// (so load → save is bit-exact), narrowing rounds to nearest even, and malformed files are
// refused with the file and tensor named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, f16ToF32, f32ToBf16, f32ToF16, readSafetensorsHeader, readTensorInto, writeSafetensors } from '../../../harness/engine/hf/safetensors.ts';
import { tmp } from './helpers.ts';

const bf16ToF32 = (h: number) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;

test('all 65,536 F16 and BF16 bit patterns round-trip through float32 exactly (NaNs stay NaN)', () => {
  for (let h = 0; h < 65536; h++) {
    const x = f16ToF32(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16ToF32(f32ToF16(x))));
    else assert.equal(f32ToF16(x), h, `F16 0x${h.toString(16)}`);
    const y = bf16ToF32(h);
    if (Number.isNaN(y)) assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(y))));
    else assert.equal(f32ToBf16(y), h, `BF16 0x${h.toString(16)}`);
  }
});

test('narrowing rounds to nearest, ties to even, and overflows to infinity', () => {
  // BF16 keeps 8 significant bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 → even (1).
  assert.equal(bf16ToF32(f32ToBf16(1 + 2 ** -8)), 1);
  assert.equal(bf16ToF32(f32ToBf16(1 + 3 * 2 ** -8)), 1 + 2 ** -6); // tie → even mantissa
  assert.equal(bf16ToF32(f32ToBf16(1 + 2 ** -8 + 2 ** -20)), 1 + 2 ** -7); // above the tie
  // F16: 2049 is a tie between 2048 and 2050 → 2048; 2051 → 2052; max finite 65504.
  assert.equal(f16ToF32(f32ToF16(2049)), 2048);
  assert.equal(f16ToF32(f32ToF16(2051)), 2052);
  assert.equal(f16ToF32(f32ToF16(65519)), 65504);
  assert.equal(f16ToF32(f32ToF16(65520)), Infinity);
  assert.equal(f16ToF32(f32ToF16(-1e6)), -Infinity);
  assert.equal(f16ToF32(f32ToF16(2 ** -24)), 2 ** -24); // smallest subnormal
  assert.equal(f16ToF32(f32ToF16(2 ** -26)), 0); // below half of it
  assert.equal(f16ToF32(f32ToF16(3 * 2 ** -26)), 2 ** -24); // above half of it
});

test('a written file reads back (header, metadata, values) in every dtype', () => {
  const dir = tmp('st');
  const data = Float32Array.from({ length: 12 }, (_, i) => (i - 5) * 0.375);
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const path = join(dir, `${dtype}.safetensors`);
    writeSafetensors(path, [{ name: 'w', shape: [3, 4], data }, { name: 'b', shape: [2], data: Float32Array.of(1, -2) }], dtype, { format: 'pt', note: 'x' });
    const f = readSafetensorsHeader(path);
    assert.deepEqual(f.metadata, { format: 'pt', note: 'x' });
    assert.deepEqual(f.tensors.get('w')!.shape, [3, 4]);
    assert.equal(f.tensors.get('w')!.dtype, dtype);
    const out = new Float32Array(12);
    readTensorInto(f.tensors.get('w')!, out);
    assert.deepEqual([...out], [...data]); // these values are exact in all three dtypes
  }
  rmSync(dir, { recursive: true });
});

test('malformed files are refused with the file and tensor named', () => {
  const dir = tmp('st-bad');
  const good = encodeSafetensors([{ name: 'w', shape: [4], data: new Float32Array(4) }], 'F32');
  const p = join(dir, 'x.safetensors');
  writeFileSync(p, good.subarray(0, good.length - 3));
  assert.throws(() => readSafetensorsHeader(p), /x\.safetensors: tensor 'w' has data_offsets \[0, 16\] outside the 13-byte data section/);
  writeFileSync(p, Buffer.from([1, 2, 3]));
  assert.throws(() => readSafetensorsHeader(p), /3 bytes is too short for a safetensors file/);
  const big = Buffer.from(good);
  big.writeBigUInt64LE(10n ** 9n, 0);
  writeFileSync(p, big);
  assert.throws(() => readSafetensorsHeader(p), /header length 1000000000 does not fit the file/);
  const hdr = (h: object) => {
    const j = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(j.length));
    return Buffer.concat([len, j, Buffer.alloc(64)]);
  };
  writeFileSync(p, hdr({ w: { dtype: 'F16', shape: [4], data_offsets: [0, 16] } }));
  assert.throws(() => readSafetensorsHeader(p), /tensor 'w' \(F16 \[4\]\) should take 8 bytes, its data_offsets give 16/);
  writeFileSync(p, hdr({ w: { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }));
  assert.throws(() => readTensorInto(readSafetensorsHeader(p).tensors.get('w')!, new Float32Array(4)), /tensor 'w' has dtype I8; supported: F32, F16, BF16/);
  writeFileSync(p, hdr({ w: { dtype: 'F32', shape: 'x' } }));
  assert.throws(() => readSafetensorsHeader(p), /tensor 'w' has a malformed header entry/);
  rmSync(dir, { recursive: true });
});
