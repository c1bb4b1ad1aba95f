// The self-contained report page: every table rendered here as escaped HTML, every chart drawn
// in the browser by Chart.js (inlined) from data embedded as JSON, no network at all. Strings
// from results (titles, config values, benchmark names) go through esc() or the JSON embedding,
// never raw into the markup.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LoadedExperiment } from '../load.ts';
import {
  EVAL_METRICS, MAX_POINTS, PARTIAL_MARK, type ComparisonTable, type Significance, type Summary,
} from '../summary.ts';
import type { MeanCI } from '../../util/stats.ts';
import { formatCell, formatP, pct, seedCount, signedPct, significanceMethod, significanceTitle, tableCaption } from '../tables.ts';
import { probeSection } from '../probe.ts';
import type { ChartSpec } from './chart-config.js';

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside <script>: no '<' (so no '</script>' or '<!--'), and no U+2028/9. */
export function scriptJson(v: unknown): string {
  // Six significant digits are far below what a chart can show and halve the page size.
  const round = (_: string, x: unknown) => (typeof x === 'number' && !Number.isInteger(x) ? Number(x.toPrecision(6)) : x);
  return JSON.stringify(v, round).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function inlineScript(src: string, what: string): string {
  if (/<\/script/i.test(src)) throw new Error(`${what} contains "</script" and cannot be inlined`);
  return src;
}

const require = createRequire(import.meta.url);

function chartJsSource(): string {
  // chart.js exports no './dist/*' path: resolve its CommonJS entry, which sits beside the UMD build.
  return readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
}

function localScript(name: string): string {
  return readFileSync(new URL(name, import.meta.url), 'utf8').replace(/^export /gm, '');
}

// ---- formatting ---------------------------------------------------------------------------

function fmtNum(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '–';
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  const a = Math.abs(x);
  return a >= 1000 ? x.toLocaleString('en-US', { maximumFractionDigits: 0 }) : x.toPrecision(digits).replace(/\.?0+$/, '');
}

/** Mean ± half-width with one shared number of decimals, chosen from the mean's magnitude. */
function fmtCI(s: MeanCI): string {
  if (s.n === 0) return '–';
  const a = Math.abs(s.mean);
  const d = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  const f = (x: number) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  return `${f(s.mean)} <span class="ci">± ${Number.isNaN(s.half) ? 'n/a' : f(s.half)}</span>`;
}

function rowName(title: string, partial: boolean): string {
  return `${esc(title)}${partial ? ` <span class="dagger" title="not all runs finished">${PARTIAL_MARK}</span>` : ''}`;
}

// ---- sections -----------------------------------------------------------------------------

function comparisonTable(t: ComparisonTable, first: boolean, s: Summary): string {
  const head = `<tr><th class="l">Method</th><th>Seeds</th>${t.headers.map((c, i) => `<th${i === t.headers.length - 1 ? ' class="avg"' : ''}>${esc(c)}</th>`).join('')}</tr>`;
  const body = t.rows.map(({ row, cells }, i) => {
    const tds = cells.map((c, j) => {
      const cls = [c?.best ? 'best' : '', j === cells.length - 1 ? 'avg' : ''].filter(Boolean).join(' ');
      const tip = c ? c.values.map((v) => `seed ${v.seed}: ${pct(v.value, 2)}`).join(', ') : 'no evaluation';
      const txt = esc(formatCell(c, row));
      return `<td${cls ? ` class="${cls}"` : ''} title="${esc(tip)}">${c?.best ? `<strong>${txt}</strong>` : txt}</td>`;
    }).join('');
    return `<tr${row.isSft ? ' class="sft"' : ''}><td class="l">${rowName(row.title, row.partial)}</td><td>${seedCount(t, i)}</td>${tds}</tr>`;
  }).join('\n');
  return `<div class="table-wrap" data-metric="${esc(t.metric.id)}"${first ? '' : ' hidden'}>
<p class="caption">${esc(tableCaption(t, s))}</p>
<table class="cmp" id="table-${esc(t.metric.id)}">
<thead>${head}</thead><tbody>
${body}
</tbody></table></div>`;
}

function notesBlock(s: Summary): string {
  if (!s.notes.length) return '';
  return `<div class="notes"><p><strong>${PARTIAL_MARK} Partial experiment.</strong> These runs are not finished; they are included with their latest evaluation.</p><ul>${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></div>`;
}

function chartBox(spec: ChartSpec, cls = ''): string {
  return `<figure class="chart ${cls}"><div class="canvas-box"><canvas id="${esc(spec.id)}" data-chart role="img" aria-label="${esc(spec.title)}"></canvas></div></figure>`;
}

function significanceTable(sig: Significance, s: Summary, first: boolean): string {
  const label = s.tables.find((t) => t.metric.id === sig.metric)!.label;
  const attrs = `data-metric="${esc(sig.metric)}"${first ? '' : ' hidden'}`;
  if (!sig.baseline) return `<p class="muted" ${attrs}>${esc(sig.note ?? '')}</p>`;
  if (!sig.rows.length) return `<p class="muted" ${attrs}>${esc(sig.baseline.title)} is the only objective; nothing to compare.</p>`;
  const rows = sig.rows.map((r) => {
    if (!r.result) return `<tr><td class="l">${rowName(r.row.title, r.row.partial)}</td><td>–</td><td>–</td><td>–</td><td colspan="4" class="l muted">${esc(r.note ?? '')}</td></tr>`;
    const x = r.result;
    // Coloured only when both tests agree at 0.05 (with 3 seeds the sign-flip test never does).
    const cls = x.pT < 0.05 && x.pSignFlip < 0.05 ? (x.meanDiff > 0 ? 'pos' : 'neg') : '';
    return `<tr><td class="l">${rowName(r.row.title, r.row.partial)}</td><td>${x.n}</td><td class="${cls}">${esc(signedPct(x.meanDiff))}</td><td>[${esc(signedPct(x.lo))}, ${esc(signedPct(x.hi))}]</td><td>${esc(formatP(x.pT))}</td><td>${esc(formatP(x.pSignFlip))}</td><td>${esc(formatP(x.minPSignFlip))}</td><td>${x.bootstrap ? esc(formatP(x.bootstrap.p)) : 'n/a'}</td></tr>`;
  }).join('\n');
  return `<table class="cmp sig" ${attrs}><caption>Average ${esc(label)}: objective − ${esc(sig.baseline.title)}, in percentage points</caption>
<thead><tr><th class="l">Objective</th><th>Paired seeds</th><th>Mean difference (pp)</th><th>95% t interval (pp)</th><th>p, paired t-test</th><th>p, exact sign-flip</th><th>smallest p, sign-flip</th><th>p, bootstrap (≥ 10 seeds)</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function computeTable(s: Summary): string {
  if (!s.compute.length) return '<p class="muted">No training runs.</p>';
  const rows = s.compute.map((c) => `<tr><td class="l">${rowName(c.row.title, c.row.partial)}</td><td>${c.row.runs.length}</td><td>${fmtCI(c.steps)}</td><td>${fmtCI(c.rollouts)}</td><td>${fmtCI(c.tokens)}</td><td>${fmtCI(c.wallTime)}</td><td>${fmtCI(c.tokensPerSecond)}</td><td>${fmtCI(c.comparedStep)}</td><td>${fmtCI(c.comparedRollouts)}</td></tr>`).join('\n');
  return `<table class="cmp"><caption>Per run, mean ± 95% CI over seeds (so far, for unfinished runs). The last two columns: the evaluation the tables use (${esc(s.comparison.describe)}).</caption>
<thead><tr><th class="l">Objective</th><th>Runs</th><th>Steps</th><th>Rollouts</th><th>Tokens generated</th><th>Wall time (s)</th><th>Tokens / s</th><th>Compared at step</th><th>Compared at rollouts</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function uniq(xs: (string | undefined)[]): string[] {
  return [...new Set(xs.filter((x): x is string => !!x))].sort();
}

function provenance(exp: LoadedExperiment, generator: string): string {
  const runs = exp.runs;
  const started = uniq(runs.map((r) => r.startedAt));
  const updated = uniq(runs.map((r) => r.updatedAt));
  const finished = uniq(runs.map((r) => r.finishedAt));
  const counts = ['finished', 'running', 'failed', 'unknown'].map((st) => [st, runs.filter((r) => r.status === st).length] as const).filter(([, n]) => n > 0);
  const items: [string, string[]][] = [
    ['Experiment', [exp.name]],
    ['Runs', [counts.map(([st, n]) => `${n} ${st}`).join(', ')]],
    ['rlbench version', uniq(runs.map((r) => r.versions.rlbench))],
    ['Git commit', uniq(runs.map((r) => r.gitCommit))],
    ['ONNX Runtime', uniq(runs.map((r) => r.versions.onnxruntime))],
    ['Node.js', uniq(runs.map((r) => r.versions.node))],
    ['Execution provider', uniq(runs.map((r) => r.provider))],
    ['Threads', uniq(runs.map((r) => (r.threads === undefined ? undefined : String(r.threads))))],
    ['CPU', uniq(runs.map((r) => r.cpu))],
    ['CPU instruction sets', uniq(runs.map((r) => r.isa))],
    ['First run started', started.slice(0, 1)],
    ['Last update', updated.slice(-1)],
    ['Last run finished', finished.slice(-1)],
    ['Report generator', [generator]],
  ];
  const dl = items.map(([k, v]) => `<tr><th class="l">${esc(k)}</th><td class="l mono">${v.length ? v.map(esc).join('<br>') : '<span class="muted">not recorded</span>'}</td></tr>`).join('\n');
  const cfg = exp.config === undefined ? '<p class="muted">experiment.json missing.</p>'
    : `<details open><summary>Experiment config (experiment.json)</summary><pre>${esc(JSON.stringify(exp.config, null, 2))}</pre></details>`;
  return `<table class="kv">${dl}</table>${cfg}`;
}

// Benchmark JSON files have no fixed shape: arrays of objects become tables, objects become
// key/value tables, anything deeper is shown as JSON.
function jsonView(v: unknown, depth = 0): string {
  if (v === null || typeof v !== 'object') return typeof v === 'number' ? esc(fmtNum(v, 4)) : esc(String(v));
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x)) && depth < 4) {
      const keys: string[] = [];
      for (const o of v) for (const k of Object.keys(o as object)) if (!keys.includes(k)) keys.push(k);
      const body = v.map((o) => `<tr>${keys.map((k) => `<td class="${typeof (o as Record<string, unknown>)[k] === 'number' ? '' : 'l'}">${cellView((o as Record<string, unknown>)[k])}</td>`).join('')}</tr>`).join('\n');
      return `<table class="cmp bench"><thead><tr>${keys.map((k) => `<th class="l">${esc(k)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
    }
    return v.every((x) => x === null || typeof x !== 'object') ? esc(v.map((x) => (typeof x === 'number' ? fmtNum(x, 4) : String(x))).join(', ')) : `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;
  }
  if (depth >= 4) return `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;
  const rows = Object.entries(v as Record<string, unknown>).map(([k, x]) => `<tr><th class="l">${esc(k)}</th><td class="l">${jsonView(x, depth + 1)}</td></tr>`).join('\n');
  return `<table class="kv">${rows}</table>`;
}

