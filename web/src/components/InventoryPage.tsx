import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { formatAgo, formatDateTime, formatInt, titleCase } from '../format';
import { countBy, deviceStatusCounts, filterDevices, modelVersion, type CountRow } from '../inventory';
import type { Device } from '../types';
import { Bar, EmptyState, ErrorState, LoadingState, Pill } from './States';

/** Devices fetched per request, and the most requests one load makes. */
export const DEVICE_PAGE = 500;
export const DEVICE_MAX_PAGES = 20;
/** Table rows rendered at first; "Show more" adds as many again. */
const ROWS_STEP = 100;

interface Props {
  onUnauthorized: () => void;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready' };

export function InventoryPage({ onUnauthorized }: Props) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [devices, setDevices] = useState<Device[]>([]);
  const [truncated, setTruncated] = useState(false);
  const [query, setQuery] = useState('');
  const [rows, setRows] = useState(ROWS_STEP);
  const [loadedAt, setLoadedAt] = useState(() => Date.now());
  const alive = useRef(true);

  const load = useCallback(async () => {
    setPhase({ kind: 'loading' });
    try {
      const all: Device[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await api.devices(DEVICE_PAGE, cursor);
        all.push(...page.devices);
        cursor = page.next_cursor;
        pages++;
      } while (cursor && pages < DEVICE_MAX_PAGES);
      if (!alive.current) return;
      setDevices(all);
      setTruncated(!!cursor);
      setLoadedAt(Date.now());
      setPhase({ kind: 'ready' });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      if (alive.current) setPhase({ kind: 'error', message: describeError(e) });
    }
  }, [onUnauthorized]);

  useEffect(() => {
    alive.current = true;
    void load();
    return () => {
      alive.current = false;
    };
  }, [load]);

  const shown = useMemo(() => filterDevices(devices, query), [devices, query]);
  const byModel = useMemo(() => countBy(shown, (d) => d.model, 8), [shown]);
  const byVersion = useMemo(() => countBy(shown, modelVersion, 8), [shown]);
  const status = useMemo(() => deviceStatusCounts(shown), [shown]);
  const models = useMemo(() => new Set(shown.map((d) => d.model || '')).size, [shown]);
  const ready = phase.kind === 'ready';
  const dash = '—';
  const filtered = query.trim() !== '';

  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Inventory</h1>
          <p class="page-subtitle">Endpoints and infrastructure as your call servers last reported them.</p>
        </div>
        <label class="search">
          <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" class="search-icon">
            <path d="M8.5 3a5.5 5.5 0 0 1 4.4 8.8l3.7 3.7-1.1 1.1-3.7-3.7A5.5 5.5 0 1 1 8.5 3zm0 1.5a4 4 0 1 0 0 8 4 4 0 0 0 0-8z" />
          </svg>
          <span class="sr-only">Filter devices</span>
          <input
            class="input input-search"
            type="search"
            placeholder="Filter by name, model, version, site…"
            value={query}
            onInput={(e) => {
              setQuery(e.currentTarget.value);
              setRows(ROWS_STEP);
            }}
            disabled={!ready || devices.length === 0}
            data-testid="devices-filter"
          />
        </label>
      </div>

      <section class="kpis" aria-label="Key figures">
        <div class="kpi">
          <div class="kpi-label">{filtered ? 'Devices matching' : 'Devices'}</div>
          <div class="kpi-value tabular">{ready ? formatInt(shown.length) : dash}</div>
          <div class="kpi-sub">{ready && filtered ? `of ${formatInt(devices.length)} in the inventory` : 'in the inventory'}</div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Online</div>
          <div class="kpi-value tabular">{ready ? formatInt(status.online) : dash}</div>
          <div class="kpi-sub kpi-sub-good">{ready && shown.length > 0 ? `${Math.round((status.online / shown.length) * 100)}% of devices` : '\u00a0'}</div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Offline</div>
          <div class="kpi-value tabular">{ready ? formatInt(status.offline) : dash}</div>
          <div class={`kpi-sub ${status.offline > 0 ? 'kpi-sub-bad' : ''}`}>
            {ready && shown.length > 0
              ? `${Math.round((status.offline / shown.length) * 100)}% of devices${status.unknown > 0 ? ` · ${formatInt(status.unknown)} unknown` : ''}`
              : '\u00a0'}
          </div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Models</div>
          <div class="kpi-value tabular">{ready ? formatInt(models) : dash}</div>
          <div class="kpi-sub">distinct models</div>
        </div>
      </section>

