import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, describeError } from '../api';
import type { SsoChange, SsoSettings } from '../types';
import { ErrorState, LoadingState, Pill } from './States';

interface Props {
  onUnauthorized: () => void;
}

/** "group=role" lines ⇄ the API's role map. */
export function roleMapToText(m: Record<string, string>): string {
  return Object.entries(m)
    .map(([g, r]) => `${g}=${r}`)
    .join('\n');
}
export function textToRoleMap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const eq = t.lastIndexOf('=');
    if (eq <= 0) throw new Error(`"${t}" is not group=role`);
    out[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return out;
}

/** The tenant admin's single sign-on page: IdP metadata and role mapping. */
export function SsoSettingsPage({ onUnauthorized }: Props) {
  const [sso, setSso] = useState<SsoSettings | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [metadata, setMetadata] = useState('');
  const [groupAttr, setGroupAttr] = useState('');
  const [roleMap, setRoleMap] = useState('');
  const [defaultRole, setDefaultRole] = useState('viewer');
  const [enabled, setEnabled] = useState(false);
  const [idpInitiated, setIdpInitiated] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  function show(s: SsoSettings) {
    setSso(s);
    setGroupAttr(s.group_attribute);
    setRoleMap(roleMapToText(s.role_map));
    setDefaultRole(s.default_role);
    setEnabled(s.enabled);
    setIdpInitiated(s.allow_idp_initiated);
  }

  useEffect(() => {
    api
      .ssoSettings()
      .then(show)
      .catch((e) => {
        if (e instanceof ApiError && e.status === 401) return onUnauthorized();
        setLoadError(describeError(e));
      });
  }, [onUnauthorized]);

  async function onFile(e: Event) {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (file) setMetadata(await file.text());
  }

  async function save(e: Event) {
    e.preventDefault();
    setMessage(null);
    let change: SsoChange;
    try {
      change = {
        group_attribute: groupAttr.trim(),
        role_map: textToRoleMap(roleMap),
        default_role: defaultRole,
        enabled,
        allow_idp_initiated: idpInitiated,
      };
    } catch (err) {
      setMessage({ ok: false, text: describeError(err) });
      return;
    }
    if (metadata.trim()) change.idp_metadata = metadata;
    setBusy(true);
    try {
      const s = await api.saveSso(change);
      show({ ...s, sp: sso?.sp });
      setMetadata('');
      setMessage({ ok: true, text: 'Saved.' });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return onUnauthorized();
      setMessage({ ok: false, text: describeError(err) });
    } finally {
      setBusy(false);
    }
  }

  if (loadError) return <ErrorState title="Cannot load the single sign-on settings" message={loadError} />;
  if (!sso) return <LoadingState label="Loading single sign-on settings…" />;
  return (
    <div class="page">
      <div class="page-header">
        <div>
          <h1 class="page-title">Single sign-on</h1>
          <p class="page-subtitle">
            Let your people sign in with your identity provider (ADFS or any SAML 2.0 IdP). See docs/sso-adfs.md for a
            step-by-step ADFS guide.
          </p>
        </div>
        <Pill tone={sso.enabled ? 'ok' : 'neutral'} testId="sso-state">
          {sso.enabled ? 'Enabled' : 'Off'}
        </Pill>
      </div>
      {sso.sp && (
        <section class="card sso-card">
          <h2 class="sso-heading">Parley, as your IdP needs it</h2>
          <dl class="sso-facts">
            <dt>Metadata URL</dt>
            <dd>
              <code data-testid="sso-sp-metadata">{sso.sp.metadata_url}</code>
            </dd>
            <dt>Entity ID</dt>
            <dd>
              <code>{sso.sp.entity_id}</code>
            </dd>
            <dt>Assertion consumer service (HTTP-POST)</dt>
            <dd>
              <code>{sso.sp.acs_url}</code>
            </dd>
          </dl>
        </section>
      )}
      <form class="card sso-card sso-form" onSubmit={save} noValidate>
        <h2 class="sso-heading">Your identity provider</h2>
        <p class="sso-current" data-testid="sso-idp">
          {sso.idp_entity_id ? `Current IdP: ${sso.idp_entity_id}` : 'No IdP metadata uploaded yet.'}
        </p>
        <label class="field">
          <span class="field-label">IdP metadata (paste the XML, or choose the file, e.g. FederationMetadata.xml)</span>
          <textarea
            class="input sso-textarea"
            rows={6}
            value={metadata}
            placeholder="<EntityDescriptor …>"
            onInput={(e) => setMetadata(e.currentTarget.value)}
            data-testid="sso-metadata"
          />
        </label>
        <input type="file" accept=".xml,application/xml,text/xml" onChange={(e) => void onFile(e)} data-testid="sso-metadata-file" />
        <label class="field">
          <span class="field-label">Group attribute (empty: the ADFS groups / role / Group claims)</span>
          <input class="input" value={groupAttr} onInput={(e) => setGroupAttr(e.currentTarget.value)} data-testid="sso-group-attribute" />
        </label>
        <label class="field">
          <span class="field-label">Role mapping, one "group=role" per line (roles: viewer, analyst, tenant_admin)</span>
          <textarea
            class="input sso-textarea"
            rows={4}
            value={roleMap}
            onInput={(e) => setRoleMap(e.currentTarget.value)}
            data-testid="sso-role-map"
          />
        </label>
        <label class="field">
          <span class="field-label">Role of people in no mapped group</span>
          <select class="input" value={defaultRole} onChange={(e) => setDefaultRole(e.currentTarget.value)} data-testid="sso-default-role">
            <option value="viewer">viewer</option>
            <option value="analyst">analyst</option>
            <option value="tenant_admin">tenant_admin</option>
            <option value="none">none: refuse them</option>
          </select>
        </label>
        <label class="sso-check">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} data-testid="sso-enabled" />
          Single sign-on enabled
        </label>
        <label class="sso-check">
          <input type="checkbox" checked={idpInitiated} onChange={(e) => setIdpInitiated(e.currentTarget.checked)} />
          Allow sign-ins started at the identity provider (IdP-initiated)
        </label>
        {message && (
          <div class={message.ok ? 'login-notice' : 'login-error'} role="status" data-testid="sso-message">
            {message.text}
          </div>
        )}
        <button class="btn btn-primary" type="submit" disabled={busy} data-testid="sso-save">
          {busy ? 'Saving…' : 'Save'}
        </button>
      </form>
    </div>
  );
}
