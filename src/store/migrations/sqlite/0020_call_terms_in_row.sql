-- 0020_call_terms_in_row: nothing to change here.
--
-- PostgreSQL's 0020 moves a call's search terms from pii_docs into the
-- call's row, under a GIN index on calls, as SQLite's 0019 did with its FTS5
-- index. The version number is kept in step with PostgreSQL's so both
-- backends report one schema version.
SELECT 1;
