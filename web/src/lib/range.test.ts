import { describe, expect, it } from 'vitest';
import { bucketFor, readBy, readSelection, windowQuery } from './range';

const sel = (qs: string) => readSelection(new URLSearchParams(qs));

describe('range selection from the URL', () => {
  it('defaults to the last 30 days for everyone', () => {
    expect(sel('')).toEqual({ range: 'month', from: null, to: null, user: null });
    expect(windowQuery(sel(''))).toEqual({ range: 'month' });
  });
  it('passes range and user', () => {
    expect(windowQuery(sel('range=year&user=teun'))).toEqual({ range: 'year', user: 'teun' });
  });
  it('ignores unknown ranges', () => {
    expect(sel('range=forever').range).toBe('month');
  });
  it('makes the custom end date inclusive', () => {
    expect(windowQuery(sel('from=2024-01-01&to=2024-01-31'))).toEqual({ from: '2024-01-01', to: '2024-02-01' });
  });
  it('picks readable buckets', () => {
    expect(bucketFor(sel('range=week'))).toBe('day');
    expect(bucketFor(sel('range=year'))).toBe('week');
    expect(bucketFor(sel('range=all_time'))).toBe('month');
    expect(bucketFor(sel('from=2024-01-01&to=2024-01-20'))).toBe('day');
  });
  it('ranks by plays unless told time', () => {
    expect(readBy(new URLSearchParams(''))).toBe('plays');
    expect(readBy(new URLSearchParams('by=time'))).toBe('time');
  });
});
