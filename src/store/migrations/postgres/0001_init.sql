-- 0001_init (PostgreSQL): Parley's first schema, the PostgreSQL twin of
-- migrations/sqlite/0001_init.sql (same tables, columns and keys; same
-- version number). docs/formats/storage.md explains every table; this file
-- adds what only PostgreSQL enforces:
--
--  * Row-level security. Every table holding tenant rows is ENABLE + FORCE
--    ROW LEVEL SECURITY with the policy tenant_isolation:
--      tenant_id = current_setting('parley.tenant_id', true)
--    The backend sets parley.tenant_id per transaction (set_config(..., true)),
--    so a query that forgets its tenant filter still sees one tenant only, and
--    with no tenant set it sees nothing.
--  * Cross-tenant look-ups (sign-in by e-mail blind index, agent by
--    certificate fingerprint, session and enrollment token by hash, the tenant
--    directory) go through SECURITY DEFINER functions owned by the schema
--    owner. They run with parley.cross_tenant = 'on', which a second policy,
--    owner_lookup, honours for the owner role only: the application role can
--    set the variable but no policy applies it to that role.
--  * Call tables are partitioned by month of start_at (native RANGE
--    partitioning on Unix seconds). Exact de-duplication per (tenant, source,
--    id) lives in record_keys, which is not partitioned: a partitioned
--    table's unique keys must contain the partition key, and a record whose
--    start time changed between two observations must still be stored once.
--
-- Text keys are COLLATE "C" so ordering and keyset pagination compare bytes,
-- as SQLite does. Times are Unix seconds (bigint); personal data only sealed
-- (bytea). Migrations are forward-only: never edit a released file.

CREATE TABLE tenants (
  id               text   COLLATE "C" NOT NULL PRIMARY KEY,
  name             text   COLLATE "C" NOT NULL UNIQUE,
  domains          text   NOT NULL DEFAULT '[]',   -- JSON array of lower-case e-mail domains
  wrapped_data_key bytea  NOT NULL,                -- tenant data key wrapped by the master key
  created_at       bigint NOT NULL
);

CREATE TABLE users (
  tenant_id     text   COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id            text   COLLATE "C" NOT NULL,
  email_index   text   NOT NULL UNIQUE,            -- blind index (HMAC) of the lower-cased e-mail
  email_sealed  bytea  NOT NULL,
  password_hash text   NOT NULL DEFAULT '',        -- Argon2id string; '' for SSO-only users
  role          text   NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'analyst', 'viewer')),
  created_at    bigint NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sessions (
  id_hash      text   NOT NULL PRIMARY KEY,        -- SHA-256 of the cookie; the cookie itself is never stored
  tenant_id    text   COLLATE "C" NOT NULL,
  user_id      text   COLLATE "C" NOT NULL,
  role         text   NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'analyst', 'viewer')),
  csrf_token   text   NOT NULL,
  created_at   bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  expires_at   bigint NOT NULL,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE enroll_tokens (
  token_hash text   NOT NULL PRIMARY KEY,          -- SHA-256 of the one-time token
  tenant_id  text   COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  expires_at bigint NOT NULL,
  used_at    bigint                                -- NULL until consumed
);
CREATE INDEX enroll_tokens_by_tenant ON enroll_tokens (tenant_id);

CREATE TABLE agents (
  tenant_id         text   COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                text   COLLATE "C" NOT NULL,
  name              text   COLLATE "C" NOT NULL,
  cert_fingerprint  text   NOT NULL UNIQUE,        -- SHA-256 of the client certificate (DER)
  created_at        bigint NOT NULL,
  last_heartbeat_at bigint NOT NULL DEFAULT 0,     -- 0 = never
  heartbeat_json    text   NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, id)
);

