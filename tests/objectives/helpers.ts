// Test helpers for the objectives: compact rollout builders, seeded random batches and a
// central finite-difference gradient check.
import assert from 'node:assert/strict';
import { Rng } from '../../harness/util/rng.ts';
import type { Objective, Rollout, TokenValues } from '../../objectives/types.ts';

export interface R {
  group: string;
  reward: number;
  logp: number[];
  logpOld?: number[];
  logpRef?: number[];
}

/** Builds a batch and its logp arrays from compact specs (logpOld defaults to logp: on-policy). */
export function mk(specs: R[]): { batch: Rollout[]; logp: number[][] } {
  const batch = specs.map((s) => ({
    group: s.group, reward: s.reward, length: s.logp.length, truncated: false,
    logpOld: s.logpOld ?? s.logp.slice(), ...(s.logpRef ? { logpRef: s.logpRef } : {}),
  }));
  return { batch, logp: specs.map((s) => s.logp.slice()) };
}

export function close(actual: number, expected: number, tol = 1e-9, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what} expected ${expected}, got ${actual}`);
}

export function closeArr(actual: ArrayLike<number>, expected: number[], tol = 1e-9, what = ''): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) close(actual[i] as number, expected[i] as number, tol, `${what}[${i}]`);
}

/**
 * A random batch: `groups` prompts × `k` rollouts of 1..maxLen tokens, rewards mixing 0/1 (and
 * some 0.5), log-ratios l - o drawn away from the clip kinks (|rho - (1±eps)| > 0.03 for eps in
 * {0.2, 0.28}) so that finite differences never straddle one.
 */
export function randomBatch(seed: number, groups = 3, k = 4, maxLen = 4): { batch: Rollout[]; logp: number[][] } {
  const rng = new Rng(seed);
  const specs: R[] = [];
  const kinks = [0.8, 1.2, 1.28];
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < k; j++) {
      const n = 1 + rng.int(maxLen);
      const logp: number[] = [];
      const logpOld: number[] = [];
      const logpRef: number[] = [];
      for (let t = 0; t < n; t++) {
        const l = -0.1 - 2 * rng.next();
        let x: number;
        do x = 0.5 * rng.normal(); while (kinks.some((c) => Math.abs(Math.exp(x) - c) < 0.03));
        logp.push(l);
        logpOld.push(l - x);
        logpRef.push(l + 0.3 * rng.normal());
      }
      // Group 0 mixes correctness by construction; others are random (may be uniform).
      const reward = g === 0 ? j % 2 : rng.next() < 0.2 ? 0.5 : rng.int(2);
      specs.push({ group: `g${g}`, reward, logp, logpOld, logpRef });
    }
  }
  return mk(specs);
}

/** Central finite differences of obj.loss w.r.t. every logp entry, compared with the analytic grad. */
export function gradCheck<C>(obj: Objective<C>, cfg: C, batch: Rollout[], logp: number[][], h = 1e-5, tol = 1e-6): void {
  const res = obj.loss(batch, logp, cfg);
  for (let i = 0; i < logp.length; i++) {
    const li = logp[i] as number[];
    for (let t = 0; t < li.length; t++) {
      const x0 = li[t] as number;
      li[t] = x0 + h;
      const up = obj.loss(batch, logp, cfg).loss;
      li[t] = x0 - h;
      const down = obj.loss(batch, logp, cfg).loss;
      li[t] = x0;
      const fd = (up - down) / (2 * h);
      const an = (res.grad[i] as Float64Array)[t] as number;
      assert.ok(Math.abs(fd - an) <= tol * Math.max(1, Math.abs(fd)), `${obj.id} grad[${i}][${t}]: analytic ${an}, finite difference ${fd}`);
    }
  }
}

export function assertFinite(res: { loss: number; grad: Float64Array[]; metrics: Record<string, number> }, what: string): void {
  assert.ok(Number.isFinite(res.loss), `${what}: loss ${res.loss}`);
  res.grad.forEach((g, i) => g.forEach((v, t) => assert.ok(Number.isFinite(v), `${what}: grad[${i}][${t}] = ${v}`)));
  for (const [k, v] of Object.entries(res.metrics)) assert.ok(Number.isFinite(v), `${what}: metric ${k} = ${v}`);
}

export type { TokenValues };
