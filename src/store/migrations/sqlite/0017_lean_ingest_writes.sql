-- 0017_lean_ingest_writes: nothing to change here.
--
-- PostgreSQL's 0017 drops the foreign keys to tenants of the tables every
-- batch writes row by row, and the calls' second unique key beside
-- record_keys. SQLite's calls table is not partitioned: its own unique key is
-- the only one, and its foreign-key checks are a look-up in the page cache
-- (changing them would rebuild the tables). The version number is kept in
-- step with PostgreSQL's so both backends report one schema version.
SELECT 1;
