// PNG figures for papers and READMEs, drawn with chartjs-node-canvas from the same chart specs
// and the same Chart.js configuration builder as the HTML page (html/chart-config.js), at a
// fixed size on a white background.
import { ChartJSNodeCanvas } from 'chartjs-node-canvas';
import { toChartConfig, type ChartSpec, type XKey } from './html/chart-config.js';

export const PNG_WIDTH = 800;
export const PNG_HEIGHT = 450;

let canvas: ChartJSNodeCanvas | null = null;

export async function renderPng(spec: ChartSpec, xKey: XKey = 'step'): Promise<Buffer> {
  canvas ??= new ChartJSNodeCanvas({ width: PNG_WIDTH, height: PNG_HEIGHT, backgroundColour: 'white' });
  // chartjs-node-canvas types the config with its own Chart.js import; the shapes are the same.
  const config = toChartConfig(spec, xKey, { responsive: false, fontSize: 13 }) as unknown as Parameters<ChartJSNodeCanvas['renderToBuffer']>[0];
  return canvas.renderToBuffer(config, 'image/png');
}
