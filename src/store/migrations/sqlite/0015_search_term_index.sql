-- 0015_search_term_index: the blind-index search terms move into an FTS5
-- inverted index (docs/formats/storage.md, "Search terms";
-- docs/performance.md, "Search terms, fourth round").
--
-- Since 0011 every term was a row of pii_search, found through a B-tree on
-- (tenant, term, ...). Terms are HMACs, so each new one went to a random
-- place of that tree, and even with the appended pii_search_recent of 0012
-- moving them in sorted, storing a call's ~7 terms cost the server more than
-- everything else it does for the call (62% of its CPU at 300,000 calls).
--
-- Now a record's terms are one row of pii_docs, space-separated, and the
-- FTS5 table pii_terms (external content: pii_docs) indexes them. FTS5 keeps
-- new terms in memory for the transaction, writes them as one sorted
-- segment at commit and merges segments in the background of later writes
-- (an LSM tree), so no write lands at a random place of a large tree.
--
--  * pii_docs.id is (start_at << 24) + n: the index lists a term's records
--    in id order, which is start order, so "this party's calls, newest
--    first" reads only its page (a record's start is never before 2000 nor
--    far in the future: ingest refuses those, so the id fits 63 bits).
--  * Triggers keep pii_terms equal to pii_docs: every delete (retention, a
--    device's replaced terms, a tenant's ON DELETE CASCADE) removes the
--    terms from the index too.
--  * tokenize 'ascii': a term (16 lower-case hex digits) is one token.
--    detail 'none', columnsize 0: only which records hold a term is kept,
--    not where in the record, which an equality search never needs.
--  * The view pii_search shows one row per term as the table of that name
--    did (and PostgreSQL's still does), for diagnostics and tests.

CREATE TABLE pii_docs (
  id          INTEGER PRIMARY KEY,                -- (start_at << 24) + n
  tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind TEXT    NOT NULL CHECK (record_kind IN ('call', 'participant', 'device')),
  source      TEXT    NOT NULL CHECK (source <> ''),
  record_id   TEXT    NOT NULL CHECK (record_id <> ''),
  start_at    INTEGER NOT NULL CHECK (id >> 24 = start_at),
  -- The record's distinct terms, each 16 lower-case hex digits, one space
  -- between two: 17 characters a term, less the last space.
  terms       TEXT    NOT NULL CHECK (length(terms) % 17 = 16
                                      AND ltrim(terms, '0123456789abcdef ') = ''
                                      AND instr(terms, '  ') = 0 AND substr(terms, 1, 1) <> ' ')
) STRICT;
-- Retention's delete of expired calls' and participants' terms.
CREATE INDEX pii_docs_by_start ON pii_docs (tenant_id, start_at) WHERE record_kind <> 'device';
-- A device's terms, replaced with its state.
CREATE INDEX pii_docs_devices ON pii_docs (tenant_id, source, record_id) WHERE record_kind = 'device';

INSERT INTO pii_docs (id, tenant_id, record_kind, source, record_id, start_at, terms)
  SELECT (start_at << 24) + row_number() OVER (PARTITION BY start_at ORDER BY tenant_id, record_kind, source, record_id) - 1,
         tenant_id, record_kind, source, record_id, start_at, group_concat(term, ' ')
  FROM (SELECT DISTINCT tenant_id, record_kind, source, record_id, term, start_at
        FROM (SELECT tenant_id, record_kind, source, record_id, term, start_at FROM pii_search
              UNION ALL
              SELECT tenant_id, record_kind, source, record_id, term, start_at FROM pii_search_recent)
        ORDER BY term)
  GROUP BY tenant_id, record_kind, source, record_id, start_at;
DROP TABLE pii_search;
DROP TABLE pii_search_recent;

CREATE VIRTUAL TABLE pii_terms USING fts5 (
  terms, content = 'pii_docs', content_rowid = 'id', tokenize = 'ascii', detail = 'none', columnsize = 0
);
INSERT INTO pii_terms (pii_terms) VALUES ('rebuild');
CREATE TRIGGER pii_docs_indexed AFTER INSERT ON pii_docs BEGIN
  INSERT INTO pii_terms (rowid, terms) VALUES (new.id, new.terms);
END;
CREATE TRIGGER pii_docs_unindexed AFTER DELETE ON pii_docs BEGIN
  INSERT INTO pii_terms (pii_terms, rowid, terms) VALUES ('delete', old.id, old.terms);
END;
-- Nothing updates a row of pii_docs (a device's new terms are a delete and an
-- insert); an update is refused rather than leave the index stale.
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
