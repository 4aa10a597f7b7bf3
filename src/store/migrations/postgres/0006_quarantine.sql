-- 0006_quarantine (PostgreSQL twin of sqlite/0006): records refused on their
-- own at ingest (implausible times), counted per agent, source, record type
-- and reason; PII-free reasons only, never the record.

CREATE TABLE quarantine (
  tenant_id   text   NOT NULL,
  agent_id    text   NOT NULL,
  source      text   NOT NULL,
  record_type text   NOT NULL,
  reason      text   NOT NULL,
  count       bigint NOT NULL CHECK (count > 0),
  first_seen  bigint NOT NULL,
  last_seen   bigint NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, source, record_type, reason),
  FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX quarantine_by_last_seen ON quarantine (tenant_id, last_seen);
SELECT parley_protect('quarantine', 'tenant_id');

INSERT INTO parley_app_grants (privileges, object) VALUES ('SELECT, INSERT, UPDATE, DELETE', 'TABLE quarantine');
