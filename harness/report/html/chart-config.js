// Turns a chart spec (series of mean points with 95% CI bands) into a Chart.js configuration.
// Plain JavaScript on purpose: the same function draws the PNG figures in Node (charts.ts) and
// is inlined into index.html, so the page and the PNGs cannot drift apart. Types live in
// chart-config.d.ts. Keep it free of imports and of closing script tags.

export const X_AXES = {
  step: 'training step',
  rollouts: 'rollouts generated',
  wallTime: 'wall time (s)',
};

function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export function toChartConfig(spec, xKey, env) {
  const datasets = [];
  let xMin = Infinity;
  let xMax = -Infinity;
  for (const s of spec.series) {
    const pts = s.points.filter((p) => p[xKey] !== null && p[xKey] !== undefined);
    for (const p of pts) {
      xMin = Math.min(xMin, p[xKey]);
      xMax = Math.max(xMax, p[xKey]);
    }
    const hasBand = pts.some((p) => p.lo !== null && p.hi !== null);
    if (hasBand) {
      // Two invisible lines, the lower filled up to the upper: the 95% CI band over seeds.
      datasets.push({
        label: `${s.label} CI upper`, band: true, data: pts.map((p) => ({ x: p[xKey], y: p.hi })),
        borderWidth: 0, pointRadius: 0, pointHoverRadius: 0, fill: false, spanGaps: true, backgroundColor: withAlpha(s.color, 0.15),
      });
      datasets.push({
        label: `${s.label} CI lower`, band: true, data: pts.map((p) => ({ x: p[xKey], y: p.lo })),
        borderWidth: 0, pointRadius: 0, pointHoverRadius: 0, fill: '-1', spanGaps: true, backgroundColor: withAlpha(s.color, 0.15),
      });
    }
    datasets.push({
      label: s.label, data: pts.map((p) => ({ x: p[xKey], y: p.y, n: p.n })),
      borderColor: s.color, backgroundColor: s.color, borderWidth: 2,
      borderDash: s.dashed ? [6, 4] : [], pointRadius: pts.length > 40 ? 0 : 2.5, fill: false, tension: 0,
    });
  }
  if (!Number.isFinite(xMin)) { xMin = 0; xMax = 1; }
  if (xMin === xMax) xMax = xMin + 1;
  for (const r of spec.refLines || []) {
    datasets.push({
      label: r.label, data: [{ x: xMin, y: r.y }, { x: xMax, y: r.y }],
      borderColor: r.color, backgroundColor: r.color, borderWidth: 1.5, borderDash: [6, 4], pointRadius: 0, fill: false,
    });
  }
  const font = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif', size: env.fontSize || 12 };
  return {
    type: 'line',
    data: { datasets },
    options: {
      responsive: env.responsive,
      maintainAspectRatio: false,
      animation: false,
      parsing: true,
      normalized: true,
      interaction: { mode: 'nearest', intersect: false, axis: 'x' },
      plugins: {
        title: { display: env.showTitle !== false, text: spec.title, font: { ...font, size: font.size + 2, weight: 'bold' }, color: '#111827' },
        legend: {
          position: 'bottom',
          labels: { font, color: '#374151', usePointStyle: true, pointStyle: 'line', boxWidth: 24, filter: (item, data) => !data.datasets[item.datasetIndex].band },
        },
        tooltip: {
          filter: (item) => !item.dataset.band,
          // Unfinished runs make later points rest on fewer seeds: say how many.
          callbacks: {
            label: (item) => `${item.dataset.label}: ${item.parsed.y.toPrecision(4)}${item.raw && item.raw.n ? ` (${item.raw.n} seed${item.raw.n === 1 ? '' : 's'})` : ''}`,
          },
        },
      },
      scales: {
        x: {
          type: 'linear',
          title: { display: true, text: X_AXES[xKey], font, color: '#374151' },
          ticks: { font, color: '#4b5563', maxTicksLimit: 9, precision: xKey === 'step' ? 0 : undefined }, grid: { color: '#e5e7eb' },
        },
        y: {
          title: { display: true, text: spec.yLabel, font, color: '#374151' },
          ticks: { font, color: '#4b5563' }, grid: { color: '#e5e7eb' },
        },
      },
    },
  };
}
