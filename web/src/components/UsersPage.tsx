import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { formatDateTime, formatInt, roleLabel } from '../format';
import type { SessionInfo, UserRow } from '../types';
import { EmptyState, ErrorState, LoadingState, Pill } from './States';

const ROLES = ['tenant_admin', 'analyst', 'viewer'] as const;
const ROLE_HELP: Record<string, string> = {
  tenant_admin: 'Users, SSO, agents, privacy requests, exports',
  analyst: 'Reports and call detail records',
  viewer: 'Reports only, no personal data',
};

interface Props {
  session: SessionInfo;
  onUnauthorized: () => void;
  /** Called with the new session when the admin changed their own role. */
  onOwnRoleChanged: (s: SessionInfo) => void;
}

type Phase = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; users: UserRow[] };

/** The tenant admin's users page: every user with their role; changing a role ends that user's sessions. */
export function UsersPage({ session, onUnauthorized, onOwnRoleChanged }: Props) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [pending, setPending] = useState<string | null>(null);
  const [note, setNote] = useState<{ tone: 'ok' | 'error'; text: string } | null>(null);

  const load = useCallback(async () => {
    try {
      setPhase({ kind: 'ready', users: await api.users() });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      setPhase({ kind: 'error', message: describeError(e) });
    }
  }, [onUnauthorized]);

  useEffect(() => {
    void load();
  }, [load]);

  async function changeRole(u: UserRow, role: string) {
    if (role === u.role) return;
    setPending(u.id);
    setNote(null);
    try {
      const r = await api.setUserRole(u.id, role);
      const ended = r.sessions_ended;
      setNote({
        tone: 'ok',
        text: `${u.email} is now ${roleLabel(role)}. ${ended === 1 ? '1 session was' : `${formatInt(ended)} sessions were`} ended; they sign in again with the new role.`,
      });
      if (r.session) return onOwnRoleChanged(r.session);
      await load();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      setNote({ tone: 'error', text: describeError(e) });
    } finally {
      setPending(null);
    }
  }

  const users = phase.kind === 'ready' ? phase.users : [];
  const count = (role: string) => users.filter((u) => u.role === role).length;
  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Users</h1>
          <p class="page-subtitle">Who can sign in to {session.tenant.name}, and what they may see.</p>
        </div>
      </div>

      <section class="kpis" aria-label="Users by role">
        <div class="kpi">
          <div class="kpi-label">Users</div>
          <div class="kpi-value tabular">{phase.kind === 'ready' ? formatInt(users.length) : '—'}</div>
          <div class="kpi-sub">{phase.kind === 'ready' ? `${users.filter((u) => u.sso_only).length} via single sign-on` : ' '}</div>
        </div>
        {ROLES.map((r) => (
          <div class="kpi" key={r}>
            <div class="kpi-label">{roleLabel(r)}s</div>
            <div class="kpi-value tabular">{phase.kind === 'ready' ? formatInt(count(r)) : '—'}</div>
            <div class="kpi-sub">{ROLE_HELP[r]}</div>
          </div>
        ))}
      </section>

      {note && (
        <div class={`inline-note inline-note-${note.tone}`} role={note.tone === 'error' ? 'alert' : 'status'} data-testid="users-note">
          {note.text}
        </div>
      )}

      <section class="card table-card">
        {phase.kind === 'loading' && <LoadingState label="Loading users…" testId="users-loading" />}
        {phase.kind === 'error' && <ErrorState title="Could not load users" message={phase.message} onRetry={() => void load()} testId="users-error" />}
        {phase.kind === 'ready' && users.length === 0 && <EmptyState title="No users yet" testId="users-empty" />}
        {phase.kind === 'ready' && users.length > 0 && (
          <table class="table" data-testid="users-table">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Sign-in</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id} data-testid="user-row">
                  <td>
                    <div class="user-cell">
                      <span class="avatar avatar-sm" aria-hidden="true">
                        {u.email.charAt(0).toUpperCase()}
                      </span>
                      <div class="cell-stack">
                        <span class="cell-primary">
                          {u.email}
                          {u.id === session.user.id && <span class="you-tag">you</span>}
                        </span>
                        <span class="cell-secondary mono">{u.id}</span>
                      </div>
                    </div>
                  </td>
                  <td class="nowrap">
                    <Pill tone="neutral">{u.sso_only ? 'Single sign-on' : 'Password'}</Pill>
                  </td>
                  <td class="nowrap">
                    <select
                      class="select"
                      value={u.role}
                      disabled={pending !== null}
                      onChange={(e) => void changeRole(u, e.currentTarget.value)}
                      aria-label={`Role of ${u.email}`}
                      data-testid="user-role"
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {roleLabel(r)}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td class="nowrap tabular">{formatDateTime(u.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
