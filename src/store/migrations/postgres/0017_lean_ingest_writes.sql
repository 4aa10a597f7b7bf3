-- 0017_lean_ingest_writes (twin of sqlite/0017): two kinds of per-row work
-- that ingest paid for nothing (docs/performance.md, "Eighth round").
--
-- 1. Foreign keys to tenants on the tables every batch writes row by row:
--    pii_docs (a row per call and participant) and the rollup and
--    concurrency tables (a row per touched bucket). Each new row queued an
--    after-trigger event and looked the tenant up (1.1 million checks in a
--    run of 1,000,000 calls; without them PostgreSQL's CPU per call fell by
--    about 12%). They prove nothing the batch does not: the batch row, with
--    its foreign key to tenants, is inserted first in the same transaction,
--    and the application role sees only its own tenant (row-level security).
--    The record tables were made without them for the same reason (0001).
--    Parley never deletes a tenant; an operator who does so by hand deletes
--    these rows by hand too, as for the record tables (docs/formats/storage.md).
-- 2. The primary key of calls, (tenant_id, source, call_id, start_at): a
--    second unique B-tree on random call ids (UUIDs) beside record_keys,
--    which already holds each call's key exactly once, across partitions.
--    Every call inserted went to a random leaf of it (about 13% of
--    PostgreSQL's CPU per call). Look-ups of a call by its key go through
--    record_keys (its start_at) and calls_by_start, which holds all four
--    columns; the re-encryption of a tenant's calls walks record_keys in key
--    order (PostgresStore::ListSealed / ReplaceSealed).

ALTER TABLE pii_docs DROP CONSTRAINT pii_docs_tenant_id_fkey;
ALTER TABLE rollup_hour DROP CONSTRAINT rollup_hour_tenant_id_fkey;
ALTER TABLE rollup_day DROP CONSTRAINT rollup_day_tenant_id_fkey;
ALTER TABLE concurrency_minute DROP CONSTRAINT concurrency_minute_tenant_id_fkey;
ALTER TABLE concurrency_hour DROP CONSTRAINT concurrency_hour_tenant_id_fkey;
ALTER TABLE calls DROP CONSTRAINT calls_pkey;
