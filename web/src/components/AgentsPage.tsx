import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { ageSeconds, formatAgo, formatDateTime, formatInt, formatUptime } from '../format';
import { normalizeHealth, sourceHealthCounts } from '../inventory';
import type { Agent, AgentSource, AgentsResponse, QuarantineEntry } from '../types';
import { EmptyState, ErrorState, LoadingState, Pill } from './States';

export const AGENTS_REFRESH_MS = 10_000;

interface Props {
  onUnauthorized: () => void;
  /** Tenant admins also see the records ingest refused (GET /quarantine). */
  isTenantAdmin?: boolean;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready' };

const HEALTH_TONE = { ok: 'ok', degraded: 'warn', failing: 'bad', unknown: 'neutral' } as const;
const HEALTH_LABEL = { ok: 'OK', degraded: 'Degraded', failing: 'Failing', unknown: 'Unknown' } as const;

export function AgentsPage({ onUnauthorized, isTenantAdmin = false }: Props) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [data, setData] = useState<{ r: AgentsResponse; at: number } | null>(null);
  const [refreshError, setRefreshError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const alive = useRef(true);

  const fetchAgents = useCallback(
    async (initial: boolean) => {
      if (initial) setPhase({ kind: 'loading' });
      try {
        const r = await api.agents();
        if (!alive.current) return;
        setData({ r, at: Date.now() });
        setNow(Date.now());
        setPhase({ kind: 'ready' });
        setRefreshError(null);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return onUnauthorized();
        if (!alive.current) return;
        if (initial) setPhase({ kind: 'error', message: describeError(e) });
        else setRefreshError(describeError(e));
      }
    },
    [onUnauthorized],
  );

  useEffect(() => {
    alive.current = true;
    void fetchAgents(true);
    return () => {
      alive.current = false;
    };
  }, [fetchAgents]);

  // Re-read every 10 s (heartbeats move); tick the "12 s ago" labels every second.
  useEffect(() => {
    if (phase.kind !== 'ready') return undefined;
    const poll = window.setInterval(() => {
      if (!document.hidden) void fetchAgents(false);
    }, AGENTS_REFRESH_MS);
    const tick = window.setInterval(() => setNow(Date.now()), 1000);
    return () => {
      window.clearInterval(poll);
      window.clearInterval(tick);
    };
  }, [phase.kind, fetchAgents]);

  const agents = data?.r.agents ?? [];
  const health = useMemo(() => sourceHealthCounts(agents), [agents]);
  const online = agents.filter((a) => a.state === 'online').length;
  const totalSources = health.ok + health.degraded + health.failing + health.unknown;

  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Agents &amp; sources</h1>
          <p class="page-subtitle">The collectors that read your call servers and send their records to Parley.</p>
        </div>
        {phase.kind === 'ready' && (
          <div class={`live ${refreshError ? 'live-error' : 'live-ok'}`} title={refreshError ?? `Refreshes every ${AGENTS_REFRESH_MS / 1000} s`}>
            <span class="live-dot" aria-hidden="true" />
            <span class="live-label">{refreshError ? 'Reconnecting…' : 'Live'}</span>
          </div>
        )}
      </div>

      <section class="kpis" aria-label="Key figures">
        <div class="kpi">
          <div class="kpi-label">Agents online</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? `${online} / ${agents.length}` : '—'}</div>
          <div class={`kpi-sub ${agents.length > 0 && online < agents.length ? 'kpi-sub-bad' : agents.length > 0 ? 'kpi-sub-good' : ''}`}>
            {phase.kind !== 'ready' || agents.length === 0
              ? `heartbeat within ${data?.r.online_window_s ?? 90} s`
              : online === agents.length
                ? 'all reporting'
                : `${agents.length - online} offline`}
          </div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Sources OK</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? `${formatInt(health.ok)} / ${formatInt(totalSources)}` : '—'}</div>
          <div class="kpi-sub">collecting normally</div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Degraded</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? formatInt(health.degraded) : '—'}</div>
          <div class={`kpi-sub ${health.degraded > 0 ? 'kpi-sub-warn' : ''}`}>{health.degraded > 0 ? 'partial data' : 'none'}</div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Failing</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? formatInt(health.failing) : '—'}</div>
          <div class={`kpi-sub ${health.failing > 0 ? 'kpi-sub-bad' : ''}`}>{health.failing > 0 ? 'not collecting' : 'none'}</div>
        </div>
      </section>

      <p class="caption" data-testid="health-caption">
        <svg viewBox="0 0 20 20" width="14" height="14" aria-hidden="true" class="caption-icon">
          <path d="M10 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zm-.9 4h1.8v1.8H9.1zm0 3.2h1.8V14H9.1z" />
        </svg>
        Source health describes data collection — whether an agent can reach and read each call server — not call
        quality. A failing source sends no calls and no quality samples; it never shows up as bad calls.
      </p>

      <section class="card table-card">
        {phase.kind === 'loading' && <LoadingState label="Loading agents…" testId="agents-loading" />}
        {phase.kind === 'error' && (
          <ErrorState title="Could not load agents" message={phase.message} onRetry={() => void fetchAgents(true)} testId="agents-error" />
        )}
        {phase.kind === 'ready' && agents.length === 0 && (
          <EmptyState
            title="No agents enrolled yet"
            testId="agents-empty"
            icon={
              <svg class="state-icon" viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
                <rect x="8" y="8" width="32" height="13" rx="3" />
                <rect x="8" y="27" width="32" height="13" rx="3" />
              </svg>
            }
          >
            Create an enrollment token with <code>parley agent enroll-token</code>, then run{' '}
            <code>parley-agent enroll</code> and <code>parley-agent run</code> on a machine that can reach your call servers.
          </EmptyState>
        )}
        {phase.kind === 'ready' && agents.length > 0 && data && (
          <table class="table" data-testid="agents-table">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">State</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Version</th>
                <th scope="col">Uptime</th>
                <th scope="col">Sources</th>
              </tr>
            </thead>
            <tbody>
              {agents.map((a) => (
                <AgentRow key={a.id} agent={a} age={ageSeconds(a.last_heartbeat, data.r.server_time, data.at, now)} />
              ))}
            </tbody>
          </table>
        )}
      </section>

      {isTenantAdmin && <RefusedRecords onUnauthorized={onUnauthorized} />}
    </div>
  );
}

