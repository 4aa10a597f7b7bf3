// Types of the Parley JSON API (/api/v1), as the portal front end sees them.

export type Role = string;

export interface User {
  id: string;
  email: string;
  role: Role;
  /** A password account (may use TOTP); false for SSO-only users. */
  local?: boolean;
  /** Two-factor authentication (TOTP) is on. */
  totp_enabled?: boolean;
}

export interface Tenant {
  id: string;
  name: string;
}

/** Body of POST /api/v1/auth/login and GET /api/v1/session. */
export interface SessionInfo {
  user: User;
  tenant: Tenant;
  csrf_token: string;
}

/** GET /api/v1/register/info */
export interface MailInfo {
  self_registration: boolean;
  mail_delivery: 'smtp' | 'outbox' | 'none';
  outbox_dir?: string;
  link_ttl_seconds: number;
  password_min_length: number;
  password_max_length: number;
}

/** 202 answer of POST /api/v1/register and /api/v1/password-reset. */
export interface LinkAccepted {
  status: 'accepted';
  detail: string;
}

/** POST /api/v1/register/complete and /api/v1/password-reset/complete. */
export interface PasswordSet {
  status: 'registered' | 'password_changed';
  detail: string;
  role?: string;
  sessions_ended?: number;
}

/** One side of a call: who and with what device. Any field may be missing. */
export interface Party {
  name?: string | null;
  number?: string | null;
  uri?: string | null;
  ip?: string | null;
  model?: string | null;
  version?: string | null;
  site?: string | null;
}

export type CallStatus = 'completed' | 'failed';

/** A call detail record. */
export interface Call {
  source: string;
  id: string;
  start: string; // RFC 3339, UTC
  end?: string | null;
  duration_s: number | null;
  status: CallStatus | string;
  protocol?: string | null;
  call_type?: string | null;
  cause?: string | null;
  bitrate_kbps?: number | null;
  conference_id?: string | null;
  orig: Party;
  dest: Party;
  /** Media quality samples of the call's streams (may be empty). */
  quality?: QualitySample[];
}

/** Body of GET /api/v1/calls. */
export interface CallsPage {
  calls: Call[];
  next_cursor: string | null;
  total: number;
  /** With ?party=: how the server read it. */
  party_kind?: 'phone' | 'sip' | 'email' | 'ip';
}

/**
 * The media quality of one stream as one device measured it. A value the
 * source did not measure is absent (never 0).
 */
export interface QualitySample {
  party: string; // "orig" | "dest" on a call, "participant" on a participant
  direction: string; // "rx" | "tx"
  media: string; // "audio" | "video" | …
  codec?: string;
  bitrate_kbps?: number;
  packet_loss_pct_avg?: number;
  packet_loss_pct_max?: number;
  jitter_ms_avg?: number;
  jitter_ms_max?: number;
  latency_ms_avg?: number;
  latency_ms_max?: number;
  mos?: number;
}

/** A source (collector) of an agent, as its last heartbeat reported it. */
export type SourceStatus = 'ok' | 'degraded' | 'failing' | 'unknown';

export interface AgentSource {
  name: string | null;
  type: string | null;
  status: SourceStatus | string;
  last_error: string | null;
}

export interface Agent {
  id: string;
  name: string;
  enrolled_at: string;
  last_heartbeat: string | null;
  state: 'online' | 'offline' | string;
  agent_version: string | null;
  uptime_s: number | null;
  sources: AgentSource[];
}

/** Body of GET /api/v1/agents. */
export interface AgentsResponse {
  agents: Agent[];
  server_time: string;
  online_window_s: number;
}

/** Records ingest refused on their own (implausible times), grouped; GET /api/v1/quarantine. */
export interface QuarantineEntry {
  agent_id: string;
  agent_name: string;
  source: string;
  record_type: string;
  reason: string;
  count: number;
  first_seen: string;
  last_seen: string;
}

/** A device of the inventory. Personal fields are absent for viewers. */
export interface Device {
  source: string;
  id: string;
  observed_at: string;
  type: string;
  model: string;
  version: string;
  site: string;
  status: 'online' | 'offline' | 'unknown' | string;
  registration: string;
  timezone: string;
  name?: string;
  serial?: string;
  ip?: string;
  mac?: string;
  owner?: string;
}

/** Body of GET /api/v1/devices. */
export interface DevicesPage {
  devices: Device[];
  next_cursor: string | null;
}

/** One leg of a conference. */
export interface Participant {
  id: string;
  call_id: string;
  start: string;
  end: string;
  duration_s: number | null;
  protocol: string;
  role: string;
  disconnect_reason: string;
  party: Party;
  quality: QualitySample[];
}

export interface Conference {
  source: string;
  id: string;
  start: string;
  end: string;
  room: string;
  mcu: string;
  participant_count: number;
  max_resources_used: number | null;
  scheduled_start: string | null;
  scheduled_end: string | null;
  participants_stored: number;
  participants: Participant[];
  /** Personal: absent for viewers. */
  name?: string;
}

