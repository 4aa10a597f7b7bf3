-- 0009_saml_sso (PostgreSQL twin of sqlite/0009): SAML 2.0 single sign-on
-- (docs/sso.md): per-tenant IdP settings (public metadata, in clear), the
-- pending SP-initiated requests (keyed by the hash of a browser cookie's
-- random value) and the assertion replay cache.

CREATE TABLE tenant_sso (
  tenant_id           text    NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  enabled             boolean NOT NULL DEFAULT false,
  idp_entity_id       text    NOT NULL DEFAULT '',
  idp_metadata_xml    text    NOT NULL DEFAULT '',
  group_attribute     text    NOT NULL,
  role_map_json       text    NOT NULL DEFAULT '{}',
  default_role        text    NOT NULL DEFAULT 'viewer'
                      CHECK (default_role IN ('', 'viewer', 'analyst', 'tenant_admin')),
  allow_idp_initiated boolean NOT NULL DEFAULT false,
  updated_at          bigint  NOT NULL
);
CREATE INDEX tenant_sso_by_idp ON tenant_sso (idp_entity_id);

CREATE TABLE saml_requests (
  tenant_id    text   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  binding_hash text   NOT NULL,
  request_id   text   NOT NULL,
  login_state  text   NOT NULL,
  expires_at   bigint NOT NULL,
  PRIMARY KEY (tenant_id, binding_hash)
);

CREATE TABLE saml_assertions_seen (
  tenant_id     text   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  assertion_key text   NOT NULL,
  keep_until    bigint NOT NULL,
  PRIMARY KEY (tenant_id, assertion_key)
);

SELECT parley_protect(t, 'tenant_id')
  FROM unnest(ARRAY['tenant_sso', 'saml_requests', 'saml_assertions_seen']::regclass[]) AS t;

-- The tenants whose enabled SSO trusts an IdP (routing of IdP-initiated
-- responses, before the tenant is known). Ids only.
CREATE FUNCTION parley_tenants_of_idp(key_entity_id text) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  PERFORM set_config('parley.cross_tenant', 'on', true);
  RETURN QUERY SELECT s.tenant_id FROM tenant_sso s WHERE s.idp_entity_id = key_entity_id AND s.enabled
    ORDER BY s.tenant_id;
  PERFORM set_config('parley.cross_tenant', '', true);
END
$fn$;
REVOKE ALL ON FUNCTION parley_tenants_of_idp(text) FROM PUBLIC;

INSERT INTO parley_app_grants (privileges, object) VALUES
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE tenant_sso'),
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE saml_requests'),
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE saml_assertions_seen'),
  ('EXECUTE', 'FUNCTION parley_tenants_of_idp(text)');
