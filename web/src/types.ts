// Types of the Parley JSON API (/api/v1), as the portal front end sees them.

export type Role = string;

export interface User {
  id: string;
  email: string;
  role: Role;
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
}

/** Body of GET /api/v1/calls. */
export interface CallsPage {
  calls: Call[];
  next_cursor: string | null;
  total: number;
}
