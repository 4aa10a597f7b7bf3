-- 0002_normalized_model (PostgreSQL): conferences, participants (conference
-- legs), quality samples and device inventory; the twin of
-- migrations/sqlite/0002_normalized_model.sql. Same rules as 0001: tenant_id
-- first in every key, row-level security on every tenant table, record tables
-- partitioned by month of start_at and de-duplicated through record_keys.

-- conferences gains the fields of the wire "conference" record.
-- `participants` keeps meaning the count the source reported (DMA partCount).
ALTER TABLE conferences ADD COLUMN agent_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE conferences ADD COLUMN room text NOT NULL DEFAULT '';
ALTER TABLE conferences ADD COLUMN mcu text NOT NULL DEFAULT '';
ALTER TABLE conferences ADD COLUMN max_resources_used bigint;   -- NULL = not reported
ALTER TABLE conferences ADD COLUMN scheduled_start bigint;      -- NULL = not scheduled
ALTER TABLE conferences ADD COLUMN scheduled_end bigint;
ALTER TABLE conferences ADD COLUMN ingested_at bigint NOT NULL DEFAULT 0;
-- Serves the conference list (keyset pagination, newest first).
CREATE INDEX conferences_by_start ON conferences (tenant_id, start_at DESC, source DESC, conference_id DESC);

-- devices was keyed (tenant_id, id), but device ids are only unique within
-- their source. PostgreSQL changes the key in place; rows are kept and their
-- updated_at becomes their observed_at, as in the SQLite migration.
ALTER TABLE devices DROP CONSTRAINT devices_pkey;
ALTER TABLE devices ADD CONSTRAINT devices_source_check CHECK (source <> '');
ALTER TABLE devices ADD CONSTRAINT devices_id_check CHECK (id <> '');
ALTER TABLE devices ADD COLUMN agent_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN observed_at bigint;
-- Row-level security is forced on the owner too: without cross_tenant this
-- UPDATE saw no row and SET NOT NULL below failed on any database holding
-- devices (so no database that applied this file had any; adding the
-- setting changes nothing for them).
SELECT set_config('parley.cross_tenant', 'on', true);
UPDATE devices SET observed_at = updated_at;
SELECT set_config('parley.cross_tenant', '', true);
ALTER TABLE devices ALTER COLUMN observed_at SET NOT NULL;
ALTER TABLE devices ADD COLUMN device_type text NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN status text NOT NULL DEFAULT '' CHECK (status IN ('', 'online', 'offline', 'unknown'));
ALTER TABLE devices ADD COLUMN registration text NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN timezone text NOT NULL DEFAULT '';
ALTER TABLE devices ADD PRIMARY KEY (tenant_id, source, id);

-- One row per participant (leg) of a conference, stored once per
-- (tenant, source, participant_id) like calls (record_keys kind 'participant').
CREATE TABLE participants (
  tenant_id         text   COLLATE "C" NOT NULL,
  source            text   COLLATE "C" NOT NULL CHECK (source <> ''),
  participant_id    text   COLLATE "C" NOT NULL CHECK (participant_id <> ''),
  conference_id     text   COLLATE "C" NOT NULL CHECK (conference_id <> ''),
  call_id           text   NOT NULL DEFAULT '',
  agent_id          text   COLLATE "C" NOT NULL,
  start_at          bigint NOT NULL,
  end_at            bigint NOT NULL,
  duration_s        bigint NOT NULL,
  protocol          text   NOT NULL DEFAULT '',
  role              text   NOT NULL DEFAULT '' CHECK (role IN ('', 'chair', 'guest', 'participant')),
  disconnect_reason text   NOT NULL DEFAULT '',
  model             text   NOT NULL DEFAULT '',
  version           text   NOT NULL DEFAULT '',
  site              text   NOT NULL DEFAULT '',
  pii_sealed        bytea  NOT NULL,
  ingested_at       bigint NOT NULL,
  PRIMARY KEY (tenant_id, source, participant_id, start_at)
) PARTITION BY RANGE (start_at);
-- Serves "the participants of this conference" and the per-conference counts.
CREATE INDEX participants_by_conference ON participants (tenant_id, source, conference_id, start_at);

-- Media quality, one row per measured stream of a call or participant,
-- partitioned with its record: start_at is the record's start time.
CREATE TABLE quality_samples (
  tenant_id           text   COLLATE "C" NOT NULL,
  source              text   COLLATE "C" NOT NULL,
  record_kind         text   NOT NULL CHECK (record_kind IN ('call', 'participant')),
  record_id           text   COLLATE "C" NOT NULL,
  start_at            bigint NOT NULL,
  party               text   COLLATE "C" NOT NULL CHECK (party IN ('orig', 'dest', 'participant')),
  direction           text   COLLATE "C" NOT NULL CHECK (direction IN ('rx', 'tx')),
  media               text   COLLATE "C" NOT NULL CHECK (media IN ('audio', 'video', 'content')),
  codec               text   NOT NULL DEFAULT '',
  bitrate_kbps        bigint CHECK (bitrate_kbps >= 0),
  packet_loss_pct_avg double precision CHECK (packet_loss_pct_avg BETWEEN 0 AND 100),
  packet_loss_pct_max double precision CHECK (packet_loss_pct_max BETWEEN 0 AND 100),
  jitter_ms_avg       double precision CHECK (jitter_ms_avg >= 0),
  jitter_ms_max       double precision CHECK (jitter_ms_max >= 0),
  latency_ms_avg      double precision CHECK (latency_ms_avg >= 0),
  latency_ms_max      double precision CHECK (latency_ms_max >= 0),
  mos                 double precision CHECK (mos BETWEEN 1 AND 5),
  PRIMARY KEY (tenant_id, source, record_kind, record_id, party, direction, media, start_at)
) PARTITION BY RANGE (start_at);

SELECT parley_protect(t, 'tenant_id') FROM unnest(ARRAY['participants', 'quality_samples']::regclass[]) AS t;
INSERT INTO partitioned_tables VALUES ('participants'), ('quality_samples');
-- Months that already have call partitions get the new tables' partitions too.
SELECT parley_ensure_partitions(ARRAY(
  SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''?(-?[0-9]+)''?\)'))[1]::bigint
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'calls'::regclass));

CREATE OR REPLACE FUNCTION parley_grant_app(app name) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app);
  EXECUTE format('GRANT SELECT ON schema_migrations TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, sessions, enroll_tokens, agents, sources,'
                 ' devices, record_keys, conferences, calls, batches, participants, quality_samples TO %I', app);
  EXECUTE format('GRANT EXECUTE ON FUNCTION parley_tenant_of_user(text), parley_tenant_of_session(text),'
                 ' parley_tenant_of_enroll_token(text), parley_tenant_of_agent(text), parley_tenant_of_name(text),'
                 ' parley_tenant_ids(), parley_delete_expired_sessions(bigint, bigint),'
                 ' parley_ensure_partitions(bigint[]), parley_drop_partitions_before(bigint) TO %I', app);
END
$fn$;
