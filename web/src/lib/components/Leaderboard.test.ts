import { cleanup, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';

afterEach(cleanup);
import Leaderboard from './Leaderboard.svelte';

const items = [
  { rank: 1, id: '11', name: 'Angerfist', artist: null, listens: 40, listening_secs: 3600 },
  { rank: 2, id: '22', name: 'Miss K8', artist: null, listens: 10, listening_secs: 7200 },
];

describe('Leaderboard', () => {
  it('links each entity and shows its count', () => {
    render(Leaderboard, { items, kind: 'artists' });
    const link = screen.getByRole('link', { name: 'Angerfist' });
    expect(link.getAttribute('href')).toBe('/artists/11');
    expect(screen.getByText('40')).toBeTruthy();
  });
  it('shows listening time when ranking by time', () => {
    render(Leaderboard, { items, kind: 'artists', by: 'time' });
    expect(screen.getByText('2h 00m')).toBeTruthy();
  });
});
