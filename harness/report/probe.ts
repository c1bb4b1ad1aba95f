// The same-rollout gradient probe's results (written by `rlbench probe`, harness/runs/probe.ts)
// and their report section: how each objective weighs the very same rollouts (per-rollout
// weights w = −Σ_t dL/dlogp_t, by correctness), how aligned the objectives' parameter
// gradients are (a cosine-similarity heatmap) and how large they are. The format is defined
// here, so the report reads it without depending on the code that makes it.
import { existsSync, readFileSync } from 'node:fs';

export const PROBE_FORMAT = 'rlbench-probe/1';

/** Summary of a set of numbers: count, mean, and the extremes. */
export interface Spread {
  n: number;
  mean: number;
  min: number;
  max: number;
}

export interface ProbeObjective {
  /** Run-name prefix in the experiment, e.g. 'rence'. */
  name: string;
  id: string;
  title: string;
  loss: number;
  /** Global L2 norm of the parameter gradient of the loss. */
  gradNorm: number;
  /** Per rollout, in batch order: w = −Σ_t dL/dlogp_t (positive: the update makes the rollout more likely). */
  weights: number[];
  /** The weights of correct and of incorrect rollouts. */
  correct: Spread;
  incorrect: Spread;
  /** Σ w over correct minus Σ w over incorrect rollouts, over Σ |w|: +1 pushes only correct ones up, −1 the reverse. */
  contrast: number;
}

export interface ProbeResult {
  format: string;
  experiment: string;
  checkpoint: string;
  /** Prompts × rollouts per prompt of the one shared batch. */
  prompts: number;
  rolloutsPerPrompt: number;
  temperature: number;
  seed: number;
  /** Per rollout: the prompt index, correctness and response length. */
  rollouts: { prompt: number; correct: boolean; length: number }[];
  accuracy: number;
  objectives: ProbeObjective[];
  /** cosine[i][j] between the parameter gradients of objectives i and j (NaN as null when one is zero). */
  cosine: (number | null)[][];
  createdAt: string;
}

/** Reads a probe.json; a file in another format is a warning, not a failure of the report. */
export function readProbe(path: string, warnings: string[]): ProbeResult | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const p = JSON.parse(readFileSync(path, 'utf8')) as ProbeResult;
    if (p.format !== PROBE_FORMAT || !Array.isArray(p.objectives) || !Array.isArray(p.cosine)) {
      warnings.push(`${path}: not an ${PROBE_FORMAT} file; probe section left out`);
      return undefined;
    }
    return p;
  } catch (e) {
    warnings.push(`${path}: not valid JSON (${(e as Error).message}); probe section left out`);
    return undefined;
  }
}

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** Diverging colour for a cosine in [−1, 1]: blue for aligned, red for opposed, white at 0. */
function cosineColour(c: number | null): string {
  if (c === null || !Number.isFinite(c)) return '#f3f4f6';
  const a = Math.min(1, Math.abs(c));
  const [r, g, b] = c >= 0 ? [0, 114, 178] : [213, 94, 0];
  const mix = (x: number) => Math.round(255 + (x - 255) * a);
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}

/** The report section: the heatmap of gradient cosines, then the weights by correctness. */
export function probeSection(p: ProbeResult): string {
  const names = p.objectives.map((o) => o.title === o.name || o.name === o.id ? o.title : `${o.title} (${o.name})`);
  const head = `<tr><th class="l"></th>${names.map((n) => `<th>${esc(n)}</th>`).join('')}</tr>`;
  const rows = p.cosine.map((row, i) => `<tr><th class="l">${esc(names[i])}</th>${row.map((c) => `<td style="background:${cosineColour(c)}" title="${esc(fmt(c, 4))}">${esc(fmt(c))}</td>`).join('')}</tr>`).join('\n');
  const weights = p.objectives.map((o, i) => `<tr><td class="l">${esc(names[i])}</td><td>${esc(fmt(o.correct.mean, 4))}</td><td>[${esc(fmt(o.correct.min, 4))}, ${esc(fmt(o.correct.max, 4))}]</td><td>${esc(fmt(o.incorrect.mean, 4))}</td><td>[${esc(fmt(o.incorrect.min, 4))}, ${esc(fmt(o.incorrect.max, 4))}]</td><td>${esc(fmt(o.contrast))}</td><td>${esc(fmt(o.gradNorm, 4))}</td></tr>`).join('\n');
  const nCorrect = p.rollouts.filter((r) => r.correct).length;
  return `<p class="muted">One batch of ${p.prompts} prompts × ${p.rolloutsPerPrompt} rollouts (temperature ${esc(p.temperature)}, seed ${esc(p.seed)}; ${nCorrect} of ${p.rollouts.length} correct) sampled once from <span class="mono">${esc(p.checkpoint)}</span> by the shared rollout engine and given to every objective at the behaviour weights (l = o): the same rollouts, weighed differently.</p>
<table class="cmp heatmap"><caption>Cosine similarity between the objectives' parameter gradients (1: the same direction; 0: orthogonal; −1: opposed)</caption>
<thead>${head}</thead><tbody>${rows}</tbody></table>
<table class="cmp"><caption>Per-rollout weight w = −Σ_t ∂L/∂logp_t by correctness (w &gt; 0: the update makes the rollout more likely). Contrast = (Σ_correct w − Σ_incorrect w) / Σ |w|.</caption>
<thead><tr><th class="l">Objective</th><th>mean w, correct</th><th>range, correct</th><th>mean w, incorrect</th><th>range, incorrect</th><th>contrast</th><th>‖∇θ L‖</th></tr></thead>
<tbody>${weights}</tbody></table>`;
}
