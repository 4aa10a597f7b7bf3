import { describe, expect, it } from 'vitest';
import {
  appendPage,
  callKey,
  computeStats,
  formatBitrate,
  formatDateTime,
  formatDevice,
  formatDuration,
  formatInt,
  formatParty,
  formatPercent,
  mergeFirstPage,
  titleCase,
  roleLabel,
} from './format';
import type { Call } from './types';

function call(id: string, start: string, extra: Partial<Call> = {}): Call {
  return {
    source: 'dma1',
    id,
    start,
    end: null,
    duration_s: 60,
    status: 'completed',
    orig: {},
    dest: {},
    ...extra,
  };
}

describe('formatDuration', () => {
  it('formats h:mm:ss', () => {
    expect(formatDuration(0)).toBe('0:00:00');
    expect(formatDuration(7)).toBe('0:00:07');
    expect(formatDuration(307)).toBe('0:05:07');
    expect(formatDuration(3600)).toBe('1:00:00');
    expect(formatDuration(90061)).toBe('25:01:01');
  });
  it('rounds fractional seconds', () => {
    expect(formatDuration(59.6)).toBe('0:01:00');
    expect(formatDuration(59.4)).toBe('0:00:59');
  });
  it('shows a dash for missing or invalid values', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(undefined)).toBe('—');
    expect(formatDuration(NaN)).toBe('—');
    expect(formatDuration(-5)).toBe('—');
  });
});

describe('formatDateTime', () => {
  it('formats in a given time zone', () => {
    expect(formatDateTime('2024-12-04T13:05:09Z', 'UTC')).toBe('2024-12-04 13:05:09');
    expect(formatDateTime('2024-12-04T13:05:09Z', 'Europe/Berlin')).toBe('2024-12-04 14:05:09');
    expect(formatDateTime('2024-07-01T00:30:00Z', 'America/New_York')).toBe('2024-06-30 20:30:00');
  });
  it('uses 24-hour clock at midnight', () => {
    expect(formatDateTime('2024-01-01T00:00:00Z', 'UTC')).toBe('2024-01-01 00:00:00');
  });
  it('formats in local time by default', () => {
    const iso = '2024-12-04T13:05:09Z';
    const d = new Date(iso);
    const p = (n: number) => String(n).padStart(2, '0');
    const expected = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    expect(formatDateTime(iso)).toBe(expected);
  });
  it('shows a dash for bad input', () => {
    expect(formatDateTime('')).toBe('—');
    expect(formatDateTime(null)).toBe('—');
    expect(formatDateTime('not a date')).toBe('—');
  });
});

describe('numbers', () => {
  it('formatInt', () => {
    expect(formatInt(1234567)).toBe('1,234,567');
    expect(formatInt(0)).toBe('0');
    expect(formatInt(null)).toBe('—');
  });
  it('formatPercent', () => {
    expect(formatPercent(1, 2)).toBe('50%');
    expect(formatPercent(7, 8)).toBe('87.5%');
    expect(formatPercent(2, 3)).toBe('66.7%');
    expect(formatPercent(0, 0)).toBe('—');
  });
  it('formatBitrate', () => {
    expect(formatBitrate(1920)).toBe('1,920 kbps');
    expect(formatBitrate(12000)).toBe('12.0 Mbps');
    expect(formatBitrate(0)).toBe('');
    expect(formatBitrate(null)).toBe('');
  });
});

