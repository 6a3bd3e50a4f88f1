/** How numbers, durations and dates are shown. Pure, so the tests pin them down. */
import { format, formatDistanceToNowStrict, parseISO } from 'date-fns';

const int = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : int.format(Math.round(n));
}

/** A count with its noun: "1 day", "12 days" (an English plural in -s). */
export function fmtCount(n: number, noun: string): string {
  return `${fmtInt(n)} ${Math.round(n) === 1 ? noun : `${noun}s`}`;
}

export function fmtCompact(n: number): string {
  return Math.abs(n) < 10000 ? fmtInt(n) : compact.format(n);
}

export function fmtDecimal(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined ? '–' : n.toFixed(digits);
}

/** Listening time: `3d 4h`, `5h 07m`, `12m`, `45s`. */
export function fmtDuration(secs: number | null | undefined): string {
  if (secs === null || secs === undefined) return '–';
  const s = Math.max(0, Math.round(secs));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** Track length `m:ss`. */
export function fmtLength(secs: number | null | undefined): string {
  if (!secs) return '';
  const s = Math.round(secs);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function toDate(value: string | Date): Date {
  return value instanceof Date ? value : parseISO(value);
}

export function fmtDate(value: string | Date | null | undefined): string {
  return value ? format(toDate(value), 'd MMM yyyy') : '–';
}

export function fmtDateTime(value: string | Date | null | undefined): string {
  return value ? format(toDate(value), 'd MMM yyyy, HH:mm') : '–';
}

export function fmtAgo(value: string | Date, now?: Date): string {
  const d = toDate(value);
  const ref = now ?? new Date();
  if (ref.getTime() - d.getTime() < 45_000) return 'just now';
  return formatDistanceToNowStrict(d, { addSuffix: true });
}

/** Change against the previous period, as a signed percentage; null when there is nothing to compare. */
export function pctChange(current: number, previous: number | null | undefined): number | null {
  if (previous === null || previous === undefined) return null;
  if (previous === 0) return current === 0 ? 0 : null;
  return ((current - previous) / previous) * 100;
}

export function fmtPct(p: number | null): string {
  if (p === null) return 'new';
  const r = Math.round(p);
  return `${r > 0 ? '+' : r < 0 ? '−' : '±'}${Math.abs(r)}%`;
}
