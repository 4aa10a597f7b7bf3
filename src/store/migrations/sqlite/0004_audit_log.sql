-- 0004_audit_log: the append-only, hash-chained audit log (docs/security.md,
-- "Audit log"; docs/formats/storage.md).
--
-- One chain per tenant (tenant_id = the tenant's id) plus the platform chain
-- (tenant_id = 'platform'). No foreign key to tenants: a tenant's audit trail
-- must outlive changes to the tenant row, and the platform chain has none.
-- Entries name actors and targets by id only, never personal data.
--
-- entry_hash = hex(SHA-256(prev_hash || canonical JSON of the entry)), and
-- prev_hash is the previous entry's entry_hash (for seq 1 the chain's genesis
-- value). Rows are only ever inserted; Parley has no code that updates or
-- deletes them.

CREATE TABLE audit_log (
  tenant_id    TEXT    NOT NULL,
  seq          INTEGER NOT NULL CHECK (seq >= 1),
  at           INTEGER NOT NULL,                 -- Unix seconds
  actor        TEXT    NOT NULL,                 -- "user:<id>", "agent:<id>", "system", "anonymous", ...
  action       TEXT    NOT NULL,                 -- "auth.login", "cdr.view", ...
  target       TEXT    NOT NULL,                 -- "session:<hash prefix>", "agent:<id>", ...
  outcome      TEXT    NOT NULL,                 -- "success" | "failure" | "denied"
  details_json TEXT    NOT NULL DEFAULT '{}',    -- canonical JSON object, ids and counts only
  prev_hash    TEXT    NOT NULL,                 -- 64 hex
  entry_hash   TEXT    NOT NULL,                 -- 64 hex
  PRIMARY KEY (tenant_id, seq)
) STRICT;

-- The newest entry of each chain, written in the same transaction as the
-- entry. It lets `parley audit verify` notice that the last entries were
-- removed (which the chain alone cannot show).
CREATE TABLE chain_heads (
  tenant_id  TEXT    NOT NULL PRIMARY KEY,
  seq        INTEGER NOT NULL,
  entry_hash TEXT    NOT NULL
) STRICT;
