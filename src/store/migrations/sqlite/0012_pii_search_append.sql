-- 0012_pii_search_append: the blind-index table becomes an ordinary rowid
-- table that ingest appends to (docs/performance.md, "Search terms").
--
-- In 0011 its primary key was (tenant, kind, source, record id, term): with
-- call ids that are UUIDs every new call's terms went to a random place of
-- that tree, and each batch of 1,000 calls rewrote ~1,000 pages of it (plus
-- the pages of pii_search_by_term) in the WAL: ingest ran 4x slower than
-- without search terms. A record's terms are written once, with the record
-- (a device's replaced with its state), so nothing needs the key to be
-- unique; what needed it to find rows now has a small index of its own:
--
--  * pii_search_by_term (unchanged): "the calls of this party", newest first.
--  * pii_search_devices: a device's terms, replaced with its state.
--  * pii_search_by_start: retention's delete of expired calls' and
--    participants' terms (start_at grows with ingest, so it is appended to).
--
-- The term index still takes each new term at a random place (terms are
-- HMACs). So new calls' and participants' terms first collect in
-- pii_search_recent, an appended table without index, and move into
-- pii_search, sorted, in the transaction of the batch that brings the
-- collection to SqliteOptions::search_terms_merge_rows (50,000): one batch in
-- ~10 rewrites the index pages. Searches read both tables (the recent one is
-- scanned: it stays small). Devices' terms go straight to pii_search.

CREATE TABLE pii_search_rows (
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant', 'device')),
  source      TEXT    NOT NULL CHECK (source <> ''),
  record_id   TEXT    NOT NULL CHECK (record_id <> ''),
  term        TEXT    NOT NULL CHECK (length(term) = 64 AND ltrim(term, '0123456789abcdef') = ''),
  start_at    INTEGER NOT NULL
) STRICT;
INSERT INTO pii_search_rows (tenant_id, record_kind, source, record_id, term, start_at)
  SELECT tenant_id, record_kind, source, record_id, term, start_at FROM pii_search ORDER BY start_at;
DROP TABLE pii_search;
ALTER TABLE pii_search_rows RENAME TO pii_search;
CREATE INDEX pii_search_by_term ON pii_search (tenant_id, term, record_kind, start_at, source, record_id);
CREATE INDEX pii_search_devices ON pii_search (tenant_id, source, record_id) WHERE record_kind = 'device';
CREATE INDEX pii_search_by_start ON pii_search (tenant_id, start_at) WHERE record_kind <> 'device';
CREATE TABLE pii_search_recent (
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant')),
  source      TEXT    NOT NULL CHECK (source <> ''),
  record_id   TEXT    NOT NULL CHECK (record_id <> ''),
  term        TEXT    NOT NULL CHECK (length(term) = 64 AND ltrim(term, '0123456789abcdef') = ''),
  start_at    INTEGER NOT NULL
) STRICT;
