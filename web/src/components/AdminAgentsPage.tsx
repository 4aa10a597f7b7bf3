import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { agentHealth } from '../admin';
import { ageSeconds, formatAgo, formatDateTime, formatInt } from '../format';
import { normalizeHealth } from '../inventory';
import type { AdminAgentsResponse, AgentHealth } from '../types';
import { EmptyState, ErrorState, LoadingState, Pill } from './States';

const REFRESH_MS = 15_000;
const TONE: Record<AgentHealth, 'ok' | 'warn' | 'bad'> = { online: 'ok', degraded: 'warn', offline: 'bad' };
const LABEL: Record<AgentHealth, string> = { online: 'Online', degraded: 'Degraded', offline: 'Offline' };

/** Every tenant's agents and their health, for the platform admin (no personal data). */
export function AdminAgentsPage({ onUnauthorized }: { onUnauthorized: () => void }) {
  const [data, setData] = useState<{ r: AdminAgentsResponse; at: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const load = useCallback(async () => {
    try {
      const r = await api.adminAgents();
      setData({ r, at: Date.now() });
      setNow(Date.now());
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      setError(describeError(e));
    }
  }, [onUnauthorized]);

  useEffect(() => {
    void load();
    const poll = window.setInterval(() => {
      if (!document.hidden) void load();
    }, REFRESH_MS);
    const tick = window.setInterval(() => setNow(Date.now()), 1000);
    return () => {
      window.clearInterval(poll);
      window.clearInterval(tick);
    };
  }, [load]);

  const agents = data?.r.agents ?? [];
  const count = (h: AgentHealth) => agents.filter((a) => agentHealth(a) === h).length;
  const tenants = new Set(agents.map((a) => a.tenant.id)).size;

  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Agents health</h1>
          <p class="page-subtitle">Every tenant's on-premises collectors, from their heartbeats. No call data is shown here.</p>
        </div>
        {data && (
          <div class={`live ${error ? 'live-error' : 'live-ok'}`} title={error ?? `Refreshes every ${REFRESH_MS / 1000} s`}>
            <span class="live-dot" aria-hidden="true" />
            <span class="live-label">{error ? 'Reconnecting…' : 'Live'}</span>
          </div>
        )}
      </div>

      <section class="kpis" aria-label="Key figures">
        <div class="kpi">
          <div class="kpi-label">Agents</div>
          <div class="kpi-value tabular">{data ? formatInt(agents.length) : '—'}</div>
          <div class="kpi-sub">{data ? `across ${formatInt(tenants)} tenant${tenants === 1 ? '' : 's'}` : ' '}</div>
        </div>
        {(['online', 'degraded', 'offline'] as const).map((h) => (
          <div class="kpi" key={h}>
            <div class="kpi-label">{LABEL[h]}</div>
            <div class="kpi-value tabular">{data ? formatInt(count(h)) : '—'}</div>
            <div class={`kpi-sub ${h === 'online' ? 'kpi-sub-good' : count(h) > 0 ? (h === 'offline' ? 'kpi-sub-bad' : 'kpi-sub-warn') : ''}`}>
              {h === 'online' ? 'all sources ok' : h === 'degraded' ? 'a source is not ok' : `no heartbeat for ${data?.r.online_window_s ?? 90} s`}
            </div>
          </div>
        ))}
      </section>

      <section class="card table-card">
        {!data && !error && <LoadingState label="Loading agents…" testId="platform-agents-loading" />}
        {!data && error && <ErrorState title="Could not load agents" message={error} onRetry={() => void load()} testId="platform-agents-error" />}
        {data && agents.length === 0 && (
          <EmptyState title="No agents enrolled yet" testId="platform-agents-empty">
            A tenant admin enrolls agents with a token from <code>parley agent enroll-token</code>.
          </EmptyState>
        )}
        {data && agents.length > 0 && (
          <table class="table" data-testid="platform-agents-table">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Tenant</th>
                <th scope="col">Health</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Version</th>
                <th scope="col">Sources</th>
              </tr>
            </thead>
            <tbody>
              {agents.map((a) => {
                const h = agentHealth(a);
                return (
                  <tr key={a.id} data-testid="platform-agent-row" data-health={h}>
                    <td>
                      <div class="cell-stack">
                        <span class="cell-primary">{a.name || 'Unnamed agent'}</span>
                        <span class="cell-secondary mono">{a.id}</span>
                      </div>
                    </td>
                    <td class="nowrap">{a.tenant.name}</td>
                    <td class="nowrap">
                      <Pill tone={TONE[h]} testId="platform-agent-health">
                        {LABEL[h]}
                      </Pill>
                    </td>
                    <td class="nowrap tabular" title={a.last_heartbeat ? formatDateTime(a.last_heartbeat) : undefined}>
                      {a.last_heartbeat ? formatAgo(ageSeconds(a.last_heartbeat, data.r.server_time, data.at, now)) : <span class="muted">never</span>}
                    </td>
                    <td class="nowrap">{a.agent_version ? <span class="source-tag">{a.agent_version}</span> : <span class="muted">—</span>}</td>
                    <td>
                      <div class="chips">
                        {a.sources.length === 0 && <span class="muted">none reported</span>}
                        {a.sources.map((s, i) => (
                          <span class={`chip chip-${normalizeHealth(s)}`} key={`${s.name ?? ''}-${i}`} title={s.last_error ?? undefined}>
                            <span class="chip-dot" aria-hidden="true" />
                            {s.name || 'source'}
                            {s.type && <span class="chip-type">{s.type.toUpperCase()}</span>}
                          </span>
                        ))}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