function cellView(x: unknown): string {
  if (x === undefined) return '';
  if (x !== null && typeof x === 'object') return `<code>${esc(JSON.stringify(x))}</code>`;
  return jsonView(x);
}

const CSS = `
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#ffffff; --panel:#f9fafb; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--fg); background:var(--bg); }
main { max-width:1200px; margin:0 auto; padding:0 24px 64px; }
header.top { border-bottom:1px solid var(--line); padding:24px 0 12px; }
h1 { font-size:26px; margin:0 0 4px; } h2 { font-size:20px; margin:40px 0 8px; padding-top:8px; border-top:1px solid var(--line); }
h3 { font-size:16px; margin:20px 0 6px; }
.muted { color:var(--muted); } .mono, pre, code { font-family: ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace; font-size:13px; }
.controls { position:sticky; top:0; z-index:5; background:rgba(255,255,255,.96); border-bottom:1px solid var(--line); padding:8px 0; display:flex; gap:28px; flex-wrap:wrap; align-items:center; }
.controls fieldset { border:0; margin:0; padding:0; display:flex; gap:4px; align-items:center; }
.controls legend { float:left; margin-right:8px; font-weight:600; font-size:13px; color:var(--muted); }
.controls label { border:1px solid var(--line); border-radius:6px; padding:3px 10px; cursor:pointer; font-size:13px; user-select:none; }
.controls input { position:absolute; opacity:0; pointer-events:none; }
.controls label:has(input:checked) { background:var(--accent); color:#fff; border-color:var(--accent); }
nav.toc { font-size:13px; } nav.toc a { color:var(--accent); text-decoration:none; margin-right:12px; }
.banner { background:#fff7ed; border:1px solid #fed7aa; border-radius:8px; padding:10px 14px; margin:16px 0 0; }
.table-wrap { overflow-x:auto; }
table.cmp { border-collapse:collapse; margin:8px 0 4px; font-variant-numeric: tabular-nums; }
table.cmp caption, p.caption { caption-side:top; text-align:left; color:var(--muted); font-size:13px; padding-bottom:6px; margin:0; }
table.cmp th, table.cmp td { padding:6px 12px; text-align:right; border-bottom:1px solid var(--line); white-space:nowrap; }
table.cmp thead th { border-bottom:2px solid var(--fg); font-weight:600; }
table.cmp tbody tr:last-child td { border-bottom:2px solid var(--fg); }
table.cmp tr.sft td { background:var(--panel); }
table.cmp td.avg, table.cmp th.avg { border-left:1px solid var(--line); }
table.bench td, table.bench th { font-size:13px; padding:4px 10px; }
.l { text-align:left !important; }
.ci { color:var(--muted); font-size:12px; }
.dagger { color:#b45309; font-weight:700; }
.pos { color:#047857; font-weight:600; } .neg { color:#b91c1c; font-weight:600; }
.notes { font-size:13px; color:#374151; background:var(--panel); border-left:3px solid #f59e0b; padding:6px 12px; margin:8px 0; }
.notes ul { margin:4px 0; padding-left:18px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(520px,1fr)); gap:16px; }
.grid.small { grid-template-columns:repeat(auto-fill,minmax(340px,1fr)); }
figure.chart { margin:0; border:1px solid var(--line); border-radius:8px; padding:8px; background:#fff; }
.canvas-box { position:relative; height:320px; } .small .canvas-box { height:240px; }
table.kv { border-collapse:collapse; font-size:14px; } table.kv th, table.kv td { padding:4px 12px 4px 0; vertical-align:top; border-bottom:1px solid var(--line); }
table.kv th { color:var(--muted); font-weight:500; }
table.sig thead th { white-space:normal; max-width:130px; vertical-align:bottom; }
table.heatmap td { min-width:72px; text-align:center; } table.heatmap thead th { white-space:normal; max-width:120px; }
pre { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:10px; overflow-x:auto; max-height:480px; }
details summary { cursor:pointer; color:var(--accent); margin:12px 0 6px; }
.method { font-size:13px; color:#374151; max-width:900px; }
`;

