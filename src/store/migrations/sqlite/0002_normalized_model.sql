-- 0002_normalized_model: conferences, participants (conference legs),
-- quality samples and device inventory (docs/formats/model.md,
-- docs/formats/storage.md). Same rules as 0001: every key starts with
-- tenant_id, STRICT tables, Unix seconds, personal data only sealed.

-- conferences existed (empty, nothing wrote it) since 0001; it gains the
-- fields of the wire "conference" record. ADD COLUMN keeps the table and its
-- primary key (tenant_id, source, conference_id). `participants` keeps
-- meaning the count the source reported (DMA partCount).
ALTER TABLE conferences ADD COLUMN agent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conferences ADD COLUMN room TEXT NOT NULL DEFAULT '';
ALTER TABLE conferences ADD COLUMN mcu TEXT NOT NULL DEFAULT '';
ALTER TABLE conferences ADD COLUMN max_resources_used INTEGER;   -- NULL = not reported
ALTER TABLE conferences ADD COLUMN scheduled_start INTEGER;      -- NULL = not scheduled
ALTER TABLE conferences ADD COLUMN scheduled_end INTEGER;
ALTER TABLE conferences ADD COLUMN ingested_at INTEGER NOT NULL DEFAULT 0;
-- Serves the conference list (keyset pagination, newest first).
CREATE INDEX conferences_by_start ON conferences (tenant_id, start_at DESC, source DESC, conference_id DESC);

-- devices was keyed (tenant_id, id), but device ids are only unique within
-- their source (two DMAs both have a "1"). SQLite cannot change a primary
-- key with ALTER, so the table is rebuilt (SQLite's 12-step procedure; the
-- table is referenced by nothing, and 0001-era rows are kept).
CREATE TABLE devices_new (
  tenant_id    TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source       TEXT    NOT NULL CHECK (source <> ''),
  id           TEXT    NOT NULL CHECK (id <> ''),
  agent_id     TEXT    NOT NULL DEFAULT '',
  observed_at  INTEGER NOT NULL,                 -- when the collector saw this state; the newest wins
  device_type  TEXT    NOT NULL DEFAULT '',      -- endpoint, mcu, gateway, phone, ...
  model        TEXT    NOT NULL DEFAULT '',
  version      TEXT    NOT NULL DEFAULT '',
  site         TEXT    NOT NULL DEFAULT '',
  status       TEXT    NOT NULL DEFAULT '' CHECK (status IN ('', 'online', 'offline', 'unknown')),
  registration TEXT    NOT NULL DEFAULT '',
  timezone     TEXT    NOT NULL DEFAULT '',
  pii_sealed   BLOB    NOT NULL,                 -- name, serial, ip, mac, owner: sealed JSON
  updated_at   INTEGER NOT NULL,                 -- when the server stored this state
  PRIMARY KEY (tenant_id, source, id)
) STRICT;
INSERT INTO devices_new (tenant_id, source, id, observed_at, model, version, site, pii_sealed, updated_at)
  SELECT tenant_id, source, id, updated_at, model, version, site, pii_sealed, updated_at FROM devices;
DROP TABLE devices;
ALTER TABLE devices_new RENAME TO devices;

-- One row per participant (leg) of a conference, stored once per
-- (tenant, source, participant_id) like calls. Links: conference_id names a
-- conference of the same source; call_id (may be '') a call of the same source.
CREATE TABLE participants (
  tenant_id         TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source            TEXT    NOT NULL CHECK (source <> ''),
  participant_id    TEXT    NOT NULL CHECK (participant_id <> ''),
  conference_id     TEXT    NOT NULL CHECK (conference_id <> ''),
  call_id           TEXT    NOT NULL DEFAULT '',
  agent_id          TEXT    NOT NULL,
  start_at          INTEGER NOT NULL,
  end_at            INTEGER NOT NULL,
  duration_s        INTEGER NOT NULL,
  protocol          TEXT    NOT NULL DEFAULT '',
  role              TEXT    NOT NULL DEFAULT '' CHECK (role IN ('', 'chair', 'guest', 'participant')),
  disconnect_reason TEXT    NOT NULL DEFAULT '',
  model             TEXT    NOT NULL DEFAULT '',
  version           TEXT    NOT NULL DEFAULT '',
  site              TEXT    NOT NULL DEFAULT '',
  pii_sealed        BLOB    NOT NULL,            -- name, number, uri, ip: sealed JSON
  ingested_at       INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, source, participant_id)
) STRICT;
-- Serves "the participants of this conference" and the per-conference counts.
CREATE INDEX participants_by_conference ON participants (tenant_id, source, conference_id, start_at);

-- Media quality, one row per measured stream of a call or participant.
-- A measurement the source did not provide is NULL, never 0. Written only
-- together with its (new) call or participant, so a record's samples come
-- from one observation. No personal data. WITHOUT ROWID: small rows, read by
-- their full key prefix.
CREATE TABLE quality_samples (
  tenant_id           TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source              TEXT    NOT NULL,
  record_kind         TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant')),
  record_id           TEXT    NOT NULL,
  party               TEXT    NOT NULL CHECK (party IN ('orig', 'dest', 'participant')),
  direction           TEXT    NOT NULL CHECK (direction IN ('rx', 'tx')),
  media               TEXT    NOT NULL CHECK (media IN ('audio', 'video', 'content')),
  codec               TEXT    NOT NULL DEFAULT '',
  bitrate_kbps        INTEGER CHECK (bitrate_kbps >= 0),
  packet_loss_pct_avg REAL    CHECK (packet_loss_pct_avg BETWEEN 0 AND 100),
  packet_loss_pct_max REAL    CHECK (packet_loss_pct_max BETWEEN 0 AND 100),
  jitter_ms_avg       REAL    CHECK (jitter_ms_avg >= 0),
  jitter_ms_max       REAL    CHECK (jitter_ms_max >= 0),
  latency_ms_avg      REAL    CHECK (latency_ms_avg >= 0),
  latency_ms_max      REAL    CHECK (latency_ms_max >= 0),
  mos                 REAL    CHECK (mos BETWEEN 1 AND 5),
  PRIMARY KEY (tenant_id, source, record_kind, record_id, party, direction, media)
) STRICT, WITHOUT ROWID;
