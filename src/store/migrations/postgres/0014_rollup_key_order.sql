-- 0014_rollup_key_order (twin of sqlite/0014): rollup keys compare bytewise.
--
-- ListRollups answers in (key, bucket) order with keys compared bytewise
-- (COLLATE "C"), as SQLite does. With the database's default collation on
-- the column, the primary key's order was not that one, and every read of a
-- year of rows sorted them first: ~7 MB for the sites' daily rows with their
-- sketches, more than work_mem, so on disk. Now the primary key gives the
-- order. The keys (call servers, sites, models) are compared for equality
-- everywhere else, which no collation changes.

ALTER TABLE rollup_hour ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE rollup_day ALTER COLUMN key TYPE text COLLATE "C";
