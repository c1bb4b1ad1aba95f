// The optimiser side of training, in plain TypeScript over flat Float32Array buffers: AdamW
// with decoupled weight decay (Loshchilov & Hutter) and bias correction, global-norm gradient
// clipping, and the learning-rate schedule. The parameter layout comes from ParamSpec, so the
// decay mask follows the model (matrices decay; norms, biases and position embeddings do not).
import type { ParamSpec } from './types.ts';

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: Omit<AdamWConfig, 'lr'> = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.0 };

/** What a checkpoint needs to continue an optimiser exactly. */
export interface AdamWState {
  t: number;
  m: Float32Array;
  v: Float32Array;
}

/** 1 where weight decay applies, 0 elsewhere, laid out like the flat parameter buffer. */
export function decayMask(specs: readonly ParamSpec[], size: number): Uint8Array {
  const mask = new Uint8Array(size);
  for (const s of specs) {
    if (s.offset < 0 || s.offset + s.size > size) throw new RangeError(`decayMask: parameter ${s.name} [${s.offset}, ${s.offset + s.size}) lies outside a buffer of ${size}`);
    if (s.decay) mask.fill(1, s.offset, s.offset + s.size);
  }
  return mask;
}

export class AdamW {
  readonly size: number;
  private readonly mask: Uint8Array;
  private m: Float32Array;
  private v: Float32Array;
  private t = 0;
  cfg: Omit<AdamWConfig, 'lr'>;

  constructor(size: number, mask: Uint8Array | null, cfg: Partial<Omit<AdamWConfig, 'lr'>> = {}) {
    this.size = size;
    this.mask = mask ?? new Uint8Array(size).fill(1);
    if (this.mask.length !== size) throw new RangeError(`AdamW: decay mask has ${this.mask.length} entries, parameters ${size}`);
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
    this.cfg = { ...ADAMW_DEFAULTS, ...cfg };
  }

  get steps(): number {
    return this.t;
  }

  /**
   * One update in place. Decay is decoupled: p <- p (1 - lr wd) before the Adam step, as in
   * torch.optim.AdamW, so it does not pass through the adaptive denominator.
   */
  step(params: Float32Array, grad: Float32Array, lr: number): void {
    if (params.length !== this.size || grad.length !== this.size) {
      throw new RangeError(`AdamW.step: expected ${this.size} parameters and gradients, got ${params.length} and ${grad.length}`);
    }
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    this.t += 1;
    const bc1 = 1 - Math.pow(beta1, this.t);
    const bc2 = 1 - Math.pow(beta2, this.t);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    const decay = 1 - lr * weightDecay;
    const { m, v, mask } = this;
    for (let i = 0; i < this.size; i++) {
      const g = grad[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * g;
      const vi = beta2 * v[i]! + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      let p = params[i]!;
      if (mask[i]) p *= decay;
      params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
    }
  }

  exportState(): AdamWState {
    return { t: this.t, m: this.m.slice(), v: this.v.slice() };
  }

  /**
   * The live state without a copy (2 × 4 bytes per parameter saved for a large model), for
   * writing a checkpoint at once; it changes with the next step.
   */
  stateView(): AdamWState {
    return { t: this.t, m: this.m, v: this.v };
  }

  /** Restores a state (copied; with `adopt`, its buffers are taken over as they are: a state just read from disk). */
  importState(s: AdamWState, opts: { adopt?: boolean } = {}): void {
    if (s.m.length !== this.size || s.v.length !== this.size) {
      throw new RangeError(`AdamW.importState: state holds ${s.m.length}/${s.v.length} moments, optimiser has ${this.size} parameters`);
    }
    if (!Number.isInteger(s.t) || s.t < 0) throw new RangeError(`AdamW.importState: bad step count ${s.t}`);
    this.t = s.t;
    this.m = opts.adopt ? s.m : s.m.slice();
    this.v = opts.adopt ? s.v : s.v.slice();
  }
}

export interface ClipResult {
  /** Global L2 norm before clipping (Infinity or NaN when the gradient is not finite). */
  norm: number;
  finite: boolean;
  /** The factor the gradient was multiplied by (1 when under the limit or not finite). */
  scale: number;
}

/**
 * Scales grad in place so its global L2 norm is at most maxNorm (same rule as
 * torch.nn.utils.clip_grad_norm_: factor maxNorm / (norm + 1e-6), capped at 1). A non-finite
 * gradient is left untouched and reported, so the caller can stop the run with a diagnostic.
 * maxNorm <= 0 or Infinity disables clipping but still measures.
 */
export function clipGradNorm(grad: Float32Array, maxNorm: number): ClipResult {
  let ss = 0;
  for (let i = 0; i < grad.length; i++) {
    const g = grad[i]!;
    ss += g * g;
  }
  const norm = Math.sqrt(ss);
  if (!Number.isFinite(norm)) return { norm, finite: false, scale: 1 };
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) return { norm, finite: true, scale: 1 };
  const scale = Math.min(1, maxNorm / (norm + 1e-6));
  if (scale < 1) for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! * scale;
  return { norm, finite: true, scale };
}

export interface LrSchedule {
  /** Peak learning rate. */
  lr: number;
  /** Linear warm-up from lr/warmup to lr over this many updates. */
  warmupSteps: number;
  decay: 'constant' | 'cosine';
  /** Cosine floor as a fraction of lr (0.1 means decay to lr/10). */
  minLrRatio: number;
}

/**
 * Learning rate for update `step` (0-based). Warm-up is counted in updates; the cosine phase
 * is driven by `progress` in [0, 1], the fraction of the run's budget consumed, so that it
 * works the same whether the budget is steps, rollouts or tokens.
 */
export function learningRate(s: LrSchedule, step: number, progress: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.decay === 'constant') return s.lr;
  const p = Math.min(1, Math.max(0, progress));
  const floor = s.lr * s.minLrRatio;
  return floor + 0.5 * (1 + Math.cos(Math.PI * p)) * (s.lr - floor);
}
