import { describe, expect, it } from 'vitest';
import { entityPath, matchRoute } from './routes';

describe('matchRoute', () => {
  it.each([
    ['/', { page: 'dashboard' }],
    ['/artists', { page: 'list', kind: 'artists' }],
    ['/artists/', { page: 'list', kind: 'artists' }],
    ['/albums/123', { page: 'detail', kind: 'albums', id: '123' }],
    ['/genres/drum%20%26%20bass', { page: 'detail', kind: 'genres', id: 'drum & bass' }],
    ['/year/2024', { page: 'year', year: 2024 }],
    ['/year', { page: 'year', year: null }],
    ['/history', { page: 'history' }],
    ['/reports', { page: 'reports' }],
    ['/settings', { page: 'settings' }],
    ['/status', { page: 'status' }],
    ['/year/abc', { page: 'not-found', path: '/year/abc' }],
    ['/nope', { page: 'not-found', path: '/nope' }],
  ])('%s', (path, route) => {
    expect(matchRoute(path)).toEqual(route);
  });
  it('round-trips entity paths', () => {
    expect(matchRoute(entityPath('genres', 'drum & bass'))).toEqual({ page: 'detail', kind: 'genres', id: 'drum & bass' });
  });
});