-- Per-agent, per-source high-water marks, advanced in the same transaction as
-- the batch that carried them.
CREATE TABLE sources (
  tenant_id  text   COLLATE "C" NOT NULL,
  agent_id   text   COLLATE "C" NOT NULL,
  name       text   COLLATE "C" NOT NULL CHECK (name <> ''),
  cursor     text   NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, name),
  FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE devices (
  tenant_id  text   COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         text   COLLATE "C" NOT NULL,
  source     text   COLLATE "C" NOT NULL,
  model      text   NOT NULL DEFAULT '',
  version    text   NOT NULL DEFAULT '',
  site       text   NOT NULL DEFAULT '',
  pii_sealed bytea  NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

-- One row per (tenant, kind, source, id) of every record ever stored: the
-- de-duplication key of the partitioned record tables, and the record's
-- partition (start_at) for look-ups by id.
CREATE TABLE record_keys (
  tenant_id text   COLLATE "C" NOT NULL,
  kind      text   NOT NULL CHECK (kind IN ('call', 'conference', 'participant')),
  source    text   COLLATE "C" NOT NULL,
  record_id text   COLLATE "C" NOT NULL,
  start_at  bigint NOT NULL,
  PRIMARY KEY (tenant_id, kind, source, record_id)
);

-- Record tables carry no foreign key to tenants: the batch row, inserted
-- first in the same transaction, already proves the tenant exists, and a
-- per-row check would slow ingest for nothing.
CREATE TABLE conferences (
  tenant_id     text   COLLATE "C" NOT NULL,
  source        text   COLLATE "C" NOT NULL,
  conference_id text   COLLATE "C" NOT NULL,
  start_at      bigint NOT NULL,
  end_at        bigint NOT NULL,
  participants  bigint NOT NULL DEFAULT 0,
  pii_sealed    bytea  NOT NULL,
  PRIMARY KEY (tenant_id, source, conference_id, start_at)
) PARTITION BY RANGE (start_at);

CREATE TABLE calls (
  tenant_id     text   COLLATE "C" NOT NULL,
  source        text   COLLATE "C" NOT NULL CHECK (source <> ''),
  call_id       text   COLLATE "C" NOT NULL CHECK (call_id <> ''),
  agent_id      text   COLLATE "C" NOT NULL,
  start_at      bigint NOT NULL,
  end_at        bigint NOT NULL,
  duration_s    bigint NOT NULL,
  status        text   NOT NULL,
  protocol      text   NOT NULL DEFAULT '',
  call_type     text   NOT NULL DEFAULT '',
  cause         text   NOT NULL DEFAULT '',
  bitrate_kbps  bigint NOT NULL DEFAULT 0,
  conference_id text   NOT NULL DEFAULT '',
  orig_model    text   NOT NULL DEFAULT '',
  orig_version  text   NOT NULL DEFAULT '',
  orig_site     text   NOT NULL DEFAULT '',
  dest_model    text   NOT NULL DEFAULT '',
  dest_version  text   NOT NULL DEFAULT '',
  dest_site     text   NOT NULL DEFAULT '',
  pii_sealed    bytea  NOT NULL,                   -- AES-256-GCM sealed {"orig":{...},"dest":{...}}
  ingested_at   bigint NOT NULL,
  PRIMARY KEY (tenant_id, source, call_id, start_at)
) PARTITION BY RANGE (start_at);
-- Serves the CDR list (keyset pagination, newest first) and time-range analytics.
CREATE INDEX calls_by_start ON calls (tenant_id, start_at DESC, source DESC, call_id DESC);

-- Every accepted batch, so a retried batch (same Idempotency-Key) is
-- acknowledged again without being stored twice.
CREATE TABLE batches (
  tenant_id   text   COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  batch_id    text   COLLATE "C" NOT NULL,
  agent_id    text   NOT NULL,
  digest      text   NOT NULL,
  received_at bigint NOT NULL,
  records     bigint NOT NULL,
  PRIMARY KEY (tenant_id, batch_id)
);

-- parley_protect(table, tenant column): row-level security for one table.
-- Used by this and later migrations for every table that holds tenant rows.
CREATE FUNCTION parley_protect(tbl regclass, tenant_column name) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (%I = current_setting(''parley.tenant_id'', true))'
                 ' WITH CHECK (%I = current_setting(''parley.tenant_id'', true))', tbl, tenant_column, tenant_column);
  -- Only the owner (CURRENT_USER: the role running the migrations), and only
  -- inside the SECURITY DEFINER look-ups below, which set the variable.
  EXECUTE format('CREATE POLICY owner_lookup ON %s TO CURRENT_USER'
                 ' USING (current_setting(''parley.cross_tenant'', true) = ''on'')', tbl);
END
$fn$;
REVOKE ALL ON FUNCTION parley_protect(regclass, name) FROM PUBLIC;

SELECT parley_protect('tenants', 'id');
SELECT parley_protect(t, 'tenant_id') FROM unnest(ARRAY[
  'users', 'sessions', 'enroll_tokens', 'agents', 'sources', 'devices', 'record_keys', 'conferences', 'calls',
  'batches']::regclass[]) AS t;

-- Partitions: one per table and calendar month (UTC) of start_at, named
-- <table>_pYYYYMM, created on demand by parley_ensure_partitions (the
-- backend calls it before a batch whose months it has not seen). They hold no
-- policy of their own and the application role has no privilege on them:
-- every query goes through the parent and its policies. Retention drops
-- whole partitions (parley_drop_partitions_before).
CREATE TABLE partitioned_tables (
  name text PRIMARY KEY
);
INSERT INTO partitioned_tables VALUES ('calls'), ('conferences');

CREATE FUNCTION parley_ensure_partitions(starts bigint[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  month_start timestamp;
  lo bigint;
  hi bigint;
  tbl text;
  part text;
  created integer := 0;
BEGIN
  FOR month_start IN
    SELECT DISTINCT date_trunc('month', to_timestamp(s) AT TIME ZONE 'UTC') FROM unnest(starts) AS s
  LOOP
    lo := extract(epoch FROM month_start)::bigint;
    hi := extract(epoch FROM month_start + interval '1 month')::bigint;
    FOR tbl IN SELECT name FROM partitioned_tables ORDER BY name LOOP
      part := tbl || '_p' || to_char(month_start, 'YYYYMM');
      IF to_regclass(part) IS NULL THEN
        -- One creator at a time. A table lock (unlike an advisory lock)
        -- makes this session see catalog changes committed while it waited,
        -- so the loser of a race finds the partition and skips it.
        LOCK TABLE partitioned_tables IN EXCLUSIVE MODE;
        IF to_regclass(part) IS NULL THEN
          EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)', part, tbl, lo, hi);
          EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
          EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part);
          created := created + 1;
        END IF;
      END IF;
    END LOOP;
  END LOOP;
  RETURN created;
