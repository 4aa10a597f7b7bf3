-- 0018_search_docs_by_id: nothing to change here.
--
-- SQLite's 0018 drops its pii_docs_by_start: its pii_docs ids encode the
-- start, so retention needs no index of its own. PostgreSQL's pii_docs has
-- no such id; its pii_docs_by_start (start_at) serves retention and a
-- frequent party's newest calls (docs/formats/storage.md), so it stays. The
-- version number is kept in step with SQLite's so both backends report one
-- schema version.
SELECT 1;
