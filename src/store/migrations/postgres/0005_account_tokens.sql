-- 0005_account_tokens (PostgreSQL twin of sqlite/0005): single-use links
-- sent by e-mail for self-registration and password reset
-- (docs/accounts.md; docs/formats/storage.md). token_hash is the SHA-256 of
-- the link's token; the token itself is never stored.
--
-- From this migration on, a later migration grants the application role its
-- privileges on new objects by adding rows to parley_app_grants instead of
-- replacing parley_grant_app with a longer list.

CREATE TABLE account_tokens (
  token_hash   text   NOT NULL PRIMARY KEY,
  tenant_id    text   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  purpose      text   NOT NULL CHECK (purpose IN ('register', 'reset')),
  user_id      text   NOT NULL DEFAULT '',
  email_index  text   NOT NULL,
  email_sealed bytea  NOT NULL,
  created_at   bigint NOT NULL,
  expires_at   bigint NOT NULL,
  used_at      bigint
);
CREATE INDEX account_tokens_by_user ON account_tokens (tenant_id, user_id, purpose);
SELECT parley_protect('account_tokens', 'tenant_id');

-- The tenant of a link, found by its hash before the tenant is known.
CREATE FUNCTION parley_tenant_of_account_token(key_token_hash text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  found text;
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  SELECT t.tenant_id INTO found FROM account_tokens t WHERE t.token_hash = key_token_hash;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN found;
END
$fn$;
REVOKE ALL ON FUNCTION parley_tenant_of_account_token(text) FROM PUBLIC;

-- Privileges of the application role on objects added by later migrations:
-- "GRANT <privileges> ON <object> TO app" for each row.
CREATE TABLE parley_app_grants (
  privileges text NOT NULL,
  object     text NOT NULL,
  PRIMARY KEY (privileges, object)
);
REVOKE ALL ON parley_app_grants FROM PUBLIC;

CREATE OR REPLACE FUNCTION parley_grant_app(app name) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
DECLARE
  g record;
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
  FOR g IN SELECT privileges, object FROM parley_app_grants ORDER BY object LOOP
    EXECUTE format('GRANT %s ON %s TO %I', g.privileges, g.object, app);
  END LOOP;
END
$fn$;

INSERT INTO parley_app_grants (privileges, object) VALUES
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE account_tokens'),
  ('EXECUTE', 'FUNCTION parley_tenant_of_account_token(text)');
