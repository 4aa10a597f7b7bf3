-- 0014_rollup_key_order (twin of postgres/0014): nothing to change here.
-- SQLite compares the rollup keys bytewise already (BINARY collation), the
-- order ListRollups answers in; PostgreSQL's column took the database's
-- default collation and now compares bytewise too.
SELECT 1;
