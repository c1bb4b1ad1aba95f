// Micro-benchmark of the objectives (`npm run bench:micro`): loss + grad per objective on a
// trainer-sized batch, 256 prompts × 8 rollouts × 512 tokens with Float32Array inputs as the
// engine hands them over. Reports the median time per call in ns per token; the target is
// < 50 ns/token so that the objective never matters beside the model. `--json` prints JSON.
// Besides wall time (tinybench's median) it records the process CPU time of each call: on a
// shared machine a descheduled process inflates wall time but not CPU time.
import { Bench } from 'tinybench';
import { Rng } from '../../harness/util/rng.ts';
import { getObjective, resolveObjectiveConfig } from '../../objectives/registry.ts';
import type { Rollout } from '../../objectives/types.ts';

const PROMPTS = 256;
const K = 8;
const T = 512;
const TARGET_NS = 50;

function makeBatch(seed: number): { batch: Rollout[]; logp: Float32Array[] } {
  const rng = new Rng(seed);
  const batch: Rollout[] = [];
  const logp: Float32Array[] = [];
  for (let p = 0; p < PROMPTS; p++) {
    for (let k = 0; k < K; k++) {
      const l = new Float32Array(T);
      const o = new Float32Array(T);
      const f = new Float32Array(T);
      for (let t = 0; t < T; t++) {
        l[t] = -3 * rng.next();
        o[t] = (l[t] as number) + 0.2 * rng.normal(); // a few ratios land outside the clip range
        f[t] = (l[t] as number) + 0.1 * rng.normal();
      }
      batch.push({ group: `p${p}`, length: T, logpOld: o, logpRef: f, reward: rng.next() < 0.4 ? 1 : 0, truncated: false });
      logp.push(l);
    }
  }
  return { batch, logp };
}

const CASES: [string, string, Record<string, unknown>][] = [
  ['grpo (klCoef 0.04)', 'grpo', {}],
  ['grpo (klCoef 0)', 'grpo', { klCoef: 0 }],
  ['dapo', 'dapo', { maxTokens: T }],
  ['online-dpo best-worst', 'online-dpo', {}],
  ['online-dpo all-pairs ipo', 'online-dpo', { pairing: 'all-pairs', lossType: 'ipo' }],
  ['rence per-positive', 'rence', {}],
  ['rence pooled', 'rence', { variant: 'pooled' }],
  ['rence per-positive klCoef 0.05', 'rence', { klCoef: 0.05, lengthNorm: true }],
];

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const { batch, logp } = makeBatch(1);
  const tokens = PROMPTS * K * T;
  const bench = new Bench({ time: 400, iterations: 8, warmupIterations: 2, warmupTime: 0 });
  let sink = 0;
  const cpuUs = new Map<string, number[]>();
  const timed = (name: string, fn: () => void) => {
    const samples: number[] = [];
    cpuUs.set(name, samples);
    bench.add(name, () => {
      const c0 = process.cpuUsage();
      fn();
      const d = process.cpuUsage(c0);
      samples.push(d.user + d.system);
    });
  };
  for (const [name, id, raw] of CASES) {
    const obj = getObjective(id);
    const cfg = resolveObjectiveConfig(obj, raw, name);
    timed(name, () => {
      sink += obj.loss(batch, logp, cfg).loss;
    });
  }
  // Calibration: one Math.exp per token. GRPO/DAPO need two per token (ratio, k3), so on a
  // shared or loaded machine read their ns/token against this line.
  timed('reference: 1 Math.exp/token', () => {
    let s = 0;
    for (let i = 0; i < logp.length; i++) {
      const l = logp[i] as Float32Array;
      for (let t = 0; t < l.length; t++) s += Math.exp(l[t] as number);
    }
    sink += s * 1e-30;
  });
  await bench.run();
  if (!Number.isFinite(sink)) throw new Error('non-finite loss in the benchmark');
  const rows = bench.tasks.map((task) => {
    const r = task.result;
    if (!('latency' in r)) throw new Error(`${task.name}: ${r.state}${'error' in r ? `: ${r.error.message}` : ''}`);
    const p50 = r.latency.p50 ?? r.latency.mean;
    const cpu = median((cpuUs.get(task.name) ?? []).slice(2)); // the first two calls are warm-up
    return { objective: task.name, msPerCall: p50, nsPerToken: (p50 * 1e6) / tokens, cpuNsPerToken: (cpu * 1e3) / tokens, samples: r.latency.samplesCount, rmePct: r.latency.rme };
  });
  if (json) {
    process.stdout.write(JSON.stringify({ prompts: PROMPTS, rolloutsPerPrompt: K, tokensPerRollout: T, tokens, targetNsPerToken: TARGET_NS, node: process.version, results: rows }, null, 2) + '\n');
    return;
  }
  console.log(`objectives loss+grad, ${PROMPTS} prompts × ${K} rollouts × ${T} tokens = ${tokens} tokens (Float32Array inputs), median of samples`);
  console.log(`${'objective'.padEnd(32)} ${'ms/call'.padStart(9)} ${'ns/token'.padStart(9)} ${'cpu ns/tok'.padStart(11)} ${'samples'.padStart(8)}  target < ${TARGET_NS} ns/token`);
  for (const r of rows) {
    console.log(`${r.objective.padEnd(32)} ${r.msPerCall.toFixed(2).padStart(9)} ${r.nsPerToken.toFixed(1).padStart(9)} ${r.cpuNsPerToken.toFixed(1).padStart(11)} ${String(r.samples).padStart(8)}  ${r.nsPerToken < TARGET_NS ? 'ok' : 'OVER'}`);
  }
}

await main();
