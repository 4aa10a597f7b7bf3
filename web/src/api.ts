// Typed client of the Parley JSON API (same origin). The session cookie is
// HttpOnly, so this code never sees it; it keeps only the CSRF token, in memory,
// and sends it on every state-changing request.
import type {
  AuditPage,
  AdminAgentsResponse,
  AdminTenant,
  AgentsResponse,
  CallsPage,
  ConferencesPage,
  DevicesPage,
  LinkAccepted,
  MailInfo,
  PasswordSet,
  QualityDimension,
  QualityResponse,
  QuarantineEntry,
  RoleChange,
  SessionInfo,
  SsoChange,
  SsoSettings,
  TenantInput,
  TotpSetup,
  UserRow,
  UsageResponse,
} from './types';

/** An API failure. status 0 means the request never got an HTTP answer. */
export class ApiError extends Error {
  readonly status: number;
  readonly error: string;
  readonly detail: string;
  /** Seconds from a Retry-After header (429), when present. */
  readonly retryAfter: number | null;

  constructor(status: number, error: string, detail: string, retryAfter: number | null = null) {
    super(detail || error || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }

  get isNetwork(): boolean {
    return this.status === 0;
  }
}

/** Parses a Retry-After header given in seconds (HTTP-date form → seconds from now). */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value == null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return parseInt(v, 10);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** A message for a person, from any error the API layer may throw. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 0) {
      return 'Cannot reach the Parley server. Check your connection and try again.';
    }
    if (e.status === 429) {
      const base = e.detail || 'Too many attempts.';
      return e.retryAfter != null ? `${base} Try again in ${e.retryAfter} s.` : base;
    }
    if (e.status === 401) return e.detail || 'Wrong e-mail or password.';
    if (e.detail) return e.detail;
    if (e.error) return `${e.error} (HTTP ${e.status})`;
    return `The server answered HTTP ${e.status}.`;
  }
  if (e instanceof Error && e.message) return e.message;
  return 'Something went wrong.';
}

