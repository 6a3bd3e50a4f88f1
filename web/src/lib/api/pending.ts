/**
 * Endpoints that the binding stats spec names but the server's OpenAPI does not have yet.
 *
 * `client.ts` merges these under the generated `paths`: as soon as an endpoint lands and
 * `npm run gen-api` regenerates schema.d.ts, the generated type wins (`Omit<Pending, keyof paths>`),
 * so svelte-check then checks the pages against the real server. Delete entries once they land.
 */

import type { components } from './schema';

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

type S = components['schemas'];
export type StatsWindow = S['WindowOut'];
export type RankedItem = S['Ranked'];
export type RankedPage = S['RankedPage'];
export type KpiFigures = S['KpiValues'];
export type Kpis = S['Kpis'];
export type TimelinePoint = S['Point'];
export type Timeline = S['Timeline'];
export type HeatCell = S['HeatCell'];
export type Heatmap = S['Heatmap'];
export type Streaks = S['Streaks'];
export type Discovery = S['Discovery'];
export type HypeItem = S['HypeItem'];
export type EntityDetail = S['Detail'];
export type YearInReview = S['YearInReview'];
export type Report = S['Report'];
export type Job = S['JobOut'];
export type UserOut = S['UserOut'];

export interface pending {
  '/api/v1/admin/status': PathItem<{ get: Op<never, Record<string, unknown>> }>;
}
