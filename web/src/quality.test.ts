import { describe, expect, it } from 'vitest';
import { THRESHOLDS, classify, formatLoss, formatMos, formatMs, overallLevel, worstLevel, worstQuality } from './quality';
import type { QualitySample } from './types';

const s = (extra: Partial<QualitySample>): QualitySample => ({ party: 'orig', direction: 'rx', media: 'audio', ...extra });

describe('classify', () => {
  it('uses the documented bands (domain.md §5.2)', () => {
    expect(THRESHOLDS.loss).toMatchObject({ fair: 5, poor: 10 });
    expect(THRESHOLDS.jitter).toMatchObject({ fair: 10, poor: 30 });
    expect(THRESHOLDS.latency).toMatchObject({ fair: 150, poor: 250 });
    expect(THRESHOLDS.mos).toMatchObject({ fair: 3.7, poor: 3.0 });
  });
  it('packet loss: > 10 % poor, > 5 % fair, boundaries inclusive of the better band', () => {
    expect(classify('loss', 0)).toBe('good');
    expect(classify('loss', 5)).toBe('good');
    expect(classify('loss', 5.01)).toBe('fair');
    expect(classify('loss', 10)).toBe('fair');
    expect(classify('loss', 10.5)).toBe('poor');
  });
  it('jitter and latency', () => {
    expect(classify('jitter', 10)).toBe('good');
    expect(classify('jitter', 11)).toBe('fair');
    expect(classify('jitter', 31)).toBe('poor');
    expect(classify('latency', 150)).toBe('good');
    expect(classify('latency', 200)).toBe('fair');
    expect(classify('latency', 251)).toBe('poor');
  });
  it('MOS: higher is better; ≤ 3.0 poor, < 3.7 fair', () => {
    expect(classify('mos', 4.3)).toBe('good');
    expect(classify('mos', 3.7)).toBe('good');
    expect(classify('mos', 3.5)).toBe('fair');
    expect(classify('mos', 3.0)).toBe('poor');
  });
  it('absent or non-finite values are unmeasured, never good', () => {
    expect(classify('loss', undefined)).toBe('unmeasured');
    expect(classify('jitter', null)).toBe('unmeasured');
    expect(classify('mos', Number.NaN)).toBe('unmeasured');
  });
});

describe('worstLevel', () => {
  it('ranks poor > fair > good > unmeasured', () => {
    expect(worstLevel([])).toBe('unmeasured');
    expect(worstLevel(['good', 'unmeasured'])).toBe('good');
    expect(worstLevel(['good', 'fair', 'unmeasured'])).toBe('fair');
    expect(worstLevel(['fair', 'poor', 'good'])).toBe('poor');
  });
});

describe('worstQuality', () => {
  it('is empty for no samples or samples without metrics', () => {
    expect(worstQuality(undefined)).toEqual({ measured: 0 });
    expect(worstQuality([])).toEqual({ measured: 0 });
    expect(worstQuality([s({ codec: 'G.722', bitrate_kbps: 64 })])).toEqual({ measured: 0 });
    expect(overallLevel(worstQuality([]))).toBe('unmeasured');
  });
  it('takes the worst average over streams, lowest MOS, and keeps absent metrics absent', () => {
    const w = worstQuality([
      s({ packet_loss_pct_avg: 0.5, packet_loss_pct_max: 9, jitter_ms_avg: 12, mos: 4.1 }),
      s({ direction: 'tx', packet_loss_pct_avg: 2.5, jitter_ms_avg: 4, mos: 3.4 }),
      s({ media: 'video', bitrate_kbps: 1920 }),
    ]);
    expect(w).toEqual({ loss: 2.5, jitter: 12, mos: 3.4, measured: 2 });
    expect(w.latency).toBeUndefined();
    expect(overallLevel(w)).toBe('fair');
  });
  it('falls back to the maximum when a source reports only that', () => {
    const w = worstQuality([s({ jitter_ms_max: 45 })]);
    expect(w.jitter).toBe(45);
    expect(overallLevel(w)).toBe('poor');
  });
  it('a measured 0 stays 0 (perfect), distinct from absent', () => {
    const w = worstQuality([s({ packet_loss_pct_avg: 0 })]);
    expect(w.loss).toBe(0);
    expect(w.jitter).toBeUndefined();
    expect(overallLevel(w)).toBe('good');
  });
});

describe('metric formatting', () => {
  it('formats loss, ms and MOS; empty when absent', () => {
    expect(formatLoss(0)).toBe('0%');
    expect(formatLoss(0.05)).toBe('0.05%');
    expect(formatLoss(2.14)).toBe('2.1%');
    expect(formatLoss(3)).toBe('3%');
    expect(formatLoss(12.6)).toBe('13%');
    expect(formatLoss(undefined)).toBe('');
    expect(formatMs(34.4)).toBe('34 ms');
    expect(formatMs(0.8)).toBe('0.8 ms');
    expect(formatMs(null)).toBe('');
    expect(formatMos(4.123)).toBe('4.1');
    expect(formatMos(undefined)).toBe('');
  });
});