type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiClient {
  private csrfToken: string | null = null;

  /** fetchImpl defaults to the global fetch, looked up at call time (so tests can stub it). */
  constructor(
    private readonly base = '/api/v1',
    private readonly fetchImpl?: FetchLike,
  ) {}

  get csrf(): string | null {
    return this.csrfToken;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (STATE_CHANGING.has(method) && this.csrfToken) headers['X-CSRF-Token'] = this.csrfToken;

    const doFetch: FetchLike = this.fetchImpl ?? ((i, init) => fetch(i, init));
    let res: Response;
    try {
      res = await doFetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new ApiError(0, 'network_error', `Network error: ${why}`);
    }

    if (res.status === 204) return undefined as T;

    const text = await res.text().catch(() => '');
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }

    if (!res.ok) {
      const obj = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
      const error = typeof obj.error === 'string' ? obj.error : '';
      const detail = typeof obj.detail === 'string' ? obj.detail : '';
      const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
      throw new ApiError(res.status, error || res.statusText || 'http_error', detail, retryAfter);
    }
    if (json === undefined) {
      throw new ApiError(res.status, 'bad_response', 'The server sent a response that is not JSON.');
    }
    return json as T;
  }

  private remember(s: SessionInfo): SessionInfo {
    this.csrfToken = s.csrf_token ?? null;
    return s;
  }

  /**
   * Signs in. With two-factor authentication on, the first call (no code)
   * fails with ApiError error "second_factor_required"; call again with `totp`.
   */
  async login(email: string, password: string, totp?: string): Promise<SessionInfo> {
    const body: Record<string, string> = { email, password };
    if (totp) body.totp = totp;
    return this.remember(await this.request<SessionInfo>('POST', '/auth/login', body));
  }

  /** The current session, or null when there is none (401). */
  async session(): Promise<SessionInfo | null> {
    try {
      return this.remember(await this.request<SessionInfo>('GET', '/session'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.csrfToken = null;
        return null;
      }
      throw e;
    }
  }

  /** Ends the session. A 401 (already gone) counts as success. */
  async logout(): Promise<void> {
    try {
      await this.request<void>('POST', '/auth/logout');
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    }
    this.csrfToken = null;
  }

  /** How this server delivers mail (the demo writes it to an outbox directory). */
  async registerInfo(): Promise<MailInfo> {
    return this.request<MailInfo>('GET', '/register/info');
  }

  /** Asks for a registration link; the answer is the same for every address. */
  async register(email: string): Promise<LinkAccepted> {
    return this.request<LinkAccepted>('POST', '/register', { email });
  }

  async completeRegistration(token: string, password: string): Promise<PasswordSet> {
    return this.request<PasswordSet>('POST', '/register/complete', { token, password });
  }

  /** Asks for a password-reset link; the answer is the same for every address. */
  async requestPasswordReset(email: string): Promise<LinkAccepted> {
    return this.request<LinkAccepted>('POST', '/password-reset', { email });
  }

  async completePasswordReset(token: string, password: string): Promise<PasswordSet> {
    return this.request<PasswordSet>('POST', '/password-reset/complete', { token, password });
  }

  /**
   * One page of calls, newest first. `party` (a phone number, SIP URI, e-mail
   * or IP address) lists only that party's calls; the server matches it by
   * blind index in any equal spelling.
   */
  async calls(limit = 50, cursor?: string | null, party?: string | null): Promise<CallsPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    // encodeURIComponent, not URLSearchParams, for the party: a space must
    // travel as %20, never as '+', which a phone number keeps.
    const partyParam = party ? `&party=${encodeURIComponent(party)}` : '';
    const page = await this.request<CallsPage>('GET', `/calls?${q.toString()}${partyParam}`);
    return {
      calls: Array.isArray(page.calls) ? page.calls : [],
      next_cursor: page.next_cursor ?? null,
      total: typeof page.total === 'number' ? page.total : 0,
      ...(typeof page.party_kind === 'string' ? { party_kind: page.party_kind } : {}),
    };
  }

  async agents(): Promise<AgentsResponse> {
    const r = await this.request<AgentsResponse>('GET', '/agents');
    return {
      agents: Array.isArray(r.agents) ? r.agents.map((a) => ({ ...a, sources: Array.isArray(a.sources) ? a.sources : [] })) : [],
      server_time: typeof r.server_time === 'string' ? r.server_time : new Date().toISOString(),
      online_window_s: typeof r.online_window_s === 'number' ? r.online_window_s : 90,
    };
  }

  /** A page of the tenant's audit log, newest first (tenant admins). */
  async audit(cursor?: string | null): Promise<AuditPage> {
    const q = new URLSearchParams({ limit: '100' });
    if (cursor) q.set('cursor', cursor);
    const page = await this.request<AuditPage>('GET', `/audit?${q.toString()}`);
    return {
      entries: Array.isArray(page.entries) ? page.entries : [],
      next_cursor: page.next_cursor ?? null,
      head: page.head ?? null,
    };
  }

  async quarantine(): Promise<QuarantineEntry[]> {
    const r = await this.request<{ quarantine?: QuarantineEntry[] }>('GET', '/quarantine');
    return Array.isArray(r.quarantine) ? r.quarantine : [];
  }

  async devices(limit = 500, cursor?: string | null): Promise<DevicesPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    const page = await this.request<DevicesPage>('GET', `/devices?${q.toString()}`);
    return { devices: Array.isArray(page.devices) ? page.devices : [], next_cursor: page.next_cursor ?? null };
  }

  async usage(q: AnalyticsQuery & { grain?: 'day' | 'hour'; source?: string }): Promise<UsageResponse> {
    const r = await this.request<UsageResponse>(
      'GET',
      `/analytics/usage${analyticsQueryString({ from: q.from, to: q.to, grain: q.grain, source: q.source })}`,
    );
    return { ...r, buckets: Array.isArray(r.buckets) ? r.buckets : [], sources: Array.isArray(r.sources) ? r.sources : [] };
  }

  async quality(q: AnalyticsQuery & { dimension?: QualityDimension }): Promise<QualityResponse> {
    const r = await this.request<QualityResponse>(
      'GET',
      `/analytics/quality${analyticsQueryString({ from: q.from, to: q.to, dimension: q.dimension })}`,
    );
    return { ...r, rows: Array.isArray(r.rows) ? r.rows : [] };
  }

  async conferences(limit = 50, cursor?: string | null): Promise<ConferencesPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    const page = await this.request<ConferencesPage>('GET', `/conferences?${q.toString()}`);
    return {
      conferences: Array.isArray(page.conferences)
        ? page.conferences.map((c) => ({ ...c, participants: Array.isArray(c.participants) ? c.participants : [] }))
        : [],
      next_cursor: page.next_cursor ?? null,
    };
  }

  // ---- Account security, users and the platform admin ----

  /** Ends every session of the signed-in user, this one included. */
  async logoutAll(): Promise<number> {
    const r = await this.request<{ sessions_ended: number }>('POST', '/auth/logout-all', {});
    this.csrfToken = null;
    return r.sessions_ended;
  }

  async totpSetup(password: string): Promise<TotpSetup> {
    return this.request<TotpSetup>('POST', '/account/totp/setup', { password });
  }

  async totpConfirm(code: string): Promise<void> {
    await this.request<unknown>('POST', '/account/totp/confirm', { code });
  }

  async totpDisable(password: string, code: string): Promise<void> {
    await this.request<unknown>('POST', '/account/totp/disable', { password, code });
  }

  async users(): Promise<UserRow[]> {
    const r = await this.request<{ users: UserRow[] }>('GET', '/users');
    return Array.isArray(r.users) ? r.users : [];
  }

  /** Changes a user's role; their sessions end. Changing one's own role rotates this session. */
  async setUserRole(id: string, role: string): Promise<RoleChange> {
    const r = await this.request<RoleChange>('PATCH', `/users/${encodeURIComponent(id)}/role`, { role });
    if (r.session) this.remember(r.session);
    return r;
  }

  async adminTenants(): Promise<AdminTenant[]> {
    const r = await this.request<{ tenants: AdminTenant[] }>('GET', '/admin/tenants');
    return Array.isArray(r.tenants) ? r.tenants : [];
  }

  async adminCreateTenant(t: TenantInput): Promise<AdminTenant> {
    return (await this.request<{ tenant: AdminTenant }>('POST', '/admin/tenants', t)).tenant;
  }

  async adminUpdateTenant(id: string, t: TenantInput): Promise<AdminTenant> {
    return (await this.request<{ tenant: AdminTenant }>('PATCH', `/admin/tenants/${encodeURIComponent(id)}`, t)).tenant;
  }

  async adminAgents(): Promise<AdminAgentsResponse> {
    const r = await this.request<AdminAgentsResponse>('GET', '/admin/agents');
    return {
      agents: Array.isArray(r.agents) ? r.agents.map((a) => ({ ...a, sources: Array.isArray(a.sources) ? a.sources : [] })) : [],
      server_time: typeof r.server_time === 'string' ? r.server_time : new Date().toISOString(),
      online_window_s: typeof r.online_window_s === 'number' ? r.online_window_s : 90,
    };
  }
  /** The tenant's single sign-on settings (tenant admins). */
  async ssoSettings(): Promise<SsoSettings> {
    return (await this.request<{ sso: SsoSettings }>('GET', '/tenant/sso')).sso;
  }

  /** Changes the SSO settings; unset fields keep their value. */
  async saveSso(change: SsoChange): Promise<SsoSettings> {
    return (await this.request<{ sso: SsoSettings }>('PUT', '/tenant/sso', change)).sso;
  }
}

/** The URL that starts SP-initiated single sign-on for an organisation. */
export function ssoLoginUrl(organisation: string): string {
  return `/saml/login?tenant=${encodeURIComponent(organisation.trim())}`;
}

/** Query of the analytics routes; absent dates take the server's default (the tenant's last 7 days). */
export interface AnalyticsQuery {
  from?: string;
  to?: string;
}

export function analyticsQueryString(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const api = new ApiClient();