describe('parties and devices', () => {
  it('prefers the name, with addresses as second line', () => {
    expect(formatParty({ name: 'Board Room', number: '1001', uri: 'sip:1001@example.com' })).toEqual({
      primary: 'Board Room',
      secondary: '1001',
      all: 'Board Room · 1001 · sip:1001@example.com',
    });
    expect(formatParty({ name: 'Lab', uri: 'sip:lab@example.com' }).secondary).toBe('sip:lab@example.com');
  });
  it('falls back to number, uri, ip', () => {
    expect(formatParty({ number: '1001', uri: 'sip:a@b' })).toMatchObject({ primary: '1001', secondary: 'sip:a@b' });
    expect(formatParty({ uri: 'sip:a@b' })).toMatchObject({ primary: 'sip:a@b', secondary: '' });
    expect(formatParty({ ip: '10.0.0.1' })).toMatchObject({ primary: '10.0.0.1', secondary: '' });
    expect(formatParty({})).toEqual({ primary: 'Unknown', secondary: '', all: '' });
    expect(formatParty(null)).toEqual({ primary: 'Unknown', secondary: '', all: '' });
  });
  it('does not repeat identical addresses', () => {
    expect(formatParty({ name: 'X', number: '42', uri: '42' }).all).toBe('X · 42');
  });
  it('formatDevice', () => {
    expect(formatDevice({ model: 'RealPresence Group 500', version: '6.2.2' })).toBe('RealPresence Group 500 6.2.2');
    expect(formatDevice({ model: 'Trio 8800' })).toBe('Trio 8800');
    expect(formatDevice({ version: '1.0' })).toBe('v1.0');
    expect(formatDevice({})).toBe('');
  });
  it('roleLabel', () => {
    expect(roleLabel('tenant_admin')).toBe('Admin');
    expect(roleLabel('viewer')).toBe('Viewer');
    expect(roleLabel('something_new')).toBe('something_new');
  });

  it('titleCase', () => {
    expect(titleCase('video')).toBe('Video');
    expect(titleCase('')).toBe('—');
  });
});

describe('stats', () => {
  it('computes KPIs over loaded calls', () => {
    const s = computeStats([
      call('1', '2024-01-01T00:00:00Z', { duration_s: 100 }),
      call('2', '2024-01-01T00:00:00Z', { duration_s: 200, status: 'failed' }),
      call('3', '2024-01-01T00:00:00Z', { duration_s: null }),
    ]);
    expect(s).toEqual({ shown: 3, completed: 2, failed: 1, avgDurationS: 150 });
    expect(computeStats([]).avgDurationS).toBeNull();
  });
});

describe('paging merges', () => {
  const a = call('a', '2024-01-01T00:00:03Z');
  const b = call('b', '2024-01-01T00:00:02Z');
  const c = call('c', '2024-01-01T00:00:01Z');
  const d = call('d', '2024-01-01T00:00:04Z');
  const e = call('e', '2024-01-01T00:00:05Z');

  it('prepends new calls newest first and keeps loaded pages', () => {
    const m = mergeFirstPage([a, b, c], [e, d, a]);
    expect(m.calls.map((x) => x.id)).toEqual(['e', 'd', 'a', 'b', 'c']);
    expect(m.added).toEqual([callKey(e), callKey(d)]);
    expect(m.gap).toBe(false);
  });
  it('updates known calls in place', () => {
    const a2 = { ...a, status: 'failed', cause: 'x' };
    const m = mergeFirstPage([a, b], [a2, b]);
    expect(m.calls[0].status).toBe('failed');
    expect(m.added).toEqual([]);
  });
  it('reports a gap when nothing overlaps', () => {
    const m = mergeFirstPage([b, c], [e, d]);
    expect(m.gap).toBe(true);
    expect(m.calls.map((x) => x.id)).toEqual(['e', 'd']);
  });
  it('fills an empty list', () => {
    const m = mergeFirstPage([], [a, b]);
    expect(m.calls.map((x) => x.id)).toEqual(['a', 'b']);
    expect(m.gap).toBe(false);
  });
  it('appendPage skips duplicates', () => {
    expect(appendPage([a, b], [b, c]).map((x) => x.id)).toEqual(['a', 'b', 'c']);
  });
  it('callKey separates sources', () => {
    expect(callKey({ source: 'dma1', id: '1' })).not.toBe(callKey({ source: 'dma2', id: '1' }));
  });
});
