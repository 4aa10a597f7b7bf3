// Media-quality thresholds and classification: pure functions, no DOM.
//
// Bands come from /work/shared/domain.md §5.2 (documented in docs/portal.md):
//   poor: the Microsoft Teams CQD audio rule — packet loss > 10 %, jitter
//         > 30 ms, round trip > 500 ms (our latency is one-way, so > 250 ms);
//         MOS ≤ 3.0 is Twilio's "degraded" band.
//   fair: packet loss > 5 % (Unify Circuit warning), jitter > 10 ms (end of
//         Plivo's "good" band), one-way latency > 150 ms (ITU-T G.114 budget),
//         MOS < 3.7 (Twilio's "fair" band, 3.1–3.6).
//   good: measured and none of the above.
//   unmeasured: no metric present at all ("Unclassified" in CQD) — never
//         shown as good, and never as 0.
import type { QualitySample } from './types';

export type QualityLevel = 'good' | 'fair' | 'poor' | 'unmeasured';
export type Metric = 'loss' | 'jitter' | 'latency' | 'mos';

interface Band {
  /** Worse than this is "fair". */
  fair: number;
  /** Worse than this is "poor". */
  poor: number;
  /** true when a higher value is better (MOS). */
  higherIsBetter?: boolean;
}

export const THRESHOLDS: Record<Metric, Band> = {
  loss: { fair: 5, poor: 10 }, // percent
  jitter: { fair: 10, poor: 30 }, // ms
  latency: { fair: 150, poor: 250 }, // ms, one-way
  mos: { fair: 3.7, poor: 3.0, higherIsBetter: true }, // 1..5
};

const RANK: Record<QualityLevel, number> = { unmeasured: 0, good: 1, fair: 2, poor: 3 };

function isNum(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** The level of one metric value; absent → "unmeasured". */
export function classify(metric: Metric, value: number | null | undefined): QualityLevel {
  if (!isNum(value)) return 'unmeasured';
  const b = THRESHOLDS[metric];
  if (b.higherIsBetter) {
    if (value <= b.poor) return 'poor';
    if (value < b.fair) return 'fair';
    return 'good';
  }
  if (value > b.poor) return 'poor';
  if (value > b.fair) return 'fair';
  return 'good';
}

/** The worse of levels (poor > fair > good > unmeasured). */
export function worstLevel(levels: readonly QualityLevel[]): QualityLevel {
  let w: QualityLevel = 'unmeasured';
  for (const l of levels) if (RANK[l] > RANK[w]) w = l;
  return w;
}

/** Worst value of each metric over a set of samples; absent when no sample measured it. */
export interface WorstQuality {
  loss?: number;
  jitter?: number;
  latency?: number;
  mos?: number;
  /** Samples that measured at least one metric. */
  measured: number;
}

// A stream's figure is its average (CQD judges averages; domain.md: interval
// values, not peaks); a source that reports only the maximum is judged on it.
function pick(avg: number | undefined, max: number | undefined): number | undefined {
  if (isNum(avg)) return avg;
  if (isNum(max)) return max;
  return undefined;
}

export function worstQuality(samples: readonly QualitySample[] | null | undefined): WorstQuality {
  const out: WorstQuality = { measured: 0 };
  for (const s of samples ?? []) {
    const loss = pick(s.packet_loss_pct_avg, s.packet_loss_pct_max);
    const jitter = pick(s.jitter_ms_avg, s.jitter_ms_max);
    const latency = pick(s.latency_ms_avg, s.latency_ms_max);
    const mos = isNum(s.mos) ? s.mos : undefined;
    if (loss === undefined && jitter === undefined && latency === undefined && mos === undefined) continue;
    out.measured++;
    if (loss !== undefined) out.loss = out.loss === undefined ? loss : Math.max(out.loss, loss);
    if (jitter !== undefined) out.jitter = out.jitter === undefined ? jitter : Math.max(out.jitter, jitter);
    if (latency !== undefined) out.latency = out.latency === undefined ? latency : Math.max(out.latency, latency);
    if (mos !== undefined) out.mos = out.mos === undefined ? mos : Math.min(out.mos, mos);
  }
  return out;
}

/** The overall level of a worst-quality summary: its worst metric. */
export function overallLevel(w: WorstQuality): QualityLevel {
  return worstLevel([classify('loss', w.loss), classify('jitter', w.jitter), classify('latency', w.latency), classify('mos', w.mos)]);
}

/** "2.1%", "0%", "12.5%"; "" when absent. */
export function formatLoss(v: number | undefined | null): string {
  if (!isNum(v)) return '';
  if (v === 0) return '0%';
  if (v < 0.1) return `${v.toFixed(2)}%`;
  return `${v.toFixed(v < 10 ? 1 : 0).replace(/\.0$/, '')}%`;
}

/** "34 ms", "0.8 ms"; "" when absent. */
export function formatMs(v: number | undefined | null): string {
  if (!isNum(v)) return '';
  return `${v < 10 && v % 1 !== 0 ? v.toFixed(1) : Math.round(v)} ms`;
}

/** "4.12" → "4.1"; "" when absent. */
export function formatMos(v: number | undefined | null): string {
  return isNum(v) ? v.toFixed(1) : '';
}

export const LEVEL_LABEL: Record<QualityLevel, string> = {
  good: 'Good',
  fair: 'Fair',
  poor: 'Poor',
  unmeasured: 'Not measured',
};
