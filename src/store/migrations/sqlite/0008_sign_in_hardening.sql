-- 0008_sign_in_hardening: the optional TOTP second factor of local accounts
-- (RFC 6238; docs/security.md, "Two-factor authentication").
--
--  * secret_sealed: the 160-bit TOTP secret sealed with AES-256-GCM under the
--    tenant's data key, AAD "parley:totp:v1:<tenant_id>:<user_id>" (a blob
--    cannot be moved to another user). Deleting the tenant's key shreds it.
--  * enabled_at: 0 while set up but not yet confirmed with a first code;
--    sign-in asks for a code only once it is set.
--  * last_step: the newest 30-second step whose code was accepted; a code of
--    that step or an older one is refused, so each code works once.

CREATE TABLE user_totp (
  tenant_id     TEXT    NOT NULL,
  user_id       TEXT    NOT NULL,
  secret_sealed BLOB    NOT NULL,
  created_at    INTEGER NOT NULL,
  enabled_at    INTEGER NOT NULL DEFAULT 0,
  last_step     INTEGER NOT NULL DEFAULT -1,
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
