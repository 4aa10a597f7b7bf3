// Apache ECharts, imported part by part (core + the two chart types and three
// components used) so the bundle carries only what the dashboards draw.
//
// CSP (style-src 'self', no 'unsafe-inline'): the canvas renderer draws into
// a <canvas>; ECharts sizes its elements through the CSSOM (element.style),
// which CSP allows. Its HTML tooltip would insert markup with style=""
// attributes, which CSP blocks, so tooltips use renderMode 'richText' (drawn
// on the canvas too). The browser test fails on any CSP violation.
import { useEffect, useRef } from 'preact/hooks';
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { ComposeOption } from 'echarts/core';
import type { BarSeriesOption, LineSeriesOption } from 'echarts/charts';
import type { GridComponentOption, LegendComponentOption, TooltipComponentOption } from 'echarts/components';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export type ChartOption = ComposeOption<
  BarSeriesOption | LineSeriesOption | GridComponentOption | LegendComponentOption | TooltipComponentOption
>;

/** The portal's palette (styles.css) for charts. */
export const CHART_COLORS = {
  accent: '#4f46e5',
  accentSoft: '#a5b4fc',
  ok: '#17b26a',
  bad: '#f04438',
  warn: '#f79009',
  neutral: '#98a2b3',
  text: '#344054',
  muted: '#667085',
  grid: '#eaecf0',
};

/** Shared look: system font, quiet axes, canvas tooltips. */
export function baseOption(): ChartOption {
  return {
    textStyle: {
      fontFamily: "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
      color: CHART_COLORS.text,
    },
    animationDuration: 300,
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    tooltip: {
      trigger: 'axis',
      renderMode: 'richText',
      backgroundColor: '#101828',
      borderWidth: 0,
      textStyle: { color: '#ffffff', fontSize: 12 },
      axisPointer: { type: 'shadow', shadowStyle: { color: 'rgba(79, 70, 229, 0.06)' } },
    },
    legend: { top: 0, right: 0, icon: 'roundRect', itemWidth: 10, itemHeight: 10, textStyle: { color: CHART_COLORS.muted } },
  };
}

export function categoryAxis(categories: string[]) {
  return {
    type: 'category' as const,
    data: categories,
    axisTick: { show: false },
    axisLine: { lineStyle: { color: CHART_COLORS.grid } },
    axisLabel: { color: CHART_COLORS.muted, hideOverlap: true },
  };
}

export function valueAxis() {
  return {
    type: 'value' as const,
    minInterval: 1,
    splitLine: { lineStyle: { color: CHART_COLORS.grid } },
    axisLabel: { color: CHART_COLORS.muted },
  };
}

interface Props {
  option: ChartOption;
  /** CSS class setting the height (styles.css: chart, chart-tall, chart-short). */
  class?: string;
  label: string;
  testId?: string;
}

export function Chart({ option, class: cls = 'chart', label, testId }: Props) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);

  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    chart.current?.setOption(option, { notMerge: true });
  }, [option]);

  return <div ref={el} class={cls} role="img" aria-label={label} data-testid={testId} />;
}
