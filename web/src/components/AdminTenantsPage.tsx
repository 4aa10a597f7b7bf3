import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { agentsByTenant, parseDomains, subscriptionState, todayUtc, type TenantAgentSummary } from '../admin';
import { formatInt } from '../format';
import type { AdminAgent, AdminTenant, TenantInput } from '../types';
import { EmptyState, ErrorState, LoadingState, Pill } from './States';

interface Props {
  onUnauthorized: () => void;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready' };
type Editing = { kind: 'none' } | { kind: 'new' } | { kind: 'edit'; tenant: AdminTenant };

const SUBSCRIPTION_TONE = { open: 'neutral', active: 'ok', ending: 'warn', ended: 'bad' } as const;

/** The platform admin's tenants: list, create, edit; agents' health per tenant. No personal data. */
export function AdminTenantsPage({ onUnauthorized }: Props) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [tenants, setTenants] = useState<AdminTenant[]>([]);
  const [agents, setAgents] = useState<AdminAgent[]>([]);
  const [editing, setEditing] = useState<Editing>({ kind: 'none' });
  const [note, setNote] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const [t, a] = await Promise.all([api.adminTenants(), api.adminAgents()]);
      setTenants(t.filter((x) => !x.platform));
      setAgents(a.agents);
      setPhase({ kind: 'ready' });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      setPhase({ kind: 'error', message: describeError(e) });
    }
  }, [onUnauthorized]);

  useEffect(() => {
    void load();
  }, [load]);

  const byTenant = useMemo(() => agentsByTenant(agents), [agents]);
  const today = todayUtc();
  const states = tenants.map((t) => subscriptionState(t, today));
  const online = agents.filter((a) => (a.health ?? a.state) === 'online').length;
  const degraded = agents.filter((a) => a.health === 'degraded').length;

  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Tenants</h1>
          <p class="page-subtitle">The organizations this Parley serves: domains, time zone, subscription and agents.</p>
        </div>
        {editing.kind === 'none' && (
          <button class="btn btn-primary" type="button" onClick={() => setEditing({ kind: 'new' })} data-testid="tenant-new">
            <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" class="btn-icon">
              <path d="M9.2 4h1.6v5.2H16v1.6h-5.2V16H9.2v-5.2H4V9.2h5.2z" />
            </svg>
            New tenant
          </button>
        )}
      </div>

      <section class="kpis" aria-label="Key figures">
        <div class="kpi">
          <div class="kpi-label">Tenants</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? formatInt(tenants.length) : '—'}</div>
          <div class="kpi-sub">{phase.kind === 'ready' ? `${states.filter((s) => s === 'ended').length} with an ended subscription` : ' '}</div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Renewals due</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? formatInt(states.filter((s) => s === 'ending').length) : '—'}</div>
          <div class="kpi-sub">subscription ends within 30 days</div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Agents online</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? `${formatInt(online)} / ${formatInt(agents.length)}` : '—'}</div>
          <div class={`kpi-sub ${agents.length > 0 && online + degraded < agents.length ? 'kpi-sub-bad' : agents.length > 0 ? 'kpi-sub-good' : ''}`}>
            {agents.length === 0 ? 'none enrolled' : `${formatInt(agents.length - online - degraded)} offline`}
          </div>
        </div>
        <div class="kpi">
          <div class="kpi-label">Agents degraded</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? formatInt(degraded) : '—'}</div>
          <div class={`kpi-sub ${degraded > 0 ? 'kpi-sub-warn' : ''}`}>{degraded > 0 ? 'a source is not collecting' : 'none'}</div>
        </div>
      </section>

      {note && (
        <div class="inline-note inline-note-ok" role="status" data-testid="tenant-note">
          {note}
        </div>
      )}

      {editing.kind !== 'none' && (
        <TenantForm
          key={editing.kind === 'edit' ? editing.tenant.id : 'new'}
          tenant={editing.kind === 'edit' ? editing.tenant : null}
          onCancel={() => setEditing({ kind: 'none' })}
          onUnauthorized={onUnauthorized}
          onSaved={(t, created) => {
            setEditing({ kind: 'none' });
            setNote(created ? `Tenant "${t.name}" created.` : `Tenant "${t.name}" saved.`);
            void load();
          }}
        />
      )}

      <section class="card table-card">
        {phase.kind === 'loading' && <LoadingState label="Loading tenants…" testId="tenants-loading" />}
        {phase.kind === 'error' && <ErrorState title="Could not load tenants" message={phase.message} onRetry={() => void load()} testId="tenants-error" />}
        {phase.kind === 'ready' && tenants.length === 0 && (
          <EmptyState title="No tenants yet" testId="tenants-empty">
            Create the first one with <strong>New tenant</strong> or <code>parley tenant create</code>.
          </EmptyState>
        )}
        {phase.kind === 'ready' && tenants.length > 0 && (
          <table class="table" data-testid="tenants-table">
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">E-mail domains</th>
                <th scope="col">Time zone</th>
                <th scope="col">Subscription</th>
                <th scope="col">Agents</th>
                <th scope="col" class="col-actions">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tenants.map((t, i) => (
                <tr key={t.id} data-testid="tenant-row" data-name={t.name}>
                  <td>
                    <div class="cell-stack">
                      <span class="cell-primary">{t.name}</span>
                      <span class="cell-secondary">since {t.created_at.slice(0, 10)}</span>
                    </div>
                  </td>
                  <td>
                    <div class="chips">
                      {t.domains.map((d) => (
                        <span class="chip" key={d}>
                          {d}
                        </span>
                      ))}
                    </div>
                  </td>
                  <td class="nowrap">{t.time_zone}</td>
                  <td class="nowrap">
                    <Pill tone={SUBSCRIPTION_TONE[states[i]]} testId="tenant-subscription">
                      {states[i] === 'open' ? 'No end date' : states[i] === 'ended' ? `Ended ${t.subscription_end}` : `Until ${t.subscription_end}`}
                    </Pill>
                  </td>
                  <td class="nowrap">
                    <AgentSummary summary={byTenant.get(t.id)} />
                  </td>
                  <td class="col-actions">
                    <button class="btn btn-ghost btn-sm" type="button" onClick={() => setEditing({ kind: 'edit', tenant: t })} data-testid="tenant-edit">
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function AgentSummary({ summary }: { summary: TenantAgentSummary | undefined }) {
  if (!summary || summary.total === 0) return <span class="muted">No agents</span>;
  return (
    <span class="health-summary" title={`${summary.online} online, ${summary.degraded} degraded, ${summary.offline} offline`}>
      {summary.online > 0 && <span class="health-count health-online">{summary.online} online</span>}
      {summary.degraded > 0 && <span class="health-count health-degraded">{summary.degraded} degraded</span>}
      {summary.offline > 0 && <span class="health-count health-offline">{summary.offline} offline</span>}
    </span>
  );
}

function TenantForm({
  tenant,
  onCancel,
  onSaved,
  onUnauthorized,
}: {
  tenant: AdminTenant | null;
  onCancel: () => void;
  onSaved: (t: AdminTenant, created: boolean) => void;
  onUnauthorized: () => void;
}) {
  const [name, setName] = useState(tenant?.name ?? '');
  const [domains, setDomains] = useState((tenant?.domains ?? []).join(', '));
  const [timeZone, setTimeZone] = useState(tenant?.time_zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC');
  const [end, setEnd] = useState(tenant?.subscription_end ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event) {
    e.preventDefault();
    const input: TenantInput = { name: name.trim(), domains: parseDomains(domains), time_zone: timeZone.trim(), subscription_end: end || null };
    if (!input.name) return setError('Give the tenant a name.');
    if (input.domains?.length === 0) return setError('Add at least one e-mail domain, e.g. example.com.');
    setBusy(true);
    setError(null);
    try {
      const saved = tenant ? await api.adminUpdateTenant(tenant.id, input) : await api.adminCreateTenant(input);
      onSaved(saved, !tenant);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return onUnauthorized();
      setError(describeError(err));
      setBusy(false);
    }
  }

  return (
    <section class="card form-card" data-testid="tenant-form">
      <form onSubmit={submit} noValidate>
        <div class="form-card-head">
          <h2 class="settings-title">{tenant ? `Edit ${tenant.name}` : 'New tenant'}</h2>
          <p class="settings-text">
            People whose e-mail address is in one of the domains may register into this tenant. Its data is encrypted under a key of its own.
          </p>
        </div>
        {error && (
          <div class="inline-note inline-note-error" role="alert" data-testid="tenant-form-error">
            {error}
          </div>
        )}
        <div class="form-grid">
          <label class="field">
            <span class="field-label">Name</span>
            <input class="input" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="Acme Corp" data-testid="tenant-name-input" required />
          </label>
          <label class="field">
            <span class="field-label">E-mail domains</span>
            <input class="input" value={domains} onInput={(e) => setDomains(e.currentTarget.value)} placeholder="acme.com, acme.co.uk" data-testid="tenant-domains-input" required />
          </label>
          <label class="field">
            <span class="field-label">Time zone (IANA)</span>
            <input class="input" value={timeZone} onInput={(e) => setTimeZone(e.currentTarget.value)} placeholder="Europe/London" data-testid="tenant-tz-input" required />
          </label>
          <label class="field">
            <span class="field-label">Subscription ends (last day)</span>
            <input class="input" type="date" value={end} onInput={(e) => setEnd(e.currentTarget.value)} data-testid="tenant-end-input" />
          </label>
        </div>
        <div class="form-actions">
          <button class="btn btn-primary" type="submit" disabled={busy} data-testid="tenant-save">
            {busy ? 'Saving…' : tenant ? 'Save changes' : 'Create tenant'}
          </button>
          <button class="btn btn-ghost" type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
