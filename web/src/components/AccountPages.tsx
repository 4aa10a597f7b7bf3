// The pages a person reaches without signing in: "Create account" and
// "Forgot password?" (ask for a link by e-mail), and the pages the mailed
// links open, where they choose a password. Server rules: docs/accounts.md.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { tokenFromHash } from '../accountRoutes';
import { linkClick, navigate } from '../router';
import type { MailInfo } from '../types';
import { Logo } from './Logo';

function ErrorBox({ text }: { text: string }) {
  return (
    <div class="login-error" role="alert" data-testid="account-error">
      <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true" class="login-error-icon">
        <path d="M10 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zm-.9 4h1.8v5.2H9.1zm0 6.8h1.8v1.8H9.1z" />
      </svg>
      <span>{text}</span>
    </div>
  );
}

function BackToSignIn() {
  return (
    <p class="account-back">
      <a href="/" onClick={linkClick} data-testid="back-to-sign-in">
        ← Back to sign in
      </a>
    </p>
  );
}

function Card({ title, subtitle, children }: { title: string; subtitle: string; children: preact.ComponentChildren }) {
  return (
    <div class="login-screen">
      <div class="login-card">
        <Logo size={36} className="login-logo" />
        <h1 class="login-title">{title}</h1>
        <p class="login-subtitle">{subtitle}</p>
        {children}
      </div>
      <p class="login-footer">Parley · privacy by design: personal data is encrypted per tenant.</p>
    </div>
  );
}

/** "This demo server writes mail to …": shown when the server has no SMTP. */
function OutboxNote({ info }: { info: MailInfo | null }) {
  if (!info || info.mail_delivery !== 'outbox') return null;
  return (
    <div class="login-notice" data-testid="outbox-note">
      <span>
        This demo server does not send e-mail: it writes each message to{' '}
        <span class="outbox-path">{info.outbox_dir}</span>. Open the newest <code>.eml</code> file there to find
        your link.
      </span>
    </div>
  );
}

interface RequestProps {
  mode: 'register' | 'reset';
}

/** Asks for a registration or reset link. The answer never says whether the address exists. */
export function RequestLinkPage({ mode }: RequestProps) {
  const [email, setEmail] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [sent, setSent] = useState<string | null>(null);
  const [info, setInfo] = useState<MailInfo | null>(null);
  const emailRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    emailRef.current?.focus();
    api
      .registerInfo()
      .then(setInfo)
      .catch(() => setInfo(null));
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    if (busy) return;
    if (!email.trim()) {
      setError('Enter your e-mail address.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = mode === 'register' ? await api.register(email.trim()) : await api.requestPasswordReset(email.trim());
      setSent(r.detail);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  const register = mode === 'register';
  return (
    <Card
      title={register ? 'Create your account' : 'Reset your password'}
      subtitle={
        register
          ? "Enter your work e-mail address. If your organisation uses Parley, we'll send you a link to confirm it."
          : "Enter the e-mail address of your account and we'll send you a link to choose a new password."
      }
    >
      <OutboxNote info={info} />
      {error && <ErrorBox text={error} />}
      {sent ? (
        <div class="login-success" role="status" data-testid="link-sent">
          <span>{sent}</span>
        </div>
      ) : (
        <form class="login-form" onSubmit={submit} noValidate>
          <label class="field">
            <span class="field-label">E-mail</span>
            <input
              ref={emailRef}
              class="input"
              type="email"
              name="email"
              autoComplete="email"
              placeholder="you@company.com"
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
              data-testid="account-email"
              required
            />
          </label>
          <button class="btn btn-primary btn-block" type="submit" disabled={busy} data-testid="account-submit">
            {busy ? 'Sending…' : register ? 'Send confirmation link' : 'Send reset link'}
          </button>
        </form>
      )}
      <BackToSignIn />
    </Card>
  );
}

interface ChooseProps {
  mode: 'verify' | 'reset';
}

/** Opened from a mailed link: choose the password, which activates the account or replaces the old one. */
export function ChoosePasswordPage({ mode }: ChooseProps) {
  // The token lives in the fragment; it is read once and taken out of the
  // address bar and history, so it is not left behind on this device.
  const [token] = useState(() => tokenFromHash(window.location.hash));
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [linkDead, setLinkDead] = useState(false);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    if (window.location.hash) window.history.replaceState(null, '', window.location.pathname);
  }, []);

  const again = mode === 'verify' ? '/register' : '/forgot-password';
  async function submit(e: Event) {
    e.preventDefault();
    if (busy || !token) return;
    if (password.length < 12) {
      setError('Use at least 12 characters. A few unrelated words make a good password.');
      return;
    }
    if (password !== confirm) {
      setError('The two passwords are not the same.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r =
        mode === 'verify' ? await api.completeRegistration(token, password) : await api.completePasswordReset(token, password);
      setDone(r.detail);
    } catch (err) {
      setError(describeError(err));
      if (err instanceof ApiError && ['link_used', 'link_expired', 'link_invalid'].includes(err.error)) setLinkDead(true);
      if (err instanceof ApiError && err.error === 'password_rejected') {
        setPassword('');
        setConfirm('');
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card
      title={mode === 'verify' ? 'Choose your password' : 'Choose a new password'}
      subtitle={
        mode === 'verify'
          ? 'One last step: choose the password for your new Parley account.'
          : 'Choose a new password. You will be signed out everywhere else.'
      }
    >
      {!token && !done && (
        <ErrorBox text="This page needs the link from your e-mail. Open the link from the message, or ask for a new one." />
      )}
      {error && <ErrorBox text={error} />}
      {done ? (
        <>
          <div class="login-success" role="status" data-testid="password-set">
            <span>{done}</span>
          </div>
          <button class="btn btn-primary btn-block" type="button" onClick={() => navigate('/')} data-testid="go-sign-in">
            Sign in
          </button>
        </>
      ) : token && !linkDead ? (
        <form class="login-form" onSubmit={submit} noValidate>
          <label class="field">
            <span class="field-label">New password</span>
            <input
              class="input"
              type="password"
              name="new-password"
              autoComplete="new-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              data-testid="new-password"
              required
            />
            <span class="field-hint">
              At least 12 characters; long passphrases welcome. Common passwords, dictionary words and parts of your
              e-mail address are refused. No special characters required.
            </span>
          </label>
          <label class="field">
            <span class="field-label">Repeat it</span>
            <input
              class="input"
              type="password"
              name="confirm-password"
              autoComplete="new-password"
              value={confirm}
              onInput={(e) => setConfirm(e.currentTarget.value)}
              data-testid="confirm-password"
              required
            />
          </label>
          <button class="btn btn-primary btn-block" type="submit" disabled={busy} data-testid="password-submit">
            {busy ? 'Saving…' : mode === 'verify' ? 'Activate my account' : 'Set new password'}
          </button>
        </form>
      ) : (
        <p class="account-back">
          <a href={again} onClick={linkClick} data-testid="ask-again">
            Ask for a new link
          </a>
        </p>
      )}
      <BackToSignIn />
    </Card>
  );
}
