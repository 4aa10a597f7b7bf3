import { describe, expect, it } from 'vitest';
import {
  activePreset,
  formatDay,
  formatHours,
  formatLocalHour,
  formatRange,
  formatRate,
  hourSpan,
  isDate,
  poorShareChart,
  poorShareLevel,
  presetRange,
  rangeDays,
  rangeProblem,
  shiftDate,
  usageSeries,
} from './analytics';
import type { QualityFigures, UsageBucket } from './types';

const bucket = (label: string, completed: number, failed: number, minutes: number, peak: number): UsageBucket => ({
  start: '2026-01-14T05:00:00Z',
  label,
  calls: completed + failed,
  completed,
  failed,
  seconds: minutes * 60,
  minutes,
  peak_concurrent: peak,
});

const figures = (key: string, streams: number, poor: number | null): QualityFigures & { key: string } => ({
  key,
  calls: streams,
  streams,
  measured: { loss: streams, jitter: streams, latency: streams, mos: 0 },
  loss_pct_avg: null,
  jitter_ms_avg: null,
  latency_ms_avg: null,
  mos_avg: null,
  jitter_ms_p50: null,
  jitter_ms_p95: null,
  latency_ms_p50: null,
  latency_ms_p95: null,
  poor_jitter_share: poor,
  poor_latency_share: poor,
  poor_share: poor,
});

describe('dates', () => {
  it('does calendar arithmetic without a time zone', () => {
    expect(shiftDate('2026-03-01', -1)).toBe('2026-02-28');
    expect(shiftDate('2024-03-01', -1)).toBe('2024-02-29');
    expect(shiftDate('2025-12-31', 1)).toBe('2026-01-01');
    expect(rangeDays('2026-01-01', '2026-01-07')).toBe(7);
    expect(rangeDays('2026-01-07', '2026-01-01')).toBe(0);
    expect(isDate('2026-02-30')).toBe(false);
    expect(isDate('2026-2-3')).toBe(false);
  });
  it('builds and recognizes presets from the tenant\'s today', () => {
    expect(presetRange('2026-01-14', 7)).toEqual({ from: '2026-01-08', to: '2026-01-14' });
    expect(presetRange('2026-03-31', 30)).toEqual({ from: '2026-03-02', to: '2026-03-31' });
    expect(activePreset({ from: '2025-10-17', to: '2026-01-14' }, '2026-01-14')).toBe(90);
    expect(activePreset({ from: '2026-01-10', to: '2026-01-14' }, '2026-01-14')).toBeNull();
    expect(activePreset({ from: '2026-01-07', to: '2026-01-13' }, '2026-01-14')).toBeNull();
  });
  it('explains a range the server would refuse', () => {
    expect(rangeProblem({ from: '2026-01-14', to: '2026-01-13' })).toMatch(/after/);
    expect(rangeProblem({ from: '2024-01-01', to: '2026-01-13' })).toMatch(/400 days/);
    expect(rangeProblem({ from: '', to: '2026-01-13' })).toMatch(/both/);
    expect(rangeProblem({ from: '2025-01-01', to: '2026-02-04' })).toBeNull();
  });
  it('formats local labels as text, not through the browser zone', () => {
    expect(formatDay('2026-01-14')).toBe('Wed 14 Jan');
    expect(formatLocalHour('2026-01-14T10:00:00-05:00')).toBe('Wed 14 Jan, 10:00');
    expect(formatLocalHour('2026-01-14T23:00:00+05:30')).toBe('Wed 14 Jan, 23:00');
    expect(hourSpan('2026-01-14T23:00:00-05:00')).toBe('23:00–00:00');
    expect(formatRange({ from: '2026-01-08', to: '2026-01-14' })).toBe('8 Jan – 14 Jan 2026');
    expect(formatRange({ from: '2025-12-30', to: '2026-01-02' })).toBe('30 Dec 2025 – 2 Jan 2026');
  });
});

describe('usageSeries', () => {
  it('makes one category per local day', () => {
    const s = usageSeries([bucket('2026-01-13', 2, 0, 40, 1), bucket('2026-01-14', 3, 1, 140, 2)], 'day');
    expect(s).toEqual({
      categories: ['Tue 13 Jan', 'Wed 14 Jan'],
      completed: [2, 3],
      failed: [0, 1],
      peak: [1, 2],
      minutes: [40, 140],
    });
  });
  it('labels hours with the time, and the date at midnight', () => {
    const s = usageSeries(
      [bucket('2026-01-14T00:00:00-05:00', 0, 0, 20, 1), bucket('2026-01-14T10:00:00-05:00', 2, 1, 55.5, 2)],
      'hour',
    );
    expect(s.categories).toEqual(['14 Jan 00:00', '10:00']);
    expect(s.minutes).toEqual([20, 56]);
  });
});

describe('formatting', () => {
  it('formats hours and rates', () => {
    expect(formatHours(3.67)).toBe('3.7 h');
    expect(formatHours(2)).toBe('2 h');
    expect(formatHours(1234.4)).toBe('1,234 h');
    expect(formatRate(0.8571)).toBe('85.7%');
    expect(formatRate(1)).toBe('100%');
    expect(formatRate(0.0004)).toBe('<0.1%');
    expect(formatRate(null)).toBe('—');
  });
});

describe('poor share', () => {
  it('bands shares: good up to 3 %, fair up to 10 %, else poor', () => {
    expect(poorShareLevel(0)).toBe('good');
    expect(poorShareLevel(0.03)).toBe('good');
    expect(poorShareLevel(0.031)).toBe('fair');
    expect(poorShareLevel(0.1)).toBe('fair');
    expect(poorShareLevel(0.35)).toBe('poor');
    expect(poorShareLevel(null)).toBe('unmeasured');
  });
  it('charts the worst keys with measured streams first', () => {
    const chart = poorShareChart(
      [figures('London', 40, 0.025), figures('Paris', 10, 0.5), figures('Oslo', 0, null), figures('Rome', 80, 0.5)],
      2,
    );
    expect(chart).toEqual({ keys: ['Rome', 'Paris'], shares: [50, 50], levels: ['poor', 'poor'] });
    expect(poorShareChart([figures('London', 40, 0.025)]).shares).toEqual([2.5]);
  });
});