      {ready && shown.length > 0 && (
        <section class="summary-grid" aria-label="Summary">
          <BarList title="By model" rows={byModel} testId="summary-model" />
          <BarList title="By software version" rows={byVersion} testId="summary-version" />
        </section>
      )}

      <section class="card table-card">
        {phase.kind === 'loading' && <LoadingState label="Loading inventory…" testId="devices-loading" />}
        {phase.kind === 'error' && (
          <ErrorState title="Could not load the inventory" message={phase.message} onRetry={() => void load()} testId="devices-error" />
        )}
        {ready && devices.length === 0 && (
          <EmptyState
            title="No devices reported yet"
            testId="devices-empty"
            icon={
              <svg class="state-icon" viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
                <rect x="6" y="10" width="36" height="10" rx="3" />
                <rect x="9" y="24" width="30" height="16" rx="3" />
              </svg>
            }
          >
            Devices appear once an agent's source reports its inventory (DMA and RPRM registrations, for example).
          </EmptyState>
        )}
        {ready && devices.length > 0 && shown.length === 0 && (
          <EmptyState title="No device matches the filter" testId="devices-no-match">
            Nothing matches “{query.trim()}”.{' '}
            <button class="btn-link" type="button" onClick={() => setQuery('')}>
              Clear the filter
            </button>
          </EmptyState>
        )}
        {ready && shown.length > 0 && (
          <>
            <table class="table" data-testid="devices-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Model</th>
                  <th scope="col">Software</th>
                  <th scope="col">Site</th>
                  <th scope="col">Status</th>
                  <th scope="col">Registration</th>
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {shown.slice(0, rows).map((d) => (
                  <DeviceRow key={`${d.source}\u0000${d.id}`} d={d} now={loadedAt} />
                ))}
              </tbody>
            </table>
            <div class="table-footer">
              <span class="muted tabular">
                Showing {formatInt(Math.min(rows, shown.length))} of {formatInt(shown.length)} devices
                {truncated && ` (only the first ${formatInt(devices.length)} were loaded)`}
              </span>
              {rows < shown.length ? (
                <button class="btn btn-secondary" type="button" onClick={() => setRows((n) => n + ROWS_STEP)}>
                  Show more
                </button>
              ) : (
                <span class="muted">All devices shown</span>
              )}
            </div>
          </>
        )}
      </section>
    </div>
  );
}

function BarList({ title, rows, testId }: { title: string; rows: CountRow[]; testId: string }) {
  return (
    <div class="card bar-card" data-testid={testId}>
      <div class="bar-card-title">{title}</div>
      <ul class="bar-list">
        {rows.map((r) => (
          <li key={r.label} class="bar-row">
            <span class="bar-label" title={r.label}>
              {r.label}
            </span>
            <Bar share={r.share} />
            <span class="bar-count tabular">{formatInt(r.count)}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

const STATUS_TONE: Record<string, 'ok' | 'bad' | 'neutral'> = { online: 'ok', offline: 'bad' };

function DeviceRow({ d, now }: { d: Device; now: number }) {
  const t = Date.parse(d.observed_at);
  const seen = Number.isNaN(t) ? '—' : formatAgo((now - t) / 1000);
  return (
    <tr data-testid="devices-row">
      <td>
        <div class="cell-stack col-name">
          {d.name ? (
            <span class="cell-primary" title={d.name}>
              {d.name}
            </span>
          ) : (
            <span class="cell-primary mono" title="Device id (the name is personal data, hidden for your role)">
              {d.id}
            </span>
          )}
          <span class="cell-secondary">{[d.name ? d.id : null, d.source].filter(Boolean).join(' · ')}</span>
        </div>
      </td>
      <td class="nowrap">{d.type ? titleCase(d.type) : <span class="muted">—</span>}</td>
      <td class="nowrap">{d.model || <span class="muted">—</span>}</td>
      <td class="nowrap tabular">{d.version || <span class="muted">—</span>}</td>
      <td class="nowrap">{d.site || <span class="muted">—</span>}</td>
      <td class="nowrap">
        <Pill tone={STATUS_TONE[d.status] ?? 'neutral'}>{titleCase(d.status || 'unknown')}</Pill>
      </td>
      <td class="nowrap">{d.registration ? titleCase(d.registration.toLowerCase()) : <span class="muted">—</span>}</td>
      <td class="nowrap tabular" title={`${formatDateTime(d.observed_at)} (${d.observed_at} UTC)`}>
        {seen}
      </td>
    </tr>
  );
}
