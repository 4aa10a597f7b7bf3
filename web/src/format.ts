// Pure formatting helpers: no DOM, no globals besides Intl.
import type { Call, Party } from './types';

const DASH = '—';

function isFiniteNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** Seconds → "h:mm:ss" (e.g. 307 → "0:05:07", 90061 → "25:01:01"). */
export function formatDuration(seconds: number | null | undefined): string {
  if (!isFiniteNumber(seconds) || seconds < 0) return DASH;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * An RFC 3339 timestamp → "YYYY-MM-DD HH:MM:SS" in the given IANA time zone
 * (the browser's own zone when omitted). Invalid input gives "—".
 */
export function formatDateTime(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return DASH;
  if (!timeZone) {
    return (
      `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
    );
  }
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(d);
  const get = (t: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === t)?.value ?? '00';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
}

/** Date → "HH:MM:SS" in local time (for "updated at" labels). */
export function formatClock(d: Date): string {
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Integer with thousands separators ("12,345"). */
export function formatInt(n: number | null | undefined): string {
  if (!isFiniteNumber(n)) return DASH;
  return Math.round(n).toLocaleString('en-US');
}

/** part/whole as a percentage with one decimal ("87.5%"); "—" when whole is 0. */
export function formatPercent(part: number, whole: number): string {
  if (!isFiniteNumber(part) || !isFiniteNumber(whole) || whole <= 0) return DASH;
  const pct = (part / whole) * 100;
  return `${pct.toFixed(1).replace(/\.0$/, '')}%`;
}

/** "1,920 kbps", or "" when unknown. */
export function formatBitrate(kbps: number | null | undefined): string {
  if (!isFiniteNumber(kbps) || kbps <= 0) return '';
  if (kbps >= 10000) return `${(kbps / 1000).toFixed(1)} Mbps`;
  return `${formatInt(kbps)} kbps`;
}

/**
 * A party as a main label (name, else the best address), a muted second line
 * (number, else URI, else IP) and everything known joined (for a tooltip).
 */
export function formatParty(p: Party | null | undefined): { primary: string; secondary: string; all: string } {
  if (!p) return { primary: 'Unknown', secondary: '', all: '' };
  const addresses = [p.number, p.uri, p.ip].filter((x): x is string => !!x && x.trim() !== '');
  const unique = addresses.filter((a, i) => addresses.indexOf(a) === i);
  const name = p.name?.trim() ?? '';
  const all = [name, ...unique].filter(Boolean).join(' · ');
  if (name) return { primary: name, secondary: unique[0] ?? '', all };
  if (unique.length > 0) return { primary: unique[0], secondary: unique[1] ?? '', all };
  return { primary: 'Unknown', secondary: '', all };
}

/** Device label: "Model 1.2.3", model only, or "" when unknown. */
export function formatDevice(p: Party | null | undefined): string {
  if (!p) return '';
  const model = p.model?.trim() ?? '';
  const version = p.version?.trim() ?? '';
  if (model && version) return `${model} ${version}`;
  return model || (version ? `v${version}` : '');
}

/** "video" → "Video", "h323" stays as given in upper case ("H323"), empty → "—". */
const ROLE_LABELS: Record<string, string> = {
  platform_admin: 'Platform admin',
  tenant_admin: 'Admin',
  analyst: 'Analyst',
  viewer: 'Viewer',
};

/** A role as people say it ("tenant_admin" -> "Admin"); unknown roles pass through. */
export function roleLabel(role: string): string {
  return ROLE_LABELS[role] ?? role;
}

export function titleCase(s: string | null | undefined): string {
  if (!s) return DASH;
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Stable identity of a call across pages and refreshes. */
export function callKey(c: Pick<Call, 'source' | 'id'>): string {
  return `${c.source}\u0000${c.id}`;
}

export interface CallStats {
  shown: number;
  completed: number;
  failed: number;
  avgDurationS: number | null;
}

/** KPIs over the calls currently loaded in the table. */
export function computeStats(calls: readonly Call[]): CallStats {
  let completed = 0;
  let failed = 0;
  let durSum = 0;
  let durN = 0;
  for (const c of calls) {
    if (c.status === 'completed') completed++;
    else if (c.status === 'failed') failed++;
    if (isFiniteNumber(c.duration_s) && c.duration_s >= 0) {
      durSum += c.duration_s;
      durN++;
    }
  }
  return { shown: calls.length, completed, failed, avgDurationS: durN > 0 ? durSum / durN : null };
}

/**
 * Merges a freshly fetched first page into the loaded list (newest first).
 * Calls not yet loaded are prepended; known ones are updated in place. When the
 * fresh page shares no call with a non-empty list (more new calls arrived than
 * one page holds), there is a gap: the caller should restart from the fresh page,
 * signalled by `gap: true`.
 */
export function mergeFirstPage(
  loaded: readonly Call[],
  fresh: readonly Call[],
): { calls: Call[]; added: string[]; gap: boolean } {
  const freshByKey = new Map(fresh.map((c) => [callKey(c), c] as const));
  const loadedKeys = new Set(loaded.map(callKey));
  const added = fresh.filter((c) => !loadedKeys.has(callKey(c)));
  const overlap = added.length < fresh.length;
  if (loaded.length > 0 && fresh.length > 0 && !overlap) {
    return { calls: [...fresh], added: added.map(callKey), gap: true };
  }
  const updated = loaded.map((c) => freshByKey.get(callKey(c)) ?? c);
  const sortedNew = [...added].sort((a, b) => Date.parse(b.start) - Date.parse(a.start));
  return { calls: [...sortedNew, ...updated], added: sortedNew.map(callKey), gap: false };
}

/** Appends a next page, skipping calls already present. */
export function appendPage(loaded: readonly Call[], page: readonly Call[]): Call[] {
  const keys = new Set(loaded.map(callKey));
  return [...loaded, ...page.filter((c) => !keys.has(callKey(c)))];
}

/**
 * Seconds elapsed → "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago".
 * Negative ages (clock skew) count as "just now"; non-numbers give "—".
 */
export function formatAgo(seconds: number | null | undefined): string {
  if (!isFiniteNumber(seconds)) return DASH;
  const s = Math.max(0, Math.floor(seconds));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * Age in seconds of `iso` as the server sees it: measured against the
 * server's clock (`serverTime`, when it answered at local `fetchedAtMs`) plus
 * the local time elapsed since, so a browser with a wrong clock still shows
 * the right age. null when `iso` is missing or invalid.
 */
export function ageSeconds(
  iso: string | null | undefined,
  serverTime: string | null | undefined,
  fetchedAtMs: number,
  nowMs: number,
): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  const server = serverTime ? Date.parse(serverTime) : NaN;
  const ref = Number.isNaN(server) ? nowMs : server + (nowMs - fetchedAtMs);
  return (ref - t) / 1000;
}

/** Seconds → "3 d 4 h", "5 h 12 min", "7 min", "42 s"; "—" when unknown. */
export function formatUptime(seconds: number | null | undefined): string {
  if (!isFiniteNumber(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

/** Seconds from `start` to `end` (RFC 3339); null when either is missing or invalid or end < start. */
export function secondsBetween(start: string | null | undefined, end: string | null | undefined): number | null {
  if (!start || !end) return null;
  const a = Date.parse(start);
  const b = Date.parse(end);
  if (Number.isNaN(a) || Number.isNaN(b) || b < a) return null;
  return (b - a) / 1000;
}