export interface PageInput {
  exp: LoadedExperiment;
  summary: Summary;
  /** e.g. 'rlbench 0.1.0'. */
  generator: string;
  /** PNG files written beside the page, linked from it. */
  pngs: string[];
}

export function renderPage({ exp, summary: s, generator, pngs }: PageInput): string {
  const metricLabel = (id: string) => s.tables.find((t) => t.metric.id === id)!.label;
  const metricToggle = EVAL_METRICS.map((m, i) => `<label title="${esc(m.describe)}"><input type="radio" name="metric" value="${m.id}"${i === 0 ? ' checked' : ''}>${esc(metricLabel(m.id))}</label>`).join('');
  const defaultX = s.comparison.at === 'rollouts' ? 'rollouts' : 'step';
  const xToggle = [['step', 'step'], ['rollouts', 'rollouts'], ['wallTime', 'wall time']].map(([v, l]) => `<label><input type="radio" name="xaxis" value="${v}"${v === defaultX ? ' checked' : ''}>${l}</label>`).join('');
  const statusCounts = { running: exp.runs.filter((r) => r.status === 'running').length, failed: exp.runs.filter((r) => r.status === 'failed').length, unknown: exp.runs.filter((r) => r.status === 'unknown').length };
  const partial = s.notes.length > 0;
  const banner = partial
    ? `<div class="banner"><strong>${PARTIAL_MARK} Partial experiment:</strong> ${statusCounts.running} running, ${statusCounts.failed} failed${statusCounts.unknown ? `, ${statusCounts.unknown} of unknown status` : ''} out of ${exp.runs.length} runs. Rows marked ${PARTIAL_MARK} include unfinished runs at their latest evaluation; details under the table.</div>`
    : '';

  const curveCharts = s.curves.map((c) => chartBox(c.byMetric.avgAtK)).join('\n');
  const dynamics = s.dynamics.filter((d) => d.series.length > 0);
  const dynCharts = dynamics.map((d) => chartBox(d)).join('\n');
  const missingDyn = s.dynamics.filter((d) => d.series.length === 0).map((d) => d.title);
  const diag = s.diagnostics.map((g) => `<h3>${rowName(g.row.title, g.row.partial)}</h3><div class="grid small">${g.charts.map((c) => chartBox(c)).join('\n')}</div>`).join('\n');
  const benchFiles = exp.benchmarkFiles.map((b) => `<h3>${esc(b.name)}.json</h3>${jsonView(b.data)}`).join('\n');
  const warnings = exp.warnings.length
    ? `<h2 id="warnings">Warnings while reading results</h2><ul class="mono">${exp.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : '';
  const data = {
    defaultMetric: EVAL_METRICS[0]!.id,
    defaultX,
    curves: s.curves.map((c) => ({ benchmark: c.benchmark, byMetric: c.byMetric })),
    charts: [...dynamics, ...s.diagnostics.flatMap((g) => g.charts)],
  };

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>rlbench report: ${esc(exp.name)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header class="top">
<h1>rlbench report: ${esc(exp.name)}</h1>
<div class="muted">${s.rows.filter((r) => !r.isSft).length} objectives · ${s.benchmarks.length} benchmarks · ${exp.runs.length} runs · generated by ${esc(generator)} from <span class="mono">results/${esc(exp.name)}</span></div>
<nav class="toc"><a href="#comparison">Comparison</a><a href="#curves">Learning curves</a><a href="#dynamics">Training dynamics</a><a href="#diagnostics">Objective diagnostics</a><a href="#compute">Compute</a><a href="#significance">Significance</a>${exp.probe ? '<a href="#probe">Gradient probe</a>' : ''}<a href="#provenance">Provenance</a>${benchFiles ? '<a href="#benchmarks">Benchmarks</a>' : ''}</nav>
${banner}
</header>
<div class="controls">
<fieldset><legend>Metric</legend>${metricToggle}</fieldset>
<fieldset><legend>x-axis</legend>${xToggle}</fieldset>
</div>

<h2 id="comparison">Comparison</h2>
${s.tables.map((t, i) => comparisonTable(t, i === 0, s)).join('\n')}
${notesBlock(s)}

<h2 id="curves">Learning curves</h2>
<p class="muted">Selected metric on each benchmark, mean over seeds with a 95% CI band; x-axis: <span data-xlabel>training step</span>. The dashed line is the SFT initialisation.</p>
<div class="grid">${curveCharts}</div>

<h2 id="dynamics">Training dynamics</h2>
<p class="muted">Logged every training step; mean over seeds with a 95% CI band, against the selected x-axis. Logs longer than ${MAX_POINTS} steps are first averaged per seed over bins of consecutive steps.${missingDyn.length ? ` Not logged: ${esc(missingDyn.join(', '))}.` : ''}</p>
<div class="grid">${dynCharts}</div>

<h2 id="diagnostics">Objective diagnostics</h2>
${diag || '<p class="muted">No objective metrics (obj/*) in metrics.jsonl.</p>'}

<h2 id="compute">Compute</h2>
${computeTable(s)}

<h2 id="significance">${esc(significanceTitle(s))}</h2>
${s.significance.map((sig, i) => significanceTable(sig, s, i === 0)).join('\n')}
<p class="method"><strong>Method.</strong> ${esc(significanceMethod(s))}</p>
${exp.probe ? `\n<h2 id="probe">Same-rollout gradient probe</h2>\n${probeSection(exp.probe)}` : ''}

<h2 id="provenance">Provenance</h2>
${provenance(exp, generator)}
${pngs.length ? `<p class="muted">PNG figures beside this page: ${pngs.map((p) => `<span class="mono">${esc(p)}</span>`).join(', ')}; tables: <span class="mono">table.md</span>, <span class="mono">table.tex</span>, <span class="mono">table.csv</span>.</p>` : ''}

${benchFiles ? `<h2 id="benchmarks">Micro-benchmarks and engine figures</h2>\n${benchFiles}` : ''}
${warnings}
</main>
<script>${inlineScript(chartJsSource(), 'chart.js')}</script>
<script id="report-data" type="application/json">${scriptJson(data)}</script>
<script>${inlineScript(localScript('./chart-config.js'), 'chart-config.js')}
${inlineScript(localScript('./client.js'), 'client.js')}
initReport(JSON.parse(document.getElementById('report-data').textContent));</script>
</body>
</html>
`;
}
