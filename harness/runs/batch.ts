// Packing (prompt, response) pairs into one left-padded TokenBatch, and moving per-token
// numbers between the engine's [batch, time-1] matrices and per-response arrays. Rollouts,
// SFT and the trainer all use this one layout, so a response token's log-prob sits at the same
// place in every graph call.
import type { TokenBatch } from '../engine/types.ts';

export interface Sequence {
  prompt: Int32Array;
  response: Int32Array;
}

export interface PackedBatch {
  batch: TokenBatch;
  /** Column where every response starts (all prompts are left-padded to end at promptWidth-1). */
  promptWidth: number;
  /** Response length per row. */
  lengths: Int32Array;
}

/**
 * Rows are [PAD × (P - |prompt|)] prompt response [PAD × (R - |response|)], with P and R the
 * longest prompt and response. Left padding puts the first response token of every row in
 * column P, so its log-prob is entry P-1 of that row of the [batch, time-1] output.
 */
export function packSequences(seqs: readonly Sequence[], pad: number, minTime = 0): PackedBatch {
  if (seqs.length === 0) throw new RangeError('packSequences: empty batch');
  let P = 0;
  let R = 0;
  for (const s of seqs) {
    if (s.prompt.length === 0) throw new RangeError('packSequences: empty prompt (it needs at least BOS)');
    P = Math.max(P, s.prompt.length);
    R = Math.max(R, s.response.length);
  }
  const B = seqs.length;
  const T = Math.max(P + R, minTime, 2);
  const tokens = new Int32Array(B * T).fill(pad);
  const offsets = new Int32Array(B);
  const lengths = new Int32Array(B);
  seqs.forEach((s, b) => {
    const off = P - s.prompt.length;
    offsets[b] = off;
    lengths[b] = s.response.length;
    tokens.set(s.prompt, b * T + off);
    tokens.set(s.response, b * T + P);
  });
  return { batch: { tokens, batch: B, time: T, offsets }, promptWidth: P, lengths };
}

/** Per-response slices (copies) of a [batch, time-1] matrix at the response positions. */
export function gatherResponse(packed: PackedBatch, m: Float32Array): Float32Array[] {
  const W = packed.batch.time - 1;
  const out: Float32Array[] = [];
  for (let b = 0; b < packed.batch.batch; b++) {
    const start = b * W + packed.promptWidth - 1;
    out.push(m.slice(start, start + packed.lengths[b]!));
  }
  return out;
}

/**
 * The inverse: a [batch, time-1] weight matrix holding values[b][t] at response token t of
 * row b and zeros elsewhere (prompt and padding get no gradient).
 */
export function scatterResponse(packed: PackedBatch, values: readonly ArrayLike<number>[]): Float32Array {
  const W = packed.batch.time - 1;
  const w = new Float32Array(packed.batch.batch * W);
  for (let b = 0; b < packed.batch.batch; b++) {
    const v = values[b]!;
    const len = packed.lengths[b]!;
    if (v.length !== len) throw new RangeError(`scatterResponse: row ${b} has ${len} response tokens, got ${v.length} values`);
    const start = b * W + packed.promptWidth - 1;
    for (let t = 0; t < len; t++) w[start + t] = v[t]!;
  }
  return w;
}
