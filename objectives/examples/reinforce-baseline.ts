// Example objective plugin: REINFORCE with the group-mean reward as baseline.
// Williams 1992, "Simple Statistical Gradient-Following Algorithms for Connectionist
// Reinforcement Learning", Machine Learning 8:229-256. The leave-one-out baseline option is
// RLOO (Kool et al. 2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!"; Ahmadian et al.
// 2024, arXiv:2402.14740).
//
//   b_i  = mean_g r                (leaveOneOut: mean of the other rollouts' rewards)
//   A_i  = r_i - b_i               (a group of one gets A = 0)
//   loss = -(1/R) sum_i A_i sum_t l_it          gradient: dloss/dl_it = -A_i / R
//
// This file is the template for your own objective: one module, default-exporting an object
// with id, title, reference, a JSON Schema for its settings (additionalProperties: false;
// defaults are filled by the registry), needsReference and loss. Use it in an experiment with
// `"objective": "./path/to/your-objective.ts"`, or try it with
// `rlbench objective eval --input batch.json` where batch.json has "objective": "<path>".
// It needs nothing from rlbench at run time; the type import below is erased.
import type { LossResult, Objective, Rollout, TokenValues } from '../types.ts';

interface ReinforceConfig {
  leaveOneOut: boolean;
}

const reinforceBaseline: Objective<ReinforceConfig> = {
  id: 'reinforce-baseline',
  title: 'REINFORCE with group-mean baseline',
  reference: 'Williams 1992, Machine Learning 8:229-256',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      leaveOneOut: { type: 'boolean', default: false, description: 'baseline = mean of the other rollouts of the group (RLOO)' },
    },
  },
  needsReference: () => false,
  loss(batch: readonly Rollout[], logp: readonly TokenValues[], cfg: ReinforceConfig): LossResult {
    const byGroup = new Map<string, number[]>();
    batch.forEach((r, i) => {
      const g = byGroup.get(r.group) ?? [];
      g.push(i);
      byGroup.set(r.group, g);
    });
    const adv = new Float64Array(batch.length);
    for (const g of byGroup.values()) {
      if (g.length < 2) continue;
      let sum = 0;
      for (const i of g) sum += batch[i].reward;
      for (const i of g) {
        const r = batch[i].reward;
        adv[i] = cfg.leaveOneOut ? r - (sum - r) / (g.length - 1) : r - sum / g.length;
      }
    }
    const R = batch.length;
    let loss = 0;
    const grad = batch.map((r, i) => {
      const l = logp[i];
      let s = 0;
      for (let t = 0; t < r.length; t++) s += l[t];
      loss -= (adv[i] * s) / R;
      return new Float64Array(r.length).fill(-adv[i] / R);
    });
    let absAdv = 0;
    for (const a of adv) absAdv += Math.abs(a);
    return { loss, grad, metrics: { advAbsMean: R ? absAdv / R : 0 } };
  },
};

export default reinforceBaseline;
