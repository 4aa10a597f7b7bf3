-- 0006_quarantine: records refused on their own at ingest (implausible
-- times), counted per agent, source, record type and reason, so the tenant
-- admin can see what was left out (docs/formats/wire-v1.md, "Refused
-- records"). Only PII-free reasons are kept, never the record itself.
-- Counted in the batch's transaction and only for a new batch, so resent
-- batches do not count twice.

CREATE TABLE quarantine (
  tenant_id   TEXT    NOT NULL,
  agent_id    TEXT    NOT NULL,
  source      TEXT    NOT NULL,
  record_type TEXT    NOT NULL,
  reason      TEXT    NOT NULL,
  count       INTEGER NOT NULL CHECK (count > 0),
  first_seen  INTEGER NOT NULL,                 -- Unix seconds
  last_seen   INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, source, record_type, reason),
  FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX quarantine_by_last_seen ON quarantine (tenant_id, last_seen);
