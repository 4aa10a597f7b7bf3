import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, describeError } from './api';
import type { SessionInfo } from './types';
import { AppShell } from './components/AppShell';
import { CallsPage } from './components/CallsPage';
import { LoginPage } from './components/LoginPage';
import { LogoMark } from './components/Logo';
import { AgentsPage } from './components/AgentsPage';
import { ConferencesPage } from './components/ConferencesPage';
import { InventoryPage } from './components/InventoryPage';
import { SsoSettingsPage } from './components/SsoSettingsPage';
import { ErrorState, LoadingState, NotFoundPage } from './components/States';
import { accountPageOf } from './accountRoutes';
import { ChoosePasswordPage, RequestLinkPage } from './components/AccountPages';
import { AccountPage } from './components/AccountPage';
import { AuditPage } from './components/AuditPage';
import { AdminAgentsPage } from './components/AdminAgentsPage';
import { AdminTenantsPage } from './components/AdminTenantsPage';
import { UsersPage } from './components/UsersPage';
import { homeFor, navigate, routeAllowed, routeOf, usePath, type RouteId } from './router';

const TITLES: Record<RouteId, string> = {
  calls: 'Calls',
  conferences: 'Conferences',
  utilization: 'Utilization',
  quality: 'Quality',
  inventory: 'Inventory',
  agents: 'Agents & sources',
  account: 'Account & security',
  users: 'Users',
  tenants: 'Tenants',
  'platform-agents': 'Agents health',
  sso: 'Single sign-on',
  audit: 'Audit log',
  'not-found': 'Not found',
};

type AuthState = { kind: 'booting' } | { kind: 'signed-out'; notice: string | null } | { kind: 'signed-in'; session: SessionInfo };

