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
import { NotFoundPage } from './components/States';
import { routeOf, usePath, type RouteId } from './router';

const TITLES: Record<RouteId, string> = {
  calls: 'Calls',
  conferences: 'Conferences',
  inventory: 'Inventory',
  agents: 'Agents & sources',
  sso: 'Single sign-on',
  'not-found': 'Not found',
};

type AuthState = { kind: 'booting' } | { kind: 'signed-out'; notice: string | null } | { kind: 'signed-in'; session: SessionInfo };

export function App() {
  const [auth, setAuth] = useState<AuthState>({ kind: 'booting' });
  const [signingOut, setSigningOut] = useState(false);
  const [banner, setBanner] = useState<string | null>(null);
  const route = routeOf(usePath());

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
    document.title =
      auth.kind === 'signed-in' ? `${TITLES[route]} · ${auth.session.tenant.name} · Parley` : 'Sign in · Parley';
  }, [auth, route]);

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
  return (
    <AppShell session={auth.session} onSignOut={() => void signOut()} signingOut={signingOut} banner={banner} route={route}>
      {route === 'calls' && <CallsPage onUnauthorized={onUnauthorized} />}
      {route === 'conferences' && <ConferencesPage onUnauthorized={onUnauthorized} />}
      {route === 'inventory' && <InventoryPage onUnauthorized={onUnauthorized} />}
      {route === 'agents' && <AgentsPage onUnauthorized={onUnauthorized} />}
      {route === 'sso' && <SsoSettingsPage onUnauthorized={onUnauthorized} />}
      {route === 'not-found' && <NotFoundPage />}
    </AppShell>
  );
}
