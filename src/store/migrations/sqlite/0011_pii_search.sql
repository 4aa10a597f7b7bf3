-- 0011_pii_search: blind indexes for equality search of a party's e-mail
-- address, phone number, SIP URI and IP address (docs/formats/storage.md,
-- "Search terms"; privacy/search_terms.h).
--
-- One row per (record, term): term = hex(HMAC-SHA-256(tenant search key,
-- kind ":" normalized value)), so the table holds no personal data in clear,
-- and a term means nothing without the tenant's search key. Rows are written
-- by CommitBatch in the record's transaction, only for a newly stored call or
-- participant (a resent record adds nothing), and replaced with a device's
-- stored state. start_at is the record's start (a device's observed_at): the
-- term index walks a party's calls newest first, as calls_by_start does.
--
--  * PRIMARY KEY: a record's terms (replacing a device's, erasing a record's).
--  * pii_search_by_term: "the calls of this party", keyset-paginated.

CREATE TABLE pii_search (
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant', 'device')),
  source      TEXT    NOT NULL CHECK (source <> ''),
  record_id   TEXT    NOT NULL CHECK (record_id <> ''),
  term        TEXT    NOT NULL CHECK (length(term) = 64 AND term NOT GLOB '*[^0-9a-f]*'),
  start_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, record_kind, source, record_id, term)
) STRICT, WITHOUT ROWID;
CREATE INDEX pii_search_by_term ON pii_search (tenant_id, term, record_kind, start_at, source, record_id);
