-- 0019_call_terms_in_row: a call's search terms move from pii_docs into the
-- call's own row, indexed by a second FTS5 table, call_terms, keyed by the
-- call's id (docs/formats/storage.md, "Search terms"; docs/performance.md,
-- "Fifteenth round").
--
-- Since 0015 every new call wrote a second row, into pii_docs, keyed by
-- (start_at << 24) + n so the index listed a party's calls in start order.
-- That row cost several times what the same terms cost as one more column
-- of the call (measured: 25-35% of the end-to-end ingest rate went to the
-- search index, most of it to the second row). Now:
--
--  * calls.id INTEGER PRIMARY KEY: the rowid it always had, made explicit in
--    the same (arrival) order. SQLite may renumber the implicit rowids of a
--    table without one on VACUUM, which would detach the index from its
--    calls. The old primary key (tenant_id, source, call_id) becomes a
--    UNIQUE constraint: the same index, which ingest's ON CONFLICT names.
--  * calls.terms: the call's distinct terms, as pii_docs.terms holds them
--    (16 lower-case hex digits each, one space between two), '' for none.
--  * call_terms: FTS5 over calls.terms (external content, keyed by calls.id;
--    tokenize 'ascii', detail 'none', columnsize 0, as pii_terms). The writer
--    adds a batch's new calls to it in one statement (an FTS5 write per call
--    would write a segment per call); a trigger takes a deleted call's terms
--    out (retention, a tenant's ON DELETE CASCADE). A call's terms and id
--    cannot be updated, so the index never goes stale.
--  * Party search walks calls_by_start newest first testing each call's
--    terms, and takes what that walk leaves from call_terms (sqlite_store.cpp,
--    ListPartyCalls). Participants and devices keep their pii_docs rows.

DROP VIEW pii_search;

CREATE TABLE calls_rebuilt (
  id            INTEGER PRIMARY KEY,               -- arrival order; call_terms' rowid
  tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source        TEXT    NOT NULL CHECK (source <> ''),
  call_id       TEXT    NOT NULL CHECK (call_id <> ''),
  agent_id      TEXT    NOT NULL,
  start_at      INTEGER NOT NULL,
  end_at        INTEGER NOT NULL,
  duration_s    INTEGER NOT NULL,
  status        TEXT    NOT NULL,
  protocol      TEXT    NOT NULL DEFAULT '',
  call_type     TEXT    NOT NULL DEFAULT '',
  cause         TEXT    NOT NULL DEFAULT '',
  bitrate_kbps  INTEGER NOT NULL DEFAULT 0,
  conference_id TEXT    NOT NULL DEFAULT '',
  orig_model    TEXT    NOT NULL DEFAULT '',
  orig_version  TEXT    NOT NULL DEFAULT '',
  orig_site     TEXT    NOT NULL DEFAULT '',
  dest_model    TEXT    NOT NULL DEFAULT '',
  dest_version  TEXT    NOT NULL DEFAULT '',
  dest_site     TEXT    NOT NULL DEFAULT '',
  pii_sealed    BLOB    NOT NULL,                  -- AES-256-GCM sealed {"orig":{...},"dest":{...}}
  ingested_at   INTEGER NOT NULL,
  -- The same cheap shape checks as pii_docs.terms (0016), '' allowed.
  terms         TEXT    NOT NULL DEFAULT '' CHECK (terms = '' OR (length(terms) % 17 = 16
                                                   AND instr(terms, '  ') = 0 AND substr(terms, 1, 1) <> ' '
                                                   AND lower(terms) = terms)),
  UNIQUE (tenant_id, source, call_id)
) STRICT;

-- A call's pii_docs row, found by its key for the copy below (dropped after).
CREATE INDEX pii_docs_by_record ON pii_docs (tenant_id, record_kind, source, record_id);
INSERT INTO calls_rebuilt (id, tenant_id, source, call_id, agent_id, start_at, end_at, duration_s, status, protocol,
                           call_type, cause, bitrate_kbps, conference_id, orig_model, orig_version, orig_site,
                           dest_model, dest_version, dest_site, pii_sealed, ingested_at, terms)
  SELECT c.rowid, c.tenant_id, c.source, c.call_id, c.agent_id, c.start_at, c.end_at, c.duration_s, c.status,
         c.protocol, c.call_type, c.cause, c.bitrate_kbps, c.conference_id, c.orig_model, c.orig_version, c.orig_site,
         c.dest_model, c.dest_version, c.dest_site, c.pii_sealed, c.ingested_at,
         -- The newest row if there are two (a call retention took, stored
         -- again before its old terms went).
         COALESCE((SELECT d.terms FROM pii_docs d WHERE d.tenant_id = c.tenant_id AND d.record_kind = 'call'
                   AND d.source = c.source AND d.record_id = c.call_id ORDER BY d.id DESC LIMIT 1), '')
  FROM calls c ORDER BY c.rowid;
DROP INDEX pii_docs_by_record;
DROP TABLE calls;
ALTER TABLE calls_rebuilt RENAME TO calls;
-- Serves the CDR list (keyset pagination, newest first), time-range
-- analytics and the first part of party search.
CREATE INDEX calls_by_start ON calls (tenant_id, start_at DESC, source DESC, call_id DESC);

-- The calls' rows leave pii_docs (and so pii_terms); a call whose terms
-- were left there (its call gone) goes too. Without the trigger and rebuilt
-- after: one pass instead of a 'delete' per row.
DROP TRIGGER pii_docs_unindexed;
DELETE FROM pii_docs WHERE record_kind = 'call';
INSERT INTO pii_terms (pii_terms) VALUES ('rebuild');
CREATE TRIGGER pii_docs_unindexed AFTER DELETE ON pii_docs BEGIN
  INSERT INTO pii_terms (pii_terms, rowid, terms) VALUES ('delete', old.id, old.terms);
END;
-- pii_docs' CHECK still names 'call' (SQLite cannot change it in place).
CREATE TRIGGER pii_docs_no_calls BEFORE INSERT ON pii_docs WHEN new.record_kind = 'call' BEGIN
  SELECT RAISE (ABORT, 'a call''s search terms are in calls.terms');
END;

CREATE VIRTUAL TABLE call_terms USING fts5 (
  terms, content = 'calls', content_rowid = 'id', tokenize = 'ascii', detail = 'none', columnsize = 0
);
INSERT INTO call_terms (call_terms) VALUES ('rebuild');
CREATE TRIGGER calls_unindexed AFTER DELETE ON calls WHEN old.terms <> '' BEGIN
  INSERT INTO call_terms (call_terms, rowid, terms) VALUES ('delete', old.id, old.terms);
END;
CREATE TRIGGER calls_terms_immutable BEFORE UPDATE OF id, terms ON calls BEGIN
  SELECT RAISE (ABORT, 'a call''s id and search terms are not updated');
END;

-- One row per term, as before: the calls' and the other records'.
CREATE VIEW pii_search (tenant_id, record_kind, source, record_id, term, start_at) AS
  WITH RECURSIVE docs (tenant_id, record_kind, source, record_id, start_at, terms) AS (
    SELECT tenant_id, record_kind, source, record_id, start_at, terms FROM pii_docs
    UNION ALL
    SELECT tenant_id, 'call', source, call_id, start_at, terms FROM calls WHERE terms <> ''
  ),
  split (tenant_id, record_kind, source, record_id, start_at, term, rest) AS (
    SELECT tenant_id, record_kind, source, record_id, start_at, substr(terms, 1, 16), substr(terms, 18) FROM docs
    UNION ALL
    SELECT tenant_id, record_kind, source, record_id, start_at, substr(rest, 1, 16), substr(rest, 18) FROM split
    WHERE rest <> ''
  )
  SELECT tenant_id, record_kind, source, record_id, term, start_at FROM split;
