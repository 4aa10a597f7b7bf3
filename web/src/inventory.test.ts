import { describe, expect, it } from 'vitest';
import { countBy, deviceMatches, deviceStatusCounts, filterDevices, modelVersion, normalizeHealth, sourceHealthCounts } from './inventory';
import type { Agent, Device } from './types';

const dev = (extra: Partial<Device>): Device => ({
  source: 'dma-main',
  id: 'd1',
  observed_at: '2025-01-01T00:00:00Z',
  type: 'endpoint',
  model: 'RealPresence Group 500',
  version: '6.2.2',
  site: 'Berlin',
  status: 'online',
  registration: 'registered',
  timezone: '',
  ...extra,
});

describe('countBy', () => {
  it('counts, sorts largest first (ties by label) and scales shares to the largest', () => {
    const rows = countBy(['b', 'a', 'b', 'c', 'a', 'b'], (x) => x);
    expect(rows).toEqual([
      { label: 'b', count: 3, share: 1 },
      { label: 'a', count: 2, share: 2 / 3 },
      { label: 'c', count: 1, share: 1 / 3 },
    ]);
  });
  it('counts empty keys as Unknown', () => {
    expect(countBy(['', '  ', null, 'x'], (x) => x)).toEqual([
      { label: 'Unknown', count: 3, share: 1 },
      { label: 'x', count: 1, share: 1 / 3 },
    ]);
  });
  it('folds the tail into an "Other" row', () => {
    const rows = countBy(['a', 'a', 'a', 'b', 'b', 'c', 'd', 'e'], (x) => x, 3);
    expect(rows.map((r) => [r.label, r.count])).toEqual([
      ['a', 3],
      ['b', 2],
      ['Other (3)', 3],
    ]);
    expect(rows[0].share).toBe(1);
  });
  it('is empty for no items', () => {
    expect(countBy([], (x: string) => x)).toEqual([]);
  });
});

describe('modelVersion', () => {
  it('joins model and version, or says what is missing', () => {
    expect(modelVersion({ model: 'HDX 8000', version: '3.1.14' })).toBe('HDX 8000 3.1.14');
    expect(modelVersion({ model: '', version: '3.1' })).toBe('3.1');
    expect(modelVersion({ model: 'HDX', version: '' })).toBe('HDX (version unknown)');
    expect(modelVersion({ model: '', version: '' })).toBe('');
  });
});

describe('device filter', () => {
  const a = dev({ id: 'a', name: 'Board room', site: 'Berlin' });
  const b = dev({ id: 'b', model: 'Poly Studio X50', version: '4.0.1', site: 'Paris', status: 'offline' });
  const viewer = dev({ id: 'c', name: undefined, model: 'Trio C60' });
  it('matches every word, case-insensitively, across fields', () => {
    expect(deviceMatches(a, '')).toBe(true);
    expect(deviceMatches(a, 'board BERLIN')).toBe(true);
    expect(deviceMatches(a, 'board paris')).toBe(false);
    expect(filterDevices([a, b, viewer], 'studio')).toEqual([b]);
    expect(filterDevices([a, b, viewer], 'offline')).toEqual([b]);
    expect(filterDevices([a, b, viewer], 'trio')).toEqual([viewer]);
  });
  it('counts statuses', () => {
    expect(deviceStatusCounts([a, b, viewer, dev({ status: 'unknown' })])).toEqual({ online: 2, offline: 1, unknown: 1 });
  });
});

describe('source health', () => {
  it('counts ok/degraded/failing and maps anything else to unknown', () => {
    const agent = (sources: Agent['sources']): Agent => ({
      id: 'x',
      name: 'x',
      enrolled_at: '',
      last_heartbeat: null,
      state: 'online',
      agent_version: null,
      uptime_s: null,
      sources,
    });
    const src = (status: string) => ({ name: 's', type: 'dma', status, last_error: null });
    expect(
      sourceHealthCounts([agent([src('ok'), src('failing')]), agent([src('degraded'), src('weird'), src('ok')])]),
    ).toEqual({ ok: 2, degraded: 1, failing: 1, unknown: 1 });
    expect(normalizeHealth({ status: 'bogus' })).toBe('unknown');
  });
});
