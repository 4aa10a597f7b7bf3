-- 0001_init: Parley's first schema (docs/formats/storage.md explains every table).
--
-- Rules every table follows:
--  * a row that belongs to a tenant carries tenant_id, and its primary key and
--    every index start with tenant_id (a tenant's rows sit together; sharding
--    by tenant stays possible). The only keys that do not are the lookups that
--    *find* the tenant: tenant id/name, session id hash, enrollment token hash,
--    e-mail blind index and agent certificate fingerprint.
--  * STRICT: a value of the wrong type is refused instead of silently stored.
--  * times are Unix seconds (INTEGER); personal data only as sealed BLOBs.
-- Migrations are forward-only: never edit this file once released, add 0002_*.

CREATE TABLE tenants (
  id               TEXT    NOT NULL PRIMARY KEY,
  name             TEXT    NOT NULL UNIQUE,
  domains          TEXT    NOT NULL DEFAULT '[]',  -- JSON array of lower-case e-mail domains
  wrapped_data_key BLOB    NOT NULL,               -- tenant data key wrapped by the master key
  created_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
  tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id            TEXT    NOT NULL,
  email_index   TEXT    NOT NULL UNIQUE,           -- blind index (HMAC) of the lower-cased e-mail
  email_sealed  BLOB    NOT NULL,
  password_hash TEXT    NOT NULL DEFAULT '',       -- Argon2id string; '' for SSO-only users
  role          TEXT    NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'analyst', 'viewer')),
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE sessions (
  id_hash      TEXT    NOT NULL PRIMARY KEY,       -- SHA-256 of the cookie; the cookie itself is never stored
  tenant_id    TEXT    NOT NULL,
  user_id      TEXT    NOT NULL,
  role         TEXT    NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'analyst', 'viewer')),
  csrf_token   TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);

CREATE TABLE enroll_tokens (
  token_hash TEXT    NOT NULL PRIMARY KEY,         -- SHA-256 of the one-time token
  tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER                               -- NULL until consumed
) STRICT, WITHOUT ROWID;
CREATE INDEX enroll_tokens_by_tenant ON enroll_tokens (tenant_id);

CREATE TABLE agents (
  tenant_id         TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                TEXT    NOT NULL,
  name              TEXT    NOT NULL,
  cert_fingerprint  TEXT    NOT NULL UNIQUE,       -- SHA-256 of the client certificate (DER)
  created_at        INTEGER NOT NULL,
  last_heartbeat_at INTEGER NOT NULL DEFAULT 0,    -- 0 = never
  heartbeat_json    TEXT    NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, id)
) STRICT;

-- Per-agent, per-source high-water marks, advanced in the same transaction as
-- the batch that carried them.
CREATE TABLE sources (
  tenant_id  TEXT    NOT NULL,
  agent_id   TEXT    NOT NULL,
  name       TEXT    NOT NULL CHECK (name <> ''),
  cursor     TEXT    NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, name),
  FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Created now for the inventory and conference features that follow.
CREATE TABLE devices (
  tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         TEXT    NOT NULL,
  source     TEXT    NOT NULL,
  model      TEXT    NOT NULL DEFAULT '',
  version    TEXT    NOT NULL DEFAULT '',
  site       TEXT    NOT NULL DEFAULT '',
  pii_sealed BLOB    NOT NULL,                     -- name, serial, MAC, IP: sealed JSON
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE conferences (
  tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source        TEXT    NOT NULL,
  conference_id TEXT    NOT NULL,
  start_at      INTEGER NOT NULL,
  end_at        INTEGER NOT NULL,
  participants  INTEGER NOT NULL DEFAULT 0,
  pii_sealed    BLOB    NOT NULL,                  -- conference name, organizer: sealed JSON
  PRIMARY KEY (tenant_id, source, conference_id)
) STRICT;

-- One row per call, stored once per (tenant, source, call_id) whichever batch
-- brought it. A rowid table rather than WITHOUT ROWID: rows carry a sealed
-- blob of a few hundred bytes, beyond the size where WITHOUT ROWID pays.
CREATE TABLE calls (
  tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source        TEXT    NOT NULL CHECK (source <> ''),
  call_id       TEXT    NOT NULL CHECK (call_id <> ''),
  agent_id      TEXT    NOT NULL,
  start_at      INTEGER NOT NULL,
  end_at        INTEGER NOT NULL,
  duration_s    INTEGER NOT NULL,
  status        TEXT    NOT NULL,
  protocol      TEXT    NOT NULL DEFAULT '',
  call_type     TEXT    NOT NULL DEFAULT '',
  cause         TEXT    NOT NULL DEFAULT '',
  bitrate_kbps  INTEGER NOT NULL DEFAULT 0,
  conference_id TEXT    NOT NULL DEFAULT '',
  orig_model    TEXT    NOT NULL DEFAULT '',
  orig_version  TEXT    NOT NULL DEFAULT '',
  orig_site     TEXT    NOT NULL DEFAULT '',
  dest_model    TEXT    NOT NULL DEFAULT '',
  dest_version  TEXT    NOT NULL DEFAULT '',
  dest_site     TEXT    NOT NULL DEFAULT '',
  pii_sealed    BLOB    NOT NULL,                  -- AES-256-GCM sealed {"orig":{...},"dest":{...}}
  ingested_at   INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, source, call_id)
) STRICT;
-- Serves the CDR list (keyset pagination, newest first) and time-range analytics.
CREATE INDEX calls_by_start ON calls (tenant_id, start_at DESC, source DESC, call_id DESC);

-- Every accepted batch, so a retried batch (same Idempotency-Key) is
-- acknowledged again without being stored twice.
CREATE TABLE batches (
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  batch_id    TEXT    NOT NULL,
  agent_id    TEXT    NOT NULL,
  digest      TEXT    NOT NULL,
  received_at INTEGER NOT NULL,
  records     INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, batch_id)
) STRICT, WITHOUT ROWID;
