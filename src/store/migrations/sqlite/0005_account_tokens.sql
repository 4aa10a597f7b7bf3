-- 0005_account_tokens: single-use links sent by e-mail for self-registration
-- and password reset (docs/accounts.md; docs/formats/storage.md).
--
-- A row is the pending registration or reset itself. The link's 256-bit
-- token is never stored: token_hash is its SHA-256 (hex), the key that finds
-- the row (and with it the tenant), like sessions and enroll_tokens.
-- email_sealed: the normalized address sealed under the tenant's data key
-- (AAD "parley:account-token:v1:<tenant_id>:<token_hash>"), needed to create
-- the user when a registration completes; email_index is its blind index.
-- Rows are kept until a week after they expire, so a used or expired link
-- gets a clear answer, then deleted when new tokens are issued (a scan of a
-- small table; no index that would not start with tenant_id).

CREATE TABLE account_tokens (
  token_hash   TEXT    NOT NULL PRIMARY KEY,
  tenant_id    TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  purpose      TEXT    NOT NULL CHECK (purpose IN ('register', 'reset')),
  user_id      TEXT    NOT NULL DEFAULT '',      -- reset: the user; register: ''
  email_index  TEXT    NOT NULL,
  email_sealed BLOB    NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  used_at      INTEGER                           -- NULL until redeemed
) STRICT, WITHOUT ROWID;
CREATE INDEX account_tokens_by_user ON account_tokens (tenant_id, user_id, purpose);
