import { describe, expect, it } from 'vitest';
import { ageSeconds, formatAgo, formatUptime, secondsBetween } from './format';

describe('formatAgo', () => {
  it('gives a short relative age', () => {
    expect(formatAgo(0)).toBe('just now');
    expect(formatAgo(1.9)).toBe('just now');
    expect(formatAgo(12)).toBe('12 s ago');
    expect(formatAgo(59.9)).toBe('59 s ago');
    expect(formatAgo(60)).toBe('1 min ago');
    expect(formatAgo(3599)).toBe('59 min ago');
    expect(formatAgo(3600)).toBe('1 h ago');
    expect(formatAgo(86399)).toBe('23 h ago');
    expect(formatAgo(2 * 86400 + 5)).toBe('2 d ago');
  });
  it('treats clock skew (negative) as just now and unknown as a dash', () => {
    expect(formatAgo(-30)).toBe('just now');
    expect(formatAgo(null)).toBe('—');
    expect(formatAgo(Number.NaN)).toBe('—');
  });
});

describe('ageSeconds', () => {
  const fetched = Date.parse('2030-01-01T00:00:00Z'); // the browser's (wrong) clock
  it('measures against the server clock plus local time elapsed', () => {
    // Server says 12:00:30; heartbeat at 12:00:18; 5 s passed locally since.
    expect(ageSeconds('2025-06-01T12:00:18Z', '2025-06-01T12:00:30Z', fetched, fetched + 5000)).toBe(17);
  });
  it('falls back to the local clock without a server time', () => {
    const now = Date.parse('2025-06-01T12:01:00Z');
    expect(ageSeconds('2025-06-01T12:00:00Z', null, now, now)).toBe(60);
  });
  it('is null for a missing or invalid time', () => {
    expect(ageSeconds(null, '2025-06-01T12:00:30Z', 0, 0)).toBeNull();
    expect(ageSeconds('garbage', '2025-06-01T12:00:30Z', 0, 0)).toBeNull();
  });
});

describe('formatUptime', () => {
  it('gives the two largest units', () => {
    expect(formatUptime(42)).toBe('42 s');
    expect(formatUptime(7 * 60 + 3)).toBe('7 min');
    expect(formatUptime(5 * 3600 + 12 * 60)).toBe('5 h 12 min');
    expect(formatUptime(3 * 86400 + 4 * 3600 + 59)).toBe('3 d 4 h');
    expect(formatUptime(null)).toBe('—');
    expect(formatUptime(-1)).toBe('—');
  });
});

describe('secondsBetween', () => {
  it('is the span in seconds, or null', () => {
    expect(secondsBetween('2025-01-01T10:00:00Z', '2025-01-01T10:30:05Z')).toBe(1805);
    expect(secondsBetween('2025-01-01T10:00:00Z', '2025-01-01T09:00:00Z')).toBeNull();
    expect(secondsBetween('', '2025-01-01T09:00:00Z')).toBeNull();
    expect(secondsBetween('2025-01-01T10:00:00Z', 'x')).toBeNull();
  });
});
