import type { QualitySample } from '../types';
import {
  LEVEL_LABEL,
  THRESHOLDS,
  classify,
  formatLoss,
  formatMos,
  formatMs,
  overallLevel,
  worstQuality,
  type Metric,
  type QualityLevel,
} from '../quality';

export const THRESHOLD_NOTE =
  `Fair above ${THRESHOLDS.loss.fair}% loss, ${THRESHOLDS.jitter.fair} ms jitter, ${THRESHOLDS.latency.fair} ms latency or below MOS ${THRESHOLDS.mos.fair}; ` +
  `poor above ${THRESHOLDS.loss.poor}% loss, ${THRESHOLDS.jitter.poor} ms jitter, ${THRESHOLDS.latency.poor} ms latency or at MOS ${THRESHOLDS.mos.poor} and below.`;

export function QualityDot({ level }: { level: QualityLevel }) {
  return <span class={`q-dot q-${level}`} aria-hidden="true" />;
}

/** Compact per-call indicator: worst packet loss and jitter over the call's samples. */
export function CallQuality({ samples }: { samples: QualitySample[] | undefined }) {
  const w = worstQuality(samples);
  if (w.measured === 0) {
    return (
      <span class="muted" title={samples && samples.length > 0 ? 'Quality samples carry no loss, jitter, latency or MOS' : 'The source reports no media quality'}>
        —
      </span>
    );
  }
  const level = overallLevel(w);
  const parts: string[] = [];
  if (w.loss !== undefined) parts.push(formatLoss(w.loss));
  if (w.jitter !== undefined) parts.push(formatMs(w.jitter));
  if (parts.length === 0 && w.mos !== undefined) parts.push(`MOS ${formatMos(w.mos)}`);
  if (parts.length === 0 && w.latency !== undefined) parts.push(formatMs(w.latency));
  const detail = [
    `${LEVEL_LABEL[level]} — worst of ${w.measured} stream${w.measured === 1 ? '' : 's'}`,
    `Packet loss: ${formatLoss(w.loss) || 'not measured'}`,
    `Jitter: ${formatMs(w.jitter) || 'not measured'}`,
    `Latency: ${formatMs(w.latency) || 'not measured'}`,
    `MOS: ${formatMos(w.mos) || 'not measured'}`,
    THRESHOLD_NOTE,
  ].join('\n');
  return (
    <span class={`q-compact q-text-${level}`} title={detail} data-testid="call-quality" data-level={level}>
      <QualityDot level={level} />
      <span class="tabular">{parts.join(' · ')}</span>
    </span>
  );
}

/** One metric value, coloured by its band; "not measured" when absent (never 0). */
export function MetricValue({ metric, value }: { metric: Metric; value: number | undefined }) {
  if (value === undefined) return <span class="not-measured">not measured</span>;
  const level = classify(metric, value);
  const text = metric === 'loss' ? formatLoss(value) : metric === 'mos' ? formatMos(value) : formatMs(value);
  return (
    <span class={`metric q-text-${level}`} title={LEVEL_LABEL[level]}>
      {level !== 'good' && <QualityDot level={level} />}
      {text}
    </span>
  );
}

export function LevelBadge({ level, title }: { level: QualityLevel; title?: string }) {
  const tone = level === 'good' ? 'ok' : level === 'fair' ? 'warn' : level === 'poor' ? 'bad' : 'neutral';
  return (
    <span class={`badge badge-${tone}${level === 'unmeasured' ? ' badge-quiet' : ''}`} title={title}>
      <span class="badge-dot" aria-hidden="true" />
      {LEVEL_LABEL[level]}
    </span>
  );
}
