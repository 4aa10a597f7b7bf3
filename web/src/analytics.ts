// Data shaping for the Utilization and Quality dashboards: pure functions, no
// DOM. The server does the arithmetic (rollups, the tenant's time zone);
// this turns its answers into chart series, labels and colour bands.
import type { QualityFigures, UsageBucket } from './types';
import type { QualityLevel } from './quality';

/** The date-range presets offered on both dashboards, in days. */
export const PRESETS = [7, 30, 90] as const;
/** The server's limit for a range (hourly rollups). */
export const MAX_RANGE_DAYS = 400;
/** Hourly charts are offered up to this many days (more bars are unreadable). */
export const MAX_HOURLY_DAYS = 14;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function dayNumber(date: string): number | null {
  const m = DATE_RE.exec(date);
  if (!m) return null;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3]);
  const d = new Date(t);
  if (d.getUTCFullYear() !== +m[1] || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3]) return null;
  return Math.round(t / 86400000);
}

function fromDayNumber(n: number): string {
  return new Date(n * 86400000).toISOString().slice(0, 10);
}

/** True for a real calendar date "YYYY-MM-DD". */
export function isDate(date: string): boolean {
  return dayNumber(date) !== null;
}

/** The date `days` after (or before) a calendar date; calendar arithmetic, no time zone. */
export function shiftDate(date: string, days: number): string {
  const n = dayNumber(date);
  if (n === null) throw new Error(`not a date: ${date}`);
  return fromDayNumber(n + days);
}

/** Days in an inclusive range (0 when reversed or invalid). */
export function rangeDays(from: string, to: string): number {
  const a = dayNumber(from);
  const b = dayNumber(to);
  if (a === null || b === null || b < a) return 0;
  return b - a + 1;
}

export interface DateRange {
  from: string;
  to: string;
}

/** The `days` local days ending on `today` (the tenant's today, as the server reported it). */
export function presetRange(today: string, days: number): DateRange {
  return { from: shiftDate(today, -(days - 1)), to: today };
}

/** The preset a range is, if any. */
export function activePreset(range: DateRange, today: string): number | null {
  if (range.to !== today) return null;
  const n = rangeDays(range.from, range.to);
  return (PRESETS as readonly number[]).includes(n) ? n : null;
}

/** Why a custom range cannot be asked for, or null when it can. */
export function rangeProblem(range: DateRange): string | null {
  if (!isDate(range.from) || !isDate(range.to)) return 'Enter both dates.';
  const n = rangeDays(range.from, range.to);
  if (n === 0) return 'The start date is after the end date.';
  if (n > MAX_RANGE_DAYS) return `A range spans at most ${MAX_RANGE_DAYS} days.`;
  return null;
}

/** "Wed 14 Jan" from "2026-01-14". */
export function formatDay(date: string, withWeekday = true): string {
  const n = dayNumber(date.slice(0, 10));
  if (n === null) return date;
  const d = new Date(n * 86400000);
  const text = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  return withWeekday ? `${WEEKDAYS[d.getUTCDay()]} ${text}` : text;
}

/** "14 Jan 2026 – 20 Jan 2026" style range, shortened within one year. */
export function formatRange(range: DateRange): string {
  const y1 = range.from.slice(0, 4);
  const y2 = range.to.slice(0, 4);
  if (range.from === range.to) return `${formatDay(range.from)} ${y1}`;
  return y1 === y2
    ? `${formatDay(range.from, false)} – ${formatDay(range.to, false)} ${y2}`
    : `${formatDay(range.from, false)} ${y1} – ${formatDay(range.to, false)} ${y2}`;
}

/**
 * A local hour label from the server ("2026-01-14T10:00:00-05:00") as
 * "Wed 14 Jan, 10:00". The label is already in the tenant's zone: it is read
 * as text, never through the browser's time zone.
 */
export function formatLocalHour(label: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/.exec(label);
  if (!m) return label;
  return `${formatDay(m[1])}, ${m[2]}:${m[3]}`;
}

/** The hour after a local hour label, as "HH:MM" (for "10:00–11:00"). */
export function hourSpan(label: string): string {
  const m = /T(\d{2}):(\d{2})/.exec(label);
  if (!m) return '';
  const h = (+m[1] + 1) % 24;
  return `${m[1]}:${m[2]}–${String(h).padStart(2, '0')}:${m[2]}`;
}

export interface UsageSeries {
  categories: string[];
  completed: number[];
  failed: number[];
  peak: number[];
  minutes: number[];
}

/** Chart series from the usage buckets: one category per local day or hour. */
export function usageSeries(buckets: readonly UsageBucket[], grain: 'day' | 'hour'): UsageSeries {
  const out: UsageSeries = { categories: [], completed: [], failed: [], peak: [], minutes: [] };
  for (const b of buckets) {
    if (grain === 'day') {
      out.categories.push(formatDay(b.label, buckets.length <= 14));
    } else {
      const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/.exec(b.label);
      out.categories.push(m ? (m[2] === '00' ? `${formatDay(m[1], false)} 00:00` : `${m[2]}:${m[3]}`) : b.label);
    }
    out.completed.push(b.completed);
    out.failed.push(b.failed);
    out.peak.push(b.peak_concurrent);
    out.minutes.push(Math.round(b.minutes));
  }
  return out;
}

/** "3.7 h", "12 h", "1,234 h". */
export function formatHours(hours: number): string {
  if (!Number.isFinite(hours)) return '—';
  if (hours < 10) return `${hours.toFixed(1).replace(/\.0$/, '')} h`;
  return `${Math.round(hours).toLocaleString('en-US')} h`;
}

/** "85.7%" from 0.857; "—" when absent. */
export function formatRate(rate: number | null | undefined, digits = 1): string {
  if (rate == null || !Number.isFinite(rate)) return '—';
  const pct = rate * 100;
  if (pct > 0 && pct < 0.1) return '<0.1%';
  return `${pct.toFixed(digits).replace(/\.0+$/, '')}%`;
}

/**
 * Colour band of a poor-stream share. A design choice (docs/analytics.md):
 * up to 3 % good, up to 10 % fair, above that poor; no measured stream →
 * "unmeasured", never good.
 */
export const POOR_SHARE_BANDS = { fair: 0.03, poor: 0.1 } as const;

export function poorShareLevel(share: number | null | undefined): QualityLevel {
  if (share == null || !Number.isFinite(share)) return 'unmeasured';
  if (share > POOR_SHARE_BANDS.poor) return 'poor';
  if (share > POOR_SHARE_BANDS.fair) return 'fair';
  return 'good';
}

export interface PoorChart {
  keys: string[];
  /** Percent, one decimal. */
  shares: number[];
  levels: QualityLevel[];
}

/**
 * The bar chart of the Quality page: keys with measured streams, worst poor
 * share first (ties: more streams first), at most `limit`.
 */
export function poorShareChart(rows: readonly (QualityFigures & { key: string })[], limit = 12): PoorChart {
  const measured = rows.filter((r) => r.poor_share != null && r.streams > 0);
  measured.sort((a, b) => (b.poor_share ?? 0) - (a.poor_share ?? 0) || b.streams - a.streams || a.key.localeCompare(b.key));
  const top = measured.slice(0, limit);
  return {
    keys: top.map((r) => r.key || '(none)'),
    shares: top.map((r) => Math.round((r.poor_share ?? 0) * 1000) / 10),
    levels: top.map((r) => poorShareLevel(r.poor_share)),
  };
}

export const DIMENSION_LABEL: Record<'site' | 'model' | 'source', string> = {
  site: 'Site',
  model: 'Device model',
  source: 'Source',
};
