-- 0015_search_term_index (twin of sqlite/0015): nothing to change here.
-- SQLite's search terms moved into an FTS5 inverted index; PostgreSQL keeps
-- pii_search, whose inserts go through its shared buffers and WAL records
-- rather than rewriting whole pages at every commit.
SELECT 1;
