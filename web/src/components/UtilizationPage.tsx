import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { MAX_HOURLY_DAYS, formatDay, formatHours, formatLocalHour, formatRate, hourSpan, rangeDays, usageSeries, type DateRange } from '../analytics';
import { formatInt } from '../format';
import type { UsageResponse } from '../types';
import { CHART_COLORS, Chart, baseOption, categoryAxis, valueAxis, type ChartOption } from './Chart';
import { RangePicker } from './RangePicker';
import { EmptyState, ErrorState, LoadingState } from './States';

interface Props {
  onUnauthorized: () => void;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; data: UsageResponse };

export function UtilizationPage({ onUnauthorized }: Props) {
  const [range, setRange] = useState<DateRange | null>(null);
  const [today, setToday] = useState<string | null>(null);
  const [grain, setGrain] = useState<'day' | 'hour'>('day');
  const [source, setSource] = useState('');
  const [sources, setSources] = useState<string[]>([]);
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const request = useRef(0);

  const [data, setData] = useState<UsageResponse | null>(null);
  // The query behind `data`: the effect below skips a reload it would repeat.
  const loadedKey = useRef('');
  const key = `${range?.from ?? ''}|${range?.to ?? ''}|${grain}|${source}`;

  const load = useCallback(async () => {
    const id = ++request.current;
    setPhase({ kind: 'loading' });
    try {
      const answer = await api.usage({ from: range?.from, to: range?.to, grain, source: source || undefined });
      if (id !== request.current) return;
      // The first answer (no dates asked) tells the tenant's today.
      if (!range) {
        setToday(answer.to);
        setRange({ from: answer.from, to: answer.to });
      }
      loadedKey.current = `${answer.from}|${answer.to}|${grain}|${source}`;
      if (!source) setSources(answer.sources);
      setData(answer);
      setPhase({ kind: 'ready', data: answer });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      if (id === request.current) setPhase({ kind: 'error', message: describeError(e) });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, onUnauthorized]);

  useEffect(() => {
    if (key !== loadedKey.current) void load();
  }, [load, key]);

  const days = range ? rangeDays(range.from, range.to) : 7;
  const hourly = grain === 'hour' && days <= MAX_HOURLY_DAYS;
  useEffect(() => {
    if (grain === 'hour' && days > MAX_HOURLY_DAYS) setGrain('day');
  }, [days, grain]);

  const k = data?.kpis;
  const series = useMemo(() => (data ? usageSeries(data.buckets, data.grain) : null), [data]);
  const unit = data?.grain === 'hour' ? 'hour' : 'day';
  const dash = '—';

  const callsOption = useMemo<ChartOption | null>(() => {
    if (!series) return null;
    return {
      ...baseOption(),
      xAxis: categoryAxis(series.categories),
      yAxis: valueAxis(),
      series: [
        { name: 'Completed', type: 'bar', stack: 'calls', data: series.completed, color: CHART_COLORS.accent, barMaxWidth: 28 },
        {
          name: 'Failed',
          type: 'bar',
          stack: 'calls',
          data: series.failed,
          color: CHART_COLORS.bad,
          barMaxWidth: 28,
          itemStyle: { borderRadius: [3, 3, 0, 0] },
        },
      ],
    };
  }, [series]);
  const peakOption = useMemo<ChartOption | null>(() => {
    if (!series) return null;
    return {
      ...baseOption(),
      legend: { show: false },
      grid: { left: 8, right: 16, top: 12, bottom: 8, containLabel: true },
      tooltip: { ...(baseOption().tooltip as object), axisPointer: { type: 'line' } },
      xAxis: categoryAxis(series.categories),
      yAxis: valueAxis(),
      series: [
        {
          name: 'Peak concurrent calls',
          type: 'line',
          data: series.peak,
          color: CHART_COLORS.accent,
          symbol: series.peak.length <= 45 ? 'circle' : 'none',
          symbolSize: 6,
          lineStyle: { width: 2 },
          areaStyle: { color: 'rgba(79, 70, 229, 0.10)' },
        },
      ],
    };
  }, [series]);
  const minutesOption = useMemo<ChartOption | null>(() => {
    if (!series) return null;
    return {
      ...baseOption(),
      legend: { show: false },
      grid: { left: 8, right: 16, top: 12, bottom: 8, containLabel: true },
      xAxis: categoryAxis(series.categories),
      yAxis: valueAxis(),
      series: [
        {
          name: 'Connected minutes',
          type: 'bar',
          data: series.minutes,
          color: CHART_COLORS.accentSoft,
          barMaxWidth: 28,
          itemStyle: { borderRadius: [3, 3, 0, 0] },
        },
      ],
    };
  }, [series]);

  return (
    <div class="page">
      <div class="page-header page-header-wrap">
        <div>
          <h1 class="page-title">
            Utilization
            {phase.kind === 'loading' && data && <span class="spinner spinner-inline" aria-label="Updating" />}
          </h1>
          <p class="page-subtitle">
            Calls, connected minutes and concurrency per {unit}
            {data ? ` in ${data.time_zone} time` : ''}, from the rollups kept at ingest.
          </p>
        </div>
        <div class="toolbar">
          <RangePicker today={today} range={range} onChange={setRange} disabled={phase.kind === 'loading' && !today} />
          <div class="segmented" role="group" aria-label="Granularity">
            <button type="button" class={`segment${!hourly ? ' is-active' : ''}`} aria-pressed={!hourly} onClick={() => setGrain('day')} data-testid="grain-day">
              Daily
            </button>
            <button
              type="button"
              class={`segment${hourly ? ' is-active' : ''}`}
              aria-pressed={hourly}
              disabled={days > MAX_HOURLY_DAYS}
              title={days > MAX_HOURLY_DAYS ? `Hourly for ranges up to ${MAX_HOURLY_DAYS} days` : undefined}
              onClick={() => setGrain('hour')}
              data-testid="grain-hour"
            >
              Hourly
            </button>
          </div>
          <label class="select-wrap">
            <span class="sr-only">Source</span>
            <select class="input select" value={source} onChange={(e) => setSource(e.currentTarget.value)} data-testid="source-filter">
              <option value="">All sources</option>
              {sources.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>

      <section class="kpis kpis-5" aria-label="Key figures">
        <div class="kpi" data-testid="kpi-calls">
          <div class="kpi-label">Total calls</div>
          <div class="kpi-value tabular">{k ? formatInt(k.calls) : dash}</div>
          <div class="kpi-sub">{k ? `${formatInt(k.completed)} completed · ${formatInt(k.failed)} failed` : '\u00a0'}</div>
        </div>
        <div class="kpi" data-testid="kpi-completion">
          <div class="kpi-label">Completion rate</div>
          <div class="kpi-value tabular">{k ? formatRate(k.completion_rate) : dash}</div>
          <div class={`kpi-sub ${k && k.completion_rate != null ? (k.completion_rate >= 0.95 ? 'kpi-sub-good' : k.completion_rate < 0.85 ? 'kpi-sub-bad' : 'kpi-sub-warn') : ''}`}>
            {k && k.completion_rate != null ? 'of calls that started' : 'no calls in the range'}
          </div>
        </div>
        <div class="kpi" data-testid="kpi-hours">
          <div class="kpi-label">Total hours</div>
          <div class="kpi-value tabular">{k ? formatHours(k.hours) : dash}</div>
          <div class="kpi-sub">{k && k.completed > 0 ? `${Math.round(k.seconds / 60 / k.completed)} min per completed call` : 'connected time'}</div>
        </div>
        <div class="kpi" data-testid="kpi-busiest">
          <div class="kpi-label">Busiest hour</div>
          <div class="kpi-value kpi-value-sm tabular">{k?.busiest_hour ? formatLocalHour(k.busiest_hour.label) : dash}</div>
          <div class="kpi-sub">{k?.busiest_hour ? `${formatInt(k.busiest_hour.calls ?? 0)} calls started` : 'most calls started'}</div>
        </div>
        <div class="kpi" data-testid="kpi-peak">
          <div class="kpi-label">Peak concurrency</div>
          <div class="kpi-value tabular">{k ? formatInt(k.peak_concurrent) : dash}</div>
          <div class="kpi-sub">
            {k?.peak_hour ? `${formatDay(k.peak_hour.label.slice(0, 10))}, ${hourSpan(k.peak_hour.label)}` : 'calls in progress at once'}
          </div>
        </div>
      </section>

      {phase.kind === 'loading' && !data && (
        <section class="card">
          <LoadingState label="Loading utilization…" testId="usage-loading" />
        </section>
      )}
      {phase.kind === 'error' && (
        <section class="card">
          <ErrorState title="Could not load utilization" message={phase.message} onRetry={() => void load()} testId="usage-error" />
        </section>
      )}
      {phase.kind !== 'error' && data && data.kpis.calls === 0 && data.kpis.peak_concurrent === 0 && (
        <section class="card">
          <EmptyState title="No calls in this range" testId="usage-empty">
            Pick a longer range, or another source. Figures appear as soon as an agent sends calls.
          </EmptyState>
        </section>
      )}
      {phase.kind !== 'error' && data && (data.kpis.calls > 0 || data.kpis.peak_concurrent > 0) && callsOption && peakOption && minutesOption && (
        <>
          <section class="card chart-card">
            <div class="chart-head">
              <h2 class="card-title">Calls per {unit}</h2>
              <p class="card-subtitle">Calls that started in each {unit}, completed and failed.</p>
            </div>
            <Chart option={callsOption} class="chart chart-tall" label={`Calls per ${unit}`} testId="chart-calls" />
          </section>
          <div class="chart-grid">
            <section class="card chart-card">
              <div class="chart-head">
                <h2 class="card-title">Peak concurrent calls</h2>
                <p class="card-subtitle">The most calls in progress in any one minute of each {unit}.</p>
              </div>
              <Chart option={peakOption} label="Peak concurrent calls" testId="chart-peak" />
            </section>
            <section class="card chart-card">
              <div class="chart-head">
                <h2 class="card-title">Minutes per {unit}</h2>
                <p class="card-subtitle">Connected minutes that fell in each {unit}.</p>
              </div>
              <Chart option={minutesOption} label={`Minutes per ${unit}`} testId="chart-minutes" />
            </section>
          </div>
        </>
      )}
    </div>
  );
}
