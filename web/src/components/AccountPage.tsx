import { useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import { groupSecret } from '../admin';
import { roleLabel } from '../format';
import type { SessionInfo, TotpSetup } from '../types';
import { Pill } from './States';
import { QrCode } from './QrCode';

interface Props {
  session: SessionInfo;
  /** Re-reads the session (e.g. after two-factor authentication changed). */
  onSessionChanged: () => void;
  /** After "sign out everywhere": this session is gone too. */
  onSignedOutEverywhere: (ended: number) => void;
  onUnauthorized: () => void;
}

/** Account & security: profile, two-factor authentication, sessions. */
export function AccountPage({ session, onSessionChanged, onSignedOutEverywhere, onUnauthorized }: Props) {
  const { user, tenant } = session;
  return (
    <div class="page page-narrow">
      <div class="page-header">
        <div>
          <h1 class="page-title">Account &amp; security</h1>
          <p class="page-subtitle">Your sign-in, second factor and sessions.</p>
        </div>
      </div>

      <section class="card settings-card">
        <div class="settings-row">
          <div class="avatar avatar-lg" aria-hidden="true">
            {(user.email || '?').charAt(0).toUpperCase()}
          </div>
          <dl class="facts">
            <div>
              <dt>E-mail</dt>
              <dd data-testid="account-email">{user.email}</dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>{roleLabel(user.role)}</dd>
            </div>
            <div>
              <dt>Organization</dt>
              <dd>{tenant.name}</dd>
            </div>
            <div>
              <dt>Sign-in</dt>
              <dd>{user.local === false ? 'Single sign-on' : 'Password'}</dd>
            </div>
          </dl>
        </div>
      </section>

      <TwoFactorCard session={session} onChanged={onSessionChanged} onUnauthorized={onUnauthorized} />
      <SessionsCard onSignedOutEverywhere={onSignedOutEverywhere} onUnauthorized={onUnauthorized} />
    </div>
  );
}

type TotpStage = { kind: 'idle' } | { kind: 'password' } | { kind: 'scan'; setup: TotpSetup } | { kind: 'disable' };

function TwoFactorCard({ session, onChanged, onUnauthorized }: { session: SessionInfo; onChanged: () => void; onUnauthorized: () => void }) {
  const enabled = session.user.totp_enabled === true;
  const local = session.user.local !== false;
  const [stage, setStage] = useState<TotpStage>({ kind: 'idle' });
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  function reset(next: TotpStage = { kind: 'idle' }) {
    setStage(next);
    setPassword('');
    setCode('');
    setError(null);
  }

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  const startSetup = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const setup = await api.totpSetup(password);
      setPassword('');
      setStage({ kind: 'scan', setup });
    });
  };
  const confirm = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api.totpConfirm(code.replace(/\s+/g, ''));
      reset();
      setNotice('Two-factor authentication is on. Next time you sign in, Parley asks for a code.');
      onChanged();
    });
  };
  const disable = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api.totpDisable(password, code.replace(/\s+/g, ''));
      reset();
      setNotice('Two-factor authentication is off.');
      onChanged();
    });
  };

  return (
    <section class="card settings-card" data-testid="totp-card">
      <div class="settings-head">
        <div>
          <h2 class="settings-title">Two-factor authentication</h2>
          <p class="settings-text">
            A time-based code from an authenticator app (Google or Microsoft Authenticator, 1Password, FreeOTP…) in
            addition to your password.
          </p>
        </div>
        {local && (
          <Pill tone={enabled ? 'ok' : 'neutral'} testId="totp-status">
            {enabled ? 'On' : 'Off'}
          </Pill>
        )}
      </div>

      {notice && (
        <div class="inline-note inline-note-ok" role="status">
          {notice}
        </div>
      )}
      {error && (
        <div class="inline-note inline-note-error" role="alert" data-testid="totp-error">
          {error}
        </div>
      )}

      {!local && <p class="settings-text">Your organization's identity provider handles your second factor.</p>}

      {local && !enabled && stage.kind === 'idle' && (
        <button class="btn btn-primary" type="button" onClick={() => reset({ kind: 'password' })} data-testid="totp-setup">
          Set up two-factor authentication
        </button>
      )}

      {local && !enabled && stage.kind === 'password' && (
        <form class="inline-form" onSubmit={startSetup}>
          <label class="field">
            <span class="field-label">Confirm your password</span>
            <input
              class="input"
              type="password"
              autoComplete="current-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              data-testid="totp-password"
              required
            />
          </label>
          <div class="form-actions">
            <button class="btn btn-primary" type="submit" disabled={busy || !password} data-testid="totp-continue">
              {busy ? 'Checking…' : 'Continue'}
            </button>
            <button class="btn btn-ghost" type="button" onClick={() => reset()}>
              Cancel
            </button>
          </div>
        </form>
      )}

      {local && !enabled && stage.kind === 'scan' && (
        <div class="totp-enrol">
          <ol class="steps">
            <li>
              <span class="step-title">Scan this QR code with your authenticator app</span>
              <div class="totp-scan">
                <div class="qr-frame">
                  <QrCode value={stage.setup.otpauth_uri} label="QR code of the two-factor secret" testId="totp-qr" />
                </div>
                <div class="totp-manual">
                  <span class="field-label">Or enter this key by hand</span>
                  <code class="secret" data-testid="totp-secret">
                    {groupSecret(stage.setup.secret)}
                  </code>
                  <span class="settings-text">
                    Account <strong>{stage.setup.account}</strong>, time-based, {stage.setup.digits} digits, every{' '}
                    {stage.setup.period} s.
                  </span>
                  <details class="uri">
                    <summary>Show the setup link</summary>
                    <code class="uri-text" data-testid="totp-uri">
                      {stage.setup.otpauth_uri}
                    </code>
                  </details>
                </div>
              </div>
            </li>
            <li>
              <span class="step-title">Enter the 6-digit code the app shows</span>
              <form class="inline-form inline-form-row" onSubmit={confirm}>
                <input
                  class="input input-code"
                  type="text"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  placeholder="123 456"
                  maxLength={7}
                  value={code}
                  onInput={(e) => setCode(e.currentTarget.value)}
                  data-testid="totp-code"
                  aria-label="Authentication code"
                  required
                />
                <button class="btn btn-primary" type="submit" disabled={busy || code.replace(/\s+/g, '').length !== 6} data-testid="totp-confirm">
                  {busy ? 'Verifying…' : 'Turn on'}
                </button>
                <button class="btn btn-ghost" type="button" onClick={() => reset()}>
                  Cancel
                </button>
              </form>
            </li>
          </ol>
        </div>
      )}

      {local && enabled && stage.kind !== 'disable' && (
        <button class="btn btn-secondary" type="button" onClick={() => reset({ kind: 'disable' })} data-testid="totp-disable">
          Turn off two-factor authentication
        </button>
      )}
      {local && enabled && stage.kind === 'disable' && (
        <form class="inline-form" onSubmit={disable}>
          <div class="form-grid">
            <label class="field">
              <span class="field-label">Password</span>
              <input class="input" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
            </label>
            <label class="field">
              <span class="field-label">Current code</span>
              <input
                class="input input-code"
                type="text"
                inputMode="numeric"
                autoComplete="one-time-code"
                maxLength={7}
                value={code}
                onInput={(e) => setCode(e.currentTarget.value)}
                required
              />
            </label>
          </div>
          <div class="form-actions">
            <button class="btn btn-danger" type="submit" disabled={busy || !password || !code}>
              {busy ? 'Turning off…' : 'Turn off'}
            </button>
            <button class="btn btn-ghost" type="button" onClick={() => reset()}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function SessionsCard({ onSignedOutEverywhere, onUnauthorized }: { onSignedOutEverywhere: (n: number) => void; onUnauthorized: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function signOutEverywhere() {
    setBusy(true);
    setError(null);
    try {
      onSignedOutEverywhere(await api.logoutAll());
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return onUnauthorized();
      setError(describeError(e));
      setBusy(false);
    }
  }

  return (
    <section class="card settings-card">
      <div class="settings-head">
        <div>
          <h2 class="settings-title">Sessions</h2>
          <p class="settings-text">
            Signed in on a shared or lost computer? End every session of your account — on all browsers and devices,
            this one included. Sessions also end by themselves after a while without activity, and some hours after sign-in.
          </p>
        </div>
      </div>
      {error && (
        <div class="inline-note inline-note-error" role="alert">
          {error}
        </div>
      )}
      {confirming ? (
        <div class="form-actions">
          <button class="btn btn-danger" type="button" onClick={() => void signOutEverywhere()} disabled={busy} data-testid="logout-all-confirm">
            {busy ? 'Signing out…' : 'Yes, sign out everywhere'}
          </button>
          <button class="btn btn-ghost" type="button" onClick={() => setConfirming(false)} disabled={busy}>
            Cancel
          </button>
        </div>
      ) : (
        <button class="btn btn-secondary" type="button" onClick={() => setConfirming(true)} data-testid="logout-all">
          Sign out everywhere
        </button>
      )}
    </section>
  );
}
