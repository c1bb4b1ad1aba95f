// Opens the fixture's index.html in real headless Chromium from a file:// URL: every expected
// chart exists, is a live Chart.js chart and has drawn pixels; the toggles switch tables and
// axes; there are no console errors, no page errors and no requests beyond the page itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { generateReport } from '../../harness/report/generate.ts';
import { FIXTURE, scratch } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Written out by hand: if the page loses a chart, this list notices.
const EXPECTED_CHARTS = [
  'curve-arith-id', 'curve-arith-ood',
  'dyn-reward', 'dyn-accuracy', 'dyn-responselength', 'dyn-entropy',
  'diag-rence-groupsused', 'diag-rence-groupsskipped', 'diag-rence-posmean', 'diag-rence-negmean', 'diag-rence-posteriorpos',
  'diag-grpo-clipfraclow', 'diag-grpo-clipfrachigh', 'diag-grpo-ratiomean', 'diag-grpo-klk3',
  'diag-online-dpo-pairs', 'diag-online-dpo-implicitacc', 'diag-online-dpo-margin',
  'diag-dapo-clipfraclow', 'diag-dapo-clipfrachigh', 'diag-dapo-groupskept', 'diag-dapo-groupsfiltered',
];

let browser: Browser;
let page: Page;
const problems: string[] = [];
const requests: string[] = [];
let url: string;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is needed for this test (.ci/run installs it)`);
  const out = join(scratch('browser'), 'report');
  await generateReport(FIXTURE, { outDir: out, resamples: 500 });
  url = pathToFileURL(join(out, 'index.html')).href;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url, { waitUntil: 'load' });
});

after(async () => {
  await browser?.close();
});

interface CanvasState { id: string; chart: boolean; datasets: number; points: number; inked: number; width: number; xTitle: string | null; title: string | null }

async function canvases(): Promise<CanvasState[]> {
  // Runs in the page; tsconfig has no DOM lib, so the browser globals are reached untyped.
  return page.evaluate(() => {
    const g = globalThis as any;
    return [...g.document.querySelectorAll('canvas')].map((c: any) => {
      const chart = g.Chart.getChart(c);
      // Read pixels through a scratch copy, so the page's own canvases are never read back.
      const copy = g.document.createElement('canvas');
      copy.width = c.width;
      copy.height = c.height;
      const ctx = copy.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(c, 0, 0);
      const px: Uint8ClampedArray = ctx.getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) inked++;
      return {
        id: c.id as string, chart: !!chart, width: c.width as number, inked,
        datasets: chart ? chart.data.datasets.length : 0,
        points: chart ? chart.data.datasets.reduce((s: number, d: { data: unknown[] }) => s + d.data.length, 0) : 0,
        xTitle: chart ? chart.options.scales.x.title.text : null,
        title: chart ? chart.options.plugins.title.text : null,
      };
    });
  });
}

test('every expected chart is rendered, and nothing else is on the page', async () => {
  const cs = await canvases();
  assert.deepEqual(cs.map((c) => c.id).sort(), [...EXPECTED_CHARTS].sort());
  for (const c of cs) {
    assert.ok(c.chart, `${c.id}: Chart.getChart finds a chart`);
    assert.ok(c.datasets > 0 && c.points > 0, `${c.id}: has data (${c.datasets} datasets, ${c.points} points)`);
    assert.ok(c.width > 100, `${c.id}: laid out (${c.width}px wide)`);
    assert.ok(c.inked > 2000, `${c.id}: drew pixels (${c.inked} non-transparent)`);
  }
  const curve = cs.find((c) => c.id === 'curve-arith-id')!;
  assert.equal(curve.title, 'arith-id: avg@4');
  // 4 objectives × (line + 2 band edges) + the SFT reference line; DAPO has one seed, so no band.
  assert.equal(curve.datasets, 3 * 3 + 1 + 1);
});

test('no console errors, no page errors, no requests but the page itself', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(requests, [url]);
});

test('metric toggle switches the table, the significance table and the learning curves', async () => {
  const visible = (sel: string) => page.locator(sel).isVisible();
  assert.equal(await visible('#table-avgAtK'), true);
  assert.equal(await visible('#table-greedy'), false);
  await page.locator('label', { hasText: /^greedy$/ }).click();
  assert.equal(await visible('#table-greedy'), true);
  assert.equal(await visible('#table-avgAtK'), false);
  const bold = await page.locator('#table-greedy td.best').allTextContents();
  assert.deepEqual(bold, ['67.0 ± n/a', '36.0 ± n/a', '51.5 ± n/a']);
  const cs = await canvases();
  assert.equal(cs.find((c) => c.id === 'curve-arith-ood')!.title, 'arith-ood: greedy');
  assert.equal(cs.length, EXPECTED_CHARTS.length, 'redrawing keeps every chart');
  assert.ok(cs.every((c) => c.chart && c.inked > 2000));
});

test('x-axis toggle redraws curves and dynamics against rollouts and wall time', async () => {
  await page.locator('label', { hasText: /^wall time$/ }).click();
  let cs = await canvases();
  assert.ok(cs.every((c) => c.xTitle === 'wall time (s)'), 'every chart uses wall time');
  assert.ok(cs.every((c) => c.chart && c.points > 0 && c.inked > 2000));
  await page.locator('label', { hasText: /^rollouts$/ }).click();
  cs = await canvases();
  assert.ok(cs.every((c) => c.xTitle === 'rollouts generated'));
  assert.deepEqual(problems, []);
});