END
$fn$;
REVOKE ALL ON FUNCTION parley_ensure_partitions(bigint[]) FROM PUBLIC;

-- Drops every partition whose whole month ends at or before `cutoff` (Unix
-- seconds); returns how many it dropped. record_keys keeps the keys of the
-- dropped records on purpose: a late retry of an expired record must not
-- bring it back, and a key row is a few dozen bytes.
CREATE FUNCTION parley_drop_partitions_before(cutoff bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  part record;
  dropped integer := 0;
BEGIN
  LOCK TABLE partitioned_tables IN EXCLUSIVE MODE;
  FOR part IN
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname IN (SELECT name FROM partitioned_tables) AND p.relnamespace = 'public'::regnamespace
  LOOP
    IF (regexp_match(part.bound, 'TO \(''?(-?[0-9]+)''?\)'))[1]::bigint <= cutoff THEN
      EXECUTE format('DROP TABLE %I', part.name);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END
$fn$;
REVOKE ALL ON FUNCTION parley_drop_partitions_before(bigint) FROM PUBLIC;

-- Cross-tenant look-ups. Each maps a key that only its holder knows (a
-- hash, a blind index, a fingerprint) or the platform's tenant directory to
-- tenant ids; the backend then sets parley.tenant_id and reads the row under
-- the ordinary policy. They switch parley.cross_tenant on only around their
-- own query (a function's SET clause cannot name a custom variable unless a
-- superuser creates it).
CREATE FUNCTION parley_tenant_of_user(key_email_index text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  found text;
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  SELECT u.tenant_id INTO found FROM users u WHERE u.email_index = key_email_index;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN found;
END
$fn$;

CREATE FUNCTION parley_tenant_of_session(key_id_hash text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  found text;
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  SELECT s.tenant_id INTO found FROM sessions s WHERE s.id_hash = key_id_hash;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN found;
END
$fn$;

CREATE FUNCTION parley_tenant_of_enroll_token(key_token_hash text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  found text;
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  SELECT e.tenant_id INTO found FROM enroll_tokens e WHERE e.token_hash = key_token_hash;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN found;
END
$fn$;

CREATE FUNCTION parley_tenant_of_agent(key_fingerprint text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  found text;
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  SELECT a.tenant_id INTO found FROM agents a WHERE a.cert_fingerprint = key_fingerprint;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN found;
END
$fn$;

CREATE FUNCTION parley_tenant_of_name(key_name text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  found text;
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  SELECT t.id INTO found FROM tenants t WHERE t.name = key_name;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN found;
END
$fn$;

CREATE FUNCTION parley_tenant_ids() RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  RETURN QUERY SELECT t.id FROM tenants t;
  PERFORM set_config('parley.cross_tenant', '', true);
END
$fn$;

-- Session expiry is a sweep over every tenant.
CREATE FUNCTION parley_delete_expired_sessions(at_time bigint, idle_seconds bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  gone bigint;
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  DELETE FROM sessions s WHERE s.expires_at <= at_time OR s.last_seen_at + idle_seconds <= at_time;
  GET DIAGNOSTICS gone = ROW_COUNT;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN gone;
END
$fn$;

REVOKE ALL ON FUNCTION parley_tenant_of_user(text), parley_tenant_of_session(text),
  parley_tenant_of_enroll_token(text), parley_tenant_of_agent(text), parley_tenant_of_name(text),
  parley_tenant_ids(), parley_delete_expired_sessions(bigint, bigint) FROM PUBLIC;

-- parley_grant_app(role): the privileges of the application role, granted by
-- the backend after migrating (as the owner) to the role of store.url. Later
-- migrations that add tables or functions replace this function.
CREATE FUNCTION parley_grant_app(app name) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app);
  EXECUTE format('GRANT SELECT ON schema_migrations TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, sessions, enroll_tokens, agents, sources,'
                 ' devices, record_keys, conferences, calls, batches TO %I', app);
  EXECUTE format('GRANT EXECUTE ON FUNCTION parley_tenant_of_user(text), parley_tenant_of_session(text),'
                 ' parley_tenant_of_enroll_token(text), parley_tenant_of_agent(text), parley_tenant_of_name(text),'
                 ' parley_tenant_ids(), parley_delete_expired_sessions(bigint, bigint),'
                 ' parley_ensure_partitions(bigint[]) TO %I', app);
END
$fn$;
REVOKE ALL ON FUNCTION parley_grant_app(name) FROM PUBLIC;
