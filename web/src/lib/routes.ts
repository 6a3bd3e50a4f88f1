/** The pages and their URL patterns (pure: tested in routes.test.ts). */
export type EntityKind = 'artists' | 'albums' | 'tracks' | 'genres';

export type Route =
  | { page: 'dashboard' }
  | { page: 'list'; kind: EntityKind }
  | { page: 'detail'; kind: EntityKind; id: string }
  | { page: 'history' }
  | { page: 'year'; year: number | null }
  | { page: 'reports' }
  | { page: 'settings' }
  | { page: 'status' }
  | { page: 'not-found'; path: string };

const KINDS: EntityKind[] = ['artists', 'albums', 'tracks', 'genres'];

export function matchRoute(path: string): Route {
  const parts = path.replace(/\/+$/, '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts.length === 0) return { page: 'dashboard' };
  const [head, arg, ...rest] = parts;
  if (rest.length > 0) return { page: 'not-found', path };
  if (KINDS.includes(head as EntityKind)) {
    const kind = head as EntityKind;
    return arg === undefined ? { page: 'list', kind } : { page: 'detail', kind, id: arg };
  }
  if (head === 'year') {
    if (arg === undefined) return { page: 'year', year: null };
    return /^\d{4}$/.test(arg) ? { page: 'year', year: Number(arg) } : { page: 'not-found', path };
  }
  if (arg !== undefined) return { page: 'not-found', path };
  if (head === 'history' || head === 'reports' || head === 'settings' || head === 'status') return { page: head };
  return { page: 'not-found', path };
}

export const KIND_LABEL: Record<EntityKind, { one: string; many: string }> = {
  artists: { one: 'Artist', many: 'Artists' },
  albums: { one: 'Album', many: 'Albums' },
  tracks: { one: 'Track', many: 'Tracks' },
  genres: { one: 'Genre', many: 'Genres' },
};

export function entityPath(kind: EntityKind, id: string): string {
  return `/${kind}/${encodeURIComponent(id)}`;
}