/** Body of GET /api/v1/conferences. */
export interface ConferencesPage {
  conferences: Conference[];
  next_cursor: string | null;
}

// ---- Account security, users and the platform admin (sign-in hardening) ----

/** POST /api/v1/account/totp/setup */
export interface TotpSetup {
  secret: string;
  otpauth_uri: string;
  issuer: string;
  account: string;
  digits: number;
  period: number;
}

/** One row of GET /api/v1/users (tenant admin). */
export interface UserRow {
  id: string;
  email: string;
  role: Role;
  sso_only: boolean;
  created_at: string;
}

/** PATCH /api/v1/users/{id}/role; `session` when callers changed their own role. */
export interface RoleChange {
  user: { id: string; role: Role };
  sessions_ended: number;
  session?: SessionInfo;
}

/** A tenant as the platform admin sees it (no personal data). */
export interface AdminTenant {
  id: string;
  name: string;
  domains: string[];
  time_zone: string;
  subscription_end: string | null;
  subscription_ended: boolean;
  platform: boolean;
  created_at: string;
}

export interface TenantInput {
  name?: string;
  domains?: string[];
  time_zone?: string;
  subscription_end?: string | null;
}

export type AgentHealth = 'online' | 'degraded' | 'offline';

/** An agent in GET /api/v1/admin/agents: its tenant and one health word. */
export interface AdminAgent extends Agent {
  tenant: { id: string; name: string };
  health?: AgentHealth;
}

export interface AdminAgentsResponse {
  agents: AdminAgent[];
  server_time: string;
  online_window_s: number;
}

/** A tenant's SAML single sign-on settings (GET/PUT /api/v1/tenant/sso). */
export interface SsoSettings {
  enabled: boolean;
  idp_entity_id: string | null;
  idp_sso_url: string | null;
  idp_metadata_uploaded: boolean;
  group_attribute: string;
  role_map: Record<string, string>;
  default_role: 'viewer' | 'analyst' | 'tenant_admin' | 'none';
  allow_idp_initiated: boolean;
  updated_at: string | null;
  /** This server as a service provider (what the IdP needs). */
  sp?: { entity_id: string; acs_url: string; metadata_url: string };
}

export interface SsoChange {
  idp_metadata?: string;
  group_attribute?: string;
  role_map?: Record<string, string>;
  default_role?: string;
  enabled?: boolean;
  allow_idp_initiated?: boolean;
}

// ---- Analytics (GET /api/v1/analytics/usage and /quality; docs/analytics.md) ----

/** A local date "YYYY-MM-DD" in the tenant's time zone. */
export type LocalDate = string;

export interface AnalyticsRange {
  time_zone: string;
  from: LocalDate;
  to: LocalDate;
  /** UTC instants of the range's first hour and of the end (exclusive). */
  start: string;
  end: string;
}

export interface UsageBucket {
  start: string;
  /** Local day "2026-01-14" or local hour "2026-01-14T10:00:00-05:00". */
  label: string;
  calls: number;
  completed: number;
  failed: number;
  seconds: number;
  minutes: number;
  peak_concurrent: number;
}

export interface UsageHour {
  start: string;
  label: string;
  calls?: number;
  peak_concurrent?: number;
}

export interface UsageResponse extends AnalyticsRange {
  grain: 'day' | 'hour';
  source: string | null;
  sources: string[];
  kpis: {
    calls: number;
    completed: number;
    failed: number;
    completion_rate: number | null;
    seconds: number;
    hours: number;
    busiest_hour: UsageHour | null;
    peak_concurrent: number;
    peak_hour: UsageHour | null;
  };
  buckets: UsageBucket[];
}

export interface QualityFigures {
  key?: string;
  calls: number;
  streams: number;
  measured: { loss: number; jitter: number; latency: number; mos: number };
  loss_pct_avg: number | null;
  jitter_ms_avg: number | null;
  latency_ms_avg: number | null;
  mos_avg: number | null;
  jitter_ms_p50: number | null;
  jitter_ms_p95: number | null;
  latency_ms_p50: number | null;
  latency_ms_p95: number | null;
  poor_jitter_share: number | null;
  poor_latency_share: number | null;
  poor_share: number | null;
}

export type QualityDimension = 'site' | 'model' | 'source';

export interface QualityResponse extends AnalyticsRange {
  dimension: QualityDimension;
  thresholds: { loss_pct: number; jitter_ms: number; latency_ms: number; mos: number };
  total: QualityFigures;
  rows: (QualityFigures & { key: string })[];
}

/** One entry of GET /api/v1/audit (tenant admin): ids and codes, never personal data. */
export interface AuditEntry {
  seq: number;
  time: string;
  at: number;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  details: unknown;
  prev_hash: string;
  entry_hash: string;
}

export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
  head: { seq: number; entry_hash: string } | null;
}
