// Aggregations over the device inventory and agents: pure functions, no DOM.
import type { Agent, AgentSource, Device } from './types';

export interface CountRow {
  label: string;
  count: number;
  /** count / the largest count, 0..1 (bar length). */
  share: number;
}

/**
 * Counts items by a key, largest first (ties by label); empty keys count as
 * `unknownLabel`. Rows beyond `top` are folded into one "Other (n)" row.
 */
export function countBy<T>(
  items: readonly T[],
  key: (t: T) => string | null | undefined,
  top = 8,
  unknownLabel = 'Unknown',
): CountRow[] {
  const m = new Map<string, number>();
  for (const it of items) {
    const k = (key(it) ?? '').trim() || unknownLabel;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  let rows = [...m.entries()]
    .map(([label, count]) => ({ label, count }))
    .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
  if (top > 0 && rows.length > top) {
    const rest = rows.slice(top - 1);
    const other = rest.reduce((n, r) => n + r.count, 0);
    rows = [...rows.slice(0, top - 1), { label: `Other (${rest.length})`, count: other }];
  }
  const max = rows.reduce((n, r) => Math.max(n, r.count), 0);
  return rows.map((r) => ({ ...r, share: max > 0 ? r.count / max : 0 }));
}

/** "Model version" label for the by-software-version summary. */
export function modelVersion(d: Pick<Device, 'model' | 'version'>): string {
  const model = d.model?.trim() ?? '';
  const version = d.version?.trim() ?? '';
  if (model && version) return `${model} ${version}`;
  return version || (model ? `${model} (version unknown)` : '');
}

/** Every word of `query` (case-insensitive) appears in one of the device's visible fields. */
export function deviceMatches(d: Device, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = [d.name, d.type, d.model, d.version, d.site, d.status, d.registration, d.source, d.id, d.ip, d.owner]
    .filter((x): x is string => typeof x === 'string' && x !== '')
    .join('\u0001')
    .toLowerCase();
  return words.every((w) => hay.includes(w));
}

export function filterDevices(devices: readonly Device[], query: string): Device[] {
  return devices.filter((d) => deviceMatches(d, query));
}

export interface StatusCounts {
  online: number;
  offline: number;
  unknown: number;
}

export function deviceStatusCounts(devices: readonly Device[]): StatusCounts {
  const c: StatusCounts = { online: 0, offline: 0, unknown: 0 };
  for (const d of devices) {
    if (d.status === 'online') c.online++;
    else if (d.status === 'offline') c.offline++;
    else c.unknown++;
  }
  return c;
}

export interface HealthCounts {
  ok: number;
  degraded: number;
  failing: number;
  unknown: number;
}

export function sourceHealthCounts(agents: readonly Agent[]): HealthCounts {
  const c: HealthCounts = { ok: 0, degraded: 0, failing: 0, unknown: 0 };
  for (const a of agents) for (const s of a.sources) c[normalizeHealth(s)]++;
  return c;
}

export function normalizeHealth(s: Pick<AgentSource, 'status'>): keyof HealthCounts {
  return s.status === 'ok' || s.status === 'degraded' || s.status === 'failing' ? s.status : 'unknown';
}