export function App() {
  const [auth, setAuth] = useState<AuthState>({ kind: 'booting' });
  const [signingOut, setSigningOut] = useState(false);
  const [banner, setBanner] = useState<string | null>(null);
  const path = usePath();
  const route = routeOf(path);
  const accountPage = accountPageOf(path);

  // Restore an existing session (the cookie is HttpOnly; the server tells us).
  useEffect(() => {
    let cancelled = false;
    api
      .session()
      .then((s) => {
        if (cancelled) return;
        setAuth(s ? { kind: 'signed-in', session: s } : { kind: 'signed-out', notice: null });
      })
      .catch((e) => {
        if (!cancelled) setAuth({ kind: 'signed-out', notice: describeError(e) });
      });
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => {
    if (accountPage) {
      document.title = `${accountPage === 'register' || accountPage === 'verify' ? 'Create account' : 'Reset password'} · Parley`;
      return;
    }
    document.title =
      auth.kind === 'signed-in' ? `${TITLES[route]} · ${auth.session.tenant.name} · Parley` : 'Sign in · Parley';
  }, [auth, route, accountPage]);

  // Each role lands on its own pages: the platform admin never opens a
  // tenant-data page (the server would refuse it anyway).
  const role = auth.kind === 'signed-in' ? auth.session.user.role : null;
  useEffect(() => {
    if (role && !routeAllowed(route, role)) navigate(homeFor(role), true);
  }, [role, route]);

  const refreshSession = useCallback(() => {
    api
      .session()
      .then((s) => setAuth(s ? { kind: 'signed-in', session: s } : { kind: 'signed-out', notice: 'Your session has ended. Please sign in again.' }))
      .catch((e) => setBanner(describeError(e)));
  }, []);

  const onUnauthorized = useCallback(() => {
    setAuth({ kind: 'signed-out', notice: 'Your session has ended. Please sign in again.' });
  }, []);

  async function signOut() {
    setSigningOut(true);
    setBanner(null);
    try {
      await api.logout();
      setAuth({ kind: 'signed-out', notice: 'You have signed out.' });
    } catch (e) {
      setBanner(`Sign-out failed: ${describeError(e)}`);
    } finally {
      setSigningOut(false);
    }
  }

  // Registration and password reset work signed in or not (a mailed link may
  // be opened anywhere), so they come before the session check.
  if (accountPage === 'register') return <RequestLinkPage key="register" mode="register" />;
  if (accountPage === 'forgot-password') return <RequestLinkPage key="reset" mode="reset" />;
  if (accountPage === 'verify') return <ChoosePasswordPage key="verify" mode="verify" />;
  if (accountPage === 'reset-password') return <ChoosePasswordPage key="reset-pw" mode="reset" />;

  if (auth.kind === 'booting') {
    return (
      <div class="boot" aria-busy="true">
        <LogoMark size={40} />
      </div>
    );
  }
  if (auth.kind === 'signed-out') {
    return (
      <LoginPage
        notice={auth.notice}
        onSignedIn={(session) => {
          setBanner(null);
          setAuth({ kind: 'signed-in', session });
        }}
      />
    );
  }
  // Nothing renders on a page the role cannot use while the redirect runs.
  const page: RouteId | null = routeAllowed(route, auth.session.user.role) ? route : null;
  return (
    <AppShell session={auth.session} onSignOut={() => void signOut()} signingOut={signingOut} banner={banner} route={route}>
      {page === 'calls' && <CallsPage onUnauthorized={onUnauthorized} />}
      {page === 'conferences' && <ConferencesPage onUnauthorized={onUnauthorized} />}
      {(page === 'utilization' || page === 'quality') && <Dashboard page={page} onUnauthorized={onUnauthorized} />}
      {page === 'inventory' && <InventoryPage onUnauthorized={onUnauthorized} />}
      {page === 'agents' && (
        <AgentsPage onUnauthorized={onUnauthorized} isTenantAdmin={auth.session.user.role === 'tenant_admin'} />
      )}
      {page === 'account' && (
        <AccountPage
          session={auth.session}
          onSessionChanged={refreshSession}
          onUnauthorized={onUnauthorized}
          onSignedOutEverywhere={(n) =>
            setAuth({ kind: 'signed-out', notice: `You have signed out everywhere (${n} session${n === 1 ? '' : 's'} ended).` })
          }
        />
      )}
      {page === 'users' && (
        <UsersPage session={auth.session} onUnauthorized={onUnauthorized} onOwnRoleChanged={(s) => setAuth({ kind: 'signed-in', session: s })} />
      )}
      {page === 'tenants' && <AdminTenantsPage onUnauthorized={onUnauthorized} />}
      {page === 'platform-agents' && <AdminAgentsPage onUnauthorized={onUnauthorized} />}
      {page === 'sso' && <SsoSettingsPage onUnauthorized={onUnauthorized} />}
      {page === 'audit' && <AuditPage onUnauthorized={onUnauthorized} />}
      {page === 'not-found' && <NotFoundPage />}
    </AppShell>
  );
}

type DashboardModule = typeof import('./components/Dashboards');
let dashboards: Promise<DashboardModule> | null = null;

/** Utilization and Quality, with their chart library fetched the first time one is opened. */
function Dashboard({ page, onUnauthorized }: { page: 'utilization' | 'quality'; onUnauthorized: () => void }) {
  const [mod, setMod] = useState<DashboardModule | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    dashboards ??= import('./components/Dashboards');
    dashboards.then(
      (m) => alive && setMod(m),
      (e) => {
        dashboards = null;
        if (alive) setFailed(describeError(e));
      },
    );
    return () => {
      alive = false;
    };
  }, []);
  if (failed) {
    return (
      <div class="page">
        <section class="card">
          <ErrorState title="Could not load the dashboard" message={failed} onRetry={() => window.location.reload()} />
        </section>
      </div>
    );
  }
  if (!mod) {
    return (
      <div class="page">
        <section class="card">
          <LoadingState label="Loading…" />
        </section>
      </div>
    );
  }
  return page === 'utilization' ? (
    <mod.UtilizationPage onUnauthorized={onUnauthorized} />
  ) : (
    <mod.QualityPage onUnauthorized={onUnauthorized} />
  );
}
