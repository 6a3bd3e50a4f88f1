/** A small history-API router; the query API answers every deep link with index.html. */
import { matchRoute, type Route } from './routes';

class Place {
  path = $state('/');
  search = $state('');
  constructor() {
    if (typeof window !== 'undefined') {
      this.sync();
      window.addEventListener('popstate', () => this.sync());
    }
  }
  sync() {
    this.path = window.location.pathname;
    this.search = window.location.search;
  }
  get params(): URLSearchParams {
    return new URLSearchParams(this.search);
  }
  get route(): Route {
    return matchRoute(this.path);
  }
}

export const place = new Place();

/** The query parameters that follow the user from page to page. */
export const GLOBAL_PARAMS = ['range', 'from', 'to', 'user', 'by'] as const;

export function param(name: string): string | null {
  return place.params.get(name);
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.origin);
  const next = url.pathname + url.search + url.hash;
  const current = window.location.pathname + window.location.search + window.location.hash;
  if (next !== current) {
    if (opts.replace) history.replaceState(null, '', next);
    else history.pushState(null, '', next);
  }
  const pathChanged = url.pathname !== place.path;
  place.sync();
  if (pathChanged && !opts.replace) window.scrollTo({ top: 0 });
}

/** Change some query parameters of the current URL (null removes one). */
export function setParams(changes: Record<string, string | number | null | undefined>, replace = false): void {
  const params = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') params.delete(k);
    else params.set(k, String(v));
  }
  const qs = params.toString();
  navigate(window.location.pathname + (qs ? `?${qs}` : ''), { replace });
}

/** A link to `path` that keeps the global parameters (range, user, ...). */
export function link(path: string, extra: Record<string, string | number | null | undefined> = {}): string {
  const current = place.params;
  const params = new URLSearchParams();
  for (const k of GLOBAL_PARAMS) {
    const v = current.get(k);
    if (v) params.set(k, v);
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === null || v === undefined || v === '') params.delete(k);
    else params.set(k, String(v));
  }
  const qs = params.toString();
  return path + (qs ? `?${qs}` : '');
}

/** Send same-origin link clicks through the router instead of reloading the page. */
export function interceptLinks(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = (event.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
  const href = a.getAttribute('href');
  if (!href || href.startsWith('#') || /^[a-z]+:/i.test(href)) return;
  const url = new URL(href, window.location.origin);
  if (url.origin !== window.location.origin || /^\/(api|1|rest|schema|docs|2\.0)\//.test(url.pathname + '/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}
