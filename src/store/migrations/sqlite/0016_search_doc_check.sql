-- 0016_search_doc_check: pii_docs's CHECK on `terms` without the
-- character-set test (docs/performance.md, "Sixth round").
--
-- 0015 checked that `terms` holds only hex digits and spaces with
-- ltrim(terms, '0123456789abcdef ') = ''. SQLite's ltrim compares every
-- character with every character of the set, one memcmp call each: 3.7 µs a
-- row (measured), about 7% of the server's CPU per stored call, inside the
-- write transaction that every batch waits for. Every term is checked in
-- C++ before it is queued (IsSearchTerm in SearchDocs::Add: 16 lower-case hex
-- digits), so the table keeps only the cheap checks of the shape: whole
-- 16-character terms, one space between two, none at either end, no upper
-- case (the `ascii` tokenizer would fold it, so an upper-case term would find
-- the lower-case one).
--
-- SQLite cannot change a CHECK in place: the table is rebuilt with the same
-- rows (same ids) and renamed. The FTS5 index pii_terms (external content,
-- keyed by those ids) is left as it is; DROP TABLE fires no trigger, and the
-- triggers, indexes and view are created again as 0015 made them.

DROP VIEW pii_search;

CREATE TABLE pii_docs_rebuilt (
  id          INTEGER PRIMARY KEY,                -- (start_at << 24) + n
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant', 'device')),
  source      TEXT    NOT NULL CHECK (source <> ''),
  record_id   TEXT    NOT NULL CHECK (record_id <> ''),
  start_at    INTEGER NOT NULL CHECK (id >> 24 = start_at),
  -- The record's distinct terms, each 16 lower-case hex digits (checked by
  -- the writer), one space between two: 17 characters a term, less the last.
  terms       TEXT    NOT NULL CHECK (length(terms) % 17 = 16 AND instr(terms, '  ') = 0
                                      AND substr(terms, 1, 1) <> ' ' AND lower(terms) = terms)
) STRICT;
INSERT INTO pii_docs_rebuilt (id, tenant_id, record_kind, source, record_id, start_at, terms)
  SELECT id, tenant_id, record_kind, source, record_id, start_at, terms FROM pii_docs ORDER BY id;
DROP TABLE pii_docs;
ALTER TABLE pii_docs_rebuilt RENAME TO pii_docs;

CREATE INDEX pii_docs_by_start ON pii_docs (tenant_id, start_at) WHERE record_kind <> 'device';
CREATE INDEX pii_docs_devices ON pii_docs (tenant_id, source, record_id) WHERE record_kind = 'device';
CREATE TRIGGER pii_docs_indexed AFTER INSERT ON pii_docs BEGIN
  INSERT INTO pii_terms (rowid, terms) VALUES (new.id, new.terms);
END;
CREATE TRIGGER pii_docs_unindexed AFTER DELETE ON pii_docs BEGIN
  INSERT INTO pii_terms (pii_terms, rowid, terms) VALUES ('delete', old.id, old.terms);
END;
CREATE TRIGGER pii_docs_immutable BEFORE UPDATE ON pii_docs BEGIN
  SELECT RAISE (ABORT, 'pii_docs rows are replaced, not updated');
END;

CREATE VIEW pii_search (tenant_id, record_kind, source, record_id, term, start_at) AS
  WITH RECURSIVE split (tenant_id, record_kind, source, record_id, start_at, term, rest) AS (
    SELECT tenant_id, record_kind, source, record_id, start_at, substr(terms, 1, 16), substr(terms, 18) FROM pii_docs
    UNION ALL
    SELECT tenant_id, record_kind, source, record_id, start_at, substr(rest, 1, 16), substr(rest, 18) FROM split
    WHERE rest <> ''
  )
  SELECT tenant_id, record_kind, source, record_id, term, start_at FROM split;
