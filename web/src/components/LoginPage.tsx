import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError, ssoLoginUrl } from '../api';
import type { SessionInfo } from '../types';
import { linkClick } from '../router';
import { Logo } from './Logo';

interface Props {
  onSignedIn: (s: SessionInfo) => void;
  /** A note to show above the form (e.g. "Your session has expired"). */
  notice?: string | null;
}

export function LoginPage({ onSignedIn, notice }: Props) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  // Two-factor sign-in: after a right password the server asks for a code.
  const [step, setStep] = useState<'password' | 'code'>('password');
  const [code, setCode] = useState('');
  const codeRef = useRef<HTMLInputElement>(null);
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
    if (step === 'code') codeRef.current?.focus();
    else emailRef.current?.focus();
  }, [step]);

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
    const totp = code.replace(/\s+/g, '');
    if (step === 'code' && !/^\d{6}$/.test(totp)) {
      setError('Enter the 6-digit code from your authenticator app.');
      return;
    }
    setBusy(true);
    setError(null);
    setRateLimited(null);
    try {
      const s = await api.login(email.trim(), password, step === 'code' ? totp : undefined);
      onSignedIn(s);
    } catch (err) {
      if (err instanceof ApiError && err.error === 'second_factor_required') {
        setStep('code');
        setCode('');
        setBusy(false);
        return;
      }
      if (err instanceof ApiError && err.error === 'second_factor_invalid') {
        setError(err.detail || 'The code is wrong or was used already.');
        setCode('');
        setBusy(false);
        return;
      }
      setError(describeError(err));
      if (err instanceof ApiError && err.status === 429 && err.retryAfter) {
        setRateLimited(err.detail || 'Too many sign-in attempts.');
        setRetryIn(err.retryAfter);
      }
      if (err instanceof ApiError && err.status === 401) {
        setPassword('');
        setStep('password');
      }
      setBusy(false);
    }
  }

  const locked = retryIn > 0;
  return (
    <div class="login-screen">
      <div class="login-card">
        <Logo size={36} className="login-logo" />
        <h1 class="login-title">{step === 'code' ? 'Two-factor authentication' : 'Sign in'}</h1>
        <p class="login-subtitle">
          {step === 'code'
            ? 'Open your authenticator app and enter the current 6-digit code for Parley.'
            : 'Call analytics for your video-conferencing infrastructure.'}
        </p>
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
          {step === 'code' ? (
            <>
              <div class="login-account">
                <span class="login-account-label">Signing in as</span>
                <span class="login-account-email">{email.trim()}</span>
              </div>
              <label class="field">
                <span class="field-label">Authentication code</span>
                <input
                  ref={codeRef}
                  class="input input-code"
                  type="text"
                  name="totp"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  placeholder="123 456"
                  maxLength={7}
                  value={code}
                  onInput={(e) => setCode(e.currentTarget.value)}
                  data-testid="login-totp"
                  required
                />
              </label>
              <button class="btn btn-primary btn-block" type="submit" disabled={busy || locked} data-testid="login-totp-submit">
                {busy ? 'Verifying…' : locked ? `Try again in ${retryIn} s` : 'Verify and sign in'}
              </button>
              <button
                class="btn btn-link login-back"
                type="button"
                onClick={() => {
                  setStep('password');
                  setPassword('');
                  setCode('');
                  setError(null);
                }}
              >
                Use another account
              </button>
            </>
          ) : (
            <>
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
            </>
          )}
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
        <div class="login-links">
          <a href="/register" onClick={linkClick} data-testid="create-account">
            Create account
          </a>
          <a href="/forgot-password" onClick={linkClick} data-testid="forgot-password">
            Forgot password?
          </a>
        </div>
      </div>
      <p class="login-footer">Parley · privacy by design: personal data is encrypted per tenant.</p>
    </div>
  );
}
