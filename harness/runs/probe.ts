// The same-rollout gradient probe: one batch of groups sampled once by the shared rollout engine
// from a checkpoint, graded, scored at the behaviour weights (l = o, at the rollout temperature)
// and given to every objective of an experiment. For each objective: the per-rollout weights
// w_i = −Σ_t dL/dlogp_it (positive: the update makes rollout i more likely), by correctness; the
// parameter gradient ∇θ L, which is the gradient of Σ (dL/dlogp)·logp at this point, from the one
// backward pass every objective shares; its norm; and the cosine similarity between the
// objectives' gradients. It answers "how does NCE reweigh the rollouts that GRPO sees?" directly.
// Filters are not applied (every objective sees every group; DAPO's and ReNCE's losses give the
// groups they would drop zero weight themselves).
import type { ResolvedObjective } from './experiment.ts';
import type { PolicyEngine } from '../engine/types.ts';
import type { Grader, Problem } from '../tasks/types.ts';
import type { CharTokenizer } from '../tasks/tokenizer.ts';
import { Rng } from '../util/rng.ts';
import { RunError } from '../util/errors.ts';
import { PROBE_FORMAT, type ProbeObjective, type ProbeResult, type Spread } from '../report/probe.ts';
import { gatherResponse, packSequences, scatterResponse } from './batch.ts';
import { encodePrompt } from './data.ts';
import type { RolloutEngine } from './rollout.ts';
import type { TrainRollout } from './trainer.ts';

export interface ProbeInput {
  policy: PolicyEngine;
  rollout: RolloutEngine;
  tokenizer: CharTokenizer;
  grader: Grader;
  /** The policy that samples (the behaviour weights). */
  params: Float32Array;
  /** The reference policy for objectives with a KL term or DPO's implicit reward. */
  refParams: Float32Array;
  problems: readonly Problem[];
  objectives: readonly ResolvedObjective[];
  sampling: { rolloutsPerPrompt: number; temperature: number; topP: number; maxTokens: number };
  seed: number;
  /** For the record: where the weights and the experiment came from. */
  checkpoint: string;
  experiment: string;
}

function spread(xs: readonly number[]): Spread {
  if (!xs.length) return { n: 0, mean: NaN, min: NaN, max: NaN };
  let s = 0, lo = Infinity, hi = -Infinity;
  for (const x of xs) { s += x; lo = Math.min(lo, x); hi = Math.max(hi, x); }
  return { n: xs.length, mean: s / xs.length, min: lo, max: hi };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Cosine of two gradients in double precision; null when either is exactly zero. */
export function cosine(a: Float32Array, b: Float32Array): number | null {
  const na = Math.sqrt(dot(a, a)), nb = Math.sqrt(dot(b, b));
  return na > 0 && nb > 0 ? dot(a, b) / (na * nb) : null;
}

export async function probeObjectives(inp: ProbeInput): Promise<ProbeResult> {
  const { policy, tokenizer: tok, sampling } = inp;
  if (inp.problems.length === 0) throw new RunError('probe: no prompts');
  if (inp.objectives.length === 0) throw new RunError('probe: the experiment has no objectives');
  const K = sampling.rolloutsPerPrompt;
  const gens = await inp.rollout.generate({
    params: inp.params, prompts: inp.problems.map((p) => encodePrompt(tok, p)), samples: K,
    sampling: { temperature: sampling.temperature, topP: sampling.topP, maxTokens: sampling.maxTokens },
    rng: new Rng(inp.seed).fork('probe'), behaviourLogprobs: false,
  });
  const batch: TrainRollout[] = gens.map((g) => {
    const correct = inp.grader.grade(g.text, inp.problems[g.promptIndex]!.answer).correct;
    return { group: String(g.promptIndex), length: g.tokens.length, tokens: g.tokens, prompt: g.prompt, text: g.text, logpOld: new Float32Array(0), reward: correct ? 1 : 0, correct, truncated: g.truncated };
  });
  // One packing for everything, so logpOld, logpRef and every gradient see the same layout.
  const packed = packSequences(batch.map((r) => ({ prompt: r.prompt, response: r.tokens })), tok.pad);
  const T = { temperature: sampling.temperature };
  const old = gatherResponse(packed, (await policy.logprobs(inp.params, packed.batch, T)).logp);
  const ref = gatherResponse(packed, (await policy.logprobs(inp.refParams, packed.batch, T)).logp);
  batch.forEach((r, i) => { r.logpOld = old[i]!; r.logpRef = ref[i]!; });

  const objectives: ProbeObjective[] = [];
  const grads: Float32Array[] = [];
  for (const o of inp.objectives) {
    const state = o.objective.initialState?.(o.config);
    const res = o.objective.loss(batch, old, o.config, state);
    const weights = res.grad.map((g) => 0 - g.reduce((a, x) => a + x, 0)); // 0 − x: never −0
    const { grad } = await policy.gradWeightedLogprob(inp.params, packed.batch, scatterResponse(packed, res.grad), T);
    grads.push(grad);
    const w = (c: boolean) => weights.filter((_, i) => batch[i]!.correct === c);
    const abs = weights.reduce((a, x) => a + Math.abs(x), 0);
    const signed = weights.reduce((a, x, i) => a + (batch[i]!.correct ? x : -x), 0);
    objectives.push({
      name: o.name, id: o.objective.id, title: o.objective.title, loss: res.loss,
      gradNorm: Math.sqrt(dot(grad, grad)), weights,
      correct: spread(w(true)), incorrect: spread(w(false)),
      contrast: abs > 0 ? signed / abs : 0,
    });
  }
  return {
    format: PROBE_FORMAT, experiment: inp.experiment, checkpoint: inp.checkpoint,
    prompts: inp.problems.length, rolloutsPerPrompt: K, temperature: sampling.temperature, seed: inp.seed,
    rollouts: batch.map((r) => ({ prompt: Number(r.group), correct: r.correct, length: r.length })),
    accuracy: batch.filter((r) => r.correct).length / batch.length,
    objectives,
    cosine: grads.map((a) => grads.map((b) => cosine(a, b))),
    createdAt: new Date().toISOString(),
  };
}
