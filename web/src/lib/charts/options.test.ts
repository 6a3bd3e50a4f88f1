import { describe, expect, it } from 'vitest';
import { heatmapOption, timelineOption } from './options';

const palette = { text: '#000', muted: '#666', grid: '#eee', accent: '#f00', accent2: '#faa', surface: '#fff' };

describe('chart options', () => {
  it('plots one bar per bucket', () => {
    const o = timelineOption(
      [
        { start: '2024-01-01', listens: 3, listening_secs: 600 },
        { start: '2024-02-01', listens: 0, listening_secs: 0 },
      ],
      'month',
      palette,
    );
    expect(o.xAxis.data).toEqual(['Jan 2024', 'Feb 2024']);
    expect(o.series[0].data).toEqual([3, 0]);
    expect(o.series[0].type).toBe('bar');
  });
  it('plots hours when ranking by time', () => {
    const o = timelineOption([{ start: '2024-01-01', listens: 3, listening_secs: 5400 }], 'day', palette, 'time');
    expect(o.series[0].data).toEqual([1.5]);
  });
  it('places heatmap cells at hour × weekday', () => {
    const o = heatmapOption([{ weekday: 6, hour: 23, listens: 4 }], palette);
    expect(o.series[0].data).toEqual([[23, 6, 4]]);
    expect(o.visualMap.max).toBe(4);
  });
});
