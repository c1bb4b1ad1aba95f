// The report page's behaviour: draws every chart from the embedded data with Chart.js and
// wires the two toggles (evaluation metric; x-axis step / rollouts / wall time). Inlined into
// index.html after chart-config.js, as a classic script: no modules, no network, no closing script tags.

function initReport(data) {
  const state = { metric: data.defaultMetric, x: data.defaultX || 'step' };

  function draw(spec) {
    const canvas = document.getElementById(spec.id);
    if (!canvas) throw new Error(`report: no canvas for chart ${spec.id}`);
    const old = Chart.getChart(canvas);
    if (old) old.destroy();
    new Chart(canvas, toChartConfig(spec, state.x, { responsive: true }));
  }

  function render() {
    for (const c of data.curves) draw(c.byMetric[state.metric]);
    for (const spec of data.charts) draw(spec);
    for (const el of document.querySelectorAll('[data-metric]')) el.hidden = el.getAttribute('data-metric') !== state.metric;
    for (const el of document.querySelectorAll('[data-xlabel]')) el.textContent = X_AXES[state.x];
  }

  for (const input of document.querySelectorAll('input[name="metric"]')) {
    input.addEventListener('change', () => { state.metric = input.value; render(); });
  }
  for (const input of document.querySelectorAll('input[name="xaxis"]')) {
    input.addEventListener('change', () => { state.x = input.value; render(); });
  }
  render();
}
