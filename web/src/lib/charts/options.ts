/** Chart options built from API data (pure: tested without a canvas). */
import { format, parseISO } from 'date-fns';
import type { HeatCell, TimelinePoint } from '../api/pending';
import { fmtDuration, fmtInt } from '../format';

export interface Palette {
  text: string;
  muted: string;
  grid: string;
  accent: string;
  accent2: string;
  surface: string;
}

export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function bucketLabel(start: string, bucket: string): string {
  const d = parseISO(start);
  switch (bucket) {
    case 'year':
      return format(d, 'yyyy');
    case 'month':
      return format(d, 'MMM yyyy');
    default:
      return format(d, 'd MMM yy');
  }
}

/** Listens (bars) and listening hours (line) per bucket. */
export function timelineOption(points: TimelinePoint[], bucket: string, p: Palette, metric: 'plays' | 'time' = 'plays') {
  const labels = points.map((pt) => bucketLabel(pt.start, bucket));
  const values = points.map((pt) => (metric === 'time' ? Math.round((pt.listening_secs / 3600) * 10) / 10 : pt.listens));
  return {
    animation: false,
    grid: { left: 8, right: 8, top: 16, bottom: 4, containLabel: true },
    tooltip: {
      trigger: 'axis',
      backgroundColor: p.surface,
      borderColor: p.grid,
      textStyle: { color: p.text },
      formatter: (items: { dataIndex: number }[]) => {
        const pt = points[items[0]?.dataIndex ?? 0];
        if (!pt) return '';
        return `<b>${labels[items[0].dataIndex]}</b><br/>${fmtInt(pt.listens)} listens · ${fmtDuration(pt.listening_secs)}`;
      },
    },
    xAxis: {
      type: 'category',
      data: labels,
      axisLine: { lineStyle: { color: p.grid } },
      axisLabel: { color: p.muted, hideOverlap: true },
      axisTick: { show: false },
    },
    yAxis: {
      type: 'value',
      splitLine: { lineStyle: { color: p.grid } },
      axisLabel: { color: p.muted },
      minInterval: 1,
    },
    series: [
      {
        type: points.length > 60 ? 'line' : 'bar',
        name: metric === 'time' ? 'Hours' : 'Listens',
        data: values,
        itemStyle: { color: p.accent, borderRadius: [3, 3, 0, 0] },
        lineStyle: { color: p.accent, width: 2 },
        areaStyle: points.length > 60 ? { color: p.accent, opacity: 0.15 } : undefined,
        showSymbol: false,
        barMaxWidth: 28,
      },
    ],
  };
}

/** Hour × weekday grid (Monday first). */
export function heatmapOption(cells: HeatCell[], p: Palette) {
  const data = cells.map((c) => [c.hour, c.weekday, c.listens]);
  const max = Math.max(1, ...cells.map((c) => c.listens));
  return {
    animation: false,
    grid: { left: 4, right: 4, top: 4, bottom: 40, containLabel: true },
    tooltip: {
      backgroundColor: p.surface,
      borderColor: p.grid,
      textStyle: { color: p.text },
      formatter: (item: { value: [number, number, number] }) =>
        `${WEEKDAYS[item.value[1]]} ${String(item.value[0]).padStart(2, '0')}:00 — ${fmtInt(item.value[2])} listens`,
    },
    xAxis: {
      type: 'category',
      data: Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0')),
      splitArea: { show: false },
      axisLine: { show: false },
      axisTick: { show: false },
      axisLabel: { color: p.muted, interval: 2 },
    },
    yAxis: {
      type: 'category',
      data: WEEKDAYS,
      inverse: true,
      axisLine: { show: false },
      axisTick: { show: false },
      axisLabel: { color: p.muted },
    },
    visualMap: {
      min: 0,
      max,
      calculable: false,
      orient: 'horizontal',
      left: 'center',
      bottom: 0,
      itemHeight: 120,
      itemWidth: 10,
      textStyle: { color: p.muted },
      inRange: { color: [p.grid, p.accent2, p.accent] },
    },
    series: [
      {
        type: 'heatmap',
        data,
        itemStyle: { borderColor: p.surface, borderWidth: 2, borderRadius: 3 },
        emphasis: { itemStyle: { borderColor: p.text } },
      },
    ],
  };
}
