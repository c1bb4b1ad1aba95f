// Types for chart-config.js, the Chart.js configuration builder shared by the PNG figures and
// the HTML page.

export type XKey = 'step' | 'rollouts' | 'wallTime';

export interface SeriesPoint {
  step: number;
  rollouts: number | null;
  wallTime: number | null;
  /** Mean over seeds. */
  y: number;
  /** 95% CI over seeds; null when fewer than two seeds reached this point. */
  lo: number | null;
  hi: number | null;
  n: number;
}

export interface ChartSpec {
  /** Stable id: the canvas id in the page and the PNG file name stem. */
  id: string;
  title: string;
  yLabel: string;
  series: { label: string; color: string; dashed?: boolean; points: SeriesPoint[] }[];
  /** Horizontal reference lines across the x range, e.g. the SFT initialisation. */
  refLines?: { label: string; y: number; color: string }[];
}

export const X_AXES: Record<XKey, string>;

export function toChartConfig(
  spec: ChartSpec,
  xKey: XKey,
  env: { responsive: boolean; fontSize?: number; showTitle?: boolean },
): Record<string, unknown>;
