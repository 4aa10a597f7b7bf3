-- 0008_sign_in_hardening (PostgreSQL twin of sqlite/0008): the optional TOTP
-- second factor of local accounts (RFC 6238; docs/security.md, "Two-factor
-- authentication"). secret_sealed is the TOTP secret sealed under the
-- tenant's data key; enabled_at 0 = set up, awaiting the first code;
-- last_step = the newest 30-second step whose code was accepted (a code
-- works once).

CREATE TABLE user_totp (
  tenant_id     text   NOT NULL,
  user_id       text   NOT NULL,
  secret_sealed bytea  NOT NULL,
  created_at    bigint NOT NULL,
  enabled_at    bigint NOT NULL DEFAULT 0,
  last_step     bigint NOT NULL DEFAULT -1,
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT parley_protect('user_totp', 'tenant_id');

INSERT INTO parley_app_grants (privileges, object) VALUES ('SELECT, INSERT, UPDATE, DELETE', 'TABLE user_totp');
