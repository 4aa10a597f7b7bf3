-- 0013_short_search_terms: a search term is the first 64 bits of its HMAC
-- (16 hex characters, privacy::kSearchTermHexDigits), no longer all 256.
--
-- The term index (pii_search_by_term) takes every new term at a random place,
-- so ingest pays for its size: at 300,000 calls the shorter entries made the
-- server use 22% less CPU per call (docs/performance.md, "Search terms").
-- Search computes the same prefix from the searched value, so the terms
-- already stored are cut to it here and keep matching. SQLite cannot change a
-- CHECK constraint in place: both tables are rebuilt as in 0012.

CREATE TABLE pii_search_rows (
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant', 'device')),
  source      TEXT    NOT NULL CHECK (source <> ''),
  record_id   TEXT    NOT NULL CHECK (record_id <> ''),
  term        TEXT    NOT NULL CHECK (length(term) = 16 AND ltrim(term, '0123456789abcdef') = ''),
  start_at    INTEGER NOT NULL
) STRICT;
INSERT INTO pii_search_rows (tenant_id, record_kind, source, record_id, term, start_at)
  SELECT tenant_id, record_kind, source, record_id, substr(term, 1, 16), start_at FROM pii_search ORDER BY rowid;
DROP TABLE pii_search;
ALTER TABLE pii_search_rows RENAME TO pii_search;
CREATE INDEX pii_search_by_term ON pii_search (tenant_id, term, record_kind, start_at, source, record_id);
CREATE INDEX pii_search_devices ON pii_search (tenant_id, source, record_id) WHERE record_kind = 'device';
CREATE INDEX pii_search_by_start ON pii_search (tenant_id, start_at) WHERE record_kind <> 'device';

CREATE TABLE pii_search_recent_rows (
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant')),
  source      TEXT    NOT NULL CHECK (source <> ''),
  record_id   TEXT    NOT NULL CHECK (record_id <> ''),
  term        TEXT    NOT NULL CHECK (length(term) = 16 AND ltrim(term, '0123456789abcdef') = ''),
  start_at    INTEGER NOT NULL
) STRICT;
INSERT INTO pii_search_recent_rows (tenant_id, record_kind, source, record_id, term, start_at)
  SELECT tenant_id, record_kind, source, record_id, substr(term, 1, 16), start_at FROM pii_search_recent ORDER BY rowid;
DROP TABLE pii_search_recent;
ALTER TABLE pii_search_recent_rows RENAME TO pii_search_recent;
