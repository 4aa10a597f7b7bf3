import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError, ssoLoginUrl } from '../api';
import type { SessionInfo } from '../types';
import { Logo } from './Logo';

interface Props {
  onSignedIn: (s: SessionInfo) => void;
  /** A note to show above the form (e.g. "Your session has expired"). */
  notice?: string | null;
}

export function LoginPage({ onSignedIn, notice }: Props) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [retryIn, setRetryIn] = useState(0);
  // For a 429: the server's detail, shown with a live countdown of Retry-After.
  const [rateLimited, setRateLimited] = useState<string | null>(null);
  const emailRef = useRef<HTMLInputElement>(null);
  // Single sign-on: the organisation (name or e-mail domain), then off to /saml/login.
  const [ssoOpen, setSsoOpen] = useState(false);
  const [organisation, setOrganisation] = useState('');

  useEffect(() => {
    emailRef.current?.focus();
  }, []);

  // Count down a 429's Retry-After, keeping the button disabled meanwhile.
  useEffect(() => {
    if (retryIn <= 0) return undefined;
    const t = window.setTimeout(() => setRetryIn((n) => n - 1), 1000);
    return () => window.clearTimeout(t);
  }, [retryIn]);

  async function submit(e: Event) {
    e.preventDefault();
    if (busy || retryIn > 0) return;
    if (!email.trim() || !password) {
      setError('Enter your e-mail address and password.');
      return;
    }
    setBusy(true);
    setError(null);
    setRateLimited(null);
    try {
      const s = await api.login(email.trim(), password);
      onSignedIn(s);
    } catch (err) {
      setError(describeError(err));
      if (err instanceof ApiError && err.status === 429 && err.retryAfter) {
        setRateLimited(err.detail || 'Too many sign-in attempts.');
        setRetryIn(err.retryAfter);
      }
      if (err instanceof ApiError && err.status === 401) setPassword('');
      setBusy(false);
    }
  }

  const locked = retryIn > 0;
  return (
    <div class="login-screen">
      <div class="login-card">
        <Logo size={36} className="login-logo" />
        <h1 class="login-title">Sign in</h1>
        <p class="login-subtitle">Call analytics for your video-conferencing infrastructure.</p>
        {notice && !error && <div class="login-notice">{notice}</div>}
        {error && (
          <div class="login-error" role="alert" data-testid="login-error">
            <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" class="login-error-icon">
              <path d="M10 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zm-.9 4h1.8v5.2H9.1zm0 6.8h1.8v1.8H9.1z" />
            </svg>
            <span>
              {rateLimited ? (
                <>
                  {rateLimited}{' '}
                  {locked ? (
                    <span class="login-countdown">Try again in {retryIn} s.</span>
                  ) : (
                    'You can try again now.'
                  )}
                </>
              ) : (
                error
              )}
            </span>
          </div>
        )}
        <form class="login-form" onSubmit={submit} noValidate>
          <label class="field">
            <span class="field-label">E-mail</span>
            <input
              ref={emailRef}
              class="input"
              type="email"
              name="email"
              autoComplete="username"
              placeholder="you@company.com"
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
              data-testid="login-email"
              required
            />
          </label>
          <label class="field">
            <span class="field-label">Password</span>
            <input
              class="input"
              type="password"
              name="password"
              autoComplete="current-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              data-testid="login-password"
              required
            />
          </label>
          <button class="btn btn-primary btn-block" type="submit" disabled={busy || locked} data-testid="login-submit">
            {busy ? 'Signing in…' : locked ? `Try again in ${retryIn} s` : 'Sign in'}
          </button>
        </form>
        <div class="login-divider">
          <span>or</span>
        </div>
        {!ssoOpen ? (
          <button class="btn btn-secondary btn-block" type="button" onClick={() => setSsoOpen(true)} data-testid="sso-start">
            Sign in with SSO
          </button>
        ) : (
          <form
            class="login-form"
            noValidate
            onSubmit={(e) => {
              e.preventDefault();
              if (!organisation.trim()) {
                setError('Enter your organisation or your e-mail domain.');
                return;
              }
              window.location.assign(ssoLoginUrl(organisation));
            }}
          >
            <label class="field">
              <span class="field-label">Organisation or e-mail domain</span>
              <input
                class="input"
                name="organisation"
                placeholder="example.com"
                value={organisation}
                onInput={(e) => setOrganisation(e.currentTarget.value)}
                data-testid="sso-organisation"
              />
            </label>
            <button class="btn btn-secondary btn-block" type="submit" data-testid="sso-continue">
              Continue with single sign-on
            </button>
          </form>
        )}
      </div>
      <p class="login-footer">Parley · privacy by design: personal data is encrypted per tenant.</p>
    </div>
  );
}
