-- 0012_pii_search_append (PostgreSQL twin of sqlite/0012): no primary key
-- on the blind-index table. The key (tenant, kind, source, record id, term)
-- put every new call's terms at a random place of its B-tree (call ids are
-- UUIDs); a record's terms are written once, with the record (SELECT
-- DISTINCT in the batch's statement), a device's replaced with its state, so
-- nothing needs it. A device's terms get a small index of their own;
-- pii_search_by_term and retention's pii_search_by_start (0011) stay.

ALTER TABLE pii_search DROP CONSTRAINT pii_search_pkey;
CREATE INDEX pii_search_devices ON pii_search (tenant_id, source, record_id) WHERE record_kind = 'device';
