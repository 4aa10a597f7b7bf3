import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, describeError } from './api';
import type { SessionInfo } from './types';
import { AppShell } from './components/AppShell';
import { CallsPage } from './components/CallsPage';
import { LoginPage } from './components/LoginPage';
import { LogoMark } from './components/Logo';

type AuthState = { kind: 'booting' } | { kind: 'signed-out'; notice: string | null } | { kind: 'signed-in'; session: SessionInfo };

export function App() {
  const [auth, setAuth] = useState<AuthState>({ kind: 'booting' });
  const [signingOut, setSigningOut] = useState(false);
  const [banner, setBanner] = useState<string | null>(null);

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
    document.title = auth.kind === 'signed-in' ? `Calls · ${auth.session.tenant.name} · Parley` : 'Sign in · Parley';
  }, [auth]);

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
    <AppShell session={auth.session} onSignOut={() => void signOut()} signingOut={signingOut} banner={banner}>
      <CallsPage onUnauthorized={onUnauthorized} />
    </AppShell>
  );
}
