/** The global time window (range picker) and user, as they live in the URL. Pure. */
import { addDays, differenceInCalendarDays, format, parseISO } from 'date-fns';
import type { Range, WindowQuery } from './api/pending';

export const RANGE_CHOICES: { value: Range | 'custom'; label: string; short: string }[] = [
  { value: 'week', label: 'Last 7 days', short: 'Week' },
  { value: 'month', label: 'Last 30 days', short: 'Month' },
  { value: 'year', label: 'Last 365 days', short: 'Year' },
  { value: 'all_time', label: 'All time', short: 'All time' },
  { value: 'custom', label: 'Custom range', short: 'Custom' },
];

const KNOWN: Range[] = ['day', 'week', 'month', 'quarter', 'half_year', 'year', 'all_time'];
export const DEFAULT_RANGE: Range = 'month';

export interface Selection {
  range: Range | 'custom';
  from: string | null;
  to: string | null;
  user: string | null;
}

/** The selection the URL describes (`?range=`, `?from=&to=`, `?user=`). */
export function readSelection(params: URLSearchParams): Selection {
  const from = params.get('from');
  const to = params.get('to');
  const user = params.get('user') || null;
  if (from || to) return { range: 'custom', from, to, user };
  const raw = params.get('range') as Range | null;
  return { range: raw && KNOWN.includes(raw) ? raw : DEFAULT_RANGE, from: null, to: null, user };
}

/** Query parameters for a stats call. Custom `to` dates are inclusive in the UI, exclusive in the API. */
export function windowQuery(sel: Selection): WindowQuery {
  const q: WindowQuery = {};
  if (sel.user) q.user = sel.user;
  if (sel.range === 'custom') {
    if (sel.from) q.from = sel.from;
    if (sel.to) q.to = /^\d{4}-\d{2}-\d{2}$/.test(sel.to) ? format(addDays(parseISO(sel.to), 1), 'yyyy-MM-dd') : sel.to;
  } else {
    q.range = sel.range;
  }
  return q;
}

export function rangeLabel(sel: Selection): string {
  if (sel.range === 'custom') return `${sel.from ?? '…'} – ${sel.to ?? 'now'}`;
  return RANGE_CHOICES.find((c) => c.value === sel.range)?.label ?? sel.range.replace('_', ' ');
}

/** The bucket that gives a readable number of points for the window. */
export function bucketFor(sel: Selection): 'day' | 'week' | 'month' | 'year' {
  if (sel.range === 'custom') {
    if (!sel.from) return 'month';
    const days = differenceInCalendarDays(sel.to ? parseISO(sel.to) : new Date(), parseISO(sel.from));
    return days <= 62 ? 'day' : days <= 400 ? 'week' : 'month';
  }
  switch (sel.range) {
    case 'day':
    case 'week':
    case 'month':
      return 'day';
    case 'quarter':
    case 'half_year':
    case 'year':
      return 'week';
    default:
      return 'month';
  }
}

/** Ranking: by number of listens or by listening time. */
export type By = 'plays' | 'time';
export function readBy(params: URLSearchParams): By {
  return params.get('by') === 'time' ? 'time' : 'plays';
}
