import { cleanup, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';

afterEach(cleanup);
import KpiCard from './KpiCard.svelte';
import { fmtInt } from '../format';

describe('KpiCard', () => {
  it('shows the value and the change against the previous period', () => {
    render(KpiCard, { label: 'Listens', value: 1500, previous: 1000, format: fmtInt, testid: 'k' });
    expect(screen.getByTestId('k').dataset.value).toBe('1500');
    expect(screen.getByText('1,500')).toBeTruthy();
    expect(screen.getByText(/\+50%/)).toBeTruthy();
  });
  it('shows no comparison without a previous period', () => {
    render(KpiCard, { label: 'Listens', value: 7, format: fmtInt });
    expect(screen.queryByText(/vs previous/)).toBeNull();
  });
});
