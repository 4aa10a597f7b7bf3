-- 0009_saml_sso: SAML 2.0 single sign-on (docs/sso.md).
--
--  * tenant_sso: one row per tenant that configured SSO. idp_metadata_xml is
--    the uploaded IdP metadata (public data: entity ID, endpoints, signing
--    certificate); idp_entity_id is read from it and routes IdP-initiated
--    responses to their tenant. role_map_json maps group claim values to
--    roles ({"Parley Admins":"tenant_admin"}); default_role '' = refuse users
--    in no mapped group.
--  * saml_requests: SP-initiated AuthnRequests waiting for their response,
--    keyed by the SHA-256 of a random value held in the browser's
--    __Host-parley_saml cookie (binds the response to that browser); single
--    use, short-lived. login_state is Lasso's dump of the request.
--  * saml_assertions_seen: the replay cache. assertion_key = SHA-256 hex of
--    issuer || NUL || assertion ID; kept until the assertion's NotOnOrAfter +
--    the clock skew, then purged.

CREATE TABLE tenant_sso (
  tenant_id           TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
  enabled             INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
  idp_entity_id       TEXT    NOT NULL DEFAULT '',
  idp_metadata_xml    TEXT    NOT NULL DEFAULT '',
  group_attribute     TEXT    NOT NULL,
  role_map_json       TEXT    NOT NULL DEFAULT '{}',
  default_role        TEXT    NOT NULL DEFAULT 'viewer'
                      CHECK (default_role IN ('', 'viewer', 'analyst', 'tenant_admin')),
  allow_idp_initiated INTEGER NOT NULL DEFAULT 0 CHECK (allow_idp_initiated IN (0, 1)),
  updated_at          INTEGER NOT NULL
) STRICT;
-- The one index not led by tenant_id: an IdP-initiated response is routed to
-- its tenant by the IdP's entity ID before the tenant is known.
CREATE INDEX tenant_sso_by_idp ON tenant_sso (idp_entity_id);

CREATE TABLE saml_requests (
  tenant_id    TEXT    NOT NULL REFERENCES tenants (id),
  binding_hash TEXT    NOT NULL,
  request_id   TEXT    NOT NULL,
  login_state  TEXT    NOT NULL,
  expires_at   INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, binding_hash)
) STRICT;

CREATE TABLE saml_assertions_seen (
  tenant_id     TEXT    NOT NULL REFERENCES tenants (id),
  assertion_key TEXT    NOT NULL,
  keep_until    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, assertion_key)
) STRICT;
