import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { DIMENSION_LABEL, formatRate, poorShareChart, poorShareLevel, type DateRange } from '../analytics';
import { formatInt } from '../format';
import { LEVEL_LABEL, type Metric, type QualityLevel } from '../quality';
import type { QualityDimension, QualityFigures, QualityResponse } from '../types';
import { CHART_COLORS, Chart, baseOption, valueAxis, type ChartOption } from './Chart';
import { MetricValue } from './Quality';
import { RangePicker } from './RangePicker';
import { EmptyState, ErrorState, LoadingState, Pill } from './States';

interface Props {
  onUnauthorized: () => void;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready' };

const LEVEL_TONE: Record<QualityLevel, 'ok' | 'warn' | 'bad' | 'neutral'> = {
  good: 'ok',
  fair: 'warn',
  poor: 'bad',
  unmeasured: 'neutral',
};
const LEVEL_COLOR: Record<QualityLevel, string> = {
  good: CHART_COLORS.ok,
  fair: CHART_COLORS.warn,
  poor: CHART_COLORS.bad,
  unmeasured: CHART_COLORS.neutral,
};

/** A poor-stream share as a coloured pill ("12.5%"). */
function PoorPill({ f, testId }: { f: QualityFigures; testId?: string }) {
  const level = poorShareLevel(f.poor_share);
  const detail =
    f.poor_share == null
      ? 'No stream measured jitter or latency'
      : `${LEVEL_LABEL[level]}: ${formatRate(f.poor_share)} of streams poor` +
        `\nJitter above the cut-off: ${formatRate(f.poor_jitter_share)}` +
        `\nLatency above the cut-off: ${formatRate(f.poor_latency_share)}`;
  return (
    <Pill tone={LEVEL_TONE[level]} title={detail} testId={testId}>
      {f.poor_share == null ? 'n/a' : formatRate(f.poor_share)}
    </Pill>
  );
}

function Cell({ metric, value }: { metric: Metric; value: number | null }) {
  if (value == null)
    return (
      <span class="muted" title="not measured">
        —
      </span>
    );
  return <MetricValue metric={metric} value={value} />;
}

export function QualityPage({ onUnauthorized }: Props) {
  const [range, setRange] = useState<DateRange | null>(null);
  const [today, setToday] = useState<string | null>(null);
  const [dimension, setDimension] = useState<QualityDimension>('site');
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [data, setData] = useState<QualityResponse | null>(null);
  const request = useRef(0);
  const loadedKey = useRef('');
  const key = `${range?.from ?? ''}|${range?.to ?? ''}|${dimension}`;

  const load = useCallback(async () => {
    const id = ++request.current;
    setPhase({ kind: 'loading' });
    try {
      const answer = await api.quality({ from: range?.from, to: range?.to, dimension });
      if (id !== request.current) return;
      if (!range) {
        setToday(answer.to);
        setRange({ from: answer.from, to: answer.to });
      }
      loadedKey.current = `${answer.from}|${answer.to}|${dimension}`;
      setData(answer);
      setPhase({ kind: 'ready' });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      if (id === request.current) setPhase({ kind: 'error', message: describeError(e) });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, onUnauthorized]);

  useEffect(() => {
    if (key !== loadedKey.current) void load();
  }, [load, key]);

  const t = data?.total;
  const label = DIMENSION_LABEL[dimension];
  const chart = useMemo(() => (data ? poorShareChart(data.rows) : null), [data]);
  const option = useMemo<ChartOption | null>(() => {
    if (!chart || chart.keys.length === 0) return null;
    const base = baseOption();
    return {
      ...base,
      legend: { show: false },
      grid: { left: 8, right: 44, top: 8, bottom: 4, containLabel: true },
      xAxis: {
        ...valueAxis(),
        minInterval: 0,
        max: (v: { max: number }) => Math.max(10, Math.ceil(v.max / 5) * 5),
        axisLabel: { color: CHART_COLORS.muted, formatter: '{value}%' },
      },
      yAxis: {
        type: 'category',
        inverse: true,
        data: chart.keys,
        axisTick: { show: false },
        axisLine: { lineStyle: { color: CHART_COLORS.grid } },
        axisLabel: { color: CHART_COLORS.text, width: 140, overflow: 'truncate' },
      },
      series: [
        {
          name: 'Poor streams (%)',
          type: 'bar',
          barMaxWidth: 18,
          data: chart.shares.map((v, i) => ({ value: v, itemStyle: { color: LEVEL_COLOR[chart.levels[i]], borderRadius: [0, 3, 3, 0] } })),
          label: { show: true, position: 'right', formatter: '{c}%', color: CHART_COLORS.muted, fontSize: 11 },
        },
      ],
    };
  }, [chart]);
  const chartHeight = !chart || chart.keys.length <= 4 ? 'chart chart-short' : chart.keys.length > 8 ? 'chart chart-tall' : 'chart';
  // Measured rows first (most streams first), then the rest by calls: the
  // server orders by calls, which puts sites without quality data on top.
  const rows = useMemo(
    () => (data ? [...data.rows].sort((a, b) => Number(b.streams > 0) - Number(a.streams > 0) || b.streams - a.streams || b.calls - a.calls) : []),
    [data],
  );
  const dash = '—';
  const measured = !!t && t.streams > 0;

  return (
    <div class="page">
      <div class="page-header page-header-wrap">
        <div>
          <h1 class="page-title">
            Quality
            {phase.kind === 'loading' && data && <span class="spinner spinner-inline" aria-label="Updating" />}
          </h1>
          <p class="page-subtitle">
            Media quality of calls and conference legs per {label.toLowerCase()}
            {data ? ` (${data.time_zone} days)` : ''}, from the rollups: averages, 95th percentiles and the share of poor streams.
          </p>
        </div>
        <div class="toolbar">
          <RangePicker today={today} range={range} onChange={setRange} disabled={phase.kind === 'loading' && !today} />
          <div class="segmented" role="group" aria-label="Group by">
            {(['site', 'model', 'source'] as const).map((d) => (
              <button
                key={d}
                type="button"
                class={`segment${dimension === d ? ' is-active' : ''}`}
                aria-pressed={dimension === d}
                onClick={() => setDimension(d)}
                data-testid={`dimension-${d}`}
              >
                {DIMENSION_LABEL[d]}
              </button>
            ))}
          </div>
        </div>
      </div>

      <section class="kpis kpis-5" aria-label="Key figures">
        <div class="kpi" data-testid="kpi-streams">
          <div class="kpi-label">Streams measured</div>
          <div class="kpi-value tabular">{t ? formatInt(t.streams) : dash}</div>
          <div class="kpi-sub">{t ? `in ${formatInt(t.calls)} calls` : '\u00a0'}</div>
        </div>
        <div class="kpi" data-testid="kpi-poor">
          <div class="kpi-label">Poor streams</div>
          <div class="kpi-value tabular">{t && t.poor_share != null ? formatRate(t.poor_share) : dash}</div>
          <div class="kpi-sub">
            {t && t.poor_share != null ? (
              <Pill tone={LEVEL_TONE[poorShareLevel(t.poor_share)]} title="Green up to 3 %, amber up to 10 %, red above">
                {LEVEL_LABEL[poorShareLevel(t.poor_share)]}
              </Pill>
            ) : (
              'jitter or latency measured by no stream'
            )}
          </div>
        </div>
        <div class="kpi" data-testid="kpi-loss">
          <div class="kpi-label">Avg. packet loss</div>
          <div class="kpi-value tabular">{t?.loss_pct_avg != null ? <Cell metric="loss" value={t.loss_pct_avg} /> : dash}</div>
          <div class="kpi-sub">{t ? `${formatInt(t.measured.loss)} streams` : '\u00a0'}</div>
        </div>
        <div class="kpi" data-testid="kpi-jitter">
          <div class="kpi-label">Jitter p95</div>
          <div class="kpi-value tabular">{t?.jitter_ms_p95 != null ? <Cell metric="jitter" value={t.jitter_ms_p95} /> : dash}</div>
          <div class="kpi-sub">{t?.jitter_ms_p50 != null ? `median ${Math.round(t.jitter_ms_p50)} ms` : 'not measured'}</div>
        </div>
        <div class="kpi" data-testid="kpi-latency">
          <div class="kpi-label">Latency p95</div>
          <div class="kpi-value tabular">{t?.latency_ms_p95 != null ? <Cell metric="latency" value={t.latency_ms_p95} /> : dash}</div>
          <div class="kpi-sub">{t?.latency_ms_p50 != null ? `median ${Math.round(t.latency_ms_p50)} ms, one-way` : 'not measured'}</div>
        </div>
      </section>

      {phase.kind === 'loading' && !data && (
        <section class="card">
          <LoadingState label="Loading quality…" testId="quality-loading" />
        </section>
      )}
      {phase.kind === 'error' && (
        <section class="card">
          <ErrorState title="Could not load quality" message={phase.message} onRetry={() => void load()} testId="quality-error" />
        </section>
      )}
      {phase.kind !== 'error' && data && data.rows.length === 0 && (
        <section class="card">
          <EmptyState title="No calls in this range" testId="quality-empty">
            Pick a longer range. Quality figures come from sources that measure media: CUCM call management records, and the
            conference legs that RPRM and Pexip report; DMA and Kamailio records carry none.
          </EmptyState>
        </section>
      )}
      {phase.kind !== 'error' && data && data.rows.length > 0 && (
        <>
          <section class="card chart-card">
            <div class="chart-head">
              <h2 class="card-title">Poor streams by {label.toLowerCase()}</h2>
              <p class="card-subtitle">
                Share of measured streams with jitter above {data.thresholds.jitter_ms} ms or one-way latency above{' '}
                {data.thresholds.latency_ms} ms; worst first.
              </p>
            </div>
            {option ? (
              <Chart option={option} class={chartHeight} label={`Poor streams by ${label.toLowerCase()}`} testId="chart-poor" />
            ) : (
              <EmptyState title="No media quality measured in this range" testId="quality-unmeasured">
                These calls come from sources that report no media quality (DMA, Kamailio). CUCM call management records and the
                conference legs of RPRM and Pexip do.
              </EmptyState>
            )}
          </section>
          <section class="card table-card">
            <table class="table" data-testid="quality-table">
              <thead>
                <tr>
                  <th scope="col">{label}</th>
                  <th scope="col" class="num">
                    Calls
                  </th>
                  <th scope="col" class="num">
                    Streams
                  </th>
                  <th scope="col" class="num">
                    Loss avg
                  </th>
                  <th scope="col" class="num">
                    Jitter avg
                  </th>
                  <th scope="col" class="num">
                    Jitter p95
                  </th>
                  <th scope="col" class="num">
                    Latency avg
                  </th>
                  <th scope="col" class="num">
                    Latency p95
                  </th>
                  <th scope="col" class="num">
                    MOS avg
                  </th>
                  <th scope="col">Poor streams</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.key} data-testid="quality-row">
                    <td class="cell-primary">{r.key || <span class="muted">(none)</span>}</td>
                    <td class="num tabular">{formatInt(r.calls)}</td>
                    <td class="num tabular">{r.streams > 0 ? formatInt(r.streams) : <span class="muted">0</span>}</td>
                    <td class="num tabular">
                      <Cell metric="loss" value={r.loss_pct_avg} />
                    </td>
                    <td class="num tabular">
                      <Cell metric="jitter" value={r.jitter_ms_avg} />
                    </td>
                    <td class="num tabular">
                      <Cell metric="jitter" value={r.jitter_ms_p95} />
                    </td>
                    <td class="num tabular">
                      <Cell metric="latency" value={r.latency_ms_avg} />
                    </td>
                    <td class="num tabular">
                      <Cell metric="latency" value={r.latency_ms_p95} />
                    </td>
                    <td class="num tabular">
                      <Cell metric="mos" value={r.mos_avg} />
                    </td>
                    <td>
                      <PoorPill f={r} testId="poor-pill" />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div class="table-footer">
              <span class="muted">
                {measured
                  ? `Poor: jitter > ${data.thresholds.jitter_ms} ms or latency > ${data.thresholds.latency_ms} ms (Teams CQD). Pills: green up to 3 %, amber up to 10 %, red above. Values coloured by the portal's quality bands.`
                  : 'No stream in this range measured media quality.'}
              </span>
              <span class="muted tabular">
                {formatInt(data.rows.length)} {label.toLowerCase()}
                {data.rows.length === 1 ? '' : 's'}
              </span>
            </div>
          </section>
        </>
      )}
    </div>
  );
}