const RECORD_TYPE_LABEL: Record<string, string> = {
  call: 'Call',
  conference: 'Conference',
  participant: 'Participant',
  device: 'Device',
};

/** What ingest refused on its own (implausible times); the rest of each batch was stored. */
function RefusedRecords({ onUnauthorized }: { onUnauthorized: () => void }) {
  const [state, setState] = useState<
    { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; entries: QuarantineEntry[] }
  >({ kind: 'loading' });

  const load = useCallback(async () => {
    setState({ kind: 'loading' });
    try {
      setState({ kind: 'ready', entries: await api.quarantine() });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      setState({ kind: 'error', message: describeError(e) });
    }
  }, [onUnauthorized]);

  useEffect(() => {
    void load();
  }, [load]);

  const total = state.kind === 'ready' ? state.entries.reduce((n, e) => n + e.count, 0) : 0;
  return (
    <section class="card table-card" data-testid="quarantine">
      <div class="card-header">
        <h2 class="card-title">Refused records</h2>
        <p class="card-subtitle">
          Records whose times are implausible (before 2000, or far ahead of the server&apos;s clock) are left out
          and counted here; the rest of their batch is stored. Usually a device clock that is not set.
        </p>
      </div>
      {state.kind === 'loading' && <LoadingState label="Loading refused records…" testId="quarantine-loading" />}
      {state.kind === 'error' && (
        <ErrorState title="Could not load refused records" message={state.message} onRetry={() => void load()} testId="quarantine-error" />
      )}
      {state.kind === 'ready' && state.entries.length === 0 && (
        <p class="card-empty" data-testid="quarantine-empty">
          No records refused: every record the agents sent had plausible times.
        </p>
      )}
      {state.kind === 'ready' && state.entries.length > 0 && (
        <table class="table" data-testid="quarantine-table" aria-label={`${formatInt(total)} refused records`}>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Source</th>
              <th scope="col">Record</th>
              <th scope="col">Reason</th>
              <th scope="col" class="num">Count</th>
              <th scope="col">First seen</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {state.entries.map((e) => (
              <tr key={`${e.agent_id}|${e.source}|${e.record_type}|${e.reason}`} data-testid="quarantine-row">
                <td>{e.agent_name || <span class="mono">{e.agent_id}</span>}</td>
                <td>
                  <span class="source-tag">{e.source}</span>
                </td>
                <td>{RECORD_TYPE_LABEL[e.record_type] ?? e.record_type}</td>
                <td>{e.reason}</td>
                <td class="num tabular">{formatInt(e.count)}</td>
                <td class="nowrap tabular">{formatDateTime(e.first_seen)}</td>
                <td class="nowrap tabular">{formatDateTime(e.last_seen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function AgentRow({ agent, age }: { agent: Agent; age: number | null }) {
  const online = agent.state === 'online';
  return (
    <tr data-testid="agent-row" data-state={agent.state}>
      <td>
        <div class="cell-stack">
          <span class="cell-primary">{agent.name || 'Unnamed agent'}</span>
          <span class="cell-secondary mono" title={`Enrolled ${formatDateTime(agent.enrolled_at)}`}>
            {agent.id}
          </span>
        </div>
      </td>
      <td class="nowrap">
        <span class={`state-dot-label ${online ? 'is-online' : 'is-offline'}`} data-testid="agent-state">
          <span class="status-dot" aria-hidden="true" />
          {online ? 'Online' : 'Offline'}
        </span>
      </td>
      <td class="nowrap tabular" title={agent.last_heartbeat ? `${formatDateTime(agent.last_heartbeat)} (${agent.last_heartbeat} UTC)` : undefined}>
        {agent.last_heartbeat ? formatAgo(age) : <span class="muted">never</span>}
      </td>
      <td class="nowrap">{agent.agent_version ? <span class="source-tag">{agent.agent_version}</span> : <span class="muted">—</span>}</td>
      <td class="nowrap tabular">{formatUptime(agent.uptime_s)}</td>
      <td class="col-sources">
        {agent.sources.length === 0 ? (
          <span class="muted">No sources reported</span>
        ) : (
          <ul class="source-list">
            {agent.sources.map((s, i) => (
              <SourceItem key={`${s.name ?? ''}-${i}`} source={s} />
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
}

function SourceItem({ source }: { source: AgentSource }) {
  const h = normalizeHealth(source);
  return (
    <li class="source-item" data-testid="agent-source" data-status={h}>
      <div class="source-head">
        <Pill tone={HEALTH_TONE[h]} testId="source-health">
          {HEALTH_LABEL[h]}
        </Pill>
        <span class="source-name">{source.name || 'unnamed source'}</span>
        {source.type && <span class="source-type">{source.type.toUpperCase()}</span>}
      </div>
      {source.last_error && (
        <div class={`source-error source-error-${h}`} title={source.last_error}>
          {source.last_error}
        </div>
      )}
    </li>
  );
}
