/**
 * Endpoints that the binding stats spec names but the server's OpenAPI does not have yet.
 *
 * `client.ts` merges these under the generated `paths`: as soon as an endpoint lands and
 * `npm run gen-api` regenerates schema.d.ts, the generated type wins (`Omit<Pending, keyof paths>`),
 * so svelte-check then checks the pages against the real server. Delete entries once they land.
 */

type Json<T> = { content: { 'application/json': T } };
type ErrorBody = { error: string; detail?: unknown };
type Params<Q, P> = ([P] extends [never] ? { path?: never } : { path: P }) & {
  query?: Q;
  header?: never;
  cookie?: never;
};
type Op<Q, R, P = never, B = never> = {
  parameters: Params<Q, P>;
  responses: { 200: Json<R>; 201: Json<R>; 202: Json<R>; default: Json<ErrorBody> };
} & ([B] extends [never] ? { requestBody?: never } : { requestBody: { content: { 'application/json': B } } });
type PathItem<Ops> = {
  parameters: { query?: never; header?: never; path?: never; cookie?: never };
} & Ops;

export type Range = 'day' | 'week' | 'month' | 'quarter' | 'half_year' | 'year' | 'all_time';
export type WindowQuery = { user?: string; range?: Range; from?: string; to?: string };
export type RankQuery = WindowQuery & { limit?: number; by?: 'plays' | 'time'; q?: string; page?: number; page_size?: number };

export interface StatsWindow { since: string | null; until: string | null; label: string }
export interface RankedItem {
  rank: number; id: string; name: string; artist?: string | null; listens: number; listening_secs: number;
}
export interface RankedPage { items: RankedItem[]; total: number; page: number; page_size: number; window: StatsWindow; by: string }
export interface KpiFigures {
  listens: number; listening_secs: number; artists: number; albums: number; tracks: number; genres: number;
  active_days: number; avg_listens_per_day: number;
}
export interface Kpis { window: StatsWindow; current: KpiFigures; previous: KpiFigures | null }
export interface TimelinePoint { start: string; listens: number; listening_secs: number }
export interface Timeline { window: StatsWindow; bucket: string; points: TimelinePoint[] }
export interface HeatCell { weekday: number; hour: number; listens: number }
export interface Heatmap { window: StatsWindow; cells: HeatCell[] }
export interface Streak { start: string; end: string; days: number }
export interface Streaks { longest: Streak | null; current: Streak | null }
export interface Discovery { id: string; name: string; artist?: string | null; first_listen: string; listens: number }
export interface Discoveries { window: StatsWindow; items: Discovery[] }
export interface HypeItem { id: string; name: string; artist?: string | null; listens: number; previous_listens: number; change: number }
export interface Hype { window: StatsWindow; items: HypeItem[] }
export interface EntityDetail {
  id: string; name: string; artist?: string | null; first_listen: string | null; last_listen: string | null;
  listens: number; listening_secs: number; top_tracks?: RankedItem[]; top_albums?: RankedItem[];
  top_artists?: RankedItem[]; timeline: TimelinePoint[];
}
export interface YearInReview {
  year: number; kpis: Kpis | KpiFigures; top_artists: RankedItem[]; top_albums: RankedItem[]; top_tracks: RankedItem[];
  top_genres: RankedItem[]; timeline: TimelinePoint[]; heatmap: HeatCell[] | Heatmap; streaks: Streaks;
  discoveries: Discovery[] | Discoveries;
}
export interface Report {
  window: StatsWindow; kpis: Kpis | KpiFigures; top_artists: RankedItem[]; top_albums: RankedItem[];
  top_tracks: RankedItem[]; top_genres: RankedItem[];
}
export interface UserOut { name: string; created_at?: string | null; tokens?: number | null }
export interface Job {
  id: string; kind: string; status: string; user?: string | null; done?: number | null; total?: number | null;
  detail?: string | null; started_at?: string | null; updated_at?: string | null; [key: string]: unknown;
}
export interface PlayingNow { payload: { count: number; listens: { track_metadata: { artist_name: string; track_name: string; release_name?: string | null } }[] } }

export interface pending {
  '/api/v1/stats/artists': PathItem<{ get: Op<RankQuery, RankedPage> }>;
  '/api/v1/stats/albums': PathItem<{ get: Op<RankQuery, RankedPage> }>;
  '/api/v1/stats/tracks': PathItem<{ get: Op<RankQuery, RankedPage> }>;
  '/api/v1/stats/genres': PathItem<{ get: Op<RankQuery, RankedPage> }>;
  '/api/v1/stats/kpis': PathItem<{ get: Op<WindowQuery, Kpis> }>;
  '/api/v1/stats/timeline': PathItem<{ get: Op<WindowQuery & { bucket?: 'day' | 'week' | 'month' | 'year' }, Timeline> }>;
  '/api/v1/stats/heatmap': PathItem<{ get: Op<WindowQuery & { tz?: string }, Heatmap> }>;
  '/api/v1/stats/streaks': PathItem<{ get: Op<{ user?: string }, Streaks> }>;
  '/api/v1/stats/discoveries': PathItem<{ get: Op<WindowQuery & { kind?: 'artists' | 'tracks'; limit?: number }, Discoveries> }>;
  '/api/v1/stats/hype': PathItem<{ get: Op<WindowQuery & { kind?: 'artists' | 'tracks' | 'albums'; limit?: number }, Hype> }>;
  '/api/v1/stats/artists/{id}': PathItem<{ get: Op<WindowQuery, EntityDetail, { id: string }> }>;
  '/api/v1/stats/albums/{id}': PathItem<{ get: Op<WindowQuery, EntityDetail, { id: string }> }>;
  '/api/v1/stats/tracks/{id}': PathItem<{ get: Op<WindowQuery, EntityDetail, { id: string }> }>;
  '/api/v1/stats/genres/{name}': PathItem<{ get: Op<WindowQuery, EntityDetail, { name: string }> }>;
  '/api/v1/stats/year-in-review': PathItem<{ get: Op<{ user?: string; year: number; by?: 'plays' | 'time' }, YearInReview> }>;
  '/api/v1/stats/reports': PathItem<{ get: Op<{ user?: string; period: 'week' | 'month'; value?: string; by?: 'plays' | 'time' }, Report> }>;
  '/api/v1/config': PathItem<{
    get: Op<never, Record<string, unknown>>;
    put: Op<never, Record<string, unknown>, never, Record<string, unknown>>;
  }>;
  '/api/v1/users': PathItem<{ get: Op<never, UserOut[] | { items: UserOut[] }> }>;
  '/api/v1/jobs': PathItem<{ get: Op<{ limit?: number }, Job[] | { items: Job[] }> }>;
  '/api/v1/jobs/{id}': PathItem<{ get: Op<never, Job, { id: string }> }>;
  '/api/v1/import/listenbrainz': PathItem<{ post: Op<never, Job | { job_id: string }, never, { user: string; page_size?: number; listenbrainz_user?: string; token?: string }> }>;
  '/api/v1/export/listenbrainz': PathItem<{ post: Op<never, Job | { job_id: string }, never, { user?: string; listen_type?: string; batch_size?: number }> }>;
  '/api/v1/admin/status': PathItem<{ get: Op<never, Record<string, unknown>> }>;
  '/1/user/{user}/playing-now': PathItem<{ get: Op<never, PlayingNow, { user: string }> }>;
}
