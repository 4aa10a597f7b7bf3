-- 0016_search_doc_check (twin of sqlite/0016): nothing to change here.
--
-- SQLite's 0016 drops a costly character-set CHECK on its text column of
-- space-separated terms. PostgreSQL's pii_docs holds the terms as a bigint
-- array (0015), whose type already admits nothing but numbers; the version
-- number is kept in step with SQLite's so both backends report one schema
-- version.
SELECT 1;
