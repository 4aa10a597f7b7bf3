-- 0019_call_terms_in_row: nothing to change here.
--
-- SQLite's 0019 moves a call's search terms from pii_docs into the call's
-- row, indexed by an FTS5 table keyed by the call's id: the second row per
-- call cost SQLite's single writer more than the terms themselves. PostgreSQL
-- keeps its pii_docs rows and their GIN index (0015): its partitioned calls
-- have no arrival-ordered id to key such an index by, and its writes are
-- spread over many backends. The version number is kept in step with
-- SQLite's so both backends report one schema version.
SELECT 1;
