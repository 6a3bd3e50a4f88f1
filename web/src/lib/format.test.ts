import { describe, expect, it } from 'vitest';
import { fmtCount, fmtDuration, fmtInt, fmtLength, fmtPct, pctChange } from './format';

describe('format', () => {
  it('counts with the right noun', () => {
    expect(fmtCount(1, 'day')).toBe('1 day');
    expect(fmtCount(0, 'day')).toBe('0 days');
    expect(fmtCount(1234, 'day')).toBe('1,234 days');
  });

  it('groups integers', () => {
    expect(fmtInt(1234567)).toBe('1,234,567');
    expect(fmtInt(null)).toBe('–');
  });
  it.each([
    [45, '45s'],
    [600, '10m'],
    [3600 + 7 * 60, '1h 07m'],
    [3 * 86400 + 4 * 3600 + 59, '3d 4h'],
  ])('shows %i seconds as %s', (secs, text) => {
    expect(fmtDuration(secs)).toBe(text);
  });
  it('shows track lengths', () => {
    expect(fmtLength(312)).toBe('5:12');
  });
  it('compares with the previous period', () => {
    expect(pctChange(150, 100)).toBe(50);
    expect(pctChange(5, 0)).toBeNull();
    expect(pctChange(5, null)).toBeNull();
    expect(fmtPct(-25.4)).toBe('−25%');
    expect(fmtPct(12.6)).toBe('+13%');
    expect(fmtPct(null)).toBe('new');
  });
});
