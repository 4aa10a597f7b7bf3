-- 0004_audit_log (PostgreSQL): the append-only, hash-chained audit log; the
-- twin of migrations/sqlite/0004_audit_log.sql (see there and
-- docs/security.md "Audit log").
--
-- tenant_id names the chain: a tenant's id, or 'platform'. Row-level
-- security applies with the chain id as the tenant: the backend sets
-- parley.tenant_id to the chain it appends to or reads. The application role
-- may only INSERT and SELECT audit_log (parley_grant_app): not even a bug in
-- Parley can rewrite history through it.

CREATE TABLE audit_log (
  tenant_id    text   COLLATE "C" NOT NULL,
  seq          bigint NOT NULL CHECK (seq >= 1),
  at           bigint NOT NULL,
  actor        text   NOT NULL,
  action       text   NOT NULL,
  target       text   NOT NULL,
  outcome      text   NOT NULL,
  details_json text   NOT NULL DEFAULT '{}',
  prev_hash    text   NOT NULL,
  entry_hash   text   NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE chain_heads (
  tenant_id  text   COLLATE "C" NOT NULL PRIMARY KEY,
  seq        bigint NOT NULL,
  entry_hash text   NOT NULL
);

SELECT parley_protect(t, 'tenant_id') FROM unnest(ARRAY['audit_log', 'chain_heads']::regclass[]) AS t;

-- `parley audit verify` walks every chain: the list of chain ids crosses tenants.
CREATE FUNCTION parley_audit_chains() RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  RETURN QUERY SELECT h.tenant_id FROM chain_heads h UNION SELECT a.tenant_id FROM audit_log a;
  PERFORM set_config('parley.cross_tenant', '', true);
END
$fn$;
REVOKE ALL ON FUNCTION parley_audit_chains() FROM PUBLIC;

CREATE OR REPLACE FUNCTION parley_grant_app(app name) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app);
  EXECUTE format('GRANT SELECT ON schema_migrations TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, sessions, enroll_tokens, agents, sources,'
                 ' devices, record_keys, conferences, calls, batches, participants, quality_samples,'
                 ' chain_heads TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON audit_log TO %I', app);
  EXECUTE format('GRANT EXECUTE ON FUNCTION parley_tenant_of_user(text), parley_tenant_of_session(text),'
                 ' parley_tenant_of_enroll_token(text), parley_tenant_of_agent(text), parley_tenant_of_name(text),'
                 ' parley_tenant_ids(), parley_delete_expired_sessions(bigint, bigint),'
                 ' parley_ensure_partitions(bigint[]), parley_drop_partitions_before(bigint),'
                 ' parley_audit_chains() TO %I', app);
END
$fn$;
