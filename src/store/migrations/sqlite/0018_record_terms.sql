-- 0018_record_terms: nothing to change here.
--
-- PostgreSQL's 0018 moves a call's or participant's search terms from their
-- own pii_docs row into the record_keys row that keeps the record stored
-- once. SQLite has no record_keys (its record tables are not partitioned and
-- keep their keys unique themselves), and its pii_docs rows feed the FTS5
-- index. The version number is kept in step with PostgreSQL's so both
-- backends report one schema version.
SELECT 1;
